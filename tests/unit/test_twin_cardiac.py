"""Cardiac twin: conduction velocity, activation order, scar, parameter validation, blow-up detection."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv
from scipy.stats import spearmanr

from vizserver.anatomy.lv import lv_tetra
from vizserver.errors import VizServerError
from vizserver.model import UnstructuredMesh
from vizserver.twins.base import ParameterError, TwinBlowUpError
from vizserver.twins.cardiac import CardiacTwin
from vizserver.vtk_bridge import grid_to_unstructured

LENGTH, WIDTH, HEIGHT = 20.0, 2.0, 1.0


def slab(h: float, width: float = WIDTH) -> UnstructuredMesh:
    dims = (round(LENGTH / h) + 1, round(width / h) + 1, round(HEIGHT / h) + 1)
    return grid_to_unstructured(pv.ImageData(dimensions=dims, spacing=(h, h, h)).triangulate())


def conduction_velocity(h: float, dt: float, diffusion: str = "auto") -> float:
    mesh = slab(h)
    twin = CardiacTwin(mesh, pace_points=[[0.0, WIDTH / 2, HEIGHT / 2]], dt_ms=dt, diffusion=diffusion)  # type: ignore[arg-type]
    twin.step(60.0)
    at, x = twin.fields()["activation_time"], mesh.points[:, 0]
    early, late = at[np.isclose(x, 5.0)], at[np.isclose(x, 15.0)]
    assert np.all(np.isfinite(early)) and np.all(np.isfinite(late))
    return 10.0 / float(np.mean(late) - np.mean(early))


def test_conduction_velocity_matches_refined_reference() -> None:
    reference = conduction_velocity(0.25, 0.025)
    assert 0.3 < reference < 0.5  # mm/ms; the cubic front speed sqrt(k D / 2T)(1 - 2a) is 0.39
    for scheme in ("explicit", "implicit"):
        cv = conduction_velocity(0.5, 0.1, scheme)
        assert abs(cv - reference) / reference < 0.10, (scheme, cv, reference)


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
