"""Cardiac electrophysiology twin: Aliev-Panfilov monodomain on a tetrahedral mesh (docs/twins.md).

Model (Aliev & Panfilov 1996, Chaos Solitons Fractals 7:293-301), dimensionless u, v; time in ms
with ``T_SCALE_MS`` ms per model time unit; space in mm::

    du/dt = div(D grad u) + [ -k u (u - a)(u - 1) - u v + I_stim ] / T
    dv/dt = eps(u, v) [ -v - k u (u - a - 1) ] / T,   eps = eps0 + mu1 v / (u + mu2)

``D = d_perp I + (d_par - d_perp) f f^T`` in mm^2/ms per element (fibre ``f``), Vm = -80 + 100 u mV.

Numerics: first-order operator splitting per internal step ``dt_ms``: reaction by forward Euler,
then diffusion by P1 finite elements with lumped mass ``M`` and stiffness ``K``:

* explicit, sub-cycled so every sub-step satisfies ``dt_sub <= DIFFUSION_SAFETY * 2 / lambda_max``
  (``lambda_max`` of ``M^-1 K``, by Lanczos); each sub-step is one sparse product
  ``u <- (I - dt_sub M^-1 K) u``. Chosen ("auto") when it needs at most ``EXPLICIT_MAX_SUBSTEPS``.
  The "numba" kernel (``kernels.py``) runs reaction, stimulus and these products fused and in
  parallel; the "numpy" kernel is the vectorised reference it is tested against.
* otherwise implicit (backward Euler) ``(M + dt K) u_new = M u``, solved by Jacobi-preconditioned
  conjugate gradients warm-started from ``u`` (relative tolerance ``CG_RTOL``), with numpy/scipy
  whatever the kernel. The preconditioner is Jacobi except on the "stiff" points
  (``(M + dt K)_ii / m_i > STIFF_THRESHOLD``: tiny elements, as at the ``lv_tetra`` apex where a grid
  ring collapses), whose block is solved exactly by a sparse LU.

Internal steps are always exactly ``dt_ms`` (the operators are built for it); ``step(dt)`` runs the
whole steps that fit and carries the remainder to the next call.

:func:`build_lv_twin` is the twin of the default LV scene: simulated on ``lv_lattice`` (no apex
collapse, so explicit diffusion with one sub-step), shown on any vertices by P1 interpolation.
:func:`build_mesh_twin` is the twin on the tetrahedra of a mesh file (e.g. the four-chamber heart).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from scipy.spatial import cKDTree

from vizserver.anatomy.lv import TETRA_RESOLUTION, lv_lattice, lv_surface
from vizserver.errors import InputError, InvalidGeometryError
from vizserver.model import CellBlock, UnstructuredMesh
from vizserver.twins import kernels
from vizserver.twins.base import Action, Parameter, ParameterError, ParamValue, Schema, Twin, TwinBlowUpError
from vizserver.twins.fem import TetGeometry, explicit_step_limit, lumped_mass, stiffness, tet_geometry, unit_fibres
from vizserver.twins.interpolate import p1_sampling_matrix

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

T_SCALE_MS = 12.9
"""Milliseconds per Aliev-Panfilov time unit."""
MU1 = 0.2
MU2 = 0.3
V_REST_MV = -80.0
V_SPAN_MV = 100.0
ACTIVATION_THRESHOLD = 0.5
"""u crossing upwards here is an activation (Vm = -30 mV)."""
DEFAULT_DT_MS = 0.1
PACE_RADIUS_MM = 3.0
"""Smaller pacing sites at the LV apex fall below the critical mass with the default diffusivities."""
SCAR_RADIUS_MM = 3.0
SLOW_SCAR_FACTOR = 0.1
DIFFUSION_SAFETY = 0.9
EXPLICIT_MAX_SUBSTEPS = 16
"""Beyond this, "auto" diffusion is implicit (a Jacobi-CG solve takes more products than this)."""
CG_RTOL = 1e-6
CG_MAX_ITERATIONS = 500
STIFF_THRESHOLD = 100.0
REALTIME_SIM_RESOLUTION = 64
"""``lv_lattice`` resolution :func:`build_lv_twin` simulates by default: 0.83 mm, 8,033 points."""
MAX_LV_RESOLUTION = 512
"""Largest ``resolution`` / ``sim_resolution`` :func:`build_lv_twin` takes (a 512 lattice is ~4M points)."""
LV_DT_MS = 0.15
"""Its internal step: one diffusion sub-step at that spacing (limit 0.17 ms with the default
diffusivities); ~2x real time on one core of the development machine (docs/twins.md)."""
FIBRE_FIELDS = ("fibres", "fiber")
"""Names of the fibre-direction field, in the order looked for: vizserver's and openCARP's, PyAnsys Heart's."""
DiffusionScheme = Literal["auto", "explicit", "implicit"]
Kernel = Literal["numba", "numpy"]

