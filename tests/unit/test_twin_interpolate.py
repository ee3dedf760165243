"""P1 interpolation from a tetrahedral mesh to arbitrary points, and the cardiac twin's outputs through it."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv

from vizserver.anatomy.lv import lv_lattice, lv_surface
from vizserver.errors import InvalidGeometryError
from vizserver.twins.cardiac import CardiacTwin
from vizserver.twins.interpolate import p1_sampling_matrix
from vizserver.vtk_bridge import grid_to_unstructured

GRADIENT = np.array([0.7, -1.3, 2.1])


def box_mesh() -> tuple[np.ndarray, np.ndarray]:
    mesh = grid_to_unstructured(pv.ImageData(dimensions=(6, 5, 4), spacing=(1.0, 1.0, 1.0)).triangulate())
    return mesh.points.astype(np.float64), mesh.blocks[0].connectivity.astype(np.int64)


def test_linear_fields_are_reproduced_exactly_inside() -> None:
    points, tets = box_mesh()
    rng = np.random.default_rng(1)
    targets = rng.uniform([0, 0, 0], [5, 4, 3], size=(2000, 3))
    targets[:5] = points[[0, 7, 19, 42, 101]]  # on mesh points exactly
    matrix = p1_sampling_matrix(points, tets, targets)
    assert matrix.shape == (len(targets), len(points))
    field = points @ GRADIENT + 4.0
    np.testing.assert_allclose(matrix @ field, targets @ GRADIENT + 4.0, atol=1e-9)
    assert matrix.min() >= 0.0
    np.testing.assert_allclose(np.asarray(matrix.sum(axis=1)).ravel(), 1.0)
    assert np.all(np.diff(matrix.indptr) <= 4)


def test_targets_outside_get_a_convex_combination_of_a_nearby_element() -> None:
    points, tets = box_mesh()
    targets = np.array([[-0.3, 2.0, 1.5], [5.2, 4.1, 3.2], [2.5, -0.6, 0.4], [2.5, 2.0, 3.0 + 1e-3]])
    matrix = p1_sampling_matrix(points, tets, targets)
    assert matrix.min() >= 0.0
    np.testing.assert_allclose(np.asarray(matrix.sum(axis=1)).ravel(), 1.0)
    for row, target in enumerate(targets):
        used = matrix.indices[matrix.indptr[row]:matrix.indptr[row + 1]]
        assert 1 <= len(used) <= 4
        assert np.max(np.linalg.norm(points[used] - target, axis=1)) < 2.5  # corners of a nearby element
    field = points @ GRADIENT
    values = matrix @ field
    assert np.all(values >= field.min()) and np.all(values <= field.max())


def test_non_finite_targets_are_refused_with_one_line() -> None:
    points, tets = box_mesh()
    with pytest.raises(InvalidGeometryError, match="finite") as info:
        p1_sampling_matrix(points, tets, np.array([[0.0, np.nan, 0.0]]))
    assert "\n" not in str(info.value)


def test_cardiac_twin_outputs_interpolate_its_fields_onto_the_smooth_lv_surface() -> None:
    mesh = lv_lattice(32)
    twin = CardiacTwin(mesh)
    surface = lv_surface(48)  # a different, smooth surface: its vertices lie on no lattice point
    twin.bind_outputs(surface.vertices)
    points = mesh.points.astype(np.float64)
    twin.u = (points @ GRADIENT - (points @ GRADIENT).min()) / np.ptp(points @ GRADIENT)  # a linear u in [0, 1]
    output = twin.outputs()["vm"]
    assert output.shape == (surface.n_points,) and output.dtype == np.float32
    vm = output.astype(np.float64)
    expected = -80.0 + 100.0 * (surface.vertices.astype(np.float64) @ GRADIENT - (points @ GRADIENT).min()) / np.ptp(
        points @ GRADIENT)
    error = np.abs(vm - expected)
    # exact where a vertex is inside the staircase wall; within one lattice spacing of the slope outside
    assert np.median(error) < 1e-3
    spacing = 2 * np.pi * 8.5 / 32
    assert error.max() < 100.0 * np.linalg.norm(GRADIENT) * spacing / np.ptp(points @ GRADIENT)
