"""Linear (P1) finite elements on tetrahedra: lumped mass and (anisotropic) stiffness, as scipy sparse.

For a tetrahedron with corners x0..x3 the barycentric coordinates are ``lambda = J^-1 (x - x0)``
with ``J = [x1 - x0, x2 - x0, x3 - x0]``, so the basis gradients are the rows of ``J^-1`` and
``grad phi_0 = -(sum of the others)``. With a per-element diffusion tensor
``D = d_perp I + (d_par - d_perp) f f^T`` (unit fibre ``f``) the element stiffness is
``K_e[a, b] = vol * grad phi_a . D grad phi_b``. The lumped mass gives each corner a quarter of
the element volume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from vizserver.errors import InvalidGeometryError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class TetGeometry:
    """Per-element data needed to assemble P1 operators quickly for new conductivities."""

    n_points: int
    tets: IntArray
    """``(m, 4)`` corner ids."""
    volumes: FloatArray
    """``(m,)`` positive volumes."""
    gradients: FloatArray
    """``(m, 4, 3)`` basis-function gradients."""
    rows: IntArray
    cols: IntArray
    """``(16 m,)`` COO indices of the element matrices, in ``(m, 4, 4)`` order."""


def tet_geometry(points: npt.ArrayLike, tets: npt.ArrayLike) -> TetGeometry:
    """Volumes and basis gradients of every tetrahedron; degenerate ones are refused."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    t = np.asarray(tets, dtype=np.int64).reshape(-1, 4)
    if len(t) == 0:
        raise InvalidGeometryError("mesh has no tetrahedra")
    x = p[t]
    jac = np.stack([x[:, 1] - x[:, 0], x[:, 2] - x[:, 0], x[:, 3] - x[:, 0]], axis=2)  # columns are edges
    det = np.linalg.det(jac)
    scale = np.max(np.abs(jac), axis=(1, 2)) ** 3
    bad = np.abs(det) <= 1e-12 * np.maximum(scale, 1e-300)
    if np.any(bad):
        raise InvalidGeometryError(f"{int(bad.sum())} of {len(t)} tetrahedra are degenerate (zero volume)")
    inv = np.linalg.inv(jac)  # rows: gradients of lambda_1..3
    grads = np.concatenate([-inv.sum(axis=1, keepdims=True), inv], axis=1)
    rows = np.repeat(t, 4, axis=1).ravel()
    cols = np.tile(t, (1, 4)).ravel()
    return TetGeometry(len(p), t, np.abs(det) / 6.0, grads, rows, cols)


def lumped_mass(geo: TetGeometry) -> FloatArray:
    """``(n,)``: each point's share (a quarter per element) of the volume around it."""
    mass = np.bincount(geo.tets.ravel(), weights=np.repeat(geo.volumes / 4.0, 4), minlength=geo.n_points)
    return np.asarray(mass, dtype=np.float64)


def stiffness(
    geo: TetGeometry,
    d_par: float | FloatArray,
    d_perp: float | FloatArray,
    fibres: FloatArray | None = None,
) -> sp.csr_matrix:
    """``K`` with ``K[a, b] = sum_e vol_e grad phi_a . D_e grad phi_b``; conductivities scalar or per element.

    Without ``fibres`` the tensor is isotropic ``d_par I``.
    """
    dpar = np.broadcast_to(np.asarray(d_par, dtype=np.float64), geo.volumes.shape)
    g = geo.gradients
    gg = np.einsum("eai,ebi->eab", g, g)
    if fibres is None:
        ke = (geo.volumes * dpar)[:, None, None] * gg
    else:
        dperp = np.broadcast_to(np.asarray(d_perp, dtype=np.float64), geo.volumes.shape)
        gf = np.einsum("eai,ei->ea", g, fibres)
        ke = (geo.volumes * dperp)[:, None, None] * gg
        ke += (geo.volumes * (dpar - dperp))[:, None, None] * gf[:, :, None] * gf[:, None, :]
    k = sp.coo_matrix((ke.ravel(), (geo.rows, geo.cols)), shape=(geo.n_points, geo.n_points)).tocsr()
    k.sum_duplicates()
    return k


def unit_fibres(fibres: npt.ArrayLike, n_cells: int) -> FloatArray:
    """``(n_cells, 3)`` unit vectors; zero-length entries are refused."""
    f = np.asarray(fibres, dtype=np.float64).reshape(n_cells, 3)
    norm = np.linalg.norm(f, axis=1, keepdims=True)
    if np.any(~np.isfinite(norm)) or np.any(norm < 1e-9):
        raise InvalidGeometryError("fibre directions must be finite and non-zero")
    unit: FloatArray = f / norm
    return unit


DENSE_EIGEN_LIMIT = 64
"""Below this many points the largest eigenvalue comes from a dense solve (ARPACK needs larger)."""


def explicit_step_limit(k: sp.csr_matrix, mass: FloatArray) -> float:
    """Largest stable forward-Euler step ``2 / lambda_max(M^-1 K)`` of ``du/dt = -M^-1 K u`` (inf if K = 0).

    ``lambda_max`` comes from Lanczos on the symmetric ``M^-1/2 K M^-1/2``; the Gershgorin row bound,
    often 1.5x larger, is the fallback when Lanczos does not converge.
    """
    scale = sp.diags(1.0 / np.sqrt(mass))
    symmetric = (scale @ k @ scale).tocsr()
    if symmetric.shape[0] < DENSE_EIGEN_LIMIT:
        largest = float(np.linalg.eigvalsh(symmetric.toarray())[-1]) if symmetric.nnz else 0.0
    else:
        try:
            largest = float(sla.eigsh(symmetric, k=1, which="LA", tol=1e-4, return_eigenvectors=False)[0])
        except sla.ArpackNoConvergence:
            largest = float(np.max(np.asarray(abs(k).sum(axis=1)).ravel() / mass))
    return 2.0 / largest if largest > 0.0 else math.inf
