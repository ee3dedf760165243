"""Hostile and broken surface/point-cloud files: each must give a one-line error naming the file,
quickly and without allocating what a lying header claims."""

from __future__ import annotations

import json
import struct
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_io_surface import TETRA, TETRA_FACES, off_text, ply_bytes, stl_bytes

import vizserver.io.ply
import vizserver.io.pointcloud  # registers PCD and XYZ; with it, surface registers STL, OBJ, PLY, OFF, glTF
import vizserver.io.surface
from vizserver.errors import (
    InputError,
    InvalidGeometryError,
    LimitExceededError,
    UnreadableFileError,
    UnsupportedFormatError,
)
from vizserver.io import read
from vizserver.io.meshcheck import MAX_PARTS
from vizserver.io.sniff import looks_like_stl, ply_header
from vizserver.model import Mesh

STL_FACET = (
    "solid s\nfacet normal 0 0 1\nouter loop\nvertex {}\nvertex 1 0 0\nvertex 0 1 0\nendloop\nendfacet\nendsolid\n"
)
PLY_XYZ_HEADER = (
    "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nend_header\n"
)
SUFFIXES = [".stl", ".ply", ".obj", ".off", ".glb", ".gltf", ".pcd", ".xyz"]


def assert_one_line_naming(exc: pytest.ExceptionInfo[InputError], path: Path) -> None:
    message = str(exc.value)
    assert message.startswith(f"{path.name}: ") and "\n" not in message


def read_with_peak(path: Path) -> tuple[Exception, int]:
    """The error reading ``path`` raises, and the peak Python memory allocated while reading."""
    tracemalloc.start()
    try:
        read(path)
    except InputError as exc:
        return exc, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    raise AssertionError(f"{path.name} was read without error")


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_empty_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    with pytest.raises(UnreadableFileError, match="empty") as exc:
        read(path)
    assert_one_line_naming(exc, path)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_random_bytes(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"noise{suffix}"
    path.write_bytes(np.random.default_rng(7).integers(0, 256, 10_000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError) as exc:
        read(path)
    assert_one_line_naming(exc, path)


def test_truncated_binary_stl_names_expected_and_actual_size(tmp_path: Path) -> None:
    path = tmp_path / "cut.stl"
    path.write_bytes(stl_bytes(TETRA, TETRA_FACES)[:-30])
    with pytest.raises(UnreadableFileError) as exc:
        read(path)
    assert_one_line_naming(exc, path)
    assert "4 triangles" in str(exc.value) and "284 bytes" in str(exc.value) and "254 bytes" in str(exc.value)


def test_stl_claiming_billions_of_triangles_fails_before_allocating(tmp_path: Path) -> None:
    path = tmp_path / "liar.stl"
    path.write_bytes(b"\x00" * 80 + struct.pack("<I", 4_000_000_000) + b"\x01" * 5000)
    error, peak = read_with_peak(path)
    assert isinstance(error, UnreadableFileError) and "4,000,000,000 triangles" in str(error)
    assert peak < 2_000_000


def test_ascii_stl_is_told_from_a_binary_stl_starting_with_solid(tmp_path: Path) -> None:
    path = tmp_path / "solid_but_binary_and_cut.stl"
    path.write_bytes(stl_bytes(TETRA, TETRA_FACES, header=b"solid x")[:-1])
    with pytest.raises(UnreadableFileError, match="binary STL header says 4 triangles"):
        read(path)


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (ply_bytes("binary_little_endian"), "PLY"),
        (off_text().encode(), "OFF"),
        (b"glTF" + struct.pack("<II", 2, 200) + b"\x00" * 188, "glTF"),
        (b'{"asset": {"version": "2.0"}}', "glTF"),
        (b"# .PCD v0.7\nVERSION 0.7\nFIELDS x y z\n", "PCD"),
    ],
)
def test_other_format_renamed_to_stl_is_named(tmp_path: Path, content: bytes, name: str) -> None:
    path = tmp_path / "renamed.stl"
    path.write_bytes(content)
    with pytest.raises(UnsupportedFormatError) as exc:
        read(path)
    assert_one_line_naming(exc, path)
    assert f"content is {name}" in str(exc.value)


