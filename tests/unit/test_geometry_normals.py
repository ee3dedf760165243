"""Area-weighted vertex normals: unit length, outward on a closed surface, safe on degenerate faces."""

from __future__ import annotations

import numpy as np
import trimesh

from vizserver.geometry.normals import FALLBACK_NORMAL, triangle_areas, vertex_normals


def test_sphere_normals_are_unit_and_point_outward() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=2.0)
    vertices = (sphere.vertices + np.array([1.0, -3.0, 0.5])).astype(np.float32)
    normals = vertex_normals(vertices, sphere.faces.astype(np.uint32))
    assert normals.dtype == np.float32 and normals.shape == vertices.shape
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-6)
    radial = (vertices - [1.0, -3.0, 0.5]) / 2.0
    assert np.einsum("ij,ij->i", normals, radial).min() > 0.99


def test_reversed_winding_flips_the_normals() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=2)
    vertices = sphere.vertices.astype(np.float32)
    forward = vertex_normals(vertices, sphere.faces.astype(np.uint32))
    backward = vertex_normals(vertices, sphere.faces[:, ::-1].astype(np.uint32))
    np.testing.assert_allclose(forward, -backward, atol=1e-6)


def test_larger_faces_weigh_more() -> None:
    # vertex 0 is shared by a big face in the z=0 plane and a small face in the x=0 plane
    vertices = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0.1, 0], [0, 0, 0.1]], dtype=np.float32)
    triangles = np.array([[0, 1, 2], [0, 3, 4]], dtype=np.uint32)
    normal = vertex_normals(vertices, triangles)[0]
    assert normal[2] > 0.999 and 0 < normal[0] < 0.01


def test_degenerate_faces_and_isolated_vertices_do_not_break_anything() -> None:
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [2, 0, 0], [5, 5, 5]], dtype=np.float32)
    triangles = np.array([[0, 1, 2], [0, 1, 3], [1, 1, 2]], dtype=np.uint32)  # collinear, repeated corner
    normals = vertex_normals(vertices, triangles)
    assert np.isfinite(normals).all()
    np.testing.assert_allclose(normals[:3], [[0, 0, 1]] * 3, atol=1e-6)
    np.testing.assert_array_equal(normals[3], FALLBACK_NORMAL)  # only a collinear face
    np.testing.assert_array_equal(normals[4], FALLBACK_NORMAL)  # in no face
    np.testing.assert_allclose(triangle_areas(vertices, triangles), [0.5, 0.0, 0.0])
