"""XDMF light data with inline or HDF5 heavy data, written by hand in the tests (XML + h5py)."""

from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np
import numpy.typing as npt
import pytest

import vizserver.io.xdmf as xdmf
from vizserver.errors import InvalidGeometryError, UnreadableFileError, UnsupportedFormatError
from vizserver.io import read
from vizserver.model import TimeSeries, UnstructuredMesh

# Two tetrahedra sharing a face, and a triangle on the side.
POINTS = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], dtype=np.float64)
TETS = np.array([[0, 1, 2, 3], [1, 2, 3, 4]], dtype=np.int64)
HEX_POINTS = np.array([[x, y, z] for z in (0, 1) for y in (0, 1) for x in (0, 1)], dtype=np.float64)
HEX = np.array([[0, 1, 3, 2, 4, 5, 7, 6]], dtype=np.int64)


def inline(values: npt.NDArray[np.generic], number: str = "Float") -> str:
    dims = " ".join(str(d) for d in values.shape)
    text = " ".join(str(v) for v in values.ravel().tolist())
    return f'<DataItem Format="XML" NumberType="{number}" Precision="8" Dimensions="{dims}">{text}</DataItem>'


def hdf(h5: Path, name: str, values: npt.NDArray[np.generic], number: str = "Float") -> str:
    with h5py.File(h5, "a") as f:
        f.create_dataset(name, data=values)
    dims = " ".join(str(d) for d in values.shape)
    return f'<DataItem Format="HDF" DataType="{number}" Precision="8" Dimensions="{dims}">{h5.name}:/{name}</DataItem>'


def document(grids: str, version: str = "3.0", head: str = "") -> str:
    return f'<?xml version="1.0"?>\n{head}<Xdmf Version="{version}">\n<Domain>\n{grids}\n</Domain>\n</Xdmf>\n'


def tet_grid(points: str, topology: str, attributes: str = "", name: str = "heart") -> str:
    return (
        f'<Grid Name="{name}" GridType="Uniform">\n'
        f'<Topology TopologyType="Tetrahedron" NumberOfElements="2">{topology}</Topology>\n'
        f'<Geometry GeometryType="XYZ">{points}</Geometry>\n{attributes}</Grid>'
    )


def attribute(name: str, item: str, center: str = "Node", kind: str = "Scalar") -> str:
    return f'<Attribute Name="{name}" AttributeType="{kind}" Center="{center}">{item}</Attribute>\n'


def test_uniform_grid_with_hdf5_heavy_data(tmp_path: Path) -> None:
    h5 = tmp_path / "heart.h5"
    attributes = attribute("u", hdf(h5, "u", np.arange(5.0))) + attribute(
        "region", hdf(h5, "r", np.array([7, 8]), "Int"), "Cell"
    )
    attributes += attribute("v", hdf(h5, "v", np.ones((5, 3))), kind="Vector")
    grid = tet_grid(hdf(h5, "xyz", POINTS), hdf(h5, "tets", TETS, "Int"), attributes)
    (tmp_path / "heart.xdmf").write_text(document(grid))
    scene = read(tmp_path / "heart.xdmf")
    assert scene.title == "heart" and [o.name for o in scene.objects] == ["heart"]
    mesh = scene.objects[0].data
    assert isinstance(mesh, UnstructuredMesh)
    np.testing.assert_allclose(mesh.points, POINTS)
    assert mesh.blocks[0].kind == "tetra"
    np.testing.assert_array_equal(mesh.blocks[0].connectivity, TETS)
    assert mesh.point_fields["u"].values.tolist() == [0, 1, 2, 3, 4]
    assert mesh.point_fields["v"].values.shape == (5, 3)
    assert mesh.cell_fields["region"].values.tolist() == [7, 8] and mesh.cell_fields["region"].association == "cell"


