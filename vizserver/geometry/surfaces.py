"""The geometry stage's entry: any scene object to the surfaces the encoder packs.

=====================  ============================================================================
object data            surfaces
=====================  ============================================================================
Mesh (triangles)       itself; cell fields averaged onto the points; normals computed if absent
Mesh (no triangles)    itself, unchanged (a point cloud)
UnstructuredMesh       its boundary (source_point_ids = original ids), fields as for a Mesh; a mesh
                       with no faces at all (vertex/line cells only) becomes a point cloud
Volume, labels         one surface per label, named ``"<name>/label <id>"``, with a ``label`` field
Volume, intensity      the iso-surface at ``iso`` (default: Otsu's threshold)
TimeSeries             the surface of its geometry, carrying the geometry's fields and the FIRST
                       step's fields (a step's field overrides a geometry field of the same name)
=====================  ============================================================================

Every surface leaves with point fields only: cell values become point values by area-weighted
averaging, the same rule :class:`StepFieldMapper` applies to later time steps, so a stream of
steps continues the first one exactly. A name clash with a point field gets `` (cells)``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from vizserver.errors import InvalidGeometryError
from vizserver.geometry.boundary import boundary_faces, boundary_surface
from vizserver.geometry.fields import apply_matrix, cell_to_point_matrix, cells_to_points, merge_point_fields
from vizserver.geometry.isosurface import iso_surface, label_surfaces
from vizserver.geometry.normals import triangle_areas, vertex_normals
from vizserver.model import Field, Mesh, SceneObject, TimeSeries, UnstructuredMesh, Volume


def finish_surface(mesh: Mesh) -> Mesh:
    """Cell fields moved onto the points (area-weighted) and normals computed if absent; point clouds as they are."""
    if mesh.is_point_cloud:
        return mesh
    point_fields: Mapping[str, Field] = mesh.point_fields
    if mesh.cell_fields:
        matrix = cell_to_point_matrix(
            mesh.triangles, mesh.n_points, weights=triangle_areas(mesh.vertices, mesh.triangles)
        )
        point_fields = merge_point_fields(point_fields, cells_to_points(mesh.cell_fields, matrix))
    normals = mesh.normals if mesh.normals is not None else vertex_normals(mesh.vertices, mesh.triangles)
    return replace(mesh, normals=normals, point_fields=dict(point_fields), cell_fields={})


def _geometry_surface(data: Mesh | UnstructuredMesh, name: str) -> Mesh:
    if data.n_points == 0:
        raise InvalidGeometryError(f"{name}: mesh has no points")
    if isinstance(data, Mesh):
        return finish_surface(data)
    surface = boundary_surface(data)
    if surface.n_triangles == 0:  # only vertex/line cells: show the points
        return Mesh(data.points, np.zeros((0, 3), dtype=np.uint32), point_fields=dict(data.point_fields))
    return finish_surface(surface)


def surfaces_of(obj: SceneObject, *, iso: float | None = None) -> list[tuple[str, Mesh]]:
    """``(name, surface)`` pairs for one scene object (see the module table); ``iso`` is for intensity volumes.

    Raises :class:`InvalidGeometryError` when nothing can be drawn: an empty mesh, an iso value
    outside the volume's range, a label volume with only background.
    """
    data = obj.data
    if isinstance(data, Volume):
        if data.kind == "labels":
            return [
                (f"{obj.name}/label {label}", finish_surface(mesh)) for label, mesh in label_surfaces(data, obj.name)
            ]
        _, mesh = iso_surface(data, obj.name, iso)
        return [(obj.name, finish_surface(mesh))]
    if isinstance(data, TimeSeries):
        surface = _geometry_surface(data.geometry, obj.name)
        if data.n_steps == 0:
            return [(obj.name, surface)]
        first = StepFieldMapper(data, surface, obj.name)(0)
        return [(obj.name, surface.with_point_fields({**surface.point_fields, **first}))]
    return [(obj.name, _geometry_surface(data, obj.name))]


class StepFieldMapper:
    """Maps a series' step fields onto a surface derived from its geometry, via ``source_point_ids``.

    Point fields are indexed; cell fields are averaged onto the geometry's surface points with the
    rule of :func:`finish_surface` (for a volume mesh: over its boundary faces, each carrying its
    owning cell's value), or dropped when the surface is a point cloud. The averaging operator is
    built once, on the first cell field, so one mapper serves a whole stream of steps. Works for
    decimated surfaces too, whose ``source_point_ids`` compose back to the geometry's points.
    """

    __slots__ = ("_cells", "_ids", "_name", "_point_cloud", "_series")

    def __init__(self, series: TimeSeries, surface: Mesh, name: str = "series") -> None:
        n = series.geometry.n_points
        if surface.source_point_ids is None:
            if surface.n_points != n:
                raise ValueError(f"{name}: surface has {surface.n_points} vertices, geometry {n}, and no source ids")
            ids: npt.NDArray[np.intp] = np.arange(n, dtype=np.intp)
        else:
            ids = surface.source_point_ids.astype(np.intp)
            if ids.size and int(ids.max()) >= n:
                raise ValueError(f"{name}: surface's source ids reach {int(ids.max())}, geometry has {n} points")
        self._series = series
        self._ids = ids
        self._name = name
        self._point_cloud = surface.is_point_cloud
        self._cells: sp.csr_matrix | None = None

    def _cell_matrix(self) -> sp.csr_matrix:
        if self._cells is None:
            geometry = self._series.geometry
            if isinstance(geometry, Mesh):
                triangles, owners, n_cells = geometry.triangles, None, geometry.n_triangles
                points = geometry.vertices
            else:
                faces = boundary_faces(geometry)
                triangles, owners, n_cells = faces.triangles, faces.owners, geometry.n_cells
                points = geometry.points
            full = cell_to_point_matrix(
                triangles,
                geometry.n_points,
                weights=triangle_areas(points, triangles),
                owners=owners,
                n_cells=n_cells,
            )
            self._cells = full[self._ids]
        return self._cells

    def __call__(self, step: int) -> dict[str, Field]:
        """The fields of step ``step`` as point fields on the surface."""
        if not 0 <= step < self._series.n_steps:
            raise IndexError(f"{self._name}: step {step} is outside 0..{self._series.n_steps - 1}")
        geometry = self._series.geometry
        out: dict[str, Field] = {}
        for key, f in self._series.steps[step].items():
            on_points = f.association == "point"
            if on_points:
                expected = geometry.n_points
            else:
                expected = geometry.n_triangles if isinstance(geometry, Mesh) else geometry.n_cells
            if len(f) != expected:
                raise InvalidGeometryError(
                    f"{self._name}: step {step} field {key!r} has {len(f)} values for {expected} {f.association}s"
                )
            if on_points:
                out[key] = f.with_values(f.values[self._ids], "point")
            elif not self._point_cloud:  # cell values on a point cloud have nowhere to go
                out[key] = f.with_values(apply_matrix(self._cell_matrix(), f.values), "point")
        return out


_RECENT_MAPPERS = 4
"""Mappers kept by :func:`step_fields_on_surface` for the last few (series, surface) pairs."""

_mappers: OrderedDict[tuple[int, int], tuple[TimeSeries, Mesh, StepFieldMapper]] = OrderedDict()
_mappers_lock = threading.Lock()


def step_fields_on_surface(series: TimeSeries, surface: Mesh, step: int) -> dict[str, Field]:
    """Step ``step``'s fields on ``surface``'s vertices (see :class:`StepFieldMapper`).

    The mapper of the last few (series, surface) pairs is kept, so calling this once per step of
    a stream builds the averaging operator once; the pair is held (and compared) by identity.
    """
    key = (id(series), id(surface))
    with _mappers_lock:
        hit = _mappers.get(key)
        if hit is not None and hit[0] is series and hit[1] is surface:
            _mappers.move_to_end(key)
            mapper = hit[2]
        else:
            mapper = StepFieldMapper(series, surface)
            _mappers[key] = (series, surface, mapper)
            while len(_mappers) > _RECENT_MAPPERS:
                _mappers.popitem(last=False)
    return mapper(step)
