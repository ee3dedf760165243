"""Quadric decimation (``fast_simplification``) that keeps fields and source ids exact.

``simplify(..., return_collapses=True)`` gives the edge collapses; ``replay_simplification``
replays them and returns, for every input vertex, the output vertex it merged into (its
cluster). Vertices move to quadric-optimal positions, so each output vertex takes its point
field values and its ``source_point_ids`` entry from the cluster member nearest to its new
position. Values are therefore always real input values (exact, within the input ranges, labels
stay labels) and any time step's field, looked up through ``source_point_ids``, agrees with the
decimated first step. Cell fields become point fields first (area-weighted), and normals are
recomputed from the new triangles.

``fast_simplification`` keeps its mesh in module-level state, so calls are serialised by a lock.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import fast_simplification
import numpy as np
import numpy.typing as npt

from vizserver.errors import InvalidGeometryError
from vizserver.geometry.fields import cell_to_point_matrix, cells_to_points, merge_point_fields, take
from vizserver.geometry.normals import triangle_areas, vertex_normals
from vizserver.model import Mesh

MIN_TRIANGLES = 4
"""Fewest triangles a decimation may aim for (a tetrahedron)."""

AGGRESSIVENESS = 7.0
"""``fast_simplification``'s ``agg``: its default, a balance of speed and shape."""

_LOCK = threading.Lock()


def _target(n_triangles: int, target_triangles: int | None, reduction: float | None) -> int:
    if (target_triangles is None) == (reduction is None):
        raise ValueError("give exactly one of target_triangles and reduction")
    if reduction is not None:
        if not 0.0 <= reduction < 1.0:
            raise ValueError(f"reduction must be in [0, 1), got {reduction}")
        return max(MIN_TRIANGLES, round(n_triangles * (1.0 - reduction)))
    assert target_triangles is not None
    if target_triangles < MIN_TRIANGLES:
        raise ValueError(f"target_triangles must be at least {MIN_TRIANGLES}, got {target_triangles}")
    return target_triangles


def _nearest_members(
    points: npt.NDArray[np.float64], cluster: npt.NDArray[np.int64], new_points: npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:
    """For each output vertex, the input vertex of its cluster closest to its new position."""
    members = np.flatnonzero(cluster >= 0)
    owner = cluster[members]
    distance = np.linalg.norm(points[members] - new_points[owner], axis=1)
    order = np.lexsort((distance, owner))
    first = np.ones(order.shape[0], dtype=bool)
    first[1:] = owner[order][1:] != owner[order][:-1]
    nearest = np.full(new_points.shape[0], -1, dtype=np.int64)
    nearest[owner[order][first]] = members[order][first]
    return nearest


def decimate(
    mesh: Mesh, *, target_triangles: int | None = None, reduction: float | None = None, name: str = "mesh"
) -> Mesh:
    """``mesh`` reduced to about ``target_triangles`` (or by the fraction ``reduction`` of its triangles).

    A mesh already at or under the target, or a point cloud, comes back with normals and cell
    fields converted but otherwise unchanged. The triangle count reached can differ slightly from
    the target. ``ValueError`` on bad arguments (the CLI validates ``--reduction`` before); ``name``
    only labels errors.
    """
    target = _target(mesh.n_triangles, target_triangles, reduction)
    if mesh.cell_fields:
        matrix = cell_to_point_matrix(
            mesh.triangles, mesh.n_points, weights=triangle_areas(mesh.vertices, mesh.triangles)
        )
        merged = merge_point_fields(mesh.point_fields, cells_to_points(mesh.cell_fields, matrix))
        mesh = replace(mesh, point_fields=merged, cell_fields={})
    if mesh.is_point_cloud or target >= mesh.n_triangles:
        if mesh.normals is None and not mesh.is_point_cloud:
            mesh = replace(mesh, normals=vertex_normals(mesh.vertices, mesh.triangles))
        return mesh
    points = mesh.vertices.astype(np.float64)
    triangles = mesh.triangles.astype(np.int64)
    with _LOCK:
        _, _, collapses = fast_simplification.simplify(
            points, triangles, target_count=target, agg=AGGRESSIVENESS, return_collapses=True
        )
        new_points, new_triangles, cluster = fast_simplification.replay_simplification(points, triangles, collapses)
    new_points = np.asarray(new_points, dtype=np.float64)
    nearest = _nearest_members(points, np.asarray(cluster, dtype=np.int64), new_points)
    if new_points.shape[0] == 0 or (nearest < 0).any():
        raise InvalidGeometryError(
            f"{name}: decimating {mesh.n_triangles} triangles to {target} left vertices with no source"
        )
    source = nearest.astype(np.uint32) if mesh.source_point_ids is None else mesh.source_point_ids[nearest]
    vertices = new_points.astype(np.float32)
    tris = np.asarray(new_triangles, dtype=np.uint32).reshape(-1, 3)
    return Mesh(
        vertices,
        tris,
        vertex_normals(vertices, tris),
        point_fields=take(mesh.point_fields, nearest),
        source_point_ids=np.ascontiguousarray(source, dtype=np.uint32),
    )
