"""Cardiac twin: conduction velocity, activation order, scar, parameter validation, blow-up detection."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv
from scipy.stats import spearmanr

from vizserver.anatomy.lv import lv_lattice, lv_surface, lv_tetra
from vizserver.errors import VizServerError
from vizserver.model import UnstructuredMesh
from vizserver.twins.base import ParameterError, TwinBlowUpError
from vizserver.twins.cardiac import LV_DT_MS, REALTIME_SIM_RESOLUTION, CardiacTwin, build_lv_twin
from vizserver.twins.interpolate import p1_sampling_matrix
from vizserver.vtk_bridge import grid_to_unstructured

LENGTH, WIDTH, HEIGHT = 20.0, 2.0, 1.0


def slab(h: float, width: float = WIDTH) -> UnstructuredMesh:
    dims = (round(LENGTH / h) + 1, round(width / h) + 1, round(HEIGHT / h) + 1)
    return grid_to_unstructured(pv.ImageData(dimensions=dims, spacing=(h, h, h)).triangulate())


def conduction_velocity(h: float, dt: float, diffusion: str = "auto", kernel: str = "numba") -> float:
    mesh = slab(h)
    twin = CardiacTwin(mesh, pace_points=[[0.0, WIDTH / 2, HEIGHT / 2]], dt_ms=dt,
                       diffusion=diffusion, kernel=kernel)  # type: ignore[arg-type]
    twin.step(60.0)
    at, x = twin.fields()["activation_time"], mesh.points[:, 0]
    early, late = at[np.isclose(x, 5.0)], at[np.isclose(x, 15.0)]
    assert np.all(np.isfinite(early)) and np.all(np.isfinite(late))
    return 10.0 / float(np.mean(late) - np.mean(early))


def test_conduction_velocity_matches_refined_reference() -> None:
    reference = conduction_velocity(0.25, 0.025)
    assert 0.3 < reference < 0.5  # mm/ms; the cubic front speed sqrt(k D / 2T)(1 - 2a) is 0.39
    for scheme, kernel, dt in (("explicit", "numba", 0.1), ("explicit", "numpy", 0.1), ("implicit", "numba", 0.1),
                               ("explicit", "numba", LV_DT_MS)):
        cv = conduction_velocity(0.5, dt, scheme, kernel)
        assert abs(cv - reference) / reference < 0.10, (scheme, kernel, dt, cv, reference)


def test_activation_time_grows_with_distance_from_pace_site_on_the_lv() -> None:
    mesh = lv_tetra(24)
    twin = CardiacTwin(mesh, dt_ms=0.1)  # default pacing site: the apex (lowest point)
    twin.step(150.0)
    at = twin.fields()["activation_time"]
    assert np.all(np.isfinite(at))
    apex = mesh.points[np.argmin(mesh.points[:, 2])]
    distance = np.linalg.norm(mesh.points - apex, axis=1)
    rho = spearmanr(distance, at).statistic
    assert rho > 0.9
    assert twin.probe(apex)["activation_time"] < 3.0


def test_scar_blocks_or_slows_the_wave() -> None:
    mesh = slab(0.5, width=4.0)
    x = mesh.points[:, 0]
    behind = x >= 16.0

    def activation(mode: str | None) -> np.ndarray:
        twin = CardiacTwin(mesh, params={"scar_mode": mode or "none"}, pace_points=[[0.0, 2.0, 0.5]], dt_ms=0.1)
        if mode:
            twin.act("place scar", np.array([10.0, 2.0, 0.5]))  # radius 3 mm: a wall through the slab
        twin.step(100.0)
        return twin.fields()["activation_time"]

    healthy, blocked, slowed = activation(None), activation("block"), activation("slow")
    assert np.all(np.isfinite(healthy[behind]))
    assert np.all(np.isnan(blocked[behind]))
    assert np.all(np.isfinite(slowed[behind]))
    assert np.min(slowed[behind] - healthy[behind]) > 2.0


def test_vm_in_millivolts_and_pacing_here_excites() -> None:
    mesh = slab(0.5)
    twin = CardiacTwin(mesh, pace_points=[[0.0, 1.0, 0.5]], dt_ms=0.1)
    assert np.allclose(twin.fields()["vm"], -80.0)
    twin.act("pace here", np.array([20.0, 1.0, 0.5]))
    twin.step(30.0)
    assert twin.probe(np.array([20.0, 1.0, 0.5]))["vm"] > 0.0
    assert twin.probe(np.array([0.0, 1.0, 0.5]))["vm"] > 0.0
    assert twin.time == pytest.approx(30.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"bogus": 1.0}, "unknown parameter(s) bogus"),
        ({"d_par": "fast"}, "d_par: expected a finite number"),
        ({"d_par": 1e6}, "d_par: 1000000.0 mm^2/ms is outside"),
        ({"scar_mode": "maybe"}, "scar_mode: 'maybe' is not one of"),
        ({"a": float("nan")}, "a: expected a finite number"),
    ],
)
def test_bad_parameters_are_refused_with_one_line(change: dict[str, object], message: str) -> None:
    twin = CardiacTwin(slab(1.0))
    before = dict(twin.params)
    with pytest.raises(ParameterError) as info:
        twin.set_params(change)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert twin.params == before
    with pytest.raises(ParameterError):
        twin.reset(change)


def test_parameter_change_rebuilds_diffusion() -> None:
    mesh = slab(0.5)
    slow = CardiacTwin(mesh, params={"d_par": 0.25}, pace_points=[[0.0, 1.0, 0.5]])
    fast = CardiacTwin(mesh, params={"d_par": 0.25}, pace_points=[[0.0, 1.0, 0.5]])
    fast.set_params({"d_par": 1.0})
    slow.step(40.0)
    fast.step(40.0)
    assert np.sum(np.isfinite(fast.fields()["activation_time"])) > np.sum(np.isfinite(slow.fields()["activation_time"]))


def test_blow_up_raises_a_clear_error() -> None:
    twin = CardiacTwin(slab(1.0), dt_ms=200.0)
    with pytest.raises(TwinBlowUpError, match="non-finite") as info:
        for _ in range(20):
            twin.step(200.0)
    assert isinstance(info.value, VizServerError)
    twin.reset()
    assert np.all(np.isfinite(twin.fields()["vm"]))


def _run_both_kernels(mesh: UnstructuredMesh, dt_ms: float, threads: int) -> tuple[CardiacTwin, CardiacTwin]:
    """The same scenario (two beats, an extra pace site, a blocking scar) on the compiled and numpy kernels."""
    twins = []
    for kernel in ("numba", "numpy"):
        twin = CardiacTwin(mesh, params={"cycle_length": 100.0}, dt_ms=dt_ms, diffusion="explicit",
                           kernel=kernel, threads=threads)  # type: ignore[arg-type]
        twin.step(20.0)
        twin.act("pace here", mesh.points[np.argmax(mesh.points[:, 2])].astype(np.float64))
        twin.act("place scar", mesh.points[len(mesh.points) // 2].astype(np.float64))
        twin.step(137.3)  # not a whole number of steps: the remainder carries over
        twin.step(2.7)
        twins.append(twin)
    return twins[0], twins[1]


@pytest.mark.parametrize(("mesh_name", "threads"), [("lattice", 1), ("lattice", 2), ("tetra", 1)])
def test_compiled_kernel_matches_the_numpy_reference(mesh_name: str, threads: int) -> None:
    # lv_tetra(24): rows longer than the ELL width at the apex and two diffusion sub-steps per step
    mesh = lv_lattice(24) if mesh_name == "lattice" else lv_tetra(24)
    fast, reference = _run_both_kernels(mesh, 0.1, threads)
    assert fast.diffusion_substeps == reference.diffusion_substeps >= 1
    if mesh_name == "tetra":
        assert fast.diffusion_substeps > 1 and len(fast._compiled.overflow_rows) > 0
    assert fast.time == reference.time == pytest.approx(160.0)
    np.testing.assert_allclose(fast.u, reference.u, atol=1e-9)
    np.testing.assert_allclose(fast.v, reference.v, atol=1e-9)
    a, b = fast.fields()["activation_time"], reference.fields()["activation_time"]
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    assert np.sum(np.isfinite(a)) > 0.5 * len(a)  # the waves went somewhere
    np.testing.assert_allclose(a[np.isfinite(a)], b[np.isfinite(b)], atol=1e-5)
    assert np.all(fast.u[fast.scar] == 0.0)


def test_lv_lattice_twin_activates_with_distance_and_matches_a_refined_run() -> None:
    """The default LV twin's numerics (lattice, one sub-step of LV_DT_MS) against a 2x finer lattice at dt / 4."""
    apex = np.array([0.0, 0.0, -20.0])

    def activation(resolution: int, dt_ms: float) -> tuple[UnstructuredMesh, np.ndarray]:
        mesh = lv_lattice(resolution)
        twin = CardiacTwin(mesh, pace_points=[apex], dt_ms=dt_ms)
        twin.step(150.0)
        return mesh, twin.fields()["activation_time"].astype(np.float64)

    coarse_mesh, coarse = activation(40, LV_DT_MS)
    fine_mesh, fine = activation(80, LV_DT_MS / 4)
    assert np.all(np.isfinite(coarse)) and np.all(np.isfinite(fine))
    distance = np.linalg.norm(coarse_mesh.points - apex, axis=1)
    assert spearmanr(distance, coarse).statistic > 0.9
    fine_at_coarse = p1_sampling_matrix(fine_mesh.points, fine_mesh.blocks[0].connectivity, coarse_mesh.points) @ fine
    # mean and total activation time within 10 % (measured: ~1 %)
    assert abs(np.mean(coarse) / np.mean(fine_at_coarse) - 1.0) < 0.10
    assert abs(np.max(coarse) / np.max(fine) - 1.0) < 0.10


