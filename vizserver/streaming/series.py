"""A time-series object's field values at a step, in its GLB's vertex order, ready to encode.

The scene build stored, per series object, the table ``GLB vertex -> series point``. A step's
fields come from :func:`step_fields_on_surface` on a stand-in surface whose ``source_point_ids`` is
that table, so point fields are indexed and cell fields averaged exactly as when the GLB was built,
and the result is already in the asset's vertex order. Series are read once per server (or taken
from the build that just read them) and shared by every session showing them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from vizserver.errors import InvalidGeometryError
from vizserver.geometry.surfaces import step_fields_on_surface
from vizserver.io import read
from vizserver.model import Field, Mesh, TimeSeries
from vizserver.scenes.cache import AssetStore
from vizserver.scenes.objects import SeriesSource

SeriesKey = tuple[str, int]


class SeriesValues:
    """Values of one series object's fields per step. Thread-safe; remembers the last step it computed."""

    def __init__(self, series: TimeSeries, table: npt.NDArray[np.uint32], point_cloud: bool, name: str) -> None:
        n = int(table.shape[0])
        if n and int(table.max()) >= series.geometry.n_points:
            points = series.geometry.n_points
            raise InvalidGeometryError(f"{name}: vertex table reaches point {int(table.max())} of {points}")
        triangles = np.zeros((0 if point_cloud else 1, 3), dtype=np.uint32)
        self._surface = Mesh(np.zeros((n, 3), dtype=np.float32), triangles, source_point_ids=table)
        self._series = series
        self._lock = threading.Lock()
        self._last: tuple[int, dict[str, Field]] | None = None
        self.steps = series.n_steps

    def values(self, field_name: str, step: int) -> npt.NDArray[np.float32]:
        """Field ``field_name`` at ``step`` (clamped to the series), one value per GLB vertex."""
        step = min(max(step, 0), self.steps - 1)
        with self._lock:
            if self._last is None or self._last[0] != step:
                self._last = (step, step_fields_on_surface(self._series, self._surface, step))
            fields = self._last[1]
        return fields[field_name].values


class SeriesLoader:
    """Reads each series source once and hands out :class:`SeriesValues` per (source, table)."""

    def __init__(self, store: AssetStore, preloaded: Mapping[SeriesKey, TimeSeries] | None = None) -> None:
        self._store = store
        self._series: dict[SeriesKey, TimeSeries] = dict(preloaded or {})
        self._values: dict[tuple[str, int, str], SeriesValues] = {}
        self._lock = threading.Lock()

    def add(self, preloaded: Mapping[SeriesKey, TimeSeries]) -> None:
        with self._lock:
            self._series.update(preloaded)

    def values(self, source: SeriesSource, name: str) -> SeriesValues:
        """Blocking (reads files the first time): call it from a worker thread, not the event loop."""
        key = (source.path, source.index, source.point_ids)
        with self._lock:
            hit = self._values.get(key)
        if hit is not None:
            return hit
        series = self._load(source, name)
        values = SeriesValues(series, self._store.load_table(source.point_ids), source.point_cloud, name)
        with self._lock:
            return self._values.setdefault(key, values)

    def _load(self, source: SeriesSource, name: str) -> TimeSeries:
        key = (source.path, source.index)
        with self._lock:
            hit = self._series.get(key)
        if hit is not None:
            return hit
        objects = read(source.path).objects
        data = objects[source.index].data if source.index < len(objects) else None
        if not isinstance(data, TimeSeries):
            raise InvalidGeometryError(f"{name}: {source.path} no longer holds a time series at object {source.index}")
        with self._lock:
            return self._series.setdefault(key, data)