def test_inline_xml_data_and_xdmf2_attribute_names(tmp_path: Path) -> None:
    grid = (
        '<Grid Name="box"><Topology Type="Hexahedron" NumberOfElements="1">'
        f'{inline(HEX, "Int")}</Topology><Geometry Type="XYZ">{inline(HEX_POINTS)}</Geometry>'
        f'<Attribute Name="t" Type="Scalar" Center="Node">{inline(np.arange(8.0))}</Attribute></Grid>'
    )
    (tmp_path / "box.xmf").write_text(document(grid, "2.0", '<!DOCTYPE Xdmf SYSTEM "Xdmf.dtd" []>\n'))
    mesh = read(tmp_path / "box.xmf").objects[0].data
    assert isinstance(mesh, UnstructuredMesh)
    assert mesh.blocks[0].kind == "hexahedron" and mesh.blocks[0].connectivity.tolist() == HEX.tolist()
    assert mesh.bounds == ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    assert mesh.point_fields["t"].values.tolist() == list(range(8))


def test_triangle_surface_and_xy_geometry(tmp_path: Path) -> None:
    points = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=np.float64)
    grid = (
        '<Grid><Topology TopologyType="Triangle" NumberOfElements="2">'
        f"{inline(np.array([[0, 1, 2], [1, 3, 2]]), 'Int')}</Topology>"
        f'<Geometry GeometryType="XY">{inline(points)}</Geometry></Grid>'
    )
    (tmp_path / "flat.xdmf").write_text(document(grid))
    scene = read(tmp_path / "flat.xdmf")
    mesh = scene.objects[0].data
    assert scene.objects[0].name == "flat"
    assert isinstance(mesh, UnstructuredMesh) and mesh.blocks[0].kind == "triangle"
    assert mesh.points[:, 2].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_mixed_topology_splits_into_blocks_and_reorders_cell_fields(tmp_path: Path) -> None:
    # tetra, triangle, polyline of 2, tetra, quadratic triangle (corner nodes kept)
    flat = np.array([6, 0, 1, 2, 3, 4, 0, 1, 2, 2, 2, 0, 4, 6, 1, 2, 3, 4, 36, 0, 1, 4, 2, 3, 3])
    cell_values = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    grid = (
        '<Grid Name="m"><Topology TopologyType="Mixed" NumberOfElements="5">'
        f'{inline(flat, "Int")}</Topology><Geometry GeometryType="XYZ">{inline(POINTS)}</Geometry>'
        f"{attribute('c', inline(cell_values), 'Cell')}</Grid>"
    )
    (tmp_path / "mixed.xdmf").write_text(document(grid))
    mesh = read(tmp_path / "mixed.xdmf").objects[0].data
    assert isinstance(mesh, UnstructuredMesh)
    kinds = {b.kind: b.connectivity.tolist() for b in mesh.blocks}
    assert kinds == {"line": [[0, 4]], "triangle": [[0, 1, 2], [0, 1, 4]], "tetra": [[0, 1, 2, 3], [1, 2, 3, 4]]}
    by_block = {b.kind: len(b) for b in mesh.blocks}
    values = mesh.cell_fields["c"].values.tolist()
    start = 0
    expected = {"line": [30.0], "triangle": [20.0, 50.0], "tetra": [10.0, 40.0]}
    for block in mesh.blocks:
        assert values[start : start + by_block[block.kind]] == expected[block.kind]
        start += by_block[block.kind]