SCHEMA = Schema(
    parameters=(
        Parameter("d_par", "float", 1.0, "mm^2/ms", 0.01, 10.0, description="Diffusivity along the fibres"),
        Parameter("d_perp", "float", 0.25, "mm^2/ms", 0.01, 10.0, description="Diffusivity across the fibres"),
        Parameter("a", "float", 0.15, "", 0.01, 0.3, description="Excitation threshold (lower: more excitable)"),
        Parameter("k", "float", 8.0, "", 1.0, 20.0, description="Upstroke and repolarisation rate"),
        Parameter("eps0", "float", 0.002, "", 0.0005, 0.05, description="Recovery rate (higher: shorter APD)"),
        Parameter("cycle_length", "float", 800.0, "ms", 100.0, 5000.0, description="Pacing cycle length"),
        Parameter("stim_amplitude", "float", 20.0, "", 0.0, 100.0, description="Stimulus current (model units)"),
        Parameter("stim_duration", "float", 5.0, "ms", 0.1, 20.0, description="Stimulus duration per beat"),
        Parameter("scar_mode", "choice", "block", choices=("none", "block", "slow"),
                  description="Placed scar: ignored, non-conducting, or conductivity x0.1"),
    ),
    actions=(
        Action("pace here", f"Add a pacing site (radius {PACE_RADIUS_MM} mm) at the nearest point"),
        Action("place scar", f"Mark tissue within {SCAR_RADIUS_MM} mm as scar"),
        Action("clear scar", "Remove every scar", needs_point=False),
    ),
    outputs=("vm", "activation_time"),
    units={"vm": "mV", "activation_time": "ms"},
    ranges={"vm": (V_REST_MV, V_REST_MV + V_SPAN_MV), "activation_time": (0.0, 200.0)},
)


