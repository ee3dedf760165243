"""Scene files and uploads to streamable objects: surfaces, LODs, GLB assets and vertex tables.

For each object of a scene file (a source read with :func:`vizserver.io.read`, or a generator) the
geometry stage gives surfaces (:func:`surfaces_of`); each surface is decimated when the file asks,
split into levels of detail when it is large, and encoded into one GLB per level, stored in the
:class:`AssetStore` under its hash. A coarser level's GLB maps each of its vertices to the full
asset's vertex it shows (``_FULL_VERTEX``), so a client can colour it with frames made for the
full asset. A time series also gets its fields' ranges over every step and a table from GLB
vertices to series points, which is all streaming needs to send a step.

:func:`load_or_build` looks the scene up in the cache first: a second start reads one manifest.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from vizserver.anatomy.lv import lv_surface, lv_tetra
from vizserver.convert import series_field_extras
from vizserver.encode.glb import encode_glb_layout
from vizserver.geometry.decimate import decimate
from vizserver.geometry.lod import DetailLevel, detail_levels
from vizserver.geometry.surfaces import surfaces_of
from vizserver.io import read
from vizserver.model import Mesh, ObjectData, SceneObject, TimeSeries
from vizserver.scenefile import ObjectSpec, SceneFileError, TransformSpec, load_scene_file, object_path
from vizserver.scenes.cache import AssetStore, scene_key
from vizserver.scenes.objects import BuiltScene, FieldDescription, SeriesSource, StreamObject
from vizserver.server.settings import LOD_MIN_TRIANGLES
from vizserver.twins.brain import brain_surface

log = logging.getLogger("vizserver.scenes")

ProgressCallback = Callable[[str, float], None]
"""Called with a stage description and the fraction done (0..1)."""

CATEGORICAL_FIELDS = frozenset({"label"})
"""Fields shown with a categorical colour map (label volumes' surfaces carry ``label``)."""

GENERATORS: Mapping[str, Callable[..., ObjectData]] = {
    "lv_surface": lv_surface,
    "lv_tetra": lv_tetra,
    "brain_surface": brain_surface,
}
"""Scene generators by the name a scene file gives (``objects[].generator.name``)."""

SeriesKey = tuple[str, int]
"""(source path, object index): where a time series' steps are read from."""


def _no_progress(_stage: str, _fraction: float) -> None:
    return None


@dataclass(frozen=True, slots=True)
class ObjectStyle:
    """How one object is shown: the scene file's settings, or defaults for an upload."""

    name: str
    color: str = "#d98c80"
    opacity: float = 1.0
    transform: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0)
    field: str | None = None
    first_field_by_default: bool = False
    colormap: str = "viridis"
    range: tuple[float, float] | None = None
    visible: bool = True
    reduction: float = 0.0
    iso: float | None = None


def style_of(spec: ObjectSpec) -> ObjectStyle:
    return ObjectStyle(
        name=spec.name,
        color=spec.material.color,
        opacity=spec.material.opacity,
        transform=transform_matrix(spec.transform),
        field=spec.field,
        colormap=spec.colormap,
        range=spec.range,
        visible=spec.visible,
        reduction=spec.reduction,
        iso=spec.iso,
    )


def transform_matrix(t: TransformSpec) -> tuple[float, ...]:
    """``translate * rotate * scale`` as 16 numbers, column-major (three.js ``Matrix4.fromArray``).

    Rotation is XYZ Euler (three.js order ``"XYZ"``: ``R = Rx @ Ry @ Rz``), angles in degrees.
    """
    ax, ay, az = (math.radians(a) for a in t.rotate_deg)
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    m = np.eye(4)
    m[:3, :3] = rx @ ry @ rz * t.scale
    m[:3, 3] = t.translate
    return tuple(float(x) for x in m.flatten(order="F"))


@dataclass(frozen=True, slots=True)
class SceneBuild:
    """A built scene; ``series`` holds the time series read while building (empty from the cache)."""

    scene: BuiltScene
    from_cache: bool
    series: Mapping[SeriesKey, TimeSeries] = field(default_factory=dict)


