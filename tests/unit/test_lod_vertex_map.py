"""Levels of detail carry a map to the full asset's vertices, so frames made for the full asset colour them.

A coarser level's vertex stands for one vertex of the full surface (the member of its decimation
cluster nearest to where it moved): the LOD GLB's ``_FULL_VERTEX`` attribute gives that vertex's
index in the full GLB's vertex order, the order every field frame follows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import trimesh
from test_glb import validate

import vizserver.scenes.build as build
from vizserver.encode.glb import encode_glb_layout
from vizserver.geometry.lod import DetailLevel, detail_levels
from vizserver.io.glb_decode import DecodedMesh, read_glb
from vizserver.model import Field, Mesh, SceneObject
from vizserver.protocol.messages import SceneObjectInfo
from vizserver.scenes.cache import AssetStore
from vizserver.scenes.objects import BuiltScene, StreamObject, scene_from_json, scene_to_json
from vizserver.sessions.session import object_info


def sphere(subdivisions: int = 5) -> Mesh:
    """An icosphere (radius 1, 20,480 triangles at 5) with its x coordinate as a point field."""
    ico = trimesh.creation.icosphere(subdivisions=subdivisions)
    vertices = ico.vertices.astype(np.float32)
    return Mesh(vertices, ico.faces, point_fields={"x": Field("x", vertices[:, 0].copy())})


def mean_edge(positions: npt.NDArray[np.float32], triangles: npt.NDArray[np.uint32]) -> float:
    corners = positions[triangles]
    return float(np.linalg.norm(corners - np.roll(corners, 1, axis=1), axis=2).mean())


def full_vertices(lod: DecodedMesh) -> npt.NDArray[np.int64]:
    pair = lod.fields[lod.extras["full_vertex"]["attribute"]]
    return (pair[:, 0] + 65536 * pair[:, 1]).astype(np.int64)


def test_levels_map_to_the_input_vertices_and_keep_the_original_source_ids() -> None:
    mesh = sphere()
    offset_ids = np.arange(mesh.n_points, dtype=np.uint32) + 1_000  # a surface extracted from a bigger mesh
    levels = detail_levels(
        Mesh(mesh.vertices, mesh.triangles, point_fields=mesh.point_fields, source_point_ids=offset_ids),
        min_triangles=500,
    )
    assert len(levels) == 3
    np.testing.assert_array_equal(levels[0].input_ids, np.arange(mesh.n_points))
    np.testing.assert_array_equal(levels[0].mesh.source_point_ids, offset_ids)
    for level in levels[1:]:
        ids = level.input_ids
        assert ids.dtype == np.uint32 and ids.shape == (level.mesh.n_points,) and int(ids.max()) < mesh.n_points
        np.testing.assert_array_equal(level.mesh.source_point_ids, offset_ids[ids])
        np.testing.assert_array_equal(level.mesh.point_fields["x"].values, mesh.vertices[ids, 0])
        moved = np.linalg.norm(level.mesh.vertices - mesh.vertices[ids], axis=1)
        assert moved.max() < mean_edge(level.mesh.vertices, level.mesh.triangles)


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[StreamObject, AssetStore]:
    monkeypatch.setattr(build, "LOD_MIN_TRIANGLES", 1_000)
    store = AssetStore(tmp_path / "cache")
    loaded = build.LoadedSource((SceneObject("ball", sphere()),), None)
    objects, _ = build.build_objects(loaded, build.ObjectStyle(name="ball"), store, 0)
    return objects[0], store


def read(store: AssetStore, digest: str) -> DecodedMesh:
    return read_glb((store.root / "glb" / f"{digest}.glb").read_bytes()).meshes["ball"]


def test_lod_glbs_map_each_vertex_to_the_full_asset_vertex_it_shows(
    built: tuple[StreamObject, AssetStore],
) -> None:
    obj, store = built
    full = read(store, obj.asset)
    assert obj.lods and len(obj.lod_triangles) == len(obj.lods)
    assert list(obj.lod_triangles) == sorted(obj.lod_triangles) and obj.lod_triangles[-1] < obj.triangles
    x_step = full.extras["fields"][0]["quantization"]["step"]
    for digest, triangles in zip(obj.lods, obj.lod_triangles, strict=True):
        lod = read(store, digest)
        assert lod.indices.shape[0] == triangles
        ids = full_vertices(lod)
        assert ids.shape == (lod.positions.shape[0],) and ids.min() >= 0 and ids.max() < obj.vertices
        # the full asset's value at the mapped vertex is the level's own (each quantized to 8 bits)
        level_step = lod.extras["fields"][0]["quantization"]["step"]
        np.testing.assert_allclose(lod.fields["x"], full.fields["x"][ids], atol=(x_step + level_step) / 2 + 1e-6)
        # and the mapped vertex lies where the level's vertex is, within the level's edge length
        # (decimation moves vertices to quadric optima; a wrong map would be a radius away)
        moved = np.linalg.norm(lod.positions - full.positions[ids], axis=1)
        assert moved.max() < mean_edge(lod.positions, lod.indices), moved.max()
    assert "full_vertex" not in full.extras and "_FULL_VERTEX" not in full.fields


def test_lod_glbs_pass_the_khronos_validator(built: tuple[StreamObject, AssetStore]) -> None:
    obj, store = built
    reports = validate([store.root / "glb" / f"{digest}.glb" for digest in obj.lods])
    assert len(reports) == len(obj.lods)
    for report in reports:
        assert report["errors"] == 0 and report["warnings"] == 0, report


def test_the_scene_message_and_the_manifest_carry_the_level_triangle_counts(
    built: tuple[StreamObject, AssetStore],
) -> None:
    obj, _ = built
    info = object_info(obj)
    assert info.lod_triangles == list(obj.lod_triangles) and len(info.lods) == len(info.lod_triangles)
    scene = BuiltScene("t", (obj,))
    assert scene_from_json(json.loads(json.dumps(scene_to_json(scene)))) == scene
    with pytest.raises(ValueError, match="1 lod_triangles for 2 lods"):
        SceneObjectInfo(
            id=0, name="a", asset="/a.glb", lods=["/b.glb", "/c.glb"], lod_triangles=[5], vertices=3, triangles=1
        )


def test_a_level_vertex_standing_for_a_vertex_the_encoder_dropped_takes_the_nearest_kept_one() -> None:
    ball = sphere(2)
    stray = ball.vertices[:1] * np.float32(1.01)  # used by no triangle: the encoder leaves it out
    surface = Mesh(np.vstack([stray, ball.vertices]), ball.triangles + 1)
    order = encode_glb_layout([("ball", surface)]).meshes[0].vertex_order
    assert 0 not in order
    level = DetailLevel(Mesh(surface.vertices[[0, 5]], np.zeros((0, 3), np.uint32)), np.array([0, 5], np.uint32))
    ids = build._full_vertex_ids(surface, order, level)
    np.testing.assert_array_equal(order[ids], [1, 5])  # the stray's twin (old vertex 0, now 1), and vertex 5 itself