class CardiacTwin(Twin):
    """Aliev-Panfilov monodomain on the tetrahedra of ``mesh`` (coordinates in mm)."""

    schema = SCHEMA
    time_unit = "ms"
    time_per_second = 1000.0

    def __init__(
        self,
        mesh: UnstructuredMesh,
        params: Mapping[str, object] | None = None,
        pace_points: npt.ArrayLike | None = None,
        dt_ms: float = DEFAULT_DT_MS,
        pace_radius_mm: float = PACE_RADIUS_MM,
        scar_radius_mm: float = SCAR_RADIUS_MM,
        diffusion: DiffusionScheme = "auto",
        kernel: Kernel = "numba",
        threads: int = 1,
    ) -> None:
        tets = [b.connectivity for b in mesh.blocks if b.kind == "tetra"]
        if not tets:
            raise InvalidGeometryError("cardiac twin needs a mesh with tetrahedra")
        if not (dt_ms > 0 and math.isfinite(dt_ms)):
            raise InvalidGeometryError(f"dt_ms must be a positive number, got {dt_ms}")
        self.points = np.asarray(mesh.points, dtype=np.float64)
        self.geometry: TetGeometry = tet_geometry(self.points, np.concatenate(tets))
        self.mass = lumped_mass(self.geometry)
        self.fibres = self._fibres_of(mesh)
        self.dt_ms = float(dt_ms)
        self.diffusion_scheme = diffusion
        if kernel not in ("numba", "numpy"):
            raise InvalidGeometryError(f"kernel must be 'numba' or 'numpy', got {kernel!r}")
        self.kernel: Kernel = kernel
        self.threads = max(1, int(threads))
        if kernel == "numba":
            kernels.compile_kernels(self.threads)  # here, not in the first frame (cached on disk after once)
        self.pace_radius_mm = float(pace_radius_mm)
        self.scar_radius_mm = float(scar_radius_mm)
        self._tree = cKDTree(self.points)
        self._initial_pace = np.zeros(len(self.points), dtype=bool)
        if pace_points is None:
            pace_points = self.points[np.argmin(self.points[:, 2])][None, :]
        for p in np.asarray(pace_points, dtype=np.float64).reshape(-1, 3):
            self._initial_pace |= self._ball(p, self.pace_radius_mm)
        self.reset(params)

    # -- Twin interface ---------------------------------------------------------------------------

    def reset(self, params: Mapping[str, object] | None = None) -> None:
        values = self.schema.defaults()
        values.update(self.schema.validate(params or {}))
        self.params: dict[str, ParamValue] = values
        n = len(self.points)
        self.u = np.zeros(n)
        self.v = np.zeros(n)
        self._t = 0.0
        self._pending = 0.0
        self._beat_start = 0.0
        self._activation = np.full(n, np.nan)
        self.pace_mask = self._initial_pace.copy()
        self.scar = np.zeros(n, dtype=bool)
        self._rebuild_diffusion()

    def set_params(self, partial: Mapping[str, object]) -> None:
        changed = self.schema.validate(partial)
        self.params.update(changed)
        if {"d_par", "d_perp", "scar_mode"} & set(changed):
            self._rebuild_diffusion()

    def act(self, action: str, point: npt.NDArray[np.float64] | None = None) -> None:
        p = self.schema.action_point(action, point)
        if action == "clear scar":
            self.scar[:] = False
            self._rebuild_diffusion()
            return
        assert p is not None  # "pace here" and "place scar" need a point
        if action == "pace here":
            self.pace_mask |= self._ball(p, self.pace_radius_mm)
        else:
            self.scar |= self._ball(p, self.scar_radius_mm)
            self._rebuild_diffusion()

    def step(self, dt: float) -> None:
        if not dt > 0:
            return
        self._pending += dt
        n = math.floor(self._pending / self.dt_ms + 1e-6)
        self._pending = max(0.0, self._pending - n * self.dt_ms)
        if n == 0:
            return
        with np.errstate(over="ignore", invalid="ignore"):
            if self.kernel == "numba" and not self._implicit:
                self._advance_compiled(n)
            else:
                for _ in range(n):
                    self._one_step(self.dt_ms)
        if not np.isfinite(self.u.sum() + self.v.sum()):
            raise TwinBlowUpError(f"cardiac twin blew up (non-finite state) at t = {self._t:.3f} ms; reset needed")

    def fields(self) -> dict[str, npt.NDArray[np.float32]]:
        return {
            "vm": (V_REST_MV + V_SPAN_MV * self.u).astype(np.float32),
            "activation_time": self._activation.astype(np.float32),
        }

    def probe(self, point: npt.NDArray[np.float64]) -> dict[str, float]:
        _, i = self._tree.query(np.asarray(point, dtype=np.float64).reshape(3))
        return {"vm": float(V_REST_MV + V_SPAN_MV * self.u[i]), "activation_time": float(self._activation[i])}

    @property
    def time(self) -> float:
        return self._t

    def field_points(self) -> FloatArray:
        return self.points

    def sampling_matrix(self, targets: npt.NDArray[np.float64]) -> sp.csr_matrix:
        """P1 interpolation from the simulated tetrahedra (``interpolate.py``), not the nearest point."""
        return p1_sampling_matrix(self.points, self.geometry.tets, targets)

    # -- numerics ---------------------------------------------------------------------------------

    @property
    def diffusion_substeps(self) -> int:
        """Explicit sub-steps per internal step; 0 when diffusion is implicit."""
        return 0 if self._implicit else self._substeps

    def _diffuse(self, u: FloatArray) -> FloatArray:
        if not self._implicit:
            for _ in range(self._substeps):
                u = self._diffusion @ u
            return u
        out, _ = sla.cg(self._system, self.mass * u, x0=u, rtol=CG_RTOL, atol=0.0, maxiter=CG_MAX_ITERATIONS,
                        M=self._preconditioner)
        result: FloatArray = out
        return result

    def _advance_compiled(self, n: int) -> None:
        p = self.params
        constants = kernels.ModelConstants(
            k=float(p["k"]), a=float(p["a"]), eps0=float(p["eps0"]), mu1=MU1, mu2=MU2, t_scale_ms=T_SCALE_MS,
            cycle_length=float(p["cycle_length"]), stim_duration=float(p["stim_duration"]),
            stim_amplitude=float(p["stim_amplitude"]), threshold=ACTIVATION_THRESHOLD,
        )
        self._t, self._beat_start = kernels.advance(
            n, self.dt_ms, self._substeps, self._compiled, (self.u, self.v, self._activation),
            self.pace_mask.astype(np.float64), self._dead, constants, (self._t, self._beat_start), self._buffer,
            self.threads,
        )

    def _one_step(self, h: float) -> None:
        p = self.params
        cl = float(p["cycle_length"])
        if self._t >= self._beat_start + cl - 1e-9:
            self._beat_start += cl * math.floor((self._t - self._beat_start) / cl + 1e-9)
        u, v = self.u, self.v
        k, a = float(p["k"]), float(p["a"])
        eps = float(p["eps0"]) + MU1 * v / (u + MU2)
        du = -k * u * (u - a) * (u - 1.0) - u * v
        if self._t - self._beat_start < float(p["stim_duration"]):
            du[self.pace_mask] += float(p["stim_amplitude"])
        dv = eps * (-v - k * u * (u - a - 1.0))
        scale = h / T_SCALE_MS
        u_new = u + scale * du
        self.v = v + scale * dv
        u_new = self._diffuse(u_new)
        if self._dead.any():
            u_new[self._dead] = 0.0
            self.v[self._dead] = 0.0
        up = (u < ACTIVATION_THRESHOLD) & (u_new >= ACTIVATION_THRESHOLD)
        if up.any():
            frac = (ACTIVATION_THRESHOLD - u[up]) / (u_new[up] - u[up])
            self._activation[up] = self._t + h * frac - self._beat_start
        self.u = u_new
        self._t += h

    def _rebuild_diffusion(self) -> None:
        mode = self.params["scar_mode"]
        geo = self.geometry
        factor = np.ones(len(geo.tets))
        scar_cells = self.scar[geo.tets].any(axis=1)
        if mode == "block":
            factor[scar_cells] = 0.0
        elif mode == "slow":
            factor[scar_cells] = SLOW_SCAR_FACTOR
        self._dead = self.scar.copy() if mode == "block" else np.zeros(len(self.points), dtype=bool)
        d_par, d_perp = float(self.params["d_par"]), float(self.params["d_perp"])
        k = stiffness(geo, d_par * factor, d_perp * factor, self.fibres)
        limit = explicit_step_limit(k, self.mass)
        self._substeps = max(1, math.ceil(self.dt_ms / (DIFFUSION_SAFETY * limit)))
        scheme = self.diffusion_scheme
        self._implicit = scheme == "implicit" or (scheme == "auto" and self._substeps > EXPLICIT_MAX_SUBSTEPS)
        if self._implicit:
            system = (sp.diags(self.mass) + self.dt_ms * k).tocsr()
            self._system = system
            self._preconditioner = _block_jacobi(system, system.diagonal() / self.mass > STIFF_THRESHOLD)
        else:
            h = self.dt_ms / self._substeps
            self._diffusion = (sp.identity(len(self.points), format="csr") - sp.diags(h / self.mass) @ k).tocsr()
            if self.kernel == "numba":
                self._compiled = kernels.HybridEll.from_csr(self._diffusion)
                self._buffer = np.empty((2, len(self.points)))

    def _ball(self, centre: FloatArray, radius: float) -> BoolArray:
        mask = np.zeros(len(self.points), dtype=bool)
        mask[self._tree.query_ball_point(centre, radius)] = True
        _, nearest = self._tree.query(centre)
        mask[nearest] = True
        return mask

    def _fibres_of(self, mesh: UnstructuredMesh) -> FloatArray | None:
        """Per-element fibres: a cell field named as in ``FIBRE_FIELDS`` (rows of the tetra blocks), else such a
        point field averaged per element; ``None`` (isotropic) without either."""
        n_cells = len(self.geometry.tets)
        cell_name = next((name for name in FIBRE_FIELDS if name in mesh.cell_fields), None)
        if cell_name is not None:
            f = np.asarray(mesh.cell_fields[cell_name].values, dtype=np.float64).reshape(-1, 3)
            offsets = np.cumsum([0, *(len(b.connectivity) for b in mesh.blocks)])
            rows = [f[offsets[i]:offsets[i + 1]] for i, b in enumerate(mesh.blocks) if b.kind == "tetra"]
            return unit_fibres(np.concatenate(rows), n_cells)
        point_name = next((name for name in FIBRE_FIELDS if name in mesh.point_fields), None)
        if point_name is not None:
            f = np.asarray(mesh.point_fields[point_name].values, dtype=np.float64).reshape(-1, 3)
            return unit_fibres(f[self.geometry.tets].mean(axis=1), n_cells)
        return None