def test_text_is_never_sniffed_as_binary_stl() -> None:
    numbers = b"".join(f"{i * 0.37:.4f} {i * 1.1:.4f} {i:.4f}\n".encode() for i in range(400))
    assert not looks_like_stl(numbers[:4096], whole_file=False)
    assert looks_like_stl(stl_bytes(TETRA, np.tile(TETRA_FACES, (30, 1)))[:4096], whole_file=False)


@pytest.mark.parametrize(
    ("suffix", "content"),
    [
        (".stl", STL_FACET.format("0 0 nan")),
        (".obj", "v 0 0 0\nv inf 0 0\nv 0 1 0\nf 1 2 3\n"),
        (".off", "OFF\n3 1 0\n0 0 0\n1 0 nan\n0 1 0\n3 0 1 2\n"),
        (
            ".ply",
            PLY_XYZ_HEADER + "0 0 0\nnan 1 1\n2 2 2\n",
        ),
        (".xyz", "0 0 0\n1 1 nan\n"),
        (".stl", STL_FACET.format("0 0 1e39")),  # finite, but not as float32
    ],
)
def test_non_finite_coordinates(tmp_path: Path, suffix: str, content: str) -> None:
    path = tmp_path / f"nan{suffix}"
    path.write_text(content)
    with pytest.raises(InvalidGeometryError, match="NaN or infinite") as exc:
        read(path)
    assert_one_line_naming(exc, path)


@pytest.mark.parametrize(
    ("suffix", "content"),
    [
        (".obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n"),
        (".obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 -9\n"),
        (".obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 0 1 2\n"),
        (".obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\nf 1 2 3 5\nf 1 2 3\n"),
        (".off", "OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 3\n"),
        (".off", "OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 -1 2\n"),
        (".ply", ply_bytes("ascii", polygons=[[0, 1, 7]]).decode()),
    ],
)
def test_face_indices_out_of_range(tmp_path: Path, suffix: str, content: str) -> None:
    path = tmp_path / f"index{suffix}"
    path.write_text(content)
    with pytest.raises(InvalidGeometryError) as exc:
        read(path)
    assert_one_line_naming(exc, path)


def test_binary_ply_index_out_of_range(tmp_path: Path) -> None:
    path = tmp_path / "index.ply"
    path.write_bytes(ply_bytes("binary_little_endian", polygons=[[0, 1, 2], [0, 1, 2, 99]]))
    with pytest.raises(InvalidGeometryError, match="index 99"):
        read(path)


@pytest.mark.parametrize(
    ("suffix", "content"),
    [
        (".obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 1 1\nf 1 2\nf 1 2 3\n"),
        (".off", "OFF\n3 3 0\n0 0 0\n1 0 0\n0 1 0\n3 0 0 0\n2 0 1\n3 0 1 2\n"),
        (".ply", ply_bytes("binary_little_endian", polygons=[[0, 0, 0], [1, 2], [0, 1, 2]]).decode("latin-1")),
    ],
)
def test_degenerate_faces_do_not_crash(tmp_path: Path, suffix: str, content: str) -> None:
    path = tmp_path / f"degenerate{suffix}"
    path.write_bytes(content.encode("latin-1"))
    mesh = read(path).objects[0].data
    assert isinstance(mesh, Mesh)
    assert mesh.n_triangles in (1, 2)  # the two-corner face gives none; the repeated-index one may stay
    assert mesh.triangles.max() < mesh.n_points


