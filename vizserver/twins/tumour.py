"""Glioma growth and therapy: proliferation-invasion (Fisher-KPP) on a brain tissue label volume.

    dc/dt = div(D(x) grad c) + rho c (1 - c) - k_chemo c        (c: cell density / carrying capacity)

``D`` is ``D_white`` in white matter, ``D_grey`` in grey matter and zero in CSF and background, so
tumour cells never enter them (no flux across tissue boundaries). Finite volumes on the voxel
grid: the flux between two face neighbours uses the harmonic mean of their diffusivities (zero
when either is zero), which is the no-flux condition at every tissue boundary. Time stepping is
explicit (forward Euler) with ``dt <= STABILITY * min(h)^2 / (6 D_max)``, sub-stepped inside
:meth:`TumourTwin.step`; time is in days, lengths in mm.

Radiotherapy follows the linear-quadratic model: a fraction of ``d`` Gy leaves the surviving
fraction ``S = exp(-alpha d - beta d^2)`` with ``beta = alpha / (alpha/beta)``, applied to ``c``
at once. A course of ``fractions`` fractions starts on ``rt_start_day``, ``fractions_per_week``
a week on consecutive days (Monday to Friday for 5). Chemotherapy, when on, adds ``-k_chemo c``.

Default values follow the literature: Swanson, Alvord & Murray, Cell Prolif 33:317 (2000) for
``D_white = 5 D_grey`` and a high-grade ``rho``; Swanson et al., Br J Cancer 98:113 (2008) and
Harpold, Alvord & Swanson, J Neuropathol Exp Neurol 66:1 (2007) for the ranges of D and rho
(front speed ``2 sqrt(D rho)``); Rockne et al., Phys Med Biol 55:3271 (2010) for the LQ model in
the PI model (alpha/beta = 10 Gy, alpha about 0.03 /Gy, 2 Gy x 30 fractions, 5 a week).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.ndimage import gaussian_filter, map_coordinates

from vizserver.errors import InvalidGeometryError
from vizserver.geometry.isosurface import iso_surface
from vizserver.model import Mesh, Volume
from vizserver.twins.base import Action, Parameter, ParameterError, ParamValue, Schema, Twin, TwinBlowUpError
from vizserver.twins.brain import DEFAULT_SPACING_MM, GREY, WHITE, brain_labels, tissue_surface

STABILITY = 0.9
"""Fraction of the explicit stability limit ``h^2 / (6 D_max)`` used as the internal time step."""

SEED_SIGMA_MM = 4.0
"""Width (standard deviation) of the Gaussian density a "seed tumour" action places."""

SEED_PEAK = 0.8
"""Peak density of a seeded tumour."""

DOSE_RADIUS_MM = 30.0
"""Radius of the sphere a "apply dose" action at a point irradiates (the whole brain without a point)."""

DETECTABLE_DENSITY = 0.2
"""Default threshold of the tumour iso-surface (about where a tumour shows on T2/FLAIR MRI)."""

TUMOUR_VIEW_DEPTH_MM = 40.0
"""How far under each surface vertex, along the inward normal, the ``tumour`` output looks for detectable tumour."""

NORMAL_SMOOTHING_VOXELS = 1.5
"""Gaussian width (voxels) of the tissue mask whose gradient gives the inward normal at a bound vertex."""

DEFAULT_SEED_MM = (30.0, 25.0, 10.0)
"""Where :meth:`TumourTwin.reset` seeds the tumour in the procedural brain: right frontal white matter."""

SCHEMA = Schema(
    parameters=(
        Parameter("D_white", "float", 0.65, "mm^2/day", 1e-4, 10.0, description="Cell diffusivity in white matter"),
        Parameter("D_grey", "float", 0.13, "mm^2/day", 1e-4, 10.0, description="Cell diffusivity in grey matter"),
        Parameter("rho", "float", 0.05, "1/day", 1e-4, 2.0, description="Net proliferation rate"),
        Parameter("alpha", "float", 0.035, "1/Gy", 0.0, 1.0, description="LQ linear radiosensitivity"),
        Parameter("alpha_beta", "float", 10.0, "Gy", 0.5, 30.0, description="LQ alpha/beta ratio"),
        Parameter("dose_per_fraction", "float", 2.0, "Gy", 0.0, 20.0, description="Radiotherapy dose per fraction"),
        Parameter("fractions", "int", 30, "", 0, 60, description="Fractions in the course (0: no radiotherapy)"),
        Parameter("fractions_per_week", "int", 5, "", 1, 7, description="Fractions a week, on consecutive days"),
        Parameter("rt_start_day", "float", 60.0, "day", 0.0, 3650.0, description="Day of the first fraction"),
        Parameter("chemo", "bool", False, description="Chemotherapy (kill term) on"),
        Parameter("chemo_rate", "float", 0.02, "1/day", 0.0, 2.0, description="Chemotherapy kill rate"),
    ),
    actions=(
        Action("seed tumour", "Place a small Gaussian tumour at the point"),
        Action("apply dose", "One radiotherapy fraction now: a sphere round the point, or the whole brain", False),
    ),
    # "tumour" first: a scene shows the first output, and the extent seen through the surface shows from day 0,
    # while the density on the surface itself stays near zero until the tumour reaches the cortex or a ventricle
    outputs=("tumour", "density"),
    units={"density": "", "tumour": "", "time": "day"},
    ranges={"density": (0.0, 1.0), "tumour": (0.0, 1.0)},
)


def fraction_day(index: int, start_day: float, per_week: int) -> float:
    """Day of fraction ``index`` (from 0): ``per_week`` consecutive days a week from ``start_day``."""
    week, day = divmod(index, per_week)
    return start_day + 7.0 * week + day


def survival_fraction(dose: float, alpha: float, alpha_beta: float) -> float:
    """Linear-quadratic surviving fraction ``exp(-alpha d - beta d^2)``, ``beta = alpha / (alpha/beta)``."""
    return float(np.exp(-alpha * dose - (alpha / alpha_beta) * dose * dose))


def _face_diffusivity(d: npt.NDArray[np.float64], axis: int) -> npt.NDArray[np.float64]:
    """Harmonic mean of face neighbours' diffusivities along ``axis`` (zero where either is zero)."""
    lo = np.take(d, np.arange(d.shape[axis] - 1), axis=axis)
    hi = np.take(d, np.arange(1, d.shape[axis]), axis=axis)
    total = lo + hi
    face: npt.NDArray[np.float64] = np.where(total > 0.0, 2.0 * lo * hi / np.where(total > 0.0, total, 1.0), 0.0)
    return face


