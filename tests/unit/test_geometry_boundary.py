"""Boundary surfaces of volume meshes: watertight, outward, with the map back to the original points."""

from __future__ import annotations

import itertools
import time

import numpy as np
import numpy.typing as npt
import pytest
import pyvista as pv
import trimesh

from vizserver.geometry.boundary import boundary_faces, boundary_surface
from vizserver.model import CellBlock, Field, UnstructuredMesh
from vizserver.vtk_bridge import grid_to_unstructured, unstructured_to_grid


def tet_cube(n: int, *, invert: bool = False) -> UnstructuredMesh:
    """The unit cube cut into n^3 cubes of 6 conforming tets each (Kuhn), all positively oriented."""
    g = np.arange(n + 1)
    grid = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3)
    points = (grid / n).astype(np.float32)
    cells = np.stack(np.meshgrid(np.arange(n), np.arange(n), np.arange(n), indexing="ij"), -1).reshape(-1, 3)

    def node(corner: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        c = cells + corner
        ids: npt.NDArray[np.int64] = (c[:, 0] * (n + 1) + c[:, 1]) * (n + 1) + c[:, 2]
        return ids

    tets = []
    for perm in itertools.permutations(range(3)):
        corner = np.zeros(3, dtype=np.int64)
        path = [node(corner.copy())]
        for axis in perm:
            corner[axis] += 1
            path.append(node(corner.copy()))
        tets.append(np.stack(path, axis=1))
    conn = np.concatenate(tets).astype(np.uint32)
    p = points[conn].astype(np.float64)
    volume = np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0])
    wrong = volume < 0 if not invert else volume > 0
    conn[wrong] = conn[wrong][:, [0, 2, 1, 3]]
    cell_id = np.arange(conn.shape[0], dtype=np.float32)
    return UnstructuredMesh(
        points,
        (CellBlock("tetra", conn),),
        point_fields={"x": Field("x", points[:, 0].copy())},
        cell_fields={"cell": Field("cell", cell_id, "cell")},
    )


def face_normals(vertices: npt.NDArray[np.float32], triangles: npt.NDArray[np.uint32]) -> npt.NDArray[np.float64]:
    v = vertices.astype(np.float64)
    return np.cross(v[triangles[:, 1]] - v[triangles[:, 0]], v[triangles[:, 2]] - v[triangles[:, 0]])


def assert_closed_and_outward(vertices: npt.NDArray[np.float32], triangles: npt.NDArray[np.uint32]) -> None:
    tm = trimesh.Trimesh(vertices, triangles, process=False)
    assert tm.is_watertight
    assert tm.is_winding_consistent
    assert tm.euler_number == 2
    center = vertices.astype(np.float64).mean(axis=0)
    outward = np.einsum("ij,ij->i", face_normals(vertices, triangles), vertices[triangles].mean(axis=1) - center)
    assert (outward > 0).all()


@pytest.mark.parametrize("invert", [False, True])
def test_cube_of_tets_gives_a_closed_outward_surface(invert: bool) -> None:
    mesh = tet_cube(4, invert=invert)
    surface = boundary_surface(mesh)
    assert surface.n_triangles == 6 * 4 * 4 * 2
    assert_closed_and_outward(surface.vertices, surface.triangles)
    assert trimesh.Trimesh(surface.vertices, surface.triangles, process=False).volume == pytest.approx(1.0)


def test_source_ids_map_vertices_and_fields_to_the_original_points() -> None:
    mesh = tet_cube(3)
    surface = boundary_surface(mesh)
    ids = surface.source_point_ids
    assert ids is not None and ids.dtype == np.uint32
    assert surface.n_points == 4**3 - 2**3  # the points on the skin of a 3x3x3 grid of cubes
    np.testing.assert_array_equal(surface.vertices, mesh.points[ids])
    np.testing.assert_array_equal(surface.point_fields["x"].values, mesh.point_fields["x"].values[ids])
    # each triangle carries its owning tet's value, and that tet holds all three corners
    owner = surface.cell_fields["cell"].values.astype(np.int64)
    tets = mesh.blocks[0].connectivity[owner]
    corners = ids[surface.triangles]
    assert all(np.isin(corners[i], tets[i]).all() for i in range(0, len(owner), 7))