def load_or_build(path: Path, store: AssetStore, progress: ProgressCallback | None = None) -> SceneBuild:
    """The scene of ``path``, from the cache when nothing it depends on changed, else built and cached."""
    report = progress or _no_progress
    spec = load_scene_file(path)
    key = scene_key(path, spec)
    cached = store.load_manifest(key)
    if cached is not None:
        log.info("%s: loaded from the cache (%d objects)", path.name, len(cached.objects))
        return SceneBuild(cached, from_cache=True)
    objects: list[StreamObject] = []
    series: dict[SeriesKey, TimeSeries] = {}
    for index, obj_spec in enumerate(spec.objects):
        stage = f"{obj_spec.name} ({index + 1}/{len(spec.objects)})"
        report(f"{stage}: reading", index / len(spec.objects))
        loaded = _load_object(path, obj_spec)
        style = style_of(obj_spec)
        built, read_series = build_objects(loaded, style, store, len(objects), report, stage)
        objects.extend(built)
        series.update(read_series)
    scene = BuiltScene(spec.title, tuple(objects))
    store.save_manifest(key, scene)
    report("done", 1.0)
    return SceneBuild(scene, from_cache=False, series=series)


@dataclass(frozen=True, slots=True)
class LoadedSource:
    """The objects one scene entry produced; ``path`` is set when they were read from a file."""

    objects: tuple[SceneObject, ...]
    path: Path | None


def _load_object(scene_path: Path, spec: ObjectSpec) -> LoadedSource:
    if spec.generator is not None:
        make = GENERATORS[spec.generator.name]
        try:
            data = make(**spec.generator.parameters)
        except (TypeError, ValueError) as exc:
            raise SceneFileError(
                f"{scene_path.name}: objects.{spec.name}.generator: bad parameters for {spec.generator.name} ({exc})"
            ) from exc
        return LoadedSource((SceneObject(spec.name, data),), None)
    source = object_path(scene_path, spec)  # a source or a fetched asset
    assert source is not None
    return LoadedSource(read(source).objects, source)


def read_upload(path: Path) -> LoadedSource:
    return LoadedSource(read(path).objects, path)


def build_objects(
    loaded: LoadedSource,
    style: ObjectStyle,
    store: AssetStore,
    first_id: int,
    progress: ProgressCallback = _no_progress,
    stage: str = "",
) -> tuple[list[StreamObject], dict[SeriesKey, TimeSeries]]:
    """Every surface of every loaded object as a :class:`StreamObject`, ids from ``first_id``."""
    out: list[StreamObject] = []
    series: dict[SeriesKey, TimeSeries] = {}
    several = len(loaded.objects) > 1
    for index, obj in enumerate(loaded.objects):
        name = f"{style.name}/{obj.name}" if several else style.name
        source: SeriesKey | None = None
        if isinstance(obj.data, TimeSeries) and obj.data.n_steps > 0 and loaded.path is not None:
            source = (str(loaded.path), index)
            series[source] = obj.data
        for surface_name, surface in surfaces_of(SceneObject(name, obj.data), iso=style.iso):
            progress(f"{stage or name}: {surface_name}", 0.5)
            out.append(
                _build_surface(first_id + len(out), surface_name, surface, obj.data, style, store, source)
            )
    return out, series