def build_lv_twin(
    resolution: int = TETRA_RESOLUTION,
    sim_resolution: int | None = None,
    params: Mapping[str, object] | None = None,
    **kw: Any,
) -> CardiacTwin:
    """The twin of the default LV scene: faster than real time on one core, leaving the other to the server.

    It simulates on ``lv_lattice(sim_resolution)`` (default ``REALTIME_SIM_RESOLUTION``: a 0.83 mm
    lattice of 8,033 points) with ``dt_ms = LV_DT_MS`` unless given. Its outputs start bound, by
    P1 interpolation, to the vertices of ``lv_surface(resolution)``: the surface the scene streams
    for ``lv_tetra(resolution)``; the runner rebinds them to the scene object's own vertices.
    ``params`` and ``kw`` go to :class:`CardiacTwin` (e.g. ``dt_ms``, ``kernel``, ``threads``).
    """
    for name, value in (("resolution", resolution), ("sim_resolution", sim_resolution)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not 4 <= value <= MAX_LV_RESOLUTION):
            raise ParameterError(f"cardiac twin: {name} must be a whole number in [4, {MAX_LV_RESOLUTION}], "
                                 f"got {value!r}")
    kw.setdefault("dt_ms", LV_DT_MS)
    twin = CardiacTwin(lv_lattice(sim_resolution or REALTIME_SIM_RESOLUTION), params, **kw)
    twin.bind_outputs(lv_surface(resolution).vertices)
    return twin


