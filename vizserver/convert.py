"""The scene pipeline in one call: read -> surfaces -> (decimate) -> GLB, with progress.

This module wires the stages; each stage's logic lives in its own package (io, geometry, encode).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vizserver.encode.glb import Compression, EncodeOptions, encode_glb
from vizserver.errors import InputError
from vizserver.geometry.decimate import decimate
from vizserver.geometry.surfaces import step_fields_on_surface, surfaces_of
from vizserver.io import read
from vizserver.io.pointcloud import reconstruct_surface
from vizserver.model import Mesh, Scene, SceneObject, TimeSeries

ProgressCallback = Callable[[str, float], None]
"""Called with a stage description and the fraction done (0..1)."""


@dataclass(frozen=True, slots=True)
class ConvertOptions:
    """``reduction`` is the fraction of triangles to remove (0 keeps all), as ``--reduction``."""

    reduction: float = 0.0
    compression: Compression = "meshopt"
    iso: float | None = None
    reconstruct: bool = False
    """Turn point clouds into surfaces (Poisson reconstruction) instead of encoding points."""


@dataclass(frozen=True, slots=True)
class ConvertedObject:
    name: str
    points: int
    triangles: int
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ConversionResult:
    glb: bytes
    objects: tuple[ConvertedObject, ...]
    removed_identifiers: tuple[str, ...]
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def triangles(self) -> int:
        return sum(o.triangles for o in self.objects)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description (what ``convert --json`` prints)."""
        return {
            "bytes": len(self.glb),
            "seconds": round(self.seconds, 4),
            "triangles": self.triangles,
            "bytes_per_triangle": round(len(self.glb) / self.triangles, 3) if self.triangles else None,
            "objects": [
                {"name": o.name, "points": o.points, "triangles": o.triangles, "fields": list(o.fields)}
                for o in self.objects
            ],
            "removed_identifiers": list(self.removed_identifiers),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }


def series_field_extras(obj: SceneObject, surface: Mesh, progress: ProgressCallback) -> dict[str, dict[str, Any]]:
    """Times and the range of each field over all steps, so a client's colour scale holds still in playback."""
    series = obj.data
    assert isinstance(series, TimeSeries)
    ranges: dict[str, list[float]] = {}
    for step in range(series.n_steps):
        for name, values in step_fields_on_surface(series, surface, step).items():
            lo, hi = values.range
            if math.isnan(lo):
                continue
            current = ranges.setdefault(name, [lo, hi])
            current[0], current[1] = min(current[0], lo), max(current[1], hi)
        progress(f"{obj.name}: time steps", (step + 1) / series.n_steps)
    times = [float(t) for t in series.times]
    return {
        name: {"times": times, "time_unit": series.time_unit, "range_over_time": ranges.get(name)}
        for name in series.field_names
    }


def convert_scene(
    scene: Scene, options: ConvertOptions = ConvertOptions(), progress: ProgressCallback | None = None
) -> ConversionResult:
    """Pack every object of ``scene`` into one GLB (deterministic for the same scene and options)."""
    if not 0.0 <= options.reduction < 1.0:
        raise InputError(f"reduction must be at least 0 and below 1, not {options.reduction}")
    report = progress or (lambda _stage, _fraction: None)
    timings: dict[str, float] = {}
    meshes: list[tuple[str, Mesh]] = []
    field_extras: dict[str, dict[str, Any]] = {}
    start = time.perf_counter()
    for index, obj in enumerate(scene.objects):
        report(f"{obj.name}: surfaces", index / max(len(scene.objects), 1))
        for name, surface in surfaces_of(obj, iso=options.iso):
            if options.reconstruct and surface.is_point_cloud:
                report(f"{name}: reconstructing a surface", 0.0)
                surface = reconstruct_surface(surface)
            if options.reduction > 0 and not surface.is_point_cloud:
                t = time.perf_counter()
                surface = decimate(surface, reduction=options.reduction)
                timings["decimate"] = timings.get("decimate", 0.0) + time.perf_counter() - t
            if isinstance(obj.data, TimeSeries):
                field_extras.update(series_field_extras(obj, surface, report))
            meshes.append((name, surface))
    timings["surfaces"] = time.perf_counter() - start - timings.get("decimate", 0.0)
    report("encoding", 0.0)
    t = time.perf_counter()
    glb = encode_glb(
        meshes,
        options=EncodeOptions(compression=options.compression),
        extras={"title": scene.title, "generator": "vizserver"},
        field_extras=field_extras,
    )
    timings["encode"] = time.perf_counter() - t
    report("encoding", 1.0)
    objects = tuple(
        ConvertedObject(name, m.n_points, m.n_triangles, tuple(m.point_fields)) for name, m in meshes
    )
    return ConversionResult(glb, objects, scene.removed_identifiers, time.perf_counter() - start, timings)


def convert_file(
    path: Path, options: ConvertOptions = ConvertOptions(), progress: ProgressCallback | None = None
) -> ConversionResult:
    """Read ``path`` and convert it; the result's ``seconds`` includes reading."""
    start = time.perf_counter()
    if progress:
        progress(f"reading {path.name}", 0.0)
    scene = read(path)
    read_seconds = time.perf_counter() - start
    result = convert_scene(scene, options, progress)
    timings = {"read": read_seconds, **result.timings}
    seconds = time.perf_counter() - start
    return ConversionResult(result.glb, result.objects, result.removed_identifiers, seconds, timings)
