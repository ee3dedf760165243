"""Levels of detail: the same surface at a few triangle budgets, finest first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from vizserver.geometry.decimate import MIN_TRIANGLES, decimate
from vizserver.model import Mesh

LOD_FRACTIONS = (1.0, 0.25, 0.0625)
"""Triangle budgets of the levels as fractions of the full surface: 100 %, 25 %, about 6 %."""

LOD_MIN_TRIANGLES = 2_000
"""Budgets under this are raised to it: coarse levels of small meshes stay recognisable."""

LOD_MAX_STEP_RATIO = 0.5
"""A level is made only if its budget is at most this fraction of the previous level's triangles."""


@dataclass(frozen=True, slots=True)
class DetailLevel:
    """One level: its mesh, and for each of its vertices the vertex of the input mesh it stands for.

    ``input_ids[i]`` is the input vertex whose values (fields, time steps) vertex ``i`` shows: the
    member of its decimation cluster nearest to its new position. Positions differ from that input
    vertex's by at most about one edge of the level (the decimator moves vertices to quadric optima).
    """

    mesh: Mesh
    input_ids: npt.NDArray[np.uint32]


def detail_levels(
    mesh: Mesh, fractions: Sequence[float] = LOD_FRACTIONS, min_triangles: int = LOD_MIN_TRIANGLES
) -> list[DetailLevel]:
    """One level per fraction (decreasing, in (0, 1]), each decimated from the level before.

    Decimating level by level is cheaper than always starting from the full mesh. Levels are made
    from ``mesh`` without its ``source_point_ids``, so decimation's ids index ``mesh``'s vertices
    (``input_ids``); each level's ``source_point_ids`` are then ``mesh``'s composed with them, so
    every level still indexes the original points. Budgets are raised to ``min_triangles``; a level
    that would not at least halve the previous one is left out, so a small mesh (or a point cloud)
    gives a one-element list. Every level has normals.
    """
    if not fractions or any(not 0.0 < f <= 1.0 for f in fractions) or list(fractions) != sorted(fractions)[::-1]:
        raise ValueError(f"fractions must be decreasing and in (0, 1], got {list(fractions)}")
    n = mesh.n_triangles
    plain = replace(mesh, source_point_ids=None)
    meshes = [decimate(plain, target_triangles=max(round(n * fractions[0]), min_triangles, MIN_TRIANGLES))]
    for fraction in fractions[1:]:
        target = max(round(n * fraction), min_triangles, MIN_TRIANGLES)
        if target > LOD_MAX_STEP_RATIO * meshes[-1].n_triangles:
            continue
        meshes.append(decimate(meshes[-1], target_triangles=target))
    return [_level(mesh, level) for level in meshes]


def levels_of_detail(
    mesh: Mesh, fractions: Sequence[float] = LOD_FRACTIONS, min_triangles: int = LOD_MIN_TRIANGLES
) -> list[Mesh]:
    """The meshes of :func:`detail_levels`."""
    return [level.mesh for level in detail_levels(mesh, fractions, min_triangles)]


def _level(original: Mesh, level: Mesh) -> DetailLevel:
    """``level`` (made from ``original`` without source ids) with ``original``'s source ids composed in."""
    ids = level.source_point_ids
    if ids is None:  # not decimated: the input's own vertices
        return DetailLevel(
            replace(level, source_point_ids=original.source_point_ids), np.arange(level.n_points, dtype=np.uint32)
        )
    source = ids if original.source_point_ids is None else original.source_point_ids[ids]
    return DetailLevel(replace(level, source_point_ids=np.ascontiguousarray(source, dtype=np.uint32)), ids)
