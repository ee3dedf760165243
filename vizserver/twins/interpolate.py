"""Linear (P1) interpolation from a tetrahedral mesh to arbitrary points, as a sparse matrix.

A twin simulates on its own mesh and shows its fields on a scene object's vertices (often a finer
or smoother surface): ``sampling @ values`` gives the value at each target. Each target is located
in a containing tetrahedron (KD-tree on centroids, then barycentric coordinates of the nearest
``CANDIDATES`` elements, vectorised) and gets that element's barycentric weights. A target in no
candidate (just outside a curved or staircase boundary) takes the candidate it is least outside
of, its negative weights clipped to zero and the rest renormalised: a convex combination of the
corners of a nearby element, so values stay within the field's range.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.spatial import cKDTree

from vizserver.errors import InvalidGeometryError
from vizserver.twins.fem import tet_geometry

FloatArray = npt.NDArray[np.float64]

CANDIDATES = 12
"""Nearest element centroids tried per target."""
INSIDE_TOLERANCE = 1e-9
"""A barycentric weight this far below zero still counts as inside (targets on faces)."""
CHUNK_TARGETS = 8192
"""Targets located per vectorised batch (bounds the ``(chunk, CANDIDATES, 4, 3)`` temporaries)."""


def p1_sampling_matrix(points: npt.ArrayLike, tets: npt.ArrayLike, targets: npt.ArrayLike) -> sp.csr_matrix:
    """``(len(targets), len(points))`` CSR matrix of P1 weights (each row sums to 1, all weights >= 0)."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    x = np.asarray(targets, dtype=np.float64).reshape(-1, 3)
    if not np.all(np.isfinite(x)):
        raise InvalidGeometryError("interpolation targets must be finite")
    geo = tet_geometry(p, tets)
    centroids = p[geo.tets].mean(axis=1)
    k = min(CANDIDATES, len(geo.tets))
    tree = cKDTree(centroids)
    rows = np.empty((len(x), 4), dtype=np.int64)
    weights = np.empty((len(x), 4))
    for start in range(0, len(x), CHUNK_TARGETS):
        chunk = slice(start, min(start + CHUNK_TARGETS, len(x)))
        cells, w = _locate(x[chunk], tree, centroids, geo.gradients, k)
        rows[chunk], weights[chunk] = geo.tets[cells], w
    row_ids = np.repeat(np.arange(len(x)), 4)
    matrix = sp.csr_matrix((weights.ravel(), (row_ids, rows.ravel())), shape=(len(x), len(p)))
    matrix.sum_duplicates()
    return matrix


def _locate(
    x: FloatArray, tree: cKDTree, centroids: FloatArray, gradients: FloatArray, k: int
) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """Element of each target and its (clipped, renormalised) barycentric weights."""
    _, candidates = tree.query(x, k=k)
    candidates = np.asarray(candidates, dtype=np.int64).reshape(len(x), k)
    # lambda_a is linear with gradient g_a and equals 1/4 at the centroid
    offset = x[:, None, :] - centroids[candidates]
    bary = 0.25 + np.einsum("nkai,nki->nka", gradients[candidates], offset)
    least = bary.min(axis=2)
    best = np.argmax(least >= -INSIDE_TOLERANCE, axis=1)  # first (nearest) containing candidate
    outside = least[np.arange(len(x)), best] < -INSIDE_TOLERANCE
    best[outside] = np.argmax(least[outside], axis=1)
    chosen = np.clip(bary[np.arange(len(x)), best], 0.0, None)
    chosen /= chosen.sum(axis=1, keepdims=True)  # > 0: the weights summed to 1 before clipping
    return candidates[np.arange(len(x)), best], chosen