def ply_header_only(vertices: int, faces: int, fmt: str = "binary_little_endian") -> bytes:
    return (
        f"ply\nformat {fmt} 1.0\nelement vertex {vertices}\nproperty float x\nproperty float y\n"
        f"property float z\nelement face {faces}\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode() + b"\x00" * 3000


@pytest.mark.parametrize("fmt", ["binary_little_endian", "ascii"])
def test_ply_header_counts_beyond_the_limits_or_the_file(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "huge.ply"
    path.write_bytes(ply_header_only(4_000_000_000, 1, fmt))
    error, peak = read_with_peak(path)
    assert isinstance(error, LimitExceededError) and "4,000,000,000 vertices" in str(error)
    path.write_bytes(ply_header_only(100_000, 100_000, fmt))
    error, peak = read_with_peak(path)
    assert isinstance(error, UnreadableFileError) and "need at least" in str(error)
    assert peak < 2_000_000


def test_ply_limits_come_from_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "pyramid.ply"
    path.write_bytes(ply_bytes("binary_little_endian"))
    monkeypatch.setenv("VIZSERVER_MAX_POINTS", "4")
    with pytest.raises(LimitExceededError, match="5 vertices"):
        read(path)


def test_ply_list_longer_than_the_file(tmp_path: Path) -> None:
    body = struct.pack("<3f", 0, 0, 0) * 3 + struct.pack("<B3i", 3, 0, 1, 2) + struct.pack("<B", 200) + b"\x00" * 12
    path = tmp_path / "cut.ply"
    path.write_bytes(ply_header_only(3, 2)[:-3000] + body)
    with pytest.raises(UnreadableFileError, match="ends inside") as exc:
        read(path)
    assert_one_line_naming(exc, path)
    uint_counts = ply_header_only(3, 1)[:-3000].replace(b"list uchar int", b"list uint int")
    path.write_bytes(uint_counts + struct.pack("<9f", *range(9)) + struct.pack("<I3i", 4_000_000_000, 0, 1, 2))
    error, peak = read_with_peak(path)
    assert isinstance(error, UnreadableFileError) and "claims 4,000,000,000 items" in str(error)
    assert peak < 2_000_000


def test_ply_mixed_polygon_rows_over_the_walk_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vizserver.io.ply, "PLY_MAX_WALKED_ROWS", 4)
    path = tmp_path / "mixed.ply"
    path.write_bytes(ply_bytes("binary_little_endian"))  # a quad and four triangles: 5 rows to walk
    with pytest.raises(LimitExceededError, match="5 face rows") as exc:
        read(path)
    assert_one_line_naming(exc, path)


@pytest.mark.parametrize(("suffix", "content"), [(".obj", ply_bytes("ascii")), (".xyz", off_text().encode())])
def test_format_without_signature_refuses_another_format(tmp_path: Path, suffix: str, content: bytes) -> None:
    path = tmp_path / f"renamed{suffix}"
    path.write_bytes(content)
    with pytest.raises(UnsupportedFormatError, match=r"content is (PLY|OFF)") as exc:
        read(path)
    assert_one_line_naming(exc, path)


def test_off_header_counts_beyond_the_file(tmp_path: Path) -> None:
    path = tmp_path / "liar.off"
    path.write_text("OFF\n4000000000 4000000000 0\n0 0 0\n")
    with pytest.raises(LimitExceededError):
        read(path)
    path.write_text("OFF\n5000 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")
    with pytest.raises(UnreadableFileError, match="claims 5,000 vertices"):
        read(path)


def test_obj_with_too_many_groups_is_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "groups.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n" + "g same\nf 1 2 3\n" * (MAX_PARTS + 1))
    start = time.perf_counter()
    with pytest.raises(LimitExceededError, match="groups"):
        read(path)
    assert time.perf_counter() - start < 5.0


def test_obj_with_many_groups_and_vertices_is_linear(tmp_path: Path) -> None:
    """trimesh's own splitting costs parts x vertices; ours must not (2,000 x 60,000 here)."""
    rng = np.random.default_rng(1)
    vertices = "".join(f"v {x:.3f} {y:.3f} {z:.3f}\n" for x, y, z in rng.random((60_000, 3)))
    groups = "".join(f"g part{i}\nf {3 * i + 1} {3 * i + 2} {3 * i + 3}\n" for i in range(2_000))
    path = tmp_path / "atlas.obj"
    path.write_text("mtllib /dev/zero\n" + vertices + groups)
    start = time.perf_counter()
    scene = read(path)
    assert time.perf_counter() - start < 10.0
    assert len(scene.objects) == 2_000 and scene.objects[5].name == "part5"
    assert all(isinstance(o.data, Mesh) and o.data.n_points == 3 for o in scene.objects)


