"""An "external" model run as a remote twin: FitzHugh-Nagumo excitation on the vertices the server binds.

This file stands for any simulator you drive from Python (openCARP, FEniCS, FEBio, your own code).
Nothing here imports the server beyond the ``Twin`` interface; ``vizserver twin-worker`` builds the
twin by calling ``FitzHughNagumoTwin(**options)``, binds it to the scene object's vertices with
``bind_outputs(vertices)``, then calls ``step``/``fields``/``set_params``/``act`` as the session
steers it. See README.md beside this file.

The model (FitzHugh 1961, Nagumo et al. 1962), dimensionless, on a graph of the vertices::

    du/dt = D L u + u - u^3/3 - v
    dv/dt = eps (u + beta - gamma v)

``L`` is the graph Laplacian of the vertices' ``k`` nearest neighbours, scaled by the mean
neighbour distance so ``D`` is a diffusivity in (mesh unit)^2 per time unit. Integration: forward
Euler with as many sub-steps as the explicit stability limit needs.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.spatial import cKDTree

from vizserver.twins.base import Action, Parameter, ParameterError, Schema, Twin, TwinBlowUpError

U_REST, V_REST = -1.1994, -0.6243
"""The resting state of the default parameters (where both right-hand sides vanish)."""
U_EXCITED = 1.8
"""What a stimulus sets ``u`` to: well above threshold."""
STABILITY = 0.4
"""Explicit Euler sub-step as a fraction of the diffusion limit ``1 / (D * max|L_ii|)``."""

SCHEMA = Schema(
    parameters=(
        Parameter("diffusion", "float", 1.0, "mm^2/unit", 0.01, 20.0, description="diffusivity D"),
        Parameter("eps", "float", 0.08, "", 0.01, 0.5, description="recovery rate (lower: longer pulse)"),
        Parameter("beta", "float", 0.7, "", 0.0, 1.5, description="recovery offset"),
        Parameter("gamma", "float", 0.8, "", 0.0, 2.0, description="recovery damping"),
        Parameter("period", "float", 60.0, "unit", 0.0, 1000.0, description="automatic pacing period (0: off)"),
    ),
    actions=(Action("stimulate", "excite the tissue around the point"),),
    outputs=("u",),
    units={"u": ""},
    ranges={"u": (-2.2, 2.2)},
)


class FitzHughNagumoTwin(Twin):
    """Excitable waves on whatever vertices the server binds; ``radius`` is the stimulus radius (mesh units)."""

    schema = SCHEMA
    time_unit = "unit"
    time_per_second = 40.0

    def __init__(self, k: int = 8, radius: float = 0.0, max_dt: float = 0.05) -> None:
        if not 2 <= int(k) <= 32:
            raise ParameterError(f"fhn model: k must be 2..32 neighbours, got {k!r}")
        self._k = int(k)
        self._radius = float(radius)
        self._max_dt = float(max_dt)
        self._points = np.zeros((0, 3), dtype=np.float64)
        self._laplacian = sp.csr_matrix((0, 0))
        self._u = np.zeros(0)
        self._v = np.zeros(0)
        self._pacing_site = np.zeros(0, dtype=np.int64)
        self._params = SCHEMA.defaults()
        self._t = 0.0
        self._next_pace = 0.0

    # --- where the model lives: the bound vertices -------------------------------------------------

    def bind_outputs(self, targets: npt.ArrayLike) -> None:
        """The model's domain becomes ``targets`` themselves (an external solver would map its own mesh here)."""
        points = np.asarray(targets, dtype=np.float64).reshape(-1, 3)
        if len(points) <= self._k:
            raise ParameterError(f"fhn model: needs more than k={self._k} vertices, got {len(points)}")
        self._points = points
        self._laplacian = knn_laplacian(points, self._k)
        spacing = float(np.median(cKDTree(points).query(points, k=2)[0][:, 1]))
        if self._radius <= 0:
            self._radius = 3.0 * spacing
        self._pacing_site = self._near(points[np.argmin(points[:, 2])])
        self.reset(self._params)

    def field_points(self) -> npt.NDArray[np.float64]:
        return self._points

    def outputs(self) -> dict[str, npt.NDArray[np.float32]]:
        return self.fields()

    # --- Twin interface ------------------------------------------------------------------------------

    def reset(self, params: Mapping[str, object] | None = None) -> None:
        self._params = {**SCHEMA.defaults(), **SCHEMA.validate(params or {})}
        self._u = np.full(len(self._points), U_REST)
        self._v = np.full(len(self._points), V_REST)
        self._t = 0.0
        self._next_pace = 0.0

    def set_params(self, partial: Mapping[str, object]) -> None:
        self._params.update(SCHEMA.validate(partial))

    def act(self, action: str, point: npt.NDArray[np.float64] | None = None) -> None:
        p = SCHEMA.action_point(action, point)
        assert p is not None  # "stimulate" needs a point
        self._u[self._near(p)] = U_EXCITED

    def step(self, dt: float) -> None:
        if not (np.isfinite(dt) and dt >= 0):
            raise ParameterError(f"fhn model: time step {dt!r} must be a finite number >= 0")
        d = float(self._params["diffusion"])
        eps, beta, gamma = (float(self._params[n]) for n in ("eps", "beta", "gamma"))
        diagonal = float(np.abs(self._laplacian.diagonal()).max()) if len(self._points) else 0.0
        limit = STABILITY / (d * diagonal) if diagonal > 0 else self._max_dt
        substeps = max(1, int(np.ceil(dt / min(self._max_dt, limit))))
        h = dt / substeps
        for _ in range(substeps):
            self._pace()
            u, v = self._u, self._v
            du = d * (self._laplacian @ u) + u - u**3 / 3.0 - v
            self._v = v + h * eps * (u + beta - gamma * v)
            self._u = u + h * du
            self._t += h
        if not np.isfinite(self._u).all():
            raise TwinBlowUpError(f"fhn model: u became non-finite at t = {self._t:g}")

    def fields(self) -> dict[str, npt.NDArray[np.float32]]:
        return {"u": self._u.astype(np.float32)}

    def probe(self, point: npt.NDArray[np.float64]) -> dict[str, float]:
        _, i = cKDTree(self._points).query(np.asarray(point, dtype=np.float64).reshape(3))
        return {"u": float(self._u[int(i)])}

    @property
    def time(self) -> float:
        return self._t

    # --- internals -----------------------------------------------------------------------------------

    def _near(self, point: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """Vertices within the stimulus radius of ``point`` (at least the nearest one)."""
        tree = cKDTree(self._points)
        inside = np.asarray(tree.query_ball_point(point, self._radius), dtype=np.int64)
        nearest = np.asarray([tree.query(point)[1]], dtype=np.int64)
        return np.union1d(inside, nearest)

    def _pace(self) -> None:
        period = float(self._params["period"])
        if period > 0 and self._t >= self._next_pace:
            self._u[self._pacing_site] = U_EXCITED
            self._next_pace = self._t + period


def knn_laplacian(points: npt.NDArray[np.float64], k: int) -> sp.csr_matrix:
    """Symmetric graph Laplacian (negative semi-definite) of the ``k`` nearest neighbours, in 1/length^2."""
    distances, neighbours = cKDTree(points).query(points, k=k + 1)
    distances, neighbours = distances[:, 1:], neighbours[:, 1:]  # drop each point itself
    h2 = float(np.mean(distances) ** 2)
    n = len(points)
    rows = np.repeat(np.arange(n), k)
    adjacency = sp.csr_matrix((np.ones(n * k), (rows, neighbours.reshape(-1))), shape=(n, n))
    adjacency = ((adjacency + adjacency.T) > 0).astype(np.float64)  # neighbour either way round
    degree = np.asarray(adjacency.sum(axis=1)).reshape(-1)
    # weight 6 / (m h^2) for m neighbours spread evenly at distance h gives sum(w dx^2) / 2 = 1 per
    # axis, as the finite-difference Laplacian does, so D is a diffusivity to first order
    scale = 6.0 / (h2 * float(degree.mean()))
    laplacian: sp.csr_matrix = ((adjacency - sp.diags(degree)) * scale).tocsr()
    return laplacian
