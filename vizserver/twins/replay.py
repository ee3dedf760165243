"""A recorded time series played as a twin, so recorded and live runs look the same to clients.

The replay's clock is the series' own time. Between two recorded steps the values are linearly
interpolated in time: the runner asks for a frame every 1/30 s, far more often than most recordings
have steps, and interpolation keeps slow playback smooth instead of jumping once per step (a value
that is NaN at either neighbouring step stays NaN between them). At a recorded time the values are
that step's exactly.

Outputs are the scalar fields of the steps. Cell fields are averaged onto the points (the mean of
the cells around each point, every block of cells counted) so a recording with per-cell results
(a DG0 field from FEniCS, a label per element) still plays; vector fields are left out (a twin's
output is one value per vertex).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.spatial import cKDTree

from vizserver.errors import InputError, InvalidGeometryError
from vizserver.geometry.fields import apply_matrix
from vizserver.io.isolation import children_allowed
from vizserver.model import Field, Mesh, StepFields, TimeSeries, UnstructuredMesh
from vizserver.twins.base import Parameter, ParameterError, Schema, Twin

DEFAULT_PLAY_SECONDS = 10.0
"""Wall seconds the whole recording takes at speed 1 unless ``time_per_second`` says otherwise."""

CACHED_STEPS = 2
"""Recorded steps kept in memory: the two around the current time (steps load lazily from disk)."""

_OPTION_NAMES = ("path", "object", "time_per_second")


class ReplayTwin(Twin):
    """Plays ``series``: parameters ``loop`` (wrap at the end, else hold the last step) and ``seek``.

    Setting ``seek`` (in series time) jumps there, every time it is set, even to the same value; a
    reset starts at ``seek`` (the first recorded time by default). Speed is the runner's real-time
    factor: at speed 1 the series advances ``time_per_second`` per wall second (default: the whole
    recording in :data:`DEFAULT_PLAY_SECONDS`). Building reads every step once to find each output's
    colour range over the whole recording.
    """

    def __init__(self, series: TimeSeries, *, time_per_second: float | None = None) -> None:
        if series.n_steps == 0:
            raise ParameterError("replay twin: the series has no time steps")
        self.series = series
        self._times = series.times
        self._start = float(self._times[0])
        self._end = float(self._times[-1])
        duration = self._end - self._start
        if time_per_second is None:
            time_per_second = duration / DEFAULT_PLAY_SECONDS if duration > 0 else 1.0
        if not (math.isfinite(time_per_second) and time_per_second > 0):
            raise ParameterError(f"replay twin: time_per_second must be a positive number, got {time_per_second!r}")
        self.time_per_second = float(time_per_second)
        self.time_unit = series.time_unit
        self._points = _points_of(series.geometry)
        self._cells_to_points = _cell_to_point_matrix(series.geometry)
        self._names = _scalar_names(series.steps[0])
        if not self._names:
            raise ParameterError("replay twin: the series has no scalar fields to play")
        self.schema = Schema(
            parameters=(
                Parameter("loop", "bool", True, description="start again at the end (else hold the last step)"),
                Parameter(
                    "seek",
                    "float",
                    self._start,
                    unit=self.time_unit,
                    minimum=self._start,
                    maximum=self._end,
                    description="jump to this time of the recording",
                ),
            ),
            outputs=self._names,
            units={name: series.steps[0][name].unit for name in self._names},
            ranges=self._ranges_over_all_steps(),
        )
        self._cache: OrderedDict[int, dict[str, npt.NDArray[np.float32]]] = OrderedDict()
        self._loop = True
        self._t = self._start
        self.reset()

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> ReplayTwin:
        """``{"path": str, "object": int (index) or str (name), default 0, "time_per_second"?: float}``.

        The file is read with :func:`vizserver.io.read`; an unreadable file or a bad option raises an
        :class:`~vizserver.errors.InputError` with a one-line message.
        """
        from vizserver.io import read

        unknown = sorted(set(options) - set(_OPTION_NAMES))
        if unknown:
            raise ParameterError(
                f"replay twin: unknown option(s) {', '.join(unknown)}; known: {', '.join(_OPTION_NAMES)}"
            )
        path = options.get("path")
        if not isinstance(path, str | Path) or not str(path):
            raise ParameterError(f"replay twin: option 'path' must name a recorded series, got {path!r}")
        which = options.get("object", 0)
        rate = options.get("time_per_second")
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float)):
            raise ParameterError(f"replay twin: time_per_second must be a number, got {rate!r}")
        try:
            with children_allowed():
                scene = read(path)
        except InputError as error:
            raise type(error)(f"replay twin: {error}") from error
        if isinstance(which, bool) or not isinstance(which, int | str):
            raise ParameterError(f"replay twin: option 'object' must be an index or a name, got {which!r}")
        names = [o.name for o in scene.objects]
        if isinstance(which, str):
            if which not in names:
                raise ParameterError(f"replay twin: {Path(path).name} has no object {which!r}; it has {names}")
            data = scene.object(which).data
        else:
            if not 0 <= which < len(names):
                raise ParameterError(f"replay twin: {Path(path).name} has {len(names)} object(s), no object {which}")
            data = scene.objects[which].data
        if not isinstance(data, TimeSeries):
            raise ParameterError(f"replay twin: {Path(path).name} object {which!r} is not a time series")
        return cls(data, time_per_second=None if rate is None else float(rate))

    # --- Twin interface ---------------------------------------------------------------------------

    def reset(self, params: Mapping[str, object] | None = None) -> None:
        values = {**self.schema.defaults(), **self.schema.validate(params or {})}
        self._loop = bool(values["loop"])
        self._t = float(values["seek"])

    def set_params(self, partial: Mapping[str, object]) -> None:
        values = self.schema.validate(partial)
        if "loop" in values:
            self._loop = bool(values["loop"])
        if "seek" in values:
            self._t = float(values["seek"])

    def step(self, dt: float) -> None:
        if not (math.isfinite(dt) and dt >= 0.0):
            raise ParameterError(f"replay twin: time step {dt!r} must be a finite number >= 0")
        t = self._t + dt
        duration = self._end - self._start
        if t > self._end:
            t = self._start + math.fmod(t - self._start, duration) if self._loop and duration > 0 else self._end
        self._t = t

    def act(self, action: str, point: npt.NDArray[np.float64] | None = None) -> None:
        self.schema.action_point(action, point)  # a replay has no actions: always refused with the reason

    @property
    def time(self) -> float:
        return self._t

    def field_points(self) -> npt.NDArray[np.float64]:
        return self._points

    def fields(self) -> dict[str, npt.NDArray[np.float32]]:
        i, weight = self._bracket(self._t)
        before = self._step_values(i)
        if weight == 0.0:
            return {name: v.copy() for name, v in before.items()}
        after = self._step_values(i + 1)
        if weight == 1.0:
            return {name: v.copy() for name, v in after.items()}
        w = np.float32(weight)
        return {name: before[name] * (np.float32(1.0) - w) + after[name] * w for name in self._names}

    def probe(self, point: npt.NDArray[np.float64]) -> dict[str, float]:
        _, nearest = cKDTree(self._points).query(np.asarray(point, dtype=np.float64).reshape(3))
        return {name: float(v[int(nearest)]) for name, v in self.fields().items()}

    # --- steps ------------------------------------------------------------------------------------

    def _bracket(self, t: float) -> tuple[int, float]:
        """The step at or before ``t`` and the weight of the next one (0 at a recorded time)."""
        n = len(self._times)
        if n == 1 or t <= self._start:
            return 0, 0.0
        if t >= self._end:
            return n - 1, 0.0
        i = int(np.searchsorted(self._times, t, side="right")) - 1
        t0, t1 = float(self._times[i]), float(self._times[i + 1])
        return i, (t - t0) / (t1 - t0)

    def _step_values(self, index: int) -> dict[str, npt.NDArray[np.float32]]:
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            return cached
        values = {name: f.values for name, f in self._scalar_fields(self.series.steps[index]).items()}
        self._cache[index] = values
        while len(self._cache) > CACHED_STEPS:
            self._cache.popitem(last=False)
        return values

    def _scalar_fields(self, step: StepFields) -> dict[str, Field]:
        """The step's outputs as point fields (cell fields averaged onto points)."""
        out: dict[str, Field] = {}
        for name in self._names:
            f = step[name]
            if f.association == "cell":
                f = f.with_values(apply_matrix(self._cells_to_points, f.values), "point")
            out[name] = f
        return out

    def _ranges_over_all_steps(self) -> dict[str, tuple[float, float]]:
        """Each output's range over every step; also checks every step has the outputs of the first."""
        lo = dict.fromkeys(self._names, math.inf)
        hi = dict.fromkeys(self._names, -math.inf)
        first = self.series.steps[0]
        for index, step in enumerate(self.series.steps):
            for name in self._names:
                f = step.get(name)
                if f is None or f.association != first[name].association or f.values.shape != first[name].values.shape:
                    raise InvalidGeometryError(
                        f"replay twin: step {index} (time {self._times[index]:g}) lacks the {first[name].association}"
                        f" field {name!r} of step 0"
                    )
                if not math.isnan(f.range[0]):  # a cell field's own range bounds its point average
                    lo[name] = min(lo[name], f.range[0])
                    hi[name] = max(hi[name], f.range[1])
        return {name: (lo[name], hi[name]) if lo[name] <= hi[name] else (0.0, 1.0) for name in self._names}


