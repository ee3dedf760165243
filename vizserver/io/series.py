"""Time series of VTK files: ParaView ``.pvd`` collections, ParaView ``.series`` JSON, numbered files.

A series becomes one :class:`TimeSeries` per part: the first step's topology (its fields removed)
and one set of fields per step, keyed by name (a cell field whose name a point field already has
gets `` (cell)`` appended). Every step must have the first step's points and cells; a step that
does not is refused with :class:`InvalidGeometryError` naming it. Later steps' point coordinates
are not kept (moving meshes are not supported). Step files must stay inside the folder of the
file that lists them.

Eager or lazy: every step file's header is checked in the isolated child first. When the step
files total at most :data:`EAGER_SERIES_BYTES`, the child reads every step and the scene carries
plain field arrays. Larger series carry :class:`LazySteps`, which read step ``i`` when indexed, in
the process that indexes it: VTK runs there, but only on files whose headers passed the checks
(re-checked on each read), and the result is checked like any other read.

A single numbered file (``out_0003.vtu``) read through :func:`vizserver.io.read` is one dataset;
:func:`read_numbered_series` reads it with its siblings as a series, times taken from the numbers
(or from each file's ``TimeValue`` field data when every step has one and the series is eager).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyvista as pv

from vizserver.config import limits
from vizserver.errors import (
    InputError,
    InvalidGeometryError,
    LimitExceededError,
    UnreadableFileError,
    UnsupportedFormatError,
)
from vizserver.io.registry import ReaderSpec, check_size, register
from vizserver.io.vtk_dataset import series_geometry
from vizserver.io.vtk_header import check_legacy_header, check_vtk_index, contained_file, parse_xml
from vizserver.io.vtk_legacy import read_legacy_dataset
from vizserver.io.vtk_xml import PARALLEL, SERIAL, check_xml_file, read_xml_dataset
from vizserver.model import Field, Mesh, Scene, SceneObject, StepFields, StepSequence, TimeSeries, UnstructuredMesh

EAGER_SERIES_BYTES = 256 << 20
"""A series whose step files total at most this many bytes is read whole in the isolated child."""

TIME_VALUE = "TimeValue"
"""The field-data array VTK writers use for a step's time."""

_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<number>\d+)(?P<suffix>\.[A-Za-z0-9]+)$")

Geometry = Mesh | UnstructuredMesh


@dataclass(frozen=True, slots=True)
class StepFile:
    path: Path
    time: float


# ------------------------------------------------------------------------------------ step files


def check_step_file(path: Path) -> None:
    """Header-check one step file without VTK; refuse formats a series cannot hold."""
    suffix = path.suffix.lower()
    if suffix == ".vtk":
        check_legacy_header(path)
    elif suffix in SERIAL or suffix in PARALLEL:
        check_xml_file(path)
    else:
        raise UnsupportedFormatError(f"{path.name}: {suffix!r} cannot be a time step (use .vtu, .vtp, .vtk, ...)")


def read_step_dataset(path: Path) -> pv.DataSet:
    """One step file as a checked VTK dataset (header checked first)."""
    return read_legacy_dataset(path) if path.suffix.lower() == ".vtk" else read_xml_dataset(path)


def step_fields(mesh: Geometry) -> dict[str, Field]:
    """Point and cell fields of one step under one set of names."""
    fields = dict(mesh.point_fields)
    for name, field in mesh.cell_fields.items():
        key = name if name not in fields else f"{name} (cell)"
        fields[key] = Field(key, field.values, "cell", field.unit)
    return fields


def _same_topology(mesh: Geometry, geometry: Geometry) -> bool:
    if type(mesh) is not type(geometry) or mesh.n_points != geometry.n_points:
        return False
    if isinstance(mesh, Mesh) and isinstance(geometry, Mesh):
        return np.array_equal(mesh.triangles, geometry.triangles)
    if isinstance(mesh, UnstructuredMesh) and isinstance(geometry, UnstructuredMesh):
        return len(mesh.blocks) == len(geometry.blocks) and all(
            a.kind == b.kind and np.array_equal(a.connectivity, b.connectivity)
            for a, b in zip(mesh.blocks, geometry.blocks, strict=True)
        )
    return False


def _cells(mesh: Geometry) -> int:
    return mesh.n_triangles if isinstance(mesh, Mesh) else mesh.n_cells


