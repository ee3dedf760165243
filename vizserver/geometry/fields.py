"""Moving fields between cells and points, and through the index maps that filters keep.

Cell values become point values through one sparse matrix (``scipy.sparse``): a point's value is
the area-weighted mean of its incident triangles' values. Weighting by area keeps a few slivers
from dominating a vertex on an irregular mesh; a tiny floor on the weights keeps vertices whose
only faces are degenerate defined. Points with no incident face get NaN (fields' ranges skip it).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from vizserver.model import Association, Field

_WEIGHT_FLOOR = 1e-9
"""Added to each face weight, relative to the mean area, so zero-area faces still count a little."""


def cell_to_point_matrix(
    triangles: npt.NDArray[np.uint32],
    n_points: int,
    *,
    weights: npt.NDArray[np.float64] | None = None,
    owners: npt.NDArray[np.int64] | None = None,
    n_cells: int | None = None,
) -> sp.csr_matrix:
    """The ``(n_points, n_cells)`` averaging operator: ``point_values = matrix @ cell_values``.

    ``owners[f]`` is the cell whose value face ``f`` carries (a volume cell under a boundary face;
    by default face ``f`` is cell ``f``). ``weights`` are per-face (areas; by default all equal).
    Rows of points with no incident face are empty, and :func:`apply_matrix` gives them NaN.
    """
    n_faces = int(triangles.shape[0])
    owner = np.arange(n_faces, dtype=np.int64) if owners is None else owners.astype(np.int64, copy=False)
    cols = n_faces if n_cells is None else n_cells
    if weights is None:
        w = np.ones(n_faces, dtype=np.float64)
    else:
        mean = float(weights.mean()) if n_faces else 0.0
        w = weights.astype(np.float64) / mean + _WEIGHT_FLOOR if mean > 0 else np.ones(n_faces, dtype=np.float64)
    rows = triangles.reshape(-1).astype(np.int64, copy=False)
    matrix = sp.coo_matrix(
        (np.repeat(w, 3), (rows, np.repeat(owner, 3))), shape=(n_points, cols)
    ).tocsr()  # duplicates (a point twice under one owner) are summed here
    totals = np.asarray(matrix.sum(axis=1)).reshape(-1)
    scale = np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)
    normalised: sp.csr_matrix = sp.diags(scale) @ matrix
    return normalised.tocsr()


def apply_matrix(matrix: sp.csr_matrix, values: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """``matrix @ values`` for scalar or vector values; rows with no entries become NaN."""
    out = np.asarray(matrix @ values.astype(np.float64, copy=False), dtype=np.float32)
    empty = np.diff(matrix.indptr) == 0
    if empty.any():
        out[empty] = np.nan
    return out


def cells_to_points(fields: Mapping[str, Field], matrix: sp.csr_matrix) -> dict[str, Field]:
    """Every field through the averaging operator (see :func:`cell_to_point_matrix`), as point fields."""
    return {name: f.with_values(apply_matrix(matrix, f.values), "point") for name, f in fields.items()}


def take(
    fields: Mapping[str, Field], index: npt.NDArray[np.integer], association: Association | None = None
) -> dict[str, Field]:
    """Each field's rows ``values[index]``: how point fields follow a compaction or decimation."""
    return {name: f.with_values(f.values[index], association) for name, f in fields.items()}


def merge_point_fields(point_fields: Mapping[str, Field], from_cells: Mapping[str, Field]) -> dict[str, Field]:
    """Point fields plus those averaged from cell fields; a name already taken gets `` (cells)``."""
    merged = dict(point_fields)
    for name, f in from_cells.items():
        key = name if name not in merged else f"{name} (cells)"
        merged[key] = Field(key, f.values, "point", f.unit)
    return merged