def test_hexahedra_wedges_and_pyramids_face_outward() -> None:
    # a unit cube as one hexahedron, two wedges, six pyramids around its centre, or two collapsed hexahedra
    cube = np.array(
        [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]], np.float32
    )
    hexa = UnstructuredMesh(cube, (CellBlock("hexahedron", np.arange(8, dtype=np.uint32).reshape(1, 8)),))
    wedges = UnstructuredMesh(
        cube, (CellBlock("wedge", np.array([[0, 1, 3, 4, 5, 7], [1, 2, 3, 5, 6, 7]], dtype=np.uint32)),)
    )
    with_centre = np.vstack([cube, [[0.5, 0.5, 0.5]]]).astype(np.float32)
    bases = np.array([[0, 1, 2, 3], [4, 7, 6, 5], [0, 4, 5, 1], [1, 5, 6, 2], [2, 6, 7, 3], [3, 7, 4, 0]])
    pyramids = UnstructuredMesh(with_centre, (CellBlock("pyramid", np.hstack([bases, np.full((6, 1), 8)])),))
    # the two wedges written as hexahedra with repeated nodes, as some FE exporters do
    collapsed_conn = np.array([[0, 1, 3, 3, 4, 5, 7, 7], [1, 2, 3, 3, 5, 6, 7, 7]], dtype=np.uint32)
    collapsed = UnstructuredMesh(cube, (CellBlock("hexahedron", collapsed_conn),))
    for mesh in (hexa, wedges, pyramids, collapsed):
        surface = boundary_surface(mesh)
        assert surface.n_triangles == 12
        assert_closed_and_outward(surface.vertices, surface.triangles)


def test_hexahedral_grid_matches_vtk_geometry_filter() -> None:
    grid = pv.ImageData(dimensions=(6, 5, 4)).cast_to_unstructured_grid()
    mesh = grid_to_unstructured(grid)
    assert mesh.blocks[0].kind == "hexahedron"
    surface = boundary_surface(mesh)
    assert_closed_and_outward(surface.vertices, surface.triangles)
    reference = grid.extract_surface(pass_pointid=True, algorithm=None)
    assert surface.n_triangles == 2 * reference.n_cells  # VTK keeps the quads, we split them


def test_surface_cells_are_kept_unless_they_duplicate_a_volume_face() -> None:
    mesh = tet_cube(2)
    on_boundary = boundary_faces(mesh).triangles[:5]
    loose = np.array([[0, 1, 2]], dtype=np.uint32) + np.uint32(mesh.n_points)
    points = np.vstack([mesh.points, [[5, 5, 5], [6, 5, 5], [5, 6, 5]]]).astype(np.float32)
    blocks = (*mesh.blocks, CellBlock("triangle", np.vstack([on_boundary, loose])))
    faces = boundary_faces(UnstructuredMesh(points, blocks))
    assert faces.triangles.shape[0] == boundary_faces(mesh).triangles.shape[0] + 1
    assert faces.owners[-1] == mesh.n_cells + 5  # the loose triangle is its own owner, in block order


def test_ids_beyond_the_packed_key_range_give_the_same_faces() -> None:
    small = tet_cube(2)
    shift = np.uint32((1 << 21) + 3)
    far = np.zeros((int(shift) + small.n_points, 3), dtype=np.float32)
    far[shift:] = small.points
    large = UnstructuredMesh(far, (CellBlock("tetra", small.blocks[0].connectivity + shift),))
    expected = boundary_faces(small)
    got = boundary_faces(large)
    np.testing.assert_array_equal(got.triangles - shift, expected.triangles)
    np.testing.assert_array_equal(got.owners, expected.owners)
    assert boundary_surface(large).n_points == boundary_surface(small).n_points


def test_vertex_and_line_cells_give_no_faces() -> None:
    points = np.eye(3, dtype=np.float32)
    mesh = UnstructuredMesh(
        points,
        (CellBlock("line", np.array([[0, 1], [1, 2]], np.uint32)), CellBlock("vertex", np.zeros((1, 1), np.uint32))),
    )
    assert boundary_faces(mesh).triangles.shape == (0, 3)


def test_three_hundred_thousand_tets_in_well_under_a_second() -> None:
    mesh = tet_cube(37)  # 303,918 tets
    grid = unstructured_to_grid(mesh)
    boundary_surface(mesh)  # warm caches
    start = time.perf_counter()
    surface = boundary_surface(mesh)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    reference = grid.extract_surface(pass_pointid=True, algorithm=None)
    vtk_s = time.perf_counter() - start
    assert surface.n_triangles == reference.n_cells == 6 * 37 * 37 * 2
    assert surface.n_points == reference.n_points
    assert surface.source_point_ids is not None
    ids = np.sort(surface.source_point_ids)
    np.testing.assert_array_equal(ids, np.sort(reference.point_data["vtkOriginalPointIds"]))
    assert ours < 1.0, f"boundary of 303,918 tets took {ours:.3f} s (VTK: {vtk_s:.3f} s)"