def test_ascii_stl_with_too_many_solids(tmp_path: Path) -> None:
    path = tmp_path / "solids.stl"
    path.write_text("solid a\nendsolid a\n" * (MAX_PARTS + 1))
    with pytest.raises(LimitExceededError, match="solids"):
        read(path)


def gltf_json(**extra: object) -> bytes:
    tree: dict[str, object] = {"asset": {"version": "2.0"}}
    tree.update(extra)
    return json.dumps(tree).encode()


def glb(tree: bytes, declared_length: int | None = None) -> bytes:
    tree = tree.ljust((len(tree) + 3) // 4 * 4, b" ")
    length = 12 + 8 + len(tree)
    return b"glTF" + struct.pack("<II", 2, declared_length or length) + struct.pack("<II", len(tree), 0x4E4F534A) + tree


@pytest.mark.parametrize(
    ("content", "error", "words"),
    [
        (
            glb(gltf_json(accessors=[{"count": 4_000_000_000, "componentType": 5126, "type": "MAT4"}])),
            UnsupportedFormatError,
            "no bufferView",
        ),
        (
            glb(
                gltf_json(accessors=[{"bufferView": 0, "count": 4_000_000_000, "componentType": 5126, "type": "VEC3"}])
            ),
            LimitExceededError,
            "4,000,000,000 items",
        ),
        (glb(gltf_json(extensionsRequired=["KHR_draco_mesh_compression"])), UnsupportedFormatError, "Draco"),
        (glb(gltf_json(buffers=[{"uri": "/etc/passwd", "byteLength": 10}])), UnsupportedFormatError, "not a file"),
        (glb(gltf_json(), declared_length=10_000_000), UnreadableFileError, "header says"),
        (glb(b"{not json"), UnreadableFileError, "malformed"),
    ],
)
def test_hostile_glb(tmp_path: Path, content: bytes, error: type[InputError], words: str) -> None:
    path = tmp_path / "hostile.glb"
    path.write_bytes(content)
    with pytest.raises(error) as exc:
        read(path)
    assert_one_line_naming(exc, path)
    assert words.lower() in str(exc.value).lower()


def test_gltf_buffer_outside_its_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.bin").write_bytes(b"\x00" * 64)
    folder = tmp_path / "upload"
    folder.mkdir()
    path = folder / "scene.gltf"
    path.write_bytes(gltf_json(buffers=[{"uri": "../secret.bin", "byteLength": 64}]))
    with pytest.raises(UnsupportedFormatError, match="not a file beside it"):
        read(path)


def test_gltf_node_cycle_is_an_error_not_a_hang(tmp_path: Path) -> None:
    positions = np.array(TETRA, dtype=np.float32).tobytes()
    tree = gltf_json(
        buffers=[{"byteLength": len(positions)}],
        bufferViews=[{"buffer": 0, "byteLength": len(positions)}],
        accessors=[{"bufferView": 0, "count": 4, "componentType": 5126, "type": "VEC3"}],
        meshes=[{"name": "loop", "primitives": [{"attributes": {"POSITION": 0}, "mode": 0}]}],
        nodes=[{"children": [1], "mesh": 0}, {"children": [0]}],
        scenes=[{"nodes": [0]}],
    )
    body = glb(tree)
    chunk = positions.ljust((len(positions) + 3) // 4 * 4, b"\x00")
    body = (
        body[:8]
        + struct.pack("<I", len(body) + 8 + len(chunk))
        + body[12:]
        + struct.pack("<II", len(chunk), 0x004E4942)
        + chunk
    )
    path = tmp_path / "cycle.glb"
    path.write_bytes(body)
    try:
        scene = read(path)
    except UnreadableFileError as exc:
        assert "cycle" in str(exc)
    else:
        mesh = scene.objects[0].data
        assert isinstance(mesh, Mesh) and mesh.n_points == 4


def pcd_header(points: int, data: str = "binary") -> bytes:
    return (
        f"# .PCD v0.7\nVERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\n"
        f"WIDTH {points}\nHEIGHT 1\nPOINTS {points}\nDATA {data}\n"
    ).encode()


def test_pcd_header_claims(tmp_path: Path) -> None:
    path = tmp_path / "liar.pcd"
    path.write_bytes(pcd_header(4_000_000_000) + b"\x00" * 120)
    with pytest.raises(LimitExceededError, match="4,000,000,000 points"):
        read(path)
    path.write_bytes(pcd_header(1000) + b"\x00" * 120)
    with pytest.raises(UnreadableFileError, match="need 12,000 bytes") as exc:
        read(path)
    assert_one_line_naming(exc, path)
    path.write_bytes(pcd_header(1000, "binary_compressed") + struct.pack("<II", 100, 5) + b"\x00" * 100)
    with pytest.raises(UnreadableFileError, match="unpacks to 5 bytes"):
        read(path)


def test_xyz_ragged_columns(tmp_path: Path) -> None:
    path = tmp_path / "ragged.xyz"
    path.write_text("0 0 0\n1 1 1 1\n")
    with pytest.raises(UnreadableFileError, match="not a table of numbers") as exc:
        read(path)
    assert_one_line_naming(exc, path)


def test_xyzn_needs_six_columns(tmp_path: Path) -> None:
    path = tmp_path / "short.xyzn"
    path.write_text("0 0 0\n1 1 1\n")
    with pytest.raises(UnreadableFileError, match="needs 6"):
        read(path)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_sniffers_and_ply_header_never_crash_on_random_bytes(data: bytes) -> None:
    assert isinstance(looks_like_stl(data, whole_file=True), bool)
    try:
        header = ply_header(b"ply\n" + data)
    except ValueError:
        return
    assert header is not None and header.min_body_bytes() >= 0


def _valid_files() -> dict[str, bytes]:
    from test_io_surface import ascii_solid, two_node_scene

    return {
        ".stl": stl_bytes(TETRA, TETRA_FACES),
        "_ascii.stl": ascii_solid("a", TETRA, TETRA_FACES).encode(),
        ".obj": b"o a\nv 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\ng b\nf 1 2 4 3\nf 2/1 3/1 4/1\n",
        ".ply": ply_bytes("binary_little_endian"),
        "_ascii.ply": ply_bytes("ascii"),
        ".off": off_text().encode(),
        ".glb": two_node_scene().export(file_type="glb"),
        ".xyz": b"0 0 0\n1 0 0 # a comment\n0 1 0\n",
    }


VALID_FILES = _valid_files()


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(sorted(VALID_FILES)),
    st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=6),
    st.integers(0, 1 << 16),
)
def test_corrupted_files_give_input_errors_only(name: str, edits: list[tuple[int, int]], keep: int) -> None:
    """Valid files with a few bytes changed and the tail cut: read or refused, never another exception."""
    import tempfile

    data = bytearray(VALID_FILES[name])
    for position, value in edits:
        data[position % len(data)] = value
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"corrupt{name[-4:]}"
        path.write_bytes(bytes(data[: max(1, keep % (len(data) + 1))]))
        try:
            scene = read(path)
        except InputError as exc:
            assert str(exc).startswith(f"{path.name}: ") and "\n" not in str(exc)
        else:
            for obj in scene.objects:
                mesh = obj.data
                assert isinstance(mesh, Mesh) and np.isfinite(mesh.vertices).all()
                assert mesh.n_triangles == 0 or int(mesh.triangles.max()) < mesh.n_points


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ("x y z normal_x normal_z", "all of normal_x"),  # open3d segfaults on a partial normal triple
        ("x y z in\xfftensity", "distinct names"),  # and on a non-ASCII field name
        ("x y", "x, y, z are required"),
    ],
)
def test_pcd_field_lists_open3d_would_crash_on(tmp_path: Path, fields: str, words: str) -> None:
    n = len(fields.split())
    header = f"# .PCD v0.7\nVERSION 0.7\nFIELDS {fields}\nSIZE {'4 ' * n}\nTYPE {'F ' * n}\nCOUNT {'1 ' * n}\n"
    path = tmp_path / "fields.pcd"
    path.write_bytes(header.encode("latin-1") + b"WIDTH 1\nHEIGHT 1\nPOINTS 1\nDATA ascii\n" + b"0 " * n + b"\n")
    with pytest.raises(UnreadableFileError, match=words) as exc:
        read(path)
    assert_one_line_naming(exc, path)