def test_build_lv_twin_runs_explicit_on_the_lattice_and_outputs_on_the_scene_surface() -> None:
    twin = build_lv_twin(resolution=24)
    assert twin.kernel == "numba" and twin.diffusion_substeps == 1 and twin.dt_ms == LV_DT_MS
    assert len(twin.points) == lv_lattice(REALTIME_SIM_RESOLUTION).n_points
    surface = lv_surface(24)
    assert twin.outputs()["vm"].shape == (surface.n_points,)
    twin.step(120.0)
    at = twin.outputs()["activation_time"]
    assert np.mean(np.isfinite(at)) > 0.95
    lowest = np.argmin(surface.vertices[:, 2])
    assert at[lowest] < np.nanmedian(at)  # paced at the apex
    twin.bind_outputs(surface.vertices[:10])
    assert twin.outputs()["vm"].shape == (10,)


@pytest.mark.parametrize(("options", "message"), [
    ({"resolution": 2}, "resolution must be a whole number in [4, 512], got 2"),
    ({"sim_resolution": "fine"}, "sim_resolution must be a whole number in [4, 512], got 'fine'"),
    ({"sim_resolution": 10_000}, "sim_resolution must be a whole number"),
])
def test_build_lv_twin_refuses_bad_resolutions_with_one_line(options: dict[str, object], message: str) -> None:
    with pytest.raises(ParameterError) as info:
        build_lv_twin(**options)  # type: ignore[arg-type]
    assert message in str(info.value) and "\n" not in str(info.value)