def build_mesh_twin(
    mesh: str | os.PathLike[str],
    pace_points: npt.ArrayLike | None = None,
    params: Mapping[str, object] | None = None,
    **kw: Any,
) -> CardiacTwin:
    """The twin on the tetrahedra of the mesh file ``mesh`` (any format ``vizserver.io.read`` takes), in mm.

    Only tetrahedra are simulated: other cells (a VTU's boundary triangles) and the points only they use
    are left out. Fibres come from a ``fibres`` or ``fiber`` field (:data:`FIBRE_FIELDS`).
    ``pace_points`` is ``[x, y, z]`` or a list of them in the mesh's coordinates (default: its lowest
    point). ``dt_ms`` defaults to ``LV_DT_MS`` (diffusion sub-cycles to whatever the mesh needs);
    ``params`` and ``kw`` go to :class:`CardiacTwin`, which picks explicit or implicit diffusion.
    """
    if not isinstance(mesh, str | os.PathLike):
        raise ParameterError(f"cardiac twin: mesh must be a file path, got {mesh!r}")
    from vizserver.io import read
    from vizserver.io.isolation import children_allowed  # the worker is daemonic

    path = Path(mesh)
    try:
        with children_allowed():
            scene = read(path)
    except InputError as error:
        raise type(error)(f"cardiac twin: {error}") from error
    volumes = [o.data for o in scene.objects if isinstance(o.data, UnstructuredMesh)]
    volume = next((v for v in volumes if any(b.kind == "tetra" for b in v.blocks)), None)
    if volume is None:
        raise InvalidGeometryError(f"cardiac twin: {path.name} has no tetrahedra")
    kw.setdefault("dt_ms", LV_DT_MS)
    return CardiacTwin(tetrahedra_of(volume), params, pace_points=_pace_points(pace_points), **kw)


