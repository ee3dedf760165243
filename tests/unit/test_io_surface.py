"""Surface readers (STL, OBJ, PLY, OFF, glTF) through the public ``vizserver.io.read``."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import trimesh

import vizserver.io.surface  # noqa: F401  (registers the readers)
from vizserver.io import read
from vizserver.io.meshcheck import fan_triangulate
from vizserver.model import Mesh, Scene

# A unit square pyramid: 5 vertices, a quad base and four triangles (6 triangles once split).
PYRAMID = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0.5, 0.5, 1]], dtype=np.float64)
PYRAMID_FACES: list[list[int]] = [[0, 3, 2, 1], [0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]]
TETRA = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float64)
TETRA_FACES = np.array([[0, 2, 1], [0, 1, 3], [1, 2, 3], [0, 3, 2]])


def only_mesh(scene: Scene) -> Mesh:
    assert len(scene.objects) == 1
    data = scene.objects[0].data
    assert isinstance(data, Mesh)
    assert data.vertices.dtype == np.float32 and data.triangles.dtype == np.uint32
    return data


def corners(mesh: Mesh) -> npt.NDArray[np.float32]:
    """Triangle corner coordinates, sorted, so meshes compare whatever their vertex order."""
    tri = mesh.vertices[mesh.triangles.astype(np.int64)]
    return np.array(sorted(map(tuple, tri.reshape(-1, 3).round(5))), dtype=np.float32)


# --- STL ---------------------------------------------------------------------------------------


def stl_bytes(vertices: npt.NDArray[np.float64], triangles: npt.NDArray[np.int_], header: bytes = b"") -> bytes:
    records = np.zeros(len(triangles), dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    records["v"] = vertices[triangles]
    return header.ljust(80, b" ")[:80] + struct.pack("<I", len(triangles)) + records.tobytes()


def ascii_solid(name: str, vertices: npt.NDArray[np.float64], triangles: npt.NDArray[np.int_]) -> str:
    facets = "".join(
        "facet normal 0 0 0\n outer loop\n"
        + "".join(f"  vertex {x} {y} {z}\n" for x, y, z in vertices[t])
        + " endloop\nendfacet\n"
        for t in triangles
    )
    return f"solid {name}\n{facets}endsolid {name}\n"


def test_binary_stl_corners_at_one_position_are_merged(tmp_path: Path) -> None:
    path = tmp_path / "heart.stl"
    path.write_bytes(stl_bytes(TETRA, TETRA_FACES))
    scene = read(path)
    mesh = only_mesh(scene)
    assert scene.title == "heart" and scene.objects[0].name == "heart"
    assert mesh.n_triangles == 4 and mesh.n_points == 4
    np.testing.assert_array_equal(corners(mesh), corners(Mesh(TETRA, TETRA_FACES)))


def test_binary_stl_whose_header_starts_with_solid_is_read_as_binary(tmp_path: Path) -> None:
    path = tmp_path / "exported.stl"
    path.write_bytes(stl_bytes(TETRA, TETRA_FACES, header=b"solid exported by a CAD tool"))
    mesh = only_mesh(read(path))
    assert mesh.n_triangles == 4
    np.testing.assert_allclose(mesh.vertices.max(axis=0), [1, 1, 1])


def test_ascii_stl_gives_one_object_per_solid(tmp_path: Path) -> None:
    path = tmp_path / "parts.stl"
    path.write_text(ascii_solid("left", TETRA, TETRA_FACES) + ascii_solid("right", TETRA + 5.0, TETRA_FACES[:2]))
    scene = read(path)
    assert sorted(o.name for o in scene.objects) == ["left", "right"]
    right = scene.object("right").data
    assert isinstance(right, Mesh) and right.n_triangles == 2
    assert right.vertices.min() >= 5.0


# --- OBJ ---------------------------------------------------------------------------------------


def obj_text(groups: dict[str, list[list[int]]], vertices: npt.NDArray[np.float64], extra: str = "") -> str:
    lines = [f"v {x} {y} {z}" for x, y, z in vertices]
    for name, faces in groups.items():
        lines.append(f"g {name}")
        lines += ["f " + " ".join(str(i + 1) for i in face) for face in faces]
    return extra + "\n".join(lines) + "\n"


def test_obj_triangulates_quads_and_keeps_vertices(tmp_path: Path) -> None:
    path = tmp_path / "pyramid.obj"
    path.write_text(obj_text({"": PYRAMID_FACES}, PYRAMID).replace("g \n", ""))
    mesh = only_mesh(read(path))
    assert mesh.n_triangles == 6
    np.testing.assert_allclose(mesh.vertices, PYRAMID)  # as written, same order
    assert mesh.normals is None


def test_obj_groups_become_named_objects_with_their_own_vertices(tmp_path: Path) -> None:
    path = tmp_path / "atlas.obj"
    faces = {"base": PYRAMID_FACES[:1], "sides": PYRAMID_FACES[1:], "base ": []}
    text = obj_text(faces, PYRAMID, extra="mtllib missing.mtl\nusemtl skin\n")
    path.write_text(text + "g base\nf 1 2 5\n")  # a group may come back later in the file
    scene = read(path)
    assert [o.name for o in scene.objects] == ["base", "sides"]
    base, sides = (o.data for o in scene.objects)
    assert isinstance(base, Mesh) and isinstance(sides, Mesh)
    assert base.n_triangles == 3 and sides.n_triangles == 4
    assert sides.n_points == 5 and base.n_points == 5
    np.testing.assert_allclose(sides.vertices[sides.triangles[0]], PYRAMID[[0, 1, 4]])


def test_obj_normals_and_vertex_colours(tmp_path: Path) -> None:
    path = tmp_path / "coloured.obj"
    vertices = "".join(f"v {x} {y} {z} 1 0 0\n" for x, y, z in TETRA)
    normals = "".join(f"vn {x} {y} {z}\n" for x, y, z in TETRA - 0.25)
    faces = "".join("f " + " ".join(f"{i + 1}//{i + 1}" for i in face) + "\n" for face in TETRA_FACES)
    path.write_text(vertices + normals + faces)
    mesh = only_mesh(read(path))
    assert mesh.normals is not None and mesh.normals.shape == (mesh.n_points, 3)
    np.testing.assert_allclose(mesh.point_fields["color"].values, np.tile([1, 0, 0], (mesh.n_points, 1)))


def test_obj_without_faces_is_a_point_cloud(tmp_path: Path) -> None:
    path = tmp_path / "points.obj"
    path.write_text("".join(f"v {x} {y} {z}\n" for x, y, z in TETRA))
    mesh = only_mesh(read(path))
    assert mesh.is_point_cloud and mesh.n_points == 4


# --- PLY ---------------------------------------------------------------------------------------


def ply_bytes(fmt: str, with_faces: bool = True, polygons: list[list[int]] = PYRAMID_FACES) -> bytes:
    """The pyramid with a float ``pressure`` and uchar colours per vertex, a uchar ``label`` per face."""
    n = len(PYRAMID)
    pressure = np.arange(n, dtype=np.float32) * 1.5
    colors = np.tile(np.array([255, 0, 51], dtype=np.uint8), (n, 1))
    header = [
        "ply",
        f"format {fmt} 1.0",
        "comment generated",
        f"element vertex {n}",
        "property float x",
        "property float y",
        "property float z",
        "property float pressure",
        "property uchar red",
        "property uchar green",
        "property uchar blue",
    ]
    if with_faces:
        header += [f"element face {len(polygons)}", "property list uchar int vertex_indices", "property uchar label"]
    text_header = ("\n".join([*header, "end_header"]) + "\n").encode()
    if fmt == "ascii":
        rows = [
            f"{x} {y} {z} {p} {r} {g} {b}" for (x, y, z), p, (r, g, b) in zip(PYRAMID, pressure, colors, strict=True)
        ]
        if with_faces:
            rows += [f"{len(face)} {' '.join(map(str, face))} {i}" for i, face in enumerate(polygons)]
        return text_header + ("\n".join(rows) + "\n").encode()
    order = "<" if fmt == "binary_little_endian" else ">"
    vertex = np.zeros(n, dtype=[("xyz", order + "f4", 3), ("p", order + "f4"), ("rgb", "u1", 3)])
    vertex["xyz"], vertex["p"], vertex["rgb"] = PYRAMID, pressure, colors
    body = vertex.tobytes()
    if with_faces:
        for i, face in enumerate(polygons):
            body += struct.pack(f"{order}B{len(face)}iB", len(face), *face, i)
    return text_header + body


@pytest.mark.parametrize("fmt", ["ascii", "binary_little_endian", "binary_big_endian"])
def test_ply_properties_become_fields_and_polygons_triangles(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"pyramid_{fmt}.ply"
    path.write_bytes(ply_bytes(fmt))
    mesh = only_mesh(read(path))
    np.testing.assert_allclose(mesh.vertices, PYRAMID)
    assert mesh.n_triangles == 6
    np.testing.assert_allclose(mesh.point_fields["pressure"].values, np.arange(5) * 1.5)
    np.testing.assert_allclose(mesh.point_fields["color"].values[0], [1.0, 0.0, 0.2], rtol=1e-6)
    assert set(mesh.point_fields) == {"pressure", "color"}
    # the quad (face 0) gave the first two triangles: its label follows them
    np.testing.assert_array_equal(mesh.cell_fields["label"].values, [0, 0, 1, 2, 3, 4])
    assert mesh.cell_fields["label"].association == "cell"


def test_ply_triangles_only_take_the_uniform_path(tmp_path: Path) -> None:
    path = tmp_path / "tetra.ply"
    path.write_bytes(ply_bytes("binary_little_endian", polygons=[[0, 1, 4], [1, 2, 4], [2, 3, 4]]))
    mesh = only_mesh(read(path))
    np.testing.assert_array_equal(mesh.triangles, [[0, 1, 4], [1, 2, 4], [2, 3, 4]])
    np.testing.assert_array_equal(mesh.cell_fields["label"].values, [0, 1, 2])


def test_ply_normals(tmp_path: Path) -> None:
    path = tmp_path / "normals.ply"
    header = "ply\nformat ascii 1.0\nelement vertex 3\nproperty double x\nproperty double y\nproperty double z\n"
    header += "property float nx\nproperty float ny\nproperty float nz\nelement face 1\n"
    header += "property list uchar uint vertex_index\nend_header\n"
    path.write_text(header + "0 0 0 0 0 1\n1 0 0 0 0 1\n0 1 0 0 0 1\n3 0 1 2\n")
    mesh = only_mesh(read(path))
    assert mesh.normals is not None
    np.testing.assert_allclose(mesh.normals, [[0, 0, 1]] * 3)
    assert not mesh.point_fields


def test_ply_without_faces_is_a_point_cloud_with_its_fields(tmp_path: Path) -> None:
    path = tmp_path / "scan.ply"
    path.write_bytes(ply_bytes("binary_little_endian", with_faces=False))
    mesh = only_mesh(read(path))
    assert mesh.is_point_cloud and mesh.n_points == 5
    assert set(mesh.point_fields) == {"pressure", "color"}


# --- OFF ---------------------------------------------------------------------------------------


def off_text(keyword: str = "OFF", vertex_extra: str = "", faces: list[list[int]] = PYRAMID_FACES) -> str:
    rows = [f"{x} {y} {z}{vertex_extra}" for x, y, z in PYRAMID]
    rows += [f"{len(f)} {' '.join(map(str, f))}" for f in faces]
    return f"{keyword}\n# a comment\n{len(PYRAMID)} {len(faces)} 0\n" + "\n".join(rows) + "\n"


def test_off_mixed_polygons(tmp_path: Path) -> None:
    path = tmp_path / "pyramid.off"
    path.write_text(off_text())
    mesh = only_mesh(read(path))
    np.testing.assert_allclose(mesh.vertices, PYRAMID)
    assert mesh.n_triangles == 6
    np.testing.assert_array_equal(
        corners(mesh),
        corners(Mesh(PYRAMID, fan_triangulate(np.array([4, 3, 3, 3, 3]), np.concatenate(PYRAMID_FACES))[0])),
    )


def test_coff_and_noff(tmp_path: Path) -> None:
    coloured = tmp_path / "coloured.off"
    coloured.write_text(off_text("COFF", " 255 0 0 255", faces=PYRAMID_FACES[1:]))
    mesh = only_mesh(read(coloured))
    np.testing.assert_allclose(mesh.point_fields["color"].values, [[1, 0, 0]] * 5)
    with_normals = tmp_path / "normals.off"
    with_normals.write_text(off_text("NOFF", " 0 0 1", faces=PYRAMID_FACES[1:]))
    mesh = only_mesh(read(with_normals))
    assert mesh.normals is not None
    np.testing.assert_allclose(mesh.normals, [[0, 0, 1]] * 5)


def test_off_counts_on_the_keyword_line_and_face_colours(tmp_path: Path) -> None:
    path = tmp_path / "inline.off"
    rows = [f"{x} {y} {z}" for x, y, z in TETRA] + [f"3 {a} {b} {c} 0.5 0.5 0.5" for a, b, c in TETRA_FACES]
    path.write_text("OFF 4 4 6\n" + "\n".join(rows) + "\n")
    mesh = only_mesh(read(path))
    np.testing.assert_array_equal(mesh.triangles, TETRA_FACES)


# --- glTF --------------------------------------------------------------------------------------


def two_node_scene() -> trimesh.Scene:
    """A tetra named 'liver' moved by +10 in x and a pyramid 'kidney' with a custom field."""
    liver = trimesh.Trimesh(TETRA, TETRA_FACES, process=False)
    kidney = trimesh.Trimesh(
        PYRAMID, fan_triangulate(np.array([4, 3, 3, 3, 3]), np.concatenate(PYRAMID_FACES))[0], process=False
    )
    kidney.vertex_attributes["_PRESSURE"] = np.arange(5, dtype=np.float32)
    scene = trimesh.Scene()
    scene.add_geometry(
        liver,
        geom_name="liver",
        node_name="liver_node",
        transform=trimesh.transformations.translation_matrix([10, 0, 0]),
    )
    scene.add_geometry(kidney, geom_name="kidney", node_name="kidney_node")
    return scene


def test_glb_meshes_become_objects_with_node_transforms_applied(tmp_path: Path) -> None:
    path = tmp_path / "organs.glb"
    path.write_bytes(two_node_scene().export(file_type="glb"))
    scene = read(path)
    assert sorted(o.name for o in scene.objects) == ["kidney", "liver"]
    liver, kidney = scene.object("liver"), scene.object("kidney")
    assert isinstance(liver.data, Mesh) and isinstance(kidney.data, Mesh)
    np.testing.assert_allclose(liver.data.vertices, TETRA + np.array([10, 0, 0]))
    np.testing.assert_array_equal(liver.transform, np.eye(4))
    np.testing.assert_allclose(kidney.data.point_fields["PRESSURE"].values, np.arange(5))
    assert kidney.data.n_triangles == 6


def test_glb_mirroring_transform_flips_winding_and_normals(tmp_path: Path) -> None:
    tetra = trimesh.Trimesh(TETRA, TETRA_FACES, process=False)
    normals = tetra.vertex_normals.copy()
    scene = trimesh.Scene()
    scene.add_geometry(tetra, geom_name="mirrored", transform=np.diag([-1.0, 1.0, 1.0, 1.0]))
    path = tmp_path / "mirror.glb"
    path.write_bytes(scene.export(file_type="glb", include_normals=True))
    mesh = only_mesh(read(path))
    np.testing.assert_allclose(mesh.vertices, TETRA * [-1, 1, 1])
    np.testing.assert_array_equal(mesh.triangles, TETRA_FACES[:, ::-1])
    assert mesh.normals is not None
    np.testing.assert_allclose(mesh.normals, normals * [-1, 1, 1], atol=1e-6)


def test_gltf_json_with_a_buffer_file_beside_it(tmp_path: Path) -> None:
    files = two_node_scene().export(file_type="gltf")
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    tree = json.loads(files["model.gltf"])
    assert any(not b["uri"].startswith("data:") for b in tree["buffers"])  # really external
    scene = read(tmp_path / "model.gltf")
    assert sorted(o.name for o in scene.objects) == ["kidney", "liver"]


def test_glb_point_primitive_is_a_point_cloud(tmp_path: Path) -> None:
    cloud = trimesh.PointCloud(TETRA)
    path = tmp_path / "cloud.glb"
    path.write_bytes(trimesh.Scene(cloud).export(file_type="glb"))
    mesh = only_mesh(read(path))
    assert mesh.is_point_cloud and mesh.n_points == 4


def test_fan_triangulate_maps_triangles_back_to_polygons() -> None:
    counts = np.array([4, 2, 3, 5])
    flat = np.arange(14)
    triangles, polygon = fan_triangulate(counts, flat)
    np.testing.assert_array_equal(polygon, [0, 0, 2, 3, 3, 3])
    np.testing.assert_array_equal(triangles, [[0, 1, 2], [0, 2, 3], [6, 7, 8], [9, 10, 11], [9, 11, 12], [9, 12, 13]])


def test_merging_keeps_every_triangle_in_place() -> None:
    from vizserver.io.meshcheck import merge_duplicate_vertices

    rng = np.random.default_rng(0)
    points = rng.random((50, 3)).astype(np.float32)
    faces = rng.integers(0, 50, (200, 3))
    soup = points[faces.ravel()]
    merged, triangles = merge_duplicate_vertices(soup, np.arange(600).reshape(-1, 3))
    assert len(merged) == len(np.unique(faces))
    np.testing.assert_array_equal(merged[triangles], points[faces])
