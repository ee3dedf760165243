"""VTK XML and legacy files through the public ``vizserver.io.read``: every dataset type and encoding."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pyvista as pv
from vtkmodules import vtkIOXML

import vizserver.io.vtk_legacy  # registers the reader
import vizserver.io.vtk_xml  # noqa: F401  (registers the readers)
from vizserver.errors import UnreadableFileError, UnsupportedFormatError
from vizserver.io import read
from vizserver.model import Mesh, UnstructuredMesh, Volume

WRITERS: dict[type, Any] = {
    pv.UnstructuredGrid: vtkIOXML.vtkXMLUnstructuredGridWriter,
    pv.PolyData: vtkIOXML.vtkXMLPolyDataWriter,
    pv.ImageData: vtkIOXML.vtkXMLImageDataWriter,
    pv.StructuredGrid: vtkIOXML.vtkXMLStructuredGridWriter,
    pv.RectilinearGrid: vtkIOXML.vtkXMLRectilinearGridWriter,
}
ENCODINGS = ["ascii", "binary", "binary-zlib", "appended-raw", "appended-raw-zlib", "appended-base64", "raw-uint64"]


def write_xml(data: pv.DataSet, path: Path, encoding: str = "appended-raw") -> Path:
    """Write ``data`` with VTK's own XML writer in one of :data:`ENCODINGS`."""
    writer = WRITERS[type(data)]()
    writer.SetFileName(str(path))
    writer.SetInputData(data)
    mode = encoding.split("-")[0]
    {"ascii": writer.SetDataModeToAscii, "binary": writer.SetDataModeToBinary}.get(mode, writer.SetDataModeToAppended)()
    writer.SetEncodeAppendedData("base64" in encoding)
    if "zlib" in encoding:
        writer.SetCompressorTypeToZLib()
    else:
        writer.SetCompressorTypeToNone()
    if "uint64" in encoding:
        writer.SetHeaderTypeToUInt64()
    assert writer.Write() == 1
    return path


def tet_grid(n: int = 4) -> pv.UnstructuredGrid:
    grid = pv.ImageData(dimensions=(n, n, n), spacing=(1.0, 2.0, 3.0)).triangulate()
    grid.point_data["pressure"] = np.arange(grid.n_points, dtype=np.float64)
    grid.point_data["velocity"] = np.tile([1.0, 0.0, 0.5], (grid.n_points, 1))
    grid.cell_data["region"] = (np.arange(grid.n_cells) % 3).astype(np.int32)
    return grid


def sphere() -> pv.PolyData:
    surface = pv.Sphere(theta_resolution=12, phi_resolution=12)
    surface.point_data["thickness"] = np.linspace(0.0, 1.0, surface.n_points)
    return surface


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_vtu_every_encoding_gives_the_same_mesh_and_fields(tmp_path: Path, encoding: str) -> None:
    grid = tet_grid()
    scene = read(write_xml(grid, tmp_path / "heart.vtu", encoding))
    assert scene.title == "heart" and [o.name for o in scene.objects] == ["heart"]
    mesh = scene.objects[0].data
    assert isinstance(mesh, UnstructuredMesh)
    assert [b.kind for b in mesh.blocks] == ["tetra"] and mesh.n_cells == grid.n_cells
    np.testing.assert_allclose(mesh.points, grid.points)
    np.testing.assert_array_equal(mesh.blocks[0].connectivity.ravel(), grid.cell_connectivity)
    np.testing.assert_allclose(mesh.point_fields["pressure"].values, np.arange(grid.n_points))
    assert mesh.point_fields["velocity"].values.shape == (grid.n_points, 3)
    np.testing.assert_array_equal(mesh.cell_fields["region"].values, np.arange(grid.n_cells) % 3)
    assert mesh.point_fields["pressure"].unit == ""


@pytest.mark.parametrize("encoding", ["ascii", "binary-zlib", "appended-raw"])
def test_vtp_surface_becomes_a_triangle_mesh(tmp_path: Path, encoding: str) -> None:
    surface = sphere()
    mesh = read(write_xml(surface, tmp_path / "lv.vtp", encoding)).objects[0].data
    assert isinstance(mesh, Mesh)
    assert mesh.n_points == surface.n_points and mesh.n_triangles == surface.n_cells
    np.testing.assert_allclose(mesh.point_fields["thickness"].values, surface.point_data["thickness"], rtol=1e-6)
    assert mesh.normals is not None and mesh.normals.shape == (surface.n_points, 3)


def test_vtp_quads_are_triangulated(tmp_path: Path) -> None:
    plane = pv.Plane(i_resolution=3, j_resolution=2)
    mesh = read(write_xml(plane, tmp_path / "plane.vtp")).objects[0].data
    assert isinstance(mesh, Mesh) and mesh.n_triangles == 2 * plane.n_cells