def _scalar_names(step: StepFields) -> tuple[str, ...]:
    """Output names: the step's scalar fields (a step's names are unique whether on points or cells)."""
    return tuple(name for name, f in step.items() if f.components == 1)


def _points_of(geometry: Mesh | UnstructuredMesh) -> npt.NDArray[np.float64]:
    points = geometry.vertices if isinstance(geometry, Mesh) else geometry.points
    return np.asarray(points, dtype=np.float64)


def _cell_to_point_matrix(geometry: Mesh | UnstructuredMesh) -> sp.csr_matrix:
    """``(n_points, n_cells)``: each point's value is the mean of the cells that use it."""
    if isinstance(geometry, Mesh):
        connectivity = [geometry.triangles]
        n_points = len(geometry.vertices)
    else:
        connectivity = [b.connectivity.reshape(len(b), -1) for b in geometry.blocks]
        n_points = geometry.n_points
    rows, cols, offset = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)], 0
    for cells in connectivity:
        rows.append(cells.reshape(-1).astype(np.int64))
        cols.append(np.repeat(np.arange(offset, offset + len(cells), dtype=np.int64), cells.shape[1]))
        offset += len(cells)
    r, c = np.concatenate(rows), np.concatenate(cols)
    incidence = sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(n_points, offset))
    incidence.data[:] = 1.0  # a cell listing a point twice counts once
    totals = np.asarray(incidence.sum(axis=1)).reshape(-1)
    scale = np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)
    matrix: sp.csr_matrix = (sp.diags(scale) @ incidence).tocsr()
    return matrix