def test_large_random_mixed_topology_matches_a_sequential_split(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    nodes = {4: 3, 5: 4, 6: 4, 9: 8}
    kinds = {4: "triangle", 5: "quad", 6: "tetra", 9: "hexahedron"}
    ids = rng.choice(list(nodes), 20_000)
    cells = [rng.integers(0, 100, nodes[int(i)]) for i in ids]
    flat = np.concatenate([np.concatenate([[i], c]) for i, c in zip(ids, cells, strict=True)])
    points = rng.random((100, 3))
    h5 = tmp_path / "big.h5"
    grid = (
        f'<Grid><Topology TopologyType="Mixed">{hdf(h5, "t", flat, "Int")}</Topology>'
        f'<Geometry GeometryType="XYZ">{hdf(h5, "p", points)}</Geometry>'
        f"{attribute('id', hdf(h5, 'c', np.arange(20_000.0)), 'Cell')}</Grid>"
    )
    (tmp_path / "big.xdmf").write_text(document(grid))
    mesh = read(tmp_path / "big.xdmf").objects[0].data
    assert isinstance(mesh, UnstructuredMesh) and mesh.n_cells == 20_000
    original = mesh.cell_fields["id"].values.astype(np.int64)  # each row's original cell index
    start = 0
    for block in mesh.blocks:
        rows = original[start : start + len(block)]
        start += len(block)
        assert all(kinds[int(ids[r])] == block.kind for r in rows)
        np.testing.assert_array_equal(block.connectivity, np.stack([cells[r] for r in rows]))


@pytest.mark.parametrize(
    "flat",
    [
        [6, 0, 1, 2, 3, 99, 1, 2],  # unknown cell id
        [6, 0, 1, 2],  # runs past the end
        [3, 0, 1, 2, 3],  # polygon with a node count of 0
    ],
)
def test_malformed_mixed_topology(tmp_path: Path, flat: list[int]) -> None:
    grid = (
        f'<Grid><Topology TopologyType="Mixed">{inline(np.array(flat), "Int")}</Topology>'
        f'<Geometry GeometryType="XYZ">{inline(POINTS)}</Geometry></Grid>'
    )
    (tmp_path / "bad.xdmf").write_text(document(grid))
    with pytest.raises(UnreadableFileError, match=r"bad\.xdmf: Mixed topology is malformed"):
        read(tmp_path / "bad.xdmf")


def temporal(tmp_path: Path, steps: int = 3, include: bool = True) -> Path:
    """A series laid out as meshio's TimeSeriesWriter does: steps include a separate mesh grid by name."""
    h5 = tmp_path / "run.h5"
    mesh = tet_grid(hdf(h5, "xyz", POINTS), hdf(h5, "tets", TETS, "Int"), name="mesh")
    members = ""
    for i in reversed(range(steps)):  # out of order on purpose
        shape = (
            '<xi:include xpointer="xpointer(//Grid[@Name=&quot;mesh&quot;]/*[self::Topology or self::Geometry])"/>'
            if include
            else ""
        )
        fields = attribute("u", hdf(h5, f"u{i}", np.full(5, float(i)))) + attribute(
            "c", hdf(h5, f"c{i}", np.array([i, 2.0 * i])), "Cell"
        )
        members += f'<Grid Name="s{i}">{shape}<Time Value="{0.5 * i}"/>{fields}</Grid>\n'
    grids = f'<Grid Name="series" GridType="Collection" CollectionType="Temporal">\n{members}</Grid>\n{mesh}'
    path = tmp_path / "run.xdmf"
    path.write_text(document(grids).replace("<Xdmf ", '<Xdmf xmlns:xi="http://www.w3.org/2001/XInclude" '))
    return path


def test_temporal_collection_is_one_time_series(tmp_path: Path) -> None:
    scene = read(temporal(tmp_path))
    assert [o.name for o in scene.objects] == ["series"]  # the included mesh grid is not an object of its own
    data = scene.objects[0].data
    assert isinstance(data, TimeSeries) and isinstance(data.geometry, UnstructuredMesh)
    np.testing.assert_allclose(data.times, [0.0, 0.5, 1.0])
    assert data.geometry.n_points == 5 and data.geometry.n_cells == 2
    assert [float(s["u"].values[0]) for s in data.steps] == [0.0, 1.0, 2.0]
    assert data.steps[2]["c"].values.tolist() == [2.0, 4.0] and data.steps[2]["c"].association == "cell"


def test_temporal_steps_are_lazy_over_the_eager_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xdmf, "EAGER_SERIES_BYTES", 0)
    scene = xdmf.read_xdmf(temporal(tmp_path))
    data = scene.objects[0].data
    assert isinstance(data, TimeSeries) and isinstance(data.steps, xdmf.XdmfSteps)
    steps = pickle.loads(pickle.dumps(data)).steps
    assert float(steps[1]["u"].values[3]) == 1.0 and len(steps) == 3
    assert [float(s["u"].values[0]) for s in steps[::2]] == [0.0, 2.0]