def test_vti_is_a_volume_with_spacing_and_origin(tmp_path: Path) -> None:
    image = pv.ImageData(dimensions=(4, 3, 2), spacing=(0.5, 1.0, 2.0), origin=(10.0, 20.0, 30.0))
    image.point_data["ct"] = np.arange(24, dtype=np.int16)
    volume = read(write_xml(image, tmp_path / "ct.vti", "binary-zlib")).objects[0].data
    assert isinstance(volume, Volume)
    assert volume.shape == (4, 3, 2) and volume.spacing == (0.5, 1.0, 2.0) and volume.origin == (10.0, 20.0, 30.0)
    assert volume.values[1, 0, 0] == 1 and volume.values[0, 1, 0] == 4 and volume.values[0, 0, 1] == 12


def test_vts_and_vtr_become_hexahedral_meshes(tmp_path: Path) -> None:
    image = pv.ImageData(dimensions=(3, 3, 3))
    structured = image.cast_to_structured_grid()
    structured.point_data["t"] = np.arange(27.0)
    rectilinear = pv.RectilinearGrid(np.array([0.0, 1.0, 3.0]), np.array([0.0, 2.0]), np.array([0.0, 1.0]))
    for data, name in ((structured, "s.vts"), (rectilinear, "r.vtr")):
        mesh = read(write_xml(data, tmp_path / name)).objects[0].data
        assert isinstance(mesh, UnstructuredMesh)
        assert mesh.blocks[0].kind == "hexahedron" and mesh.n_cells == data.n_cells
    assert mesh.bounds == ((0.0, 0.0, 0.0), (3.0, 2.0, 1.0))


@pytest.mark.parametrize("binary", [False, True])
def test_legacy_unstructured_polydata_and_points(tmp_path: Path, binary: bool) -> None:
    grid, surface = tet_grid(3), sphere()
    grid.save(tmp_path / "g.vtk", binary=binary)
    surface.save(tmp_path / "s.vtk", binary=binary)
    mesh = read(tmp_path / "g.vtk").objects[0].data
    assert isinstance(mesh, UnstructuredMesh) and mesh.n_cells == grid.n_cells
    assert set(mesh.point_fields) == {"pressure", "velocity"} and set(mesh.cell_fields) == {"region"}
    np.testing.assert_allclose(mesh.point_fields["pressure"].values, grid.point_data["pressure"])
    surf = read(tmp_path / "s.vtk").objects[0].data
    assert isinstance(surf, Mesh) and surf.n_triangles == surface.n_cells
    image = pv.ImageData(dimensions=(3, 2, 2), spacing=(2.0, 2.0, 2.0))
    image.point_data["label"] = np.arange(12, dtype=np.uint8)
    image.save(tmp_path / "i.vtk", binary=binary)
    volume = read(tmp_path / "i.vtk").objects[0].data
    assert isinstance(volume, Volume) and volume.shape == (3, 2, 2) and volume.spacing == (2.0, 2.0, 2.0)


def test_legacy_keeps_every_scalar_array_not_just_the_first(tmp_path: Path) -> None:
    text = (
        "# vtk DataFile Version 3.0\ntwo scalars\nASCII\nDATASET POLYDATA\n"
        "POINTS 3 float\n0 0 0 1 0 0 0 1 0\nPOLYGONS 1 4\n3 0 1 2\n"
        "POINT_DATA 3\nSCALARS a float 1\nLOOKUP_TABLE default\n1 2 3\n"
        "SCALARS b float 1\nLOOKUP_TABLE default\n4 5 6\n"
    )
    (tmp_path / "two.vtk").write_text(text)
    mesh = read(tmp_path / "two.vtk").objects[0].data
    assert isinstance(mesh, Mesh)
    assert mesh.point_fields["b"].values.tolist() == [4.0, 5.0, 6.0]
    assert mesh.point_fields["a"].values.tolist() == [1.0, 2.0, 3.0]


def test_legacy_rectilinear_and_structured_grid(tmp_path: Path) -> None:
    rect = pv.RectilinearGrid(np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0]), np.array([0.0, 5.0]))
    rect.save(tmp_path / "r.vtk", binary=False)
    structured = pv.ImageData(dimensions=(2, 2, 3)).cast_to_structured_grid()
    structured.save(tmp_path / "s.vtk")
    r, s = read(tmp_path / "r.vtk").objects[0].data, read(tmp_path / "s.vtk").objects[0].data
    assert isinstance(r, UnstructuredMesh) and r.n_cells == 2 and r.bounds[1] == (2.0, 1.0, 5.0)
    assert isinstance(s, UnstructuredMesh) and s.n_cells == 2


def test_vtm_has_one_object_per_leaf_named_by_block_path(tmp_path: Path) -> None:
    blocks = pv.MultiBlock(
        {"heart": pv.MultiBlock({"lv": sphere(), "rv": pv.Cube().triangulate()}), "vessel": tet_grid(3)}
    )
    blocks.append(None, "empty")
    blocks.save(tmp_path / "model.vtm")
    scene = read(tmp_path / "model.vtm")
    assert scene.title == "model"
    assert [o.name for o in scene.objects] == ["heart/lv", "heart/rv", "vessel"]
    assert isinstance(scene.object("heart/lv").data, Mesh)
    vessel = scene.object("vessel").data
    assert isinstance(vessel, UnstructuredMesh) and vessel.n_cells == tet_grid(3).n_cells