def _build_surface(
    object_id: int,
    name: str,
    surface: Mesh,
    data: ObjectData,
    style: ObjectStyle,
    store: AssetStore,
    source: SeriesKey | None,
) -> StreamObject:
    if style.reduction > 0 and not surface.is_point_cloud:
        surface = decimate(surface, reduction=style.reduction, name=name)
    series = data if isinstance(data, TimeSeries) and source is not None else None
    extras: dict[str, dict[str, Any]] = {}
    if series is not None:
        extras = series_field_extras(SceneObject(name, series), surface, _no_progress)
    coarser = detail_levels(surface)[1:] if surface.n_triangles > LOD_MIN_TRIANGLES else []
    scene_extras = {"title": name, "generator": "vizserver"}
    encoded = encode_glb_layout([(name, surface)], extras=scene_extras, field_extras=extras)
    asset = store.put_glb(encoded.data)
    lods: list[str] = []
    lod_triangles: list[int] = []
    for level in reversed(coarser):
        full_ids = {name: _full_vertex_ids(surface, encoded.meshes[0].vertex_order, level)}
        lod = encode_glb_layout(
            [(name, level.mesh)], extras=scene_extras, field_extras=extras, full_vertex_ids=full_ids
        )
        lods.append(store.put_glb(lod.data))
        lod_triangles.append(lod.meshes[0].n_triangles)
    streamed = {n for n in (series.field_names if series else ()) if _scalar(surface, n)}
    fields = _describe_fields(surface, style, extras, streamed)
    series_source = None
    if series is not None and source is not None:
        table = _point_table(surface, encoded.meshes[0].vertex_order)
        series_source = SeriesSource(source[0], source[1], store.put_table(table), surface.is_point_cloud)
    return StreamObject(
        id=object_id,
        name=name,
        asset=asset,
        lods=tuple(lods),
        lod_triangles=tuple(lod_triangles),
        vertices=encoded.meshes[0].n_vertices,
        triangles=surface.n_triangles,
        visible=style.visible,
        color=style.color,
        opacity=style.opacity,
        transform=style.transform,
        fields=fields,
        active_field=_active_field(name, fields, style),
        times=None if series is None else tuple(float(t) for t in series.times),
        time_unit="" if series is None else series.time_unit,
        series=series_source,
    )


def _full_vertex_ids(
    surface: Mesh, vertex_order: npt.NDArray[np.uint32], level: DetailLevel
) -> npt.NDArray[np.uint32]:
    """Per vertex of ``level``, the full asset's GLB vertex whose frame values it shows.

    The encoder drops vertices no triangle uses; a level vertex that stands for one of those takes
    the nearest vertex the full asset kept.
    """
    glb_vertex = np.full(surface.n_points, np.iinfo(np.uint32).max, dtype=np.uint32)
    glb_vertex[vertex_order] = np.arange(vertex_order.shape[0], dtype=np.uint32)
    ids = glb_vertex[level.input_ids]
    dropped = np.flatnonzero(ids == np.iinfo(np.uint32).max)
    if dropped.size:
        _, nearest = cKDTree(surface.vertices[vertex_order]).query(level.mesh.vertices[dropped])
        ids[dropped] = np.asarray(nearest, dtype=np.uint32)
    return ids


def _scalar(surface: Mesh, name: str) -> bool:
    f = surface.point_fields.get(name)
    return f is not None and f.components == 1


def _describe_fields(
    surface: Mesh, style: ObjectStyle, extras: Mapping[str, Mapping[str, Any]], streamed: set[str]
) -> tuple[FieldDescription, ...]:
    """The fields the GLB carries (at most 4 components), numbered in the encoder's order."""
    out: list[FieldDescription] = []
    for name, f in surface.point_fields.items():
        if f.components > 4:
            continue
        over_time = extras.get(name, {}).get("range_over_time")
        lo_hi = f.range if over_time is None else (float(over_time[0]), float(over_time[1]))
        value_range = None if math.isnan(lo_hi[0]) else (float(lo_hi[0]), float(lo_hi[1]))
        color_range = style.range if style.range is not None and name == style.field else value_range
        categorical = name in CATEGORICAL_FIELDS
        out.append(
            FieldDescription(
                id=len(out),
                name=name,
                unit=f.unit,
                components=f.components,
                range=value_range,
                color_range=color_range,
                colormap="categorical" if categorical else style.colormap,
                categorical=categorical,
                streamed=name in streamed,
            )
        )
    return tuple(out)


def _active_field(object_name: str, fields: tuple[FieldDescription, ...], style: ObjectStyle) -> int | None:
    if style.field is not None:
        for f in fields:
            if f.name == style.field:
                return f.id
        names = ", ".join(f.name for f in fields) or "none"
        raise SceneFileError(f"{object_name}: field {style.field!r} is not on this object (fields: {names})")
    streamed = [f.id for f in fields if f.streamed]
    if streamed:
        return streamed[0]
    if style.first_field_by_default and fields:
        return fields[0].id
    return None


def _point_table(surface: Mesh, vertex_order: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    """GLB vertex ``i`` -> series point: the surface's source ids in the encoder's vertex order."""
    ids = surface.source_point_ids
    if ids is None:
        return np.ascontiguousarray(vertex_order, dtype=np.uint32)
    return np.ascontiguousarray(ids[vertex_order], dtype=np.uint32)
