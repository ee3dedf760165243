"""Levels of detail: the same surface at a few triangle budgets, finest first."""

from __future__ import annotations

from collections.abc import Sequence

from vizserver.geometry.decimate import MIN_TRIANGLES, decimate
from vizserver.model import Mesh

LOD_FRACTIONS = (1.0, 0.25, 0.0625)
"""Triangle budgets of the levels as fractions of the full surface: 100 %, 25 %, about 6 %."""

LOD_MIN_TRIANGLES = 2_000
"""Budgets under this are raised to it: coarse levels of small meshes stay recognisable."""

LOD_MAX_STEP_RATIO = 0.5
"""A level is made only if its budget is at most this fraction of the previous level's triangles."""


def levels_of_detail(
    mesh: Mesh, fractions: Sequence[float] = LOD_FRACTIONS, min_triangles: int = LOD_MIN_TRIANGLES
) -> list[Mesh]:
    """One mesh per fraction (decreasing, in (0, 1]), each decimated from the level before.

    Decimating level by level is cheaper than always starting from the full mesh, and
    ``source_point_ids`` compose, so every level still indexes the original points. Budgets are
    raised to ``min_triangles``; a level that would not at least halve the previous one is left
    out, so a small mesh (or a point cloud) gives a one-element list. Every level has normals.
    """
    if not fractions or any(not 0.0 < f <= 1.0 for f in fractions) or list(fractions) != sorted(fractions)[::-1]:
        raise ValueError(f"fractions must be decreasing and in (0, 1], got {list(fractions)}")
    n = mesh.n_triangles
    levels = [decimate(mesh, target_triangles=max(round(n * fractions[0]), min_triangles, MIN_TRIANGLES))]
    for fraction in fractions[1:]:
        target = max(round(n * fraction), min_triangles, MIN_TRIANGLES)
        if target > LOD_MAX_STEP_RATIO * levels[-1].n_triangles:
            continue
        levels.append(decimate(levels[-1], target_triangles=target))
    return levels
