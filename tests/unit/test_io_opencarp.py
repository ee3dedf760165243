"""openCARP meshes (.pts/.elem/.lon) and IGB time series, through the public ``vizserver.io.read``."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

import vizserver.io.opencarp  # noqa: F401  (registers the reader)
from vizserver.errors import InvalidGeometryError, UnreadableFileError, UnsupportedFormatError
from vizserver.io import read
from vizserver.io.igb import IgbFrames, parse_header
from vizserver.io.opencarp import IgbSteps, parse_elements
from vizserver.model import TimeSeries, UnstructuredMesh

# A unit cube's corners (um) as two tetrahedra, one pyramid... kept small: 5 points, mixed types.
POINTS = np.array([[0, 0, 0], [1000, 0, 0], [0, 1000, 0], [0, 0, 1000], [1000, 1000, 1000]], dtype=np.float64)
ELEMENTS = [("Tt", [0, 1, 2, 3], 7), ("Tr", [1, 2, 4], 3), ("Tt", [1, 2, 3, 4], 8)]
FIBRES = np.array([[1, 0, 0, 0, 1, 0], [0, 1, 0, 0, 0, 1], [0, 0, 1, 1, 0, 0]], dtype=np.float64)


def write_mesh(folder: Path, stem: str = "heart", lon: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pts = f"{len(POINTS)}\n" + "".join(f"{x:.1f} {y:.1f} {z:.1f}\n" for x, y, z in POINTS)
    elem = f"{len(ELEMENTS)}\n" + "".join(f"{t} {' '.join(map(str, n))} {tag}\n" for t, n, tag in ELEMENTS)
    (folder / f"{stem}.pts").write_text(pts)
    (folder / f"{stem}.elem").write_text(elem)
    if lon:
        (folder / f"{stem}.lon").write_text("2\n" + "".join(" ".join(f"{v:g}" for v in row) + "\n" for row in FIBRES))
    return folder / f"{stem}.pts"


def igb_header(**items: object) -> bytes:
    """A standard IGB header: items on CR LF lines, blank-padded to 1024 bytes ending in a form feed."""
    text = " ".join(f"{k}:{v}" for k, v in items.items()).encode() + b"\r\n"
    return text + b" " * (1023 - len(text)) + b"\x0c"


def write_igb(
    path: Path, data: npt.NDArray[np.generic], dtype: str = "<f4", type_name: str = "float", **extra: object
) -> Path:
    """``data`` is (t, n) or (t, n, k); written time-major in ``dtype``."""
    t, n = data.shape[:2]
    systeme = "big_endian" if dtype.startswith(">") else "little_endian"
    items: dict[str, object] = {"x": n, "y": 1, "z": 1, "t": t, "type": type_name, "systeme": systeme,
                                "org_t": 0, "inc_t": 2.5, "unites_t": "ms", "unites": "mV"}
    header = igb_header(**{**items, **extra})
    path.write_bytes(header + np.ascontiguousarray(data, dtype=dtype).tobytes())
    return path


def test_mesh_with_mixed_cells_regions_and_fibres(tmp_path: Path) -> None:
    scene = read(write_mesh(tmp_path))
    assert scene.title == "heart"
    mesh = scene.objects[0].data
    assert isinstance(mesh, UnstructuredMesh)
    np.testing.assert_allclose(mesh.points, POINTS)
    assert [(b.kind, len(b)) for b in mesh.blocks] == [("tetra", 2), ("triangle", 1)]
    np.testing.assert_array_equal(mesh.blocks[0].connectivity, [[0, 1, 2, 3], [1, 2, 3, 4]])
    # cell fields follow the blocks: file elements 0, 2 (tetra) then 1 (triangle)
    np.testing.assert_array_equal(mesh.cell_fields["region"].values, [7, 8, 3])
    np.testing.assert_array_equal(mesh.cell_fields["fibres"].values, FIBRES[[0, 2, 1], :3])
    np.testing.assert_array_equal(mesh.cell_fields["sheets"].values, FIBRES[[0, 2, 1], 3:])


def test_elem_file_reads_the_same_triple(tmp_path: Path) -> None:
    write_mesh(tmp_path)
    by_elem = read(tmp_path / "heart.elem").objects[0].data
    assert isinstance(by_elem, UnstructuredMesh)
    assert by_elem.n_points == 5 and by_elem.n_cells == 3 and "fibres" in by_elem.cell_fields


def test_lon_without_header_and_without_tags(tmp_path: Path) -> None:
    write_mesh(tmp_path, lon=False)
    (tmp_path / "heart.elem").write_text("2\nTt 0 1 2 3\nTt 1 2 3 4\n")
    (tmp_path / "heart.lon").write_text("1 0 0\n0 1 0\n")
    mesh = read(tmp_path / "heart.pts").objects[0].data
    assert isinstance(mesh, UnstructuredMesh)
    assert "region" not in mesh.cell_fields and "sheets" not in mesh.cell_fields
    np.testing.assert_array_equal(mesh.cell_fields["fibres"].values, [[1, 0, 0], [0, 1, 0]])


@pytest.mark.parametrize(
    ("file", "content", "error", "words"),
    [
        ("heart.pts", "5\n0 0 0\n1 0 0\n0 1 0\n", UnreadableFileError, ["5 points", "found 3"]),
        ("heart.elem", "3\nTt 0 1 2 3 1\n", UnreadableFileError, ["3 elements", "found 1"]),
        ("heart.elem", "1\nTt 0 1 2 9 1\n", InvalidGeometryError, ["node 9", "0..4"]),
        ("heart.pts", "2\n0 0 0\nnan 1 2\n", InvalidGeometryError, ["point 1", "NaN"]),
        ("heart.elem", "1\nXx 0 1 2 1\n", UnreadableFileError, ["unknown element type"]),
        ("heart.elem", "1\nTt 0 1 2\n", UnreadableFileError, ["needs 4 node indices"]),
        ("heart.elem", "2\nTt 0 1 2 3 1\nTt 0 1 2 3 1 5\n", UnreadableFileError, ["line 3", "found 6 numbers"]),
        ("heart.elem", "2\nTt 0 1 2 3 1\nTt 0 1 x 3 1\n", UnreadableFileError, ["not an integer"]),
        ("heart.lon", "1\n1 0 0\n", UnreadableFileError, ["expected 3 elements"]),
        ("heart.pts", "lots\n0 0 0\n", UnreadableFileError, ["not a valid openCARP file"]),
        ("heart.pts", "5\n", UnreadableFileError, ["truncated", "5 points"]),
    ],
)
def test_bad_files_name_the_file_and_problem(
    tmp_path: Path, file: str, content: str, error: type[Exception], words: list[str]
) -> None:
    write_mesh(tmp_path)
    (tmp_path / file).write_text(content)
    with pytest.raises(error) as info:
        read(tmp_path / "heart.pts")
    message = str(info.value)
    assert message.startswith(file) and "\n" not in message
    for word in words:
        assert word in message


def test_missing_elem_is_named(tmp_path: Path) -> None:
    write_mesh(tmp_path)
    (tmp_path / "heart.elem").unlink()
    with pytest.raises(UnreadableFileError, match=r"^heart\.elem: missing"):
        read(tmp_path / "heart.pts")


def test_claimed_count_beyond_file_size_fails_before_parsing(tmp_path: Path) -> None:
    write_mesh(tmp_path)
    (tmp_path / "heart.pts").write_text("100000000\n0 0 0\n")
    with pytest.raises(UnreadableFileError, match="truncated"):
        read(tmp_path / "heart.pts")


def test_igb_series_attached_with_shared_time_axis(tmp_path: Path) -> None:
    write_mesh(tmp_path)
    vm = np.arange(6 * 5, dtype=np.float32).reshape(6, 5)
    write_igb(tmp_path / "vm.igb", vm)
    write_igb(tmp_path / "phie.igb", -vm)
    write_igb(tmp_path / "other_mesh.igb", np.zeros((6, 7), np.float32))  # another mesh's: ignored
    scene = read(tmp_path / "heart.pts")
    series = scene.objects[0].data
    assert isinstance(series, TimeSeries)
    assert scene.objects[0].active_field == "vm"
    assert series.field_names == ("vm", "phie")
    np.testing.assert_allclose(series.times, 2.5 * np.arange(6))
    assert series.time_unit == "ms"
    step = series.steps[4]
    np.testing.assert_array_equal(step["vm"].values, vm[4])
    np.testing.assert_array_equal(step["phie"].values, -vm[4])
    assert step["vm"].unit == "mV" and step["vm"].association == "point"


def test_igb_frames_are_read_from_disk_when_indexed(tmp_path: Path) -> None:
    write_mesh(tmp_path)
    path = write_igb(tmp_path / "vm.igb", np.zeros((50, 5), np.float32))
    series = read(tmp_path / "heart.pts").objects[0].data
    assert isinstance(series, TimeSeries) and isinstance(series.steps, IgbSteps)
    with path.open("r+b") as f:  # change step 30 on disk after reading: the series sees it
        f.seek(1024 + 30 * 5 * 4)
        f.write(np.full(5, 7.0, np.float32).tobytes())
    np.testing.assert_array_equal(series.steps[30]["vm"].values, np.full(5, 7.0))
    np.testing.assert_array_equal(series.steps[29]["vm"].values, np.zeros(5))


def test_igb_big_endian_integers_scaled_and_vectors(tmp_path: Path) -> None:
    raw = np.arange(3 * 5, dtype=np.int16).reshape(3, 5)
    frames = IgbFrames(write_igb(tmp_path / "a.igb", raw, ">i2", "short", facteur=0.5, zero=-1))
    np.testing.assert_allclose(frames[2], raw[2] * 0.5 - 1)
    vectors = np.random.default_rng(1).random((4, 5, 3))
    frames = IgbFrames(write_igb(tmp_path / "b.igb", vectors, ">f8", "vec3d"))
    assert frames[3].shape == (5, 3)
    np.testing.assert_allclose(frames[3], vectors[3], rtol=1e-6)


def test_igb_header_without_form_feed_uses_1024_bytes() -> None:
    text = b"x:5 y:1 z:1 t:2 type:float systeme:little_endian\r\n"
    head = text + b" " * (1024 - len(text))
    header = parse_header(head + bytes(40), "old.igb", 1024 + 40)
    assert header.data_offset == 1024 and header.t == 2 and header.dtype == np.dtype("<f4")


def test_truncated_igb_says_how_many_steps_are_there(tmp_path: Path) -> None:
    write_mesh(tmp_path)
    path = write_igb(tmp_path / "vm.igb", np.zeros((10, 5), np.float32))
    path.write_bytes(path.read_bytes()[: 1024 + 3 * 20 + 7])
    with pytest.raises(UnreadableFileError, match=r"^vm\.igb: truncated: .*10 time steps.* 3 complete steps"):
        read(tmp_path / "heart.pts")


def test_unsupported_igb_type(tmp_path: Path) -> None:
    path = tmp_path / "vm.igb"
    path.write_bytes(igb_header(x=5, y=1, t=1, type="rgba") + bytes(20))
    with pytest.raises(UnsupportedFormatError, match=r"^vm\.igb: IGB type 'rgba' is not supported"):
        read(path)


def test_reading_igb_finds_its_mesh(tmp_path: Path) -> None:
    write_mesh(tmp_path)
    write_igb(tmp_path / "vm.igb", np.ones((3, 5), np.float32))
    write_igb(tmp_path / "slow.igb", np.ones((2, 5), np.float32), inc_t=10)  # other time axis
    scene = read(tmp_path / "slow.igb")
    series = scene.objects[0].data
    assert scene.title == "slow" and isinstance(series, TimeSeries)
    assert series.field_names == ("slow",) and series.n_steps == 2
    assert read(tmp_path / "heart.pts").objects[0].data.field_names == ("vm",)  # type: ignore[union-attr]


def test_igb_without_or_with_ambiguous_mesh(tmp_path: Path) -> None:
    write_igb(tmp_path / "vm.igb", np.ones((3, 5), np.float32))
    with pytest.raises(UnreadableFileError, match=r"^vm\.igb: no openCARP mesh .* 5 points"):
        read(tmp_path / "vm.igb")
    write_mesh(tmp_path, "a")
    write_mesh(tmp_path, "b")
    with pytest.raises(UnreadableFileError, match=r"several meshes .*a\.pts, b\.pts"):
        read(tmp_path / "vm.igb")


def test_300k_tetrahedra_parse_fast() -> None:
    rng = np.random.default_rng(0)
    n_points, n_tets = 60_000, 300_000
    rows = np.column_stack([rng.integers(0, n_points, (n_tets, 4)), rng.integers(1, 4, n_tets)])
    body = "\n".join("Tt " + " ".join(r) for r in rows.astype(str).tolist())
    data = f"{n_tets}\n{body}\n".encode()
    start = time.perf_counter()
    kinds, blocks, order, tags = parse_elements(data, "big.elem", n_points)
    elapsed = time.perf_counter() - start
    assert kinds == ["tetra"] and blocks[0].shape == (n_tets, 4) and np.array_equal(order, np.arange(n_tets))
    np.testing.assert_array_equal(blocks[0], rows[:, :4])
    assert tags is not None and np.array_equal(tags, rows[:, 4])
    assert elapsed < 1.0, f"parsing 300k tetrahedra took {elapsed:.2f} s"
