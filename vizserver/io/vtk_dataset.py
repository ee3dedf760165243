"""Running a VTK reader and checking what it produced, shared by every VTK-family reader.

VTK reports trouble through its output window, not exceptions, and keeps going: :func:`run_reader`
captures those reports and raises :class:`UnreadableFileError` with the first one. :func:`checked`
then refuses data that parsed but is unusable (non-finite coordinates, connectivity outside the
points, offsets that do not add up, unknown cell types or cells with too few nodes) with
whole-array checks, before any VTK filter (triangulation, surface extraction) touches it.

Callers check the file's header first (:mod:`vizserver.io.vtk_header`), so VTK never sees a
header whose claims the file cannot back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyvista as pv
from vtkmodules.vtkCommonCore import vtkLogger

from vizserver.errors import InvalidGeometryError, UnreadableFileError, UnsupportedFormatError
from vizserver.model import NODES_PER_CELL, Mesh, UnstructuredMesh, Volume
from vizserver.vtk_bridge import (
    VTK_HIGHER_ORDER_KIND,
    VTK_LINEAR_KIND,
    grid_to_unstructured,
    polydata_to_mesh,
    to_model,
)

_N_TYPES = 256
_EXACT_NODES = np.full(_N_TYPES, -1, dtype=np.int64)
_MIN_NODES = np.full(_N_TYPES, -1, dtype=np.int64)
for _type, _kind in VTK_LINEAR_KIND.items():
    _EXACT_NODES[_type] = _MIN_NODES[_type] = NODES_PER_CELL[_kind]
for _type, _kind in VTK_HIGHER_ORDER_KIND.items():
    _MIN_NODES[_type] = NODES_PER_CELL[_kind]


@contextmanager
def _vtk_errors() -> Iterator[list[str]]:
    """Collect the error messages VTK emits inside the block, with VTK's stderr logging muted."""
    previous = vtkLogger.GetCurrentVerbosityCutoff()
    vtkLogger.SetStderrVerbosity(vtkLogger.VERBOSITY_OFF)
    messages: list[str] = []
    catcher = pv.VtkErrorCatcher(raise_errors=False, send_to_logging=False)
    try:
        with catcher:
            yield messages
    finally:
        vtkLogger.SetStderrVerbosity(previous)
        messages.extend(" ".join(str(event.alert).split()) for event in catcher.error_events)


def run_reader(reader: Any, path: Path) -> pv.DataObject:
    """Run a configured VTK reader on ``path``; VTK's first error becomes an :class:`UnreadableFileError`."""
    reader.SetFileName(str(path))
    with _vtk_errors() as errors:
        reader.Update()
    if errors:
        raise UnreadableFileError(f"{path.name}: {errors[0]}")
    output = reader.GetOutputDataObject(0)
    if output is None:
        raise UnreadableFileError(f"{path.name}: the VTK reader produced no data")
    wrapped: pv.DataObject = pv.wrap(output)
    return wrapped


def checked(dataset: pv.DataObject, path: Path) -> pv.DataSet:
    """``dataset`` after refusing unusable geometry with :class:`InvalidGeometryError`."""
    if not isinstance(dataset, pv.DataSet):
        raise UnsupportedFormatError(f"{path.name}: holds a {type(dataset).__name__}, not a single dataset")
    if isinstance(dataset, pv.ImageData):
        geometry = np.array([*dataset.origin, *dataset.spacing], dtype=np.float64)
        if not np.isfinite(geometry).all():
            raise InvalidGeometryError(f"{path.name}: image origin or spacing is NaN or infinite")
        return dataset
    if isinstance(dataset, pv.RectilinearGrid):
        axes = [np.asarray(a, dtype=np.float64) for a in (dataset.x, dataset.y, dataset.z)]
        if not all(np.isfinite(a).all() for a in axes):
            raise InvalidGeometryError(f"{path.name}: grid coordinates contain NaN or infinite values")
        return dataset
    _check_points(np.asarray(dataset.points), path)
    if isinstance(dataset, pv.PolyData):
        for what, cells in (
            ("vertices", dataset.GetVerts()),
            ("lines", dataset.GetLines()),
            ("polygons", dataset.GetPolys()),
            ("strips", dataset.GetStrips()),
        ):
            _check_cells(cells, dataset.n_points, what, path)
    elif isinstance(dataset, pv.UnstructuredGrid):
        sizes = _check_cells(dataset.GetCells(), dataset.n_points, "cells", path)
        _check_cell_types(np.asarray(dataset.celltypes, dtype=np.int64), sizes, path)
    return dataset