def read_step(path: Path, geometry: Geometry, owner: str) -> StepFields:
    """The fields of the step in ``path`` (header checked, read, checked against the series' topology)."""
    try:
        dataset = read_step_dataset(path)
    except InputError:
        raise
    except (ValueError, OSError, RuntimeError, MemoryError) as exc:
        raise UnreadableFileError(f"{owner}: step {path.name} cannot be read ({exc})") from exc
    return fields_of_step(dataset, path, geometry, owner)


def fields_of_step(dataset: pv.DataSet, path: Path, geometry: Geometry, owner: str) -> StepFields:
    mesh = series_geometry(dataset, path)
    if not _same_topology(mesh, geometry):
        raise InvalidGeometryError(
            f"{owner}: step {path.name} has {mesh.n_points:,} points and {_cells(mesh):,} cells where the first "
            f"step has {geometry.n_points:,} and {_cells(geometry):,} (changing topology is not supported)"
        )
    return step_fields(mesh)


@dataclass(frozen=True, slots=True)
class LazySteps(StepSequence):
    """Step ``i`` read from ``files[i]`` when indexed (see the module docstring for where VTK runs)."""

    files: tuple[Path, ...]
    geometry: Geometry
    owner: str

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int) -> StepFields:
        return read_step(self.files[index], self.geometry, self.owner)


# --------------------------------------------------------------------------------------- series


def series_object(name: str, steps: Sequence[StepFile], owner: Path, times_from_data: bool = False) -> SceneObject:
    """One time series from step files sorted by time; see the module docstring for eager vs lazy."""
    lim = limits()
    if not steps:
        raise UnreadableFileError(f"{owner.name}: series {name!r} has no steps")
    if len(steps) > lim.max_time_steps:
        raise LimitExceededError(f"{owner.name}: {len(steps):,} steps is over the {lim.max_time_steps:,}-step limit")
    times = np.array([s.time for s in steps], dtype=np.float64)
    if not np.isfinite(times).all():
        raise UnreadableFileError(f"{owner.name}: a step time is NaN or infinite")
    repeated = np.flatnonzero(np.diff(times) <= 0)
    if repeated.size:
        raise UnreadableFileError(f"{owner.name}: two steps at time {times[repeated[0]]:g} in {name!r}")
    total = 0
    for step in steps:
        total += check_size(step.path)
        check_step_file(step.path)
    first_data = read_step_dataset(steps[0].path)
    first = series_geometry(first_data, steps[0].path)
    geometry: Geometry = replace(first, point_fields={}, cell_fields={})
    if total > EAGER_SERIES_BYTES:
        lazy = LazySteps(tuple(s.path for s in steps), geometry, owner.name)
        return SceneObject(name, TimeSeries(geometry, times, lazy))
    fields: list[StepFields] = [step_fields(first)]
    data_times: list[float | None] = [_time_value(first_data)]
    for step in steps[1:]:
        dataset = read_step_dataset(step.path)
        fields.append(fields_of_step(dataset, step.path, geometry, owner.name))
        data_times.append(_time_value(dataset))
    if times_from_data and all(t is not None for t in data_times):
        from_data = np.array(data_times, dtype=np.float64)
        if np.isfinite(from_data).all() and (np.diff(from_data) > 0).all():
            times = from_data
    return SceneObject(name, TimeSeries(geometry, times, tuple(fields)))


def _time_value(dataset: pv.DataSet) -> float | None:
    if TIME_VALUE not in dataset.field_data:
        return None
    values = np.asarray(dataset.field_data[TIME_VALUE], dtype=np.float64).ravel()
    return float(values[0]) if values.size == 1 else None


# -------------------------------------------------------------------------------------- readers


def read_pvd(path: Path) -> Scene:
    """A ParaView collection: ``DataSet`` entries (``timestep``, ``part``, ``file``), one object per part."""
    root = parse_xml(path)
    check_vtk_index(path, root, "Collection")
    collection = root.find("Collection")
    if collection is None:
        raise UnreadableFileError(f"{path.name}: no <Collection> element")
    parts: dict[str, list[StepFile]] = {}
    labels: dict[str, str] = {}
    for entry in collection.iter("DataSet"):
        reference = entry.get("file")
        if not reference:
            raise UnreadableFileError(f"{path.name}: a <DataSet> has no file attribute")
        try:
            time = float(entry.get("timestep", "0"))
        except ValueError:
            raise UnreadableFileError(f"{path.name}: timestep {entry.get('timestep')!r} is not a number") from None
        part = entry.get("part", "0").strip()
        parts.setdefault(part, []).append(StepFile(contained_file(path, reference, "step file"), time))
        labels.setdefault(part, entry.get("name") or f"part{part}")
    if not parts:
        raise UnreadableFileError(f"{path.name}: collection lists no <DataSet> entries")
    order = sorted(parts, key=lambda p: (0, int(p), p) if p.isdigit() else (1, 0, p))
    objects = tuple(
        series_object(
            path.stem if len(parts) == 1 else f"{path.stem}/{labels[part]}",
            sorted(parts[part], key=lambda s: s.time),
            path,
        )
        for part in order
    )
    return Scene(path.stem, objects)