def tetrahedra_of(mesh: UnstructuredMesh) -> UnstructuredMesh:
    """``mesh`` with its tetra blocks only and the points they use; fields follow their points and cells."""
    from vizserver.geometry.boundary import compact  # here: vizserver.geometry imports pyvista (~0.5 s)

    tetra = [i for i, b in enumerate(mesh.blocks) if b.kind == "tetra"]
    if not tetra:
        raise InvalidGeometryError("cardiac twin needs a mesh with tetrahedra")
    connectivity = np.concatenate([mesh.blocks[i].connectivity for i in tetra])
    used, local = compact(connectivity, mesh.n_points)
    offsets = np.cumsum([0, *(len(b) for b in mesh.blocks)])
    rows = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in tetra])
    return UnstructuredMesh(
        points=mesh.points[used],
        blocks=(CellBlock("tetra", local),),
        point_fields={name: f.with_values(f.values[used]) for name, f in mesh.point_fields.items()},
        cell_fields={name: f.with_values(f.values[rows]) for name, f in mesh.cell_fields.items()},
    )


def _pace_points(points: npt.ArrayLike | None) -> FloatArray | None:
    if points is None:
        return None
    try:
        array = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        array = np.empty((0, 0))
    if array.ndim not in (1, 2) or array.shape[-1] != 3 or array.size == 0 or not np.isfinite(array).all():
        raise ParameterError(f"cardiac twin: pace_points must be [x, y, z] or a list of them (mm), got {points!r}")
    return array.reshape(-1, 3)


def _block_jacobi(system: sp.csr_matrix, stiff: BoolArray) -> sla.LinearOperator:
    """Jacobi, but an exact (sparse LU) solve on the block of ``stiff`` points."""
    inverse_diagonal = 1.0 / system.diagonal()
    lu = sla.splu(system[stiff][:, stiff].tocsc()) if stiff.any() else None

    def apply(r: FloatArray) -> FloatArray:
        z: FloatArray = r * inverse_diagonal
        if lu is not None:
            z[stiff] = lu.solve(np.ascontiguousarray(r[stiff]))
        return z

    return sla.LinearOperator(system.shape, matvec=apply, dtype=np.float64)