def _check_points(points: npt.NDArray[Any], path: Path) -> None:
    finite = np.isfinite(points).all(axis=1) if points.size else np.ones(0, dtype=bool)
    if not finite.all():
        bad = int((~finite).sum())
        first = int(np.flatnonzero(~finite)[0])
        raise InvalidGeometryError(
            f"{path.name}: {bad:,} of {points.shape[0]:,} points have NaN or infinite coordinates "
            f"(first: point {first})"
        )


def _check_cells(cells: Any, n_points: int, what: str, path: Path) -> npt.NDArray[np.int64]:
    """Node count of every cell, after checking offsets and connectivity against the points."""
    if cells is None:
        return np.zeros(0, dtype=np.int64)
    offsets = np.asarray(pv.convert_array(cells.GetOffsetsArray()), dtype=np.int64)
    connectivity = np.asarray(pv.convert_array(cells.GetConnectivityArray()))
    if offsets.size == 0:
        return np.zeros(0, dtype=np.int64)
    sizes: npt.NDArray[np.int64] = np.diff(offsets)
    if offsets[0] != 0 or offsets[-1] != connectivity.size or (sizes < 0).any():
        raise InvalidGeometryError(f"{path.name}: {what} offsets do not add up to the connectivity")
    if connectivity.size:
        lo, hi = int(connectivity.min()), int(connectivity.max())
        if lo < 0 or hi >= n_points:
            wrong = lo if lo < 0 else hi
            raise InvalidGeometryError(
                f"{path.name}: {what} refer to point {wrong:,} but there are {n_points:,} points (index out of range)"
            )
    return sizes


def _check_cell_types(types: npt.NDArray[np.int64], sizes: npt.NDArray[np.int64], path: Path) -> None:
    if types.size == 0:
        return
    if types.min() < 0 or types.max() >= _N_TYPES:
        raise InvalidGeometryError(f"{path.name}: cell type {int(types.max())} is not a VTK cell type")
    minimum = _MIN_NODES[types]
    unsupported = minimum < 0
    if unsupported.any():
        code = int(types[np.flatnonzero(unsupported)[0]])
        try:
            label = pv.CellType(code).name
        except ValueError:
            raise InvalidGeometryError(f"{path.name}: cell type {code} is not a VTK cell type") from None
        raise UnsupportedFormatError(f"{path.name}: VTK cell type {label} is not supported")
    exact = _EXACT_NODES[types]
    wrong = (sizes < minimum) | ((exact >= 0) & (sizes != exact))
    if wrong.any():
        index = int(np.flatnonzero(wrong)[0])
        raise InvalidGeometryError(
            f"{path.name}: {int(wrong.sum()):,} cells have the wrong node count for their type "
            f"(first: cell {index}, {pv.CellType(int(types[index])).name} with {int(sizes[index])} nodes)"
        )


def object_data(dataset: pv.DataObject, path: Path) -> Mesh | UnstructuredMesh | Volume:
    """The model object for one checked VTK dataset: a surface, a volume mesh or an image."""
    return to_model(checked(dataset, path), path.name)


def series_geometry(dataset: pv.DataObject, path: Path) -> Mesh | UnstructuredMesh:
    """A checked time step as a mesh; images become hexahedral meshes, since fields follow points."""
    data = checked(dataset, path)
    if isinstance(data, pv.PolyData):
        return polydata_to_mesh(data)
    return grid_to_unstructured(data, path.name)