def test_temporal_steps_with_their_own_copy_of_the_mesh(tmp_path: Path) -> None:
    h5 = tmp_path / "own.h5"
    members = "".join(
        f'<Grid Name="s{i}"><Time Value="{i}"/>'
        f'<Topology TopologyType="Tetrahedron">{hdf(h5, f"t{i}", TETS, "Int")}</Topology>'
        f'<Geometry GeometryType="XYZ">{hdf(h5, f"p{i}", POINTS + i)}</Geometry>'
        f"{attribute('u', inline(np.full(5, float(i))))}</Grid>"
        for i in range(2)
    )
    (tmp_path / "own.xdmf").write_text(
        document(f'<Grid GridType="Collection" CollectionType="Temporal">{members}</Grid>')
    )
    data = read(tmp_path / "own.xdmf").objects[0].data
    assert isinstance(data, TimeSeries) and data.n_steps == 2
    np.testing.assert_allclose(data.geometry.points, POINTS)  # the first step's coordinates


def test_temporal_topology_change_is_refused(tmp_path: Path) -> None:
    members = "".join(
        f'<Grid Name="s{i}"><Time Value="{i}"/>'
        f'<Topology TopologyType="Tetrahedron">{inline(TETS[: i + 1], "Int")}</Topology>'
        f'<Geometry GeometryType="XYZ">{inline(POINTS)}</Geometry></Grid>'
        for i in range(2)
    )
    (tmp_path / "grow.xdmf").write_text(
        document(f'<Grid GridType="Collection" CollectionType="Temporal">{members}</Grid>')
    )
    with pytest.raises(InvalidGeometryError, match=r"grow\.xdmf: step grid 's1' .*changing topology"):
        read(tmp_path / "grow.xdmf")


def test_collection_time_list_and_spatial_collection(tmp_path: Path) -> None:
    member = (
        f'<Grid Name="{{}}"><Topology TopologyType="Tetrahedron">{inline(TETS, "Int")}</Topology>'
        f'<Geometry GeometryType="XYZ">{inline(POINTS)}</Geometry></Grid>'
    )
    time = f'<Time TimeType="List">{inline(np.array([0.1, 0.2]))}</Time>'
    grids = (
        f'<Grid Name="t" GridType="Collection" CollectionType="Temporal">{time}'
        f"{member.format('a')}{member.format('b')}</Grid>"
        f'<Grid Name="parts" GridType="Collection" CollectionType="Spatial">{member.format("lv")}'
        f"{member.format('rv')}</Grid>"
    )
    (tmp_path / "both.xdmf").write_text(document(grids))
    scene = read(tmp_path / "both.xdmf")
    assert [o.name for o in scene.objects] == ["t", "parts/lv", "parts/rv"]
    series = scene.objects[0].data
    assert isinstance(series, TimeSeries)
    np.testing.assert_allclose(series.times, [0.1, 0.2])


@pytest.mark.parametrize(
    ("reference", "reason"),
    [
        ("../outside.h5:/xyz", "leaves the folder"),
        ("/abs/outside.h5:/xyz", "not a relative path"),
        ("missing.h5:/xyz", "does not exist"),
        ("inside.h5:/nothing", "is not a dataset"),
        ("inside.h5", "is not 'file.h5:/path'"),
    ],
)
def test_hdf_references_are_checked(tmp_path: Path, reference: str, reason: str) -> None:
    folder = tmp_path / "case"
    folder.mkdir()
    for h5 in (tmp_path / "outside.h5", folder / "inside.h5"):
        with h5py.File(h5, "w") as f:
            f.create_dataset("xyz", data=POINTS)
    item = f'<DataItem Format="HDF" Dimensions="5 3">{reference}</DataItem>'
    (folder / "x.xdmf").write_text(document(tet_grid(item, inline(TETS, "Int"))))
    with pytest.raises(UnreadableFileError, match=rf"x\.xdmf: .*{reason}"):
        read(folder / "x.xdmf")