def test_vtm_block_file_outside_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret").mkdir()
    write_xml(sphere(), tmp_path / "secret" / "s.vtp")
    (tmp_path / "index").mkdir()
    vtm = tmp_path / "index" / "m.vtm"
    vtm.write_text(
        '<?xml version="1.0"?>\n<VTKFile type="vtkMultiBlockDataSet" version="1.0">\n<vtkMultiBlockDataSet>\n'
        '<DataSet index="0" name="x" file="../secret/s.vtp"/>\n</vtkMultiBlockDataSet>\n</VTKFile>\n'
    )
    with pytest.raises(UnreadableFileError, match=r"m\.vtm: block file '\.\./secret/s\.vtp' leaves the folder"):
        read(vtm)


def write_pvtu(folder: Path, sources: list[str]) -> Path:
    pieces = "".join(f'    <Piece Source="{s}"/>\n' for s in sources)
    path = folder / "par.pvtu"
    path.write_text(
        '<?xml version="1.0"?>\n<VTKFile type="PUnstructuredGrid" version="0.1" byte_order="LittleEndian">\n'
        '  <PUnstructuredGrid GhostLevel="0">\n    <PPointData Scalars="pressure">\n'
        '      <PDataArray type="Float64" Name="pressure"/>\n    </PPointData>\n'
        '    <PPoints>\n      <PDataArray type="Float32" Name="Points" NumberOfComponents="3"/>\n    </PPoints>\n'
        f"{pieces}  </PUnstructuredGrid>\n</VTKFile>\n"
    )
    return path


def test_pvtu_pieces_are_merged_into_one_object(tmp_path: Path) -> None:
    left, right = tet_grid(3), tet_grid(3).translate((10.0, 0.0, 0.0))
    (tmp_path / "par").mkdir()
    write_xml(left, tmp_path / "par" / "par_0.vtu")
    write_xml(right, tmp_path / "par" / "par_1.vtu", "binary-zlib")
    scene = read(write_pvtu(tmp_path, ["par/par_0.vtu", "par/par_1.vtu"]))
    assert [o.name for o in scene.objects] == ["par"]
    mesh = scene.objects[0].data
    assert isinstance(mesh, UnstructuredMesh)
    assert mesh.n_points == 2 * left.n_points and mesh.n_cells == 2 * left.n_cells
    assert mesh.bounds[1][0] == pytest.approx(12.0)
    assert mesh.point_fields["pressure"].values.shape == (2 * left.n_points,)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("../outside.vtu", "leaves the folder"),
        ("/etc/passwd.vtu", "is not a relative path"),
        ("C:\\\\data\\\\x.vtu", "is not a relative path"),
        ("missing.vtu", "does not exist"),
    ],
)
def test_pvtu_piece_sources_must_stay_in_the_folder(tmp_path: Path, source: str, reason: str) -> None:
    folder = tmp_path / "inside"
    folder.mkdir()
    write_xml(tet_grid(2), tmp_path / "outside.vtu")
    with pytest.raises(UnreadableFileError, match=rf"par\.pvtu: piece .* {reason}"):
        read(write_pvtu(folder, [source]))


def test_pvtu_piece_symlinked_outside_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "inside"
    folder.mkdir()
    write_xml(tet_grid(2), tmp_path / "outside.vtu")
    (folder / "link.vtu").symlink_to(tmp_path / "outside.vtu")
    with pytest.raises(UnreadableFileError, match="resolves outside the folder"):
        read(write_pvtu(folder, ["link.vtu"]))


def test_content_of_another_vtk_type_is_named(tmp_path: Path) -> None:
    write_xml(sphere(), tmp_path / "surface.vtp")
    (tmp_path / "surface.vtu").write_bytes((tmp_path / "surface.vtp").read_bytes())
    with pytest.raises(UnsupportedFormatError, match=r"surface\.vtu: content is VTK XML PolyData"):
        read(tmp_path / "surface.vtu")


def test_unsupported_cell_type_is_named(tmp_path: Path) -> None:
    grid = pv.UnstructuredGrid(np.array([5, 0, 1, 2, 3, 4]), np.array([pv.CellType.POLYGON]), np.eye(5, 3))
    with pytest.raises(UnsupportedFormatError, match=r"poly\.vtu: VTK cell type POLYGON is not supported"):
        read(write_xml(grid, tmp_path / "poly.vtu"))


def test_300k_tetrahedra_vtu_reads_in_under_two_seconds(tmp_path: Path) -> None:
    grid = pv.ImageData(dimensions=(41, 41, 41)).triangulate()  # 320,000 tetrahedra
    grid.point_data["activation"] = np.linspace(0.0, 1.0, grid.n_points)
    path = write_xml(grid, tmp_path / "big.vtu", "appended-raw-zlib")
    read(write_xml(tet_grid(2), tmp_path / "warm.vtu"))  # start the isolation server outside the timing
    start = time.perf_counter()
    mesh = read(path).objects[0].data
    elapsed = time.perf_counter() - start
    assert isinstance(mesh, UnstructuredMesh) and mesh.n_cells == 320_000
    assert elapsed < 2.0, f"reading 320k tetrahedra took {elapsed:.2f} s"
