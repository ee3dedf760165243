"""Decimation keeps the shape, the fields (exact input values) and the map to the source points."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from vizserver.geometry.decimate import decimate
from vizserver.geometry.lod import levels_of_detail
from vizserver.model import Field, Mesh


def sphere(subdivisions: int = 5) -> Mesh:
    """An icosphere (radius 1) with x as a point field, a label, and a per-face field."""
    ico = trimesh.creation.icosphere(subdivisions=subdivisions)
    vertices = ico.vertices.astype(np.float32)
    label = (vertices[:, 2] > 0).astype(np.float32) * 7.0
    face_z = vertices[ico.faces].mean(axis=1)[:, 2]
    return Mesh(
        vertices,
        ico.faces,
        point_fields={"x": Field("x", vertices[:, 0].copy(), unit="mm"), "label": Field("label", label)},
        cell_fields={"face z": Field("face z", face_z, "cell")},
    )


def test_point_fields_stay_exact_and_close_to_the_analytic_value() -> None:
    mesh = sphere()  # 20,480 triangles
    small = decimate(mesh, target_triangles=2_000)
    assert abs(small.n_triangles - 2_000) <= 20
    x = small.point_fields["x"]
    assert x.unit == "mm"
    # every value is an input value, so ranges never grow and labels stay labels
    assert set(np.unique(small.point_fields["label"].values)) <= {0.0, 7.0}
    assert mesh.point_fields["x"].range[0] <= x.range[0] <= x.range[1] <= mesh.point_fields["x"].range[1]
    # and it is the value of the source vertex nearest to the new position
    original_x = mesh.vertices[:, 0]
    assert small.source_point_ids is not None
    np.testing.assert_array_equal(x.values, original_x[small.source_point_ids])
    edge = np.linalg.norm(np.diff(small.vertices[small.triangles[:, :2]], axis=1), axis=2).mean()
    assert np.abs(x.values - small.vertices[:, 0]).max() < 0.5 * edge


def test_shape_and_normals_survive() -> None:
    small = decimate(sphere(), reduction=0.9)
    assert abs(small.n_triangles - 2_048) <= 20
    tm = trimesh.Trimesh(small.vertices, small.triangles, process=False)
    assert tm.is_watertight
    assert tm.volume == pytest.approx(4 / 3 * np.pi, rel=0.02)
    radius = np.linalg.norm(small.vertices, axis=1)
    assert np.abs(radius - 1.0).max() < 0.02
    assert small.normals is not None
    assert np.einsum("ij,ij->i", small.normals, small.vertices / radius[:, None]).min() > 0.9


def test_cell_fields_become_point_fields() -> None:
    small = decimate(sphere(4), target_triangles=1_000)
    assert not small.cell_fields
    face_z = small.point_fields["face z"].values
    assert np.abs(face_z - small.vertices[:, 2]).max() < 0.2


def test_source_ids_compose_through_repeated_decimation() -> None:
    mesh = sphere(4)
    once = decimate(mesh, target_triangles=2_000)
    twice = decimate(once, target_triangles=500)
    assert twice.source_point_ids is not None
    np.testing.assert_array_equal(twice.point_fields["x"].values, mesh.vertices[twice.source_point_ids, 0])


def test_small_meshes_and_point_clouds_pass_through() -> None:
    mesh = sphere(1)
    same = decimate(mesh, target_triangles=10_000)
    assert same.n_triangles == mesh.n_triangles and same.normals is not None
    cloud = Mesh(mesh.vertices, np.zeros((0, 3), dtype=np.uint32))
    assert decimate(cloud, reduction=0.5) is cloud


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one"),
        ({"reduction": 0.5, "target_triangles": 10}, "exactly one"),
        ({"reduction": 1.0}, "reduction"),
        ({"reduction": -0.1}, "reduction"),
        ({"target_triangles": 2}, "at least"),
    ],
)
def test_bad_arguments(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decimate(sphere(1), **kwargs)  # type: ignore[arg-type]


def test_levels_of_detail_shrink_and_keep_source_ids() -> None:
    mesh = sphere(5)
    levels = levels_of_detail(mesh, min_triangles=500)
    counts = [lvl.n_triangles for lvl in levels]
    assert counts[0] == 20_480
    assert len(counts) == 3 and counts[1] == pytest.approx(5_120, abs=20) and counts[2] == pytest.approx(1_280, abs=20)
    for level in levels[1:]:
        assert level.normals is not None and level.source_point_ids is not None
        np.testing.assert_array_equal(level.point_fields["x"].values, mesh.vertices[level.source_point_ids, 0])
    # with a floor of 2,000 the last level is raised to it; a tiny mesh keeps one level
    assert [lvl.n_triangles for lvl in levels_of_detail(mesh, min_triangles=2_000)][2] == pytest.approx(2_000, abs=20)
    assert len(levels_of_detail(sphere(1))) == 1
    with pytest.raises(ValueError, match="decreasing"):
        levels_of_detail(mesh, fractions=(0.25, 1.0))