def test_hdf_shape_must_match_the_declared_dimensions(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f.create_dataset("xyz", data=POINTS)
    item = '<DataItem Format="HDF" Dimensions="500 3">d.h5:/xyz</DataItem>'
    (tmp_path / "d.xdmf").write_text(document(tet_grid(item, inline(TETS, "Int"))))
    with pytest.raises(UnreadableFileError, match=r"d\.xdmf: d\.h5:/xyz has shape \(5, 3\), the XDMF says \(500, 3\)"):
        read(tmp_path / "d.xdmf")


def test_corrupt_hdf_file(tmp_path: Path) -> None:
    (tmp_path / "junk.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(200))
    item = '<DataItem Format="HDF" Dimensions="5 3">junk.h5:/xyz</DataItem>'
    (tmp_path / "j.xdmf").write_text(document(tet_grid(item, inline(TETS, "Int"))))
    with pytest.raises(UnreadableFileError, match=r"j\.xdmf: cannot open junk\.h5 as HDF5"):
        read(tmp_path / "j.xdmf")


def test_nan_coordinates_and_out_of_range_indices(tmp_path: Path) -> None:
    bad_points = POINTS.copy()
    bad_points[2, 1] = np.nan
    (tmp_path / "nan.xdmf").write_text(document(tet_grid(inline(bad_points), inline(TETS, "Int"))))
    with pytest.raises(InvalidGeometryError, match=r"nan\.xdmf: 1 points have NaN or infinite coordinates"):
        read(tmp_path / "nan.xdmf")
    (tmp_path / "idx.xdmf").write_text(document(tet_grid(inline(POINTS), inline(TETS + 3, "Int"))))
    with pytest.raises(InvalidGeometryError, match=r"idx\.xdmf: topology refers to point 7 but there are 5 points"):
        read(tmp_path / "idx.xdmf")


@pytest.mark.parametrize(
    ("grid", "error", "reason"),
    [
        (tet_grid(inline(POINTS), '<DataItem Format="XML" Dimensions="2 4">10 11 12 13 14 15 16</DataItem>'),
         UnreadableFileError, "holds 7 values, not 8"),
        (tet_grid(inline(POINTS), '<DataItem Format="XML" Dimensions="2 4">0 1 2 x 4 5 6 7</DataItem>'),
         UnreadableFileError, "something other than numbers"),
        (tet_grid(inline(POINTS), '<DataItem Format="XML" Dimensions="900000 4">0 1</DataItem>'),
         UnreadableFileError, "claims 3,600,000 values in 3 characters"),
        (tet_grid(inline(POINTS), '<DataItem Format="Binary" Dimensions="2 4">t.bin</DataItem>'),
         UnsupportedFormatError, "format 'BINARY' is not supported"),
        (tet_grid(inline(POINTS), inline(TETS, "Int"), attribute("u", inline(np.arange(4.0)))),
         UnreadableFileError, r"attribute 'u' has shape \(4,\) for 5 points"),
        ('<Grid GridType="Tree"/>', UnsupportedFormatError, "grid type 'tree'"),
        ("", UnreadableFileError, "no grids"),
    ],
)  # fmt: skip
def test_malformed_light_data(tmp_path: Path, grid: str, error: type[Exception], reason: str) -> None:
    (tmp_path / "bad.xdmf").write_text(document(grid))
    with pytest.raises(error, match=reason):
        read(tmp_path / "bad.xdmf")


def test_entity_declarations_are_refused(tmp_path: Path) -> None:
    head = '<!DOCTYPE Xdmf [<!ENTITY x "&#x41;&#x41;">]>\n'
    (tmp_path / "e.xdmf").write_text(document(tet_grid(inline(POINTS), inline(TETS, "Int"), name="&x;"), head=head))
    with pytest.raises(UnreadableFileError, match=r"e\.xdmf: XML entity declarations are not allowed"):
        read(tmp_path / "e.xdmf")


def test_not_xdmf_content(tmp_path: Path) -> None:
    (tmp_path / "n.xdmf").write_text('<?xml version="1.0"?><Other/>')
    with pytest.raises(UnreadableFileError, match=r"n\.xdmf: not a valid XDMF"):
        read(tmp_path / "n.xdmf")
