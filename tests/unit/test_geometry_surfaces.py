"""The dispatcher: every kind of scene object becomes encodable surfaces, and time steps follow them."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv
import trimesh

from vizserver.errors import InvalidGeometryError
from vizserver.geometry.boundary import BoundaryFaces, boundary_faces
from vizserver.geometry.decimate import decimate
from vizserver.geometry.surfaces import StepFieldMapper, step_fields_on_surface, surfaces_of
from vizserver.model import CellBlock, Field, Mesh, SceneObject, TimeSeries, UnstructuredMesh, Volume
from vizserver.vtk_bridge import grid_to_unstructured


def tet_block(n: int = 6) -> UnstructuredMesh:
    """A box of tetrahedra (VTK's triangulation of a grid) with a point field and a cell field."""
    grid = pv.ImageData(dimensions=(n, n + 1, n + 2), spacing=(1.0, 0.5, 0.25)).triangulate()
    mesh = grid_to_unstructured(grid)
    assert [b.kind for b in mesh.blocks] == ["tetra"]
    x = mesh.points[:, 0].copy()
    cell_x = mesh.points[mesh.blocks[0].connectivity].mean(axis=1)[:, 0]
    return UnstructuredMesh(
        mesh.points,
        mesh.blocks,
        point_fields={"x": Field("x", x)},
        cell_fields={"cell x": Field("cell x", cell_x, "cell")},
    )


def series_on(geometry: UnstructuredMesh, steps: int = 3) -> TimeSeries:
    """Point field ``v`` = x * (step + 1); cell field ``c`` = (cell x) * (step + 1)."""
    x = geometry.points[:, 0]
    cell_x = geometry.cell_fields["cell x"].values
    fields = [
        {"v": Field("v", x * (s + 1), unit="mV"), "c": Field("c", cell_x * (s + 1), "cell")} for s in range(steps)
    ]
    return TimeSeries(geometry, np.arange(steps, dtype=np.float64), fields, "ms")


def closed_outward(mesh: Mesh) -> bool:
    tm = trimesh.Trimesh(mesh.vertices, mesh.triangles, process=False)
    return bool(tm.is_watertight and tm.volume > 0)


def test_triangle_mesh_gets_normals_and_point_fields() -> None:
    ico = trimesh.creation.icosphere(subdivisions=3)
    cell_z = ico.triangles_center[:, 2]
    mesh = Mesh(ico.vertices, ico.faces, cell_fields={"z": Field("z", cell_z, "cell")})
    [(name, surface)] = surfaces_of(SceneObject("ball", mesh))
    assert name == "ball"
    assert surface.normals is not None
    assert np.einsum("ij,ij->i", surface.normals, surface.vertices).min() > 0.9
    assert not surface.cell_fields
    assert np.abs(surface.point_fields["z"].values - surface.vertices[:, 2]).max() < 0.1


def test_point_clouds_pass_through_unchanged() -> None:
    cloud = Mesh(np.random.default_rng(0).random((50, 3)).astype(np.float32), np.zeros((0, 3), dtype=np.uint32))
    [(name, surface)] = surfaces_of(SceneObject("scan", cloud))
    assert name == "scan" and surface is cloud


def test_volume_mesh_becomes_its_boundary_with_fields() -> None:
    mesh = tet_block()
    [(name, surface)] = surfaces_of(SceneObject("myocardium", mesh))
    assert name == "myocardium"
    assert closed_outward(surface)
    ids = surface.source_point_ids
    assert ids is not None
    np.testing.assert_array_equal(surface.point_fields["x"].values, mesh.points[ids, 0])
    # the owning cells' x, averaged onto each boundary point, stays within half a cell of the point's x
    assert np.abs(surface.point_fields["cell x"].values - surface.vertices[:, 0]).max() < 0.75
    assert surface.normals is not None and not surface.cell_fields


def test_mesh_of_vertex_cells_is_a_point_cloud() -> None:
    points = np.random.default_rng(1).random((10, 3)).astype(np.float32)
    mesh = UnstructuredMesh(points, (CellBlock("vertex", np.arange(10, dtype=np.uint32).reshape(-1, 1)),))
    [(_, surface)] = surfaces_of(SceneObject("dots", mesh))
    assert surface.is_point_cloud and surface.n_points == 10


def test_volumes_become_label_surfaces_or_an_iso_surface() -> None:
    labels = np.zeros((12, 12, 12), dtype=np.int16)
    labels[2:5, 2:5, 2:5] = 4
    labels[6:10, 6:10, 6:10] = 9
    found = surfaces_of(SceneObject("seg", Volume(labels, kind="labels")))
    assert [name for name, _ in found] == ["seg/label 4", "seg/label 9"]
    assert all(closed_outward(m) and m.normals is not None for _, m in found)
    assert found[1][1].point_fields["label"].range == (9.0, 9.0)

    intensity = Volume(labels.astype(np.float32))
    [(name, iso)] = surfaces_of(SceneObject("ct", intensity), iso=6.5)
    assert name == "ct"
    assert np.array(iso.bounds).min() > 5.0  # only the label-9 box is above 6.5
    with pytest.raises(InvalidGeometryError, match=r"^ct: iso value 500 is outside the volume's range \[0, 9\]$"):
        surfaces_of(SceneObject("ct", intensity), iso=500)
    with pytest.raises(InvalidGeometryError, match=r"^empty: label volume has no labels"):
        surfaces_of(SceneObject("empty", Volume(np.zeros((3, 3, 3), dtype=np.uint8), kind="labels")))


def test_empty_mesh_is_an_error() -> None:
    empty = UnstructuredMesh(np.zeros((0, 3), dtype=np.float32), ())
    with pytest.raises(InvalidGeometryError, match=r"^nothing: mesh has no points"):
        surfaces_of(SceneObject("nothing", empty))


def test_series_surface_carries_the_first_step_and_later_steps_follow() -> None:
    geometry = tet_block()
    series = series_on(geometry)
    [(_, surface)] = surfaces_of(SceneObject("heart", series))
    ids = surface.source_point_ids
    assert ids is not None
    np.testing.assert_array_equal(surface.point_fields["v"].values, geometry.points[ids, 0])
    assert surface.point_fields["v"].unit == "mV"
    assert {"x", "cell x", "v", "c"} <= set(surface.point_fields)
    # cell step fields are averaged exactly as the geometry's own cell fields are
    np.testing.assert_allclose(surface.point_fields["c"].values, surface.point_fields["cell x"].values, rtol=1e-6)

    mapper = StepFieldMapper(series, surface, "heart")
    for step in range(series.n_steps):
        fields = mapper(step)
        assert all(f.association == "point" and len(f) == surface.n_points for f in fields.values())
        np.testing.assert_allclose(fields["v"].values, geometry.points[ids, 0] * (step + 1))
        np.testing.assert_allclose(fields["c"].values, surface.point_fields["c"].values * (step + 1), rtol=1e-5)
    np.testing.assert_array_equal(
        step_fields_on_surface(series, surface, 0)["v"].values, surface.point_fields["v"].values
    )


def test_steps_follow_a_decimated_surface() -> None:
    geometry = tet_block(12)
    series = series_on(geometry)
    [(_, surface)] = surfaces_of(SceneObject("heart", series))
    small = decimate(surface, reduction=0.75)
    assert small.n_triangles < surface.n_triangles
    # what the encoder packs from the decimated first step is what streaming sends for step 0
    first = step_fields_on_surface(series, small, 0)
    for key in ("v", "c"):
        np.testing.assert_array_equal(first[key].values, small.point_fields[key].values)
    later = step_fields_on_surface(series, small, 2)
    np.testing.assert_allclose(later["v"].values, 3 * first["v"].values, rtol=1e-6)


def test_series_on_a_surface_mesh() -> None:
    ico = trimesh.creation.icosphere(subdivisions=2)
    geometry = Mesh(ico.vertices, ico.faces)
    steps = [{"t": Field("t", np.full(geometry.n_triangles, float(s)), "cell")} for s in range(2)]
    series = TimeSeries(geometry, np.array([0.0, 1.0]), steps)
    [(_, surface)] = surfaces_of(SceneObject("skin", series))
    assert surface.source_point_ids is None and surface.normals is not None
    np.testing.assert_allclose(surface.point_fields["t"].values, 0.0)
    np.testing.assert_allclose(step_fields_on_surface(series, surface, 1)["t"].values, 1.0)


def test_mapper_rejects_bad_steps_and_fields() -> None:
    geometry = tet_block(3)
    bad: list[dict[str, Field]] = [{"v": Field("v", np.zeros(5, dtype=np.float32))}]
    series = TimeSeries(geometry, np.array([0.0]), bad)
    surface = surfaces_of(SceneObject("g", geometry))[0][1]
    mapper = StepFieldMapper(series, surface, "run.pvd")
    with pytest.raises(InvalidGeometryError, match=r"^run.pvd: step 0 field 'v' has 5 values for \d+ points$"):
        mapper(0)
    with pytest.raises(IndexError, match="step 3"):
        mapper(3)


def test_stepping_through_a_series_builds_the_cell_operator_once(monkeypatch: pytest.MonkeyPatch) -> None:
    geometry = tet_block(4)
    series = series_on(geometry, steps=5)
    surface = surfaces_of(SceneObject("g", geometry))[0][1]
    calls: list[int] = []

    def counting(mesh: UnstructuredMesh) -> BoundaryFaces:
        calls.append(1)
        return boundary_faces(mesh)

    monkeypatch.setattr("vizserver.geometry.surfaces.boundary_faces", counting)
    values = [step_fields_on_surface(series, surface, step)["c"].values for step in range(5)]
    assert len(calls) == 1
    np.testing.assert_allclose(values[4], 5 * values[0], rtol=1e-5)
