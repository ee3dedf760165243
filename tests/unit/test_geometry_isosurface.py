"""Surfaces from volumes: one closed surface per label, iso-surfaces at the right place, clear errors."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
import trimesh

from vizserver.errors import InvalidGeometryError
from vizserver.geometry.isosurface import iso_surface, label_surfaces, otsu_threshold
from vizserver.model import Volume

N = 40
CENTRE = np.array([20.3, 19.6, 20.1])


def grid() -> npt.NDArray[np.float64]:
    g = np.arange(N, dtype=np.float64)
    return np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1)


def distance() -> npt.NDArray[np.float32]:
    d: npt.NDArray[np.float32] = np.linalg.norm(grid() - CENTRE, axis=-1).astype(np.float32)
    return d


ROTATION = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # i -> +y, j -> -x
SPACING = (0.5, 1.0, 2.0)
ORIGIN = (10.0, 20.0, 30.0)


def to_world(index: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    world: npt.NDArray[np.float64] = np.asarray(ORIGIN) + (index * np.asarray(SPACING)) @ ROTATION.T
    return world


def three_labels() -> npt.NDArray[np.uint8]:
    d = distance()
    labels = np.zeros((N, N, N), dtype=np.uint8)
    labels[d < 14] = 1  # a ball with a hole...
    labels[d < 6] = 2  # ...filled by a smaller ball
    labels[3:9, 4:12, 28:37] = 3  # a separate box
    return labels


def test_three_labels_give_three_closed_surfaces_in_world_coordinates() -> None:
    volume = Volume(three_labels(), spacing=SPACING, origin=ORIGIN, direction=ROTATION, kind="labels")
    surfaces = dict(label_surfaces(volume, "seg"))
    assert sorted(surfaces) == [1, 2, 3]
    expected_boxes = {
        1: (CENTRE - 14, CENTRE + 14),
        2: (CENTRE - 6, CENTRE + 6),
        3: (np.array([3.0, 4.0, 28.0]) - 0.5, np.array([8.0, 11.0, 36.0]) + 0.5),
    }
    for label, mesh in surfaces.items():
        tm = trimesh.Trimesh(mesh.vertices, mesh.triangles, process=False)
        assert tm.is_watertight, label
        assert tm.volume > 0, label  # wound outward
        np.testing.assert_array_equal(mesh.point_fields["label"].values, label)
        corners = np.array(np.meshgrid(*zip(*expected_boxes[label], strict=True), indexing="ij")).reshape(3, -1).T
        world = to_world(corners)
        lo, hi = np.array(mesh.bounds[0]), np.array(mesh.bounds[1])
        tolerance = max(SPACING) * 1.01  # a voxel, in world units
        np.testing.assert_allclose(lo, world.min(axis=0), atol=tolerance)
        np.testing.assert_allclose(hi, world.max(axis=0), atol=tolerance)
    # the shell (label 1) has two sheets: Euler characteristic 2 + 2
    assert trimesh.Trimesh(surfaces[1].vertices, surfaces[1].triangles, process=False).euler_number == 4


def test_only_background_is_a_clear_error() -> None:
    volume = Volume(np.zeros((5, 5, 5), dtype=np.uint8), kind="labels")
    with pytest.raises(InvalidGeometryError, match=r"^seg: label volume has no labels"):
        label_surfaces(volume, "seg")


def test_iso_surface_of_a_distance_field_is_a_sphere_of_the_right_radius() -> None:
    volume = Volume(distance(), spacing=SPACING, origin=ORIGIN, direction=ROTATION)
    level, mesh = iso_surface(volume, "ball", 12.0)
    assert level == 12.0
    # radius measured in index space (the spacing is anisotropic in world space)
    index = (mesh.vertices.astype(np.float64) - ORIGIN) @ ROTATION / np.asarray(SPACING)
    radius = np.linalg.norm(index - CENTRE, axis=1)
    assert abs(radius.mean() - 12.0) < 0.1
    assert np.abs(radius - 12.0).max() < 1.0
    assert trimesh.Trimesh(mesh.vertices, mesh.triangles, process=False).is_watertight


def test_default_iso_is_otsu_between_the_two_intensity_classes() -> None:
    rng = np.random.default_rng(1)
    inside = distance() < 10
    ct = np.where(inside, 300.0, -900.0) + rng.normal(0.0, 20.0, inside.shape)
    level, mesh = iso_surface(Volume(ct.astype(np.int16)), "ct")
    assert -700 < level < 100
    radius = np.linalg.norm(mesh.vertices - CENTRE, axis=1)
    assert abs(radius.mean() - 10.0) < 1.0


def test_otsu_threshold_splits_two_classes() -> None:
    rng = np.random.default_rng(2)
    values = np.concatenate([rng.normal(0, 1, 20_000), rng.normal(10, 1, 5_000)])
    assert 3.0 < otsu_threshold(values) < 7.0
    assert otsu_threshold(np.full(4, 7.0)) == 7.0


def test_iso_outside_the_range_is_a_clear_error() -> None:
    values = np.linspace(0, 255, 4 * 4 * 4).reshape(4, 4, 4).astype(np.uint8)
    with pytest.raises(InvalidGeometryError) as raised:
        iso_surface(Volume(values), "heart", 500)
    assert str(raised.value) == "heart: iso value 500 is outside the volume's range [0, 255]"


def test_constant_volume_has_no_surface() -> None:
    with pytest.raises(InvalidGeometryError, match=r"^flat: iso value 3 gives an empty surface"):
        iso_surface(Volume(np.full((4, 4, 4), 3.0)), "flat")


def test_bool_and_half_float_volumes_are_widened_for_vtk() -> None:
    ball = distance() < 8
    [(label, mask_surface)] = label_surfaces(Volume(ball, kind="labels"), "mask")
    assert label == 1 and mask_surface.n_triangles > 100
    _, half_surface = iso_surface(Volume(distance().astype(np.float16)), "half", 8.0)
    assert half_surface.n_triangles > 100
