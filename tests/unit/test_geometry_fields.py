"""Cell-to-point averaging and index-map remapping of fields."""

from __future__ import annotations

import numpy as np

from vizserver.geometry.fields import apply_matrix, cell_to_point_matrix, cells_to_points, merge_point_fields, take
from vizserver.model import Field

# two triangles sharing the edge 1-2; point 4 belongs to no triangle
TRIANGLES = np.array([[0, 1, 2], [1, 3, 2]], dtype=np.uint32)


def test_plain_average_of_incident_cells() -> None:
    matrix = cell_to_point_matrix(TRIANGLES, 5)
    values = apply_matrix(matrix, np.array([2.0, 4.0], dtype=np.float32))
    np.testing.assert_allclose(values[:4], [2.0, 3.0, 3.0, 4.0])
    assert np.isnan(values[4])


def test_area_weights_and_vector_values() -> None:
    matrix = cell_to_point_matrix(TRIANGLES, 4, weights=np.array([1.0, 3.0]))
    vectors = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=np.float32)
    out = apply_matrix(matrix, vectors)
    assert out.shape == (4, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[1], [0.25, 0.75, 0.0], rtol=1e-6)


def test_zero_area_faces_still_define_their_points() -> None:
    matrix = cell_to_point_matrix(TRIANGLES, 4, weights=np.array([0.0, 0.0]))
    np.testing.assert_allclose(apply_matrix(matrix, np.array([2.0, 4.0], dtype=np.float32)), [2, 3, 3, 4])


def test_owners_let_faces_carry_other_cells_values() -> None:
    # both faces belong to cell 2 of a 3-cell mesh
    matrix = cell_to_point_matrix(TRIANGLES, 4, owners=np.array([2, 2]), n_cells=3)
    assert matrix.shape == (4, 3)
    np.testing.assert_allclose(apply_matrix(matrix, np.array([1.0, 5.0, 9.0], dtype=np.float32)), [9, 9, 9, 9])


def test_fields_follow_index_maps_and_names_do_not_collide() -> None:
    fields = {"t": Field("t", np.array([1.0, 2.0], dtype=np.float32), "cell", unit="ms")}
    points = cells_to_points(fields, cell_to_point_matrix(TRIANGLES, 4))
    assert points["t"].association == "point" and points["t"].unit == "ms"
    assert points["t"].range == (1.0, 2.0)
    picked = take(points, np.array([3, 0]))
    np.testing.assert_array_equal(picked["t"].values, [2.0, 1.0])
    merged = merge_point_fields({"t": Field("t", np.zeros(4, dtype=np.float32))}, points)
    assert set(merged) == {"t", "t (cells)"}
    assert merged["t (cells)"].name == "t (cells)"