def read_series_json(path: Path) -> Scene:
    """A ParaView ``.series`` file: ``{"file-series-version": "1.0", "files": [{"name", "time"}, ...]}``."""
    try:
        document: Any = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UnreadableFileError(f"{path.name}: not valid JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("file-series-version") != "1.0":
        raise UnreadableFileError(f"{path.name}: not a file-series-version 1.0 document")
    entries = document.get("files")
    if not isinstance(entries, list) or not entries:
        raise UnreadableFileError(f"{path.name}: 'files' must be a non-empty list")
    steps: list[StepFile] = []
    for entry in entries:
        name = entry.get("name") if isinstance(entry, dict) else None
        time = entry.get("time") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not isinstance(time, int | float) or isinstance(time, bool):
            raise UnreadableFileError(f"{path.name}: each file entry needs a string 'name' and a numeric 'time'")
        steps.append(StepFile(contained_file(path, name, "step file"), float(time)))
    title = _series_title(path.name[: -len(".series")] if path.name.lower().endswith(".series") else path.stem)
    return Scene(title, (series_object(title, sorted(steps, key=lambda s: s.time), path),))


def find_numbered_series(path: Path) -> list[Path]:
    """``path`` and its siblings that differ only in the number before the suffix, sorted by number.

    ``out_0003.vtu`` finds ``out_0000.vtu``, ``out_0001.vtu``, ...; a name with no number before its
    suffix gives ``[path]``.
    """
    match = _NUMBERED.match(path.name)
    if match is None:
        return [path]
    pattern = re.compile(re.escape(match["prefix"]) + r"(\d+)" + re.escape(match["suffix"]))
    found: list[tuple[int, str, Path]] = []
    for sibling in path.parent.iterdir():
        m = pattern.fullmatch(sibling.name)
        if m is not None and sibling.is_file():
            found.append((int(m.group(1)), sibling.name, sibling))
    return [p for _, _, p in sorted(found)] or [path]


def read_numbered_series(first_path: Path | str) -> Scene:
    """``first_path`` and its numbered siblings as one time series, read in an isolated child."""
    from vizserver.io.isolation import run_isolated

    path = Path(first_path)
    if not path.is_file():
        raise UnreadableFileError(f"{path.name}: no such file")
    check_size(path)
    return run_isolated(_read_numbered_here, path)


def _read_numbered_here(path: Path) -> Scene:
    files = find_numbered_series(path)
    if len(files) > limits().max_time_steps:
        raise LimitExceededError(f"{path.name}: {len(files):,} numbered files is over the time-step limit")
    steps = []
    for file in files:
        match = _NUMBERED.match(file.name)
        steps.append(StepFile(file, float(match["number"]) if match else 0.0))
    match = _NUMBERED.match(path.name)
    title = _series_title(match["prefix"] if match else path.stem) or path.stem
    return Scene(title, (series_object(title, steps, path, times_from_data=True),))


def _series_title(text: str) -> str:
    stem = text.rstrip("_.- ")
    for suffix in (*SERIAL, *PARALLEL, ".vtk"):
        if stem.lower().endswith(suffix):
            return stem[: -len(suffix)]
    return stem


register(
    ReaderSpec(
        name="ParaView collection",
        suffixes=(".pvd",),
        read=read_pvd,
        sniff=lambda head: re.search(rb"<VTKFile\b[^>]*\btype\s*=\s*[\"']Collection[\"']", head) is not None,
        isolated=True,
        description="ParaView .pvd: time steps of VTK files, one time series per part",
    )
)
register(
    ReaderSpec(
        name="ParaView file series",
        suffixes=(".series",),
        read=read_series_json,
        sniff=lambda head: b'"file-series-version"' in head,
        isolated=True,
        description="ParaView .series JSON (out.vtu.series): one time series of VTK files",
    )
)