@dataclass(frozen=True, slots=True)
class _Binding:
    """Where the outputs are read for a set of vertices, computed once per binding."""

    coords: npt.NDArray[np.float64]
    """(3, n) continuous voxel indices of the vertices: trilinear ``density``."""
    rays: npt.NDArray[np.intp]
    """(n, k) flat voxel indices along each vertex's inward normal, to :data:`TUMOUR_VIEW_DEPTH_MM` or where
    the ray leaves the tissue (the rest repeat its last voxel): ``tumour``."""


class TumourTwin(Twin):
    """Proliferation-invasion with radiotherapy and chemotherapy on a brain label volume.

    ``brain`` is a label volume with :data:`~vizserver.twins.brain.GREY` and
    :data:`~vizserver.twins.brain.WHITE` tissue (default: :func:`brain_labels` at 2 mm).
    Output fields live on :attr:`mesh`, the surface of the tissue (grey and white matter), or on
    the vertices given to :meth:`bind_outputs`: ``density`` at each vertex, and ``tumour``, 1 where
    detectable tumour (``c >= DETECTABLE_DENSITY``) lies within :data:`TUMOUR_VIEW_DEPTH_MM` under
    the vertex along the inward normal, else 0: the tumour's extent seen through the surface, since
    the fixed surface geometry cannot follow the tumour's own iso-surface.
    """

    schema = SCHEMA
    time_unit = "day"
    time_per_second = 10.0

    def __init__(
        self, brain: Volume | None = None, seed_point: tuple[float, float, float] | None = DEFAULT_SEED_MM
    ) -> None:
        self.brain = brain_labels(DEFAULT_SPACING_MM) if brain is None else brain
        labels = np.asarray(self.brain.values)
        self._white = labels == WHITE
        self._grey = labels == GREY
        self._tissue = self._white | self._grey
        self._tissue_f = self._tissue.astype(np.float64)
        if not self._tissue.any():
            raise InvalidGeometryError("tumour twin: the brain volume has no grey or white matter")
        self._spacing = np.asarray(self.brain.spacing, dtype=np.float64)
        self._origin = np.asarray(self.brain.origin, dtype=np.float64)
        self._seed_point = seed_point
        self._mesh: Mesh | None = None
        self._binding: _Binding | None = None
        self._params: dict[str, ParamValue] = SCHEMA.defaults()
        self._c = np.zeros(labels.shape, dtype=np.float64)
        self._t = 0.0
        self._given = 0
        self._faces: list[npt.NDArray[np.float64]] = []
        self.reset()

    # --- Twin interface ---------------------------------------------------------------------------

    def reset(self, params: Mapping[str, object] | None = None) -> None:
        self._params = {**SCHEMA.defaults(), **SCHEMA.validate(params or {})}
        self._update_diffusivity()
        self._c[...] = 0.0
        self._t = 0.0
        self._given = 0
        if self._seed_point is not None:
            self.seed(np.asarray(self._seed_point, dtype=np.float64))

    def set_params(self, partial: Mapping[str, object]) -> None:
        self._params.update(SCHEMA.validate(partial))
        self._update_diffusivity()

    @property
    def params(self) -> dict[str, ParamValue]:
        return dict(self._params)

    @property
    def time(self) -> float:
        return self._t

    @property
    def density(self) -> npt.NDArray[np.float64]:
        """The cell density on the voxel grid (a read-only view)."""
        view = self._c.view()
        view.flags.writeable = False
        return view

    def step(self, dt: float) -> None:
        if not (np.isfinite(dt) and dt >= 0.0):
            raise ParameterError(f"tumour twin: time step {dt!r} must be a finite number of days >= 0")
        end = self._t + dt
        while True:
            due = self._next_fraction_day()
            stop = min(end, due) if due is not None else end
            self._advance(stop - self._t)
            self._t = stop
            if due is None or due > end:
                break
            self._irradiate(None)
            self._given += 1
        self._t = end
        if not np.isfinite(self._c).all():
            raise TwinBlowUpError(f"tumour twin: density became non-finite by day {self._t:g}")

    def act(self, action: str, point: npt.NDArray[np.float64] | None = None) -> None:
        p = SCHEMA.action_point(action, point)
        if action == "seed tumour":
            assert p is not None  # the action needs a point
            self.seed(p)
        else:  # "apply dose"
            self._irradiate(p)

    def fields(self) -> dict[str, npt.NDArray[np.float32]]:
        """The outputs at the bound vertices (:attr:`mesh`'s until :meth:`bind_outputs` is called)."""
        if self._binding is None:
            self._binding = self._bind(self.mesh.vertices.astype(np.float64))
        binding = self._binding
        detectable = (self._c >= DETECTABLE_DENSITY).ravel()  # a bool grid stays in cache for the gather
        seen = np.any(detectable[binding.rays], axis=1)
        return {
            "tumour": np.asarray(seen, dtype=np.float32),
            "density": self._sample(binding.coords).astype(np.float32),
        }

    def probe(self, point: npt.NDArray[np.float64]) -> dict[str, float]:
        """The density at ``point`` itself (interpolated over tissue voxels; the domain is the volume)."""
        coords = self._voxel_coords(np.asarray(point, dtype=np.float64).reshape(1, 3))
        return {"density": float(self._sample(coords)[0])}

    # --- outputs ---------------------------------------------------------------------------------

    def field_points(self) -> npt.NDArray[np.float64]:
        return self.mesh.vertices.astype(np.float64)

    def bind_outputs(self, targets: npt.ArrayLike) -> None:
        """Outputs are read from the volume at ``targets`` themselves (the volume is the domain)."""
        self._binding = self._bind(np.asarray(targets, dtype=np.float64).reshape(-1, 3))

    def outputs(self) -> dict[str, npt.NDArray[np.float32]]:
        return self.fields()

    @property
    def mesh(self) -> Mesh:
        """The output mesh: the surface of the brain tissue (pial surface and ventricle walls)."""
        if self._mesh is None:
            self._mesh = tissue_surface(self.brain)
        return self._mesh

    def _bind(self, points: npt.NDArray[np.float64]) -> _Binding:
        inward = self._inward_normals(points)
        step = float(self._spacing.min())
        depths = step * np.arange(int(np.ceil(TUMOUR_VIEW_DEPTH_MM / step)) + 1)
        along = points[:, None, :] + depths[None, :, None] * inward[:, None, :]  # (n, k, 3)
        index = np.rint(self._voxel_coords(along.reshape(-1, 3)))
        shape = np.asarray(self._c.shape)
        index = np.clip(index, 0, (shape - 1)[:, None]).astype(np.intp)  # outside: edge voxels, background
        rays = np.ravel_multi_index(tuple(index), self._c.shape).reshape(len(points), len(depths))
        # a ray sees the tissue under its vertex only: it ends where it first leaves the tissue (a ventricle,
        # a sulcus, the outside), so a wall never shows a tumour across the CSF behind it
        inside = self._tissue.ravel()[rays]
        inside[:, 0] = True  # the vertex itself lies on the boundary, in either voxel
        inside = np.logical_and.accumulate(inside, axis=1)
        last = np.minimum(np.arange(len(depths)), inside.sum(axis=1, keepdims=True) - 1)
        return _Binding(self._voxel_coords(points), np.take_along_axis(rays, last, axis=1))

    def _inward_normals(self, points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Unit vectors (n, 3) into the tissue: the gradient of the smoothed tissue mask (zero far from tissue)."""
        smooth = gaussian_filter(self._tissue_f, NORMAL_SMOOTHING_VOXELS)
        coords = self._voxel_coords(points)
        grad = np.stack([map_coordinates(g, coords, order=1, mode="nearest") for g in np.gradient(smooth)], axis=1)
        world = (grad / self._spacing) @ self.brain.direction.T  # index-space gradient to world axes
        length = np.linalg.norm(world, axis=1, keepdims=True)
        normals: npt.NDArray[np.float64] = world / np.maximum(length, 1e-12)
        return normals

    def tumour_surface(self, threshold: float = DETECTABLE_DENSITY) -> Mesh:
        """The iso-surface ``c = threshold`` around the tumour; empty (no vertices) when none reaches it."""
        if not 0.0 < threshold < 1.0:
            raise ParameterError(f"tumour surface: threshold {threshold} is outside (0, 1)")
        if float(self._c.max()) <= threshold:
            return Mesh(np.zeros((0, 3), dtype=np.float32), np.zeros((0, 3), dtype=np.uint32))
        volume = Volume(self._c, spacing=self.brain.spacing, origin=self.brain.origin, direction=self.brain.direction)
        return iso_surface(volume, "tumour", threshold)[1]

    def burden(self) -> float:
        """Total tumour burden: the integral of the density over the brain, in mm^3 of packed cells."""
        return float(self._c.sum() * np.prod(self._spacing))

    # --- actions -----------------------------------------------------------------------------------

    def seed(self, point: npt.NDArray[np.float64]) -> None:
        """Add a Gaussian tumour at ``point`` (mm); the density becomes the larger of old and new."""
        r2 = self._distance2(point)
        blob = SEED_PEAK * np.exp(-r2 / (2.0 * SEED_SIGMA_MM**2))
        np.maximum(self._c, np.where(self._tissue, blob, 0.0), out=self._c)

    def _irradiate(self, point: npt.NDArray[np.float64] | None) -> None:
        p = self._params
        s = survival_fraction(float(p["dose_per_fraction"]), float(p["alpha"]), float(p["alpha_beta"]))
        if point is None:
            self._c *= s
        else:
            self._c[self._distance2(point) <= DOSE_RADIUS_MM**2] *= s

    # --- numerics ------------------------------------------------------------------------------------

    def _update_diffusivity(self) -> None:
        d_white, d_grey = float(self._params["D_white"]), float(self._params["D_grey"])
        d = np.where(self._white, d_white, 0.0) + np.where(self._grey, d_grey, 0.0)
        self._faces = [_face_diffusivity(d, axis) / self._spacing[axis] ** 2 for axis in range(3)]
        self._dt_max = STABILITY * float(self._spacing.min()) ** 2 / (6.0 * max(d_white, d_grey))

    def _next_fraction_day(self) -> float | None:
        p = self._params
        if self._given >= int(p["fractions"]) or float(p["dose_per_fraction"]) == 0.0:
            return None
        day = fraction_day(self._given, float(p["rt_start_day"]), int(p["fractions_per_week"]))
        return max(day, self._t)

    def _advance(self, dt: float) -> None:
        if dt <= 0.0:
            return
        n = int(np.ceil(dt / self._dt_max))
        h = dt / n
        rho = float(self._params["rho"])
        kill = float(self._params["chemo_rate"]) if self._params["chemo"] else 0.0
        c = self._c
        rate = np.empty_like(c)
        for _ in range(n):
            rate[...] = c * (rho * (1.0 - c) - kill)
            for axis, face in enumerate(self._faces):
                flux = face * np.diff(c, axis=axis)
                lo = [slice(None)] * 3
                hi = [slice(None)] * 3
                lo[axis] = slice(None, -1)
                hi[axis] = slice(1, None)
                rate[tuple(lo)] += flux
                rate[tuple(hi)] -= flux
            c += h * rate

    def _distance2(self, point: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Squared distance (mm^2) from every voxel centre to ``point``."""
        local = np.linalg.solve(self.brain.direction, point.reshape(3) - self._origin)
        axes = [(self._spacing[i] * np.arange(self._c.shape[i]) - local[i]) ** 2 for i in range(3)]
        r2: npt.NDArray[np.float64] = axes[0][:, None, None] + axes[1][None, :, None] + axes[2][None, None, :]
        return r2

    def _voxel_coords(self, points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Continuous voxel indices (3, n) of world ``points`` (n, 3)."""
        local = (points - self._origin) @ self.brain.direction  # direction columns are the axes
        coords: npt.NDArray[np.float64] = (local / self._spacing).T
        return coords

    def _sample(self, coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Trilinear density over tissue voxels only (outside voxels do not dilute it); 0 away from tissue."""
        weight = map_coordinates(self._tissue_f, coords, order=1, mode="constant", cval=0.0)
        value = map_coordinates(self._c, coords, order=1, mode="constant", cval=0.0)
        out: npt.NDArray[np.float64] = np.where(weight > 1e-9, value / np.maximum(weight, 1e-9), 0.0)
        return out
