"""The tumour twin: Fisher-KPP front speed, linear-quadratic radiotherapy, tissue, validation, blow-up, iso-surface."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from vizserver.errors import VizServerError
from vizserver.model import Volume
from vizserver.twins.base import ParameterError, TwinBlowUpError
from vizserver.twins.brain import CSF, GREY, WHITE, brain_labels
from vizserver.twins.tumour import TUMOUR_VIEW_DEPTH_MM, TumourTwin, fraction_day, survival_fraction


def _box(shape: tuple[int, int, int], label: int, spacing: float) -> Volume:
    return Volume(np.full(shape, label, dtype=np.uint8), spacing=(spacing,) * 3, kind="labels", unit="mm")


def _front(c: npt.NDArray[np.float64], spacing: float) -> float:
    """Position (mm) of the last c = 0.5 crossing along x."""
    line = c[:, 0, 0]
    i = int(np.flatnonzero(line >= 0.5)[-1])
    return float(spacing * (i + (line[i] - 0.5) / (line[i] - line[i + 1])))


def test_front_speed_is_2_sqrt_d_rho_in_homogeneous_white_matter() -> None:
    h, d, rho = 0.5, 0.65, 0.1
    twin = TumourTwin(_box((360, 2, 2), WHITE, h), seed_point=None)
    twin.reset({"D_white": d, "rho": rho, "fractions": 0})
    twin.act("seed tumour", np.array([0.0, 0.0, 0.0]))
    twin.step(150.0)  # past the initial transient (rho t = 15)
    x0, t0 = _front(twin.density, h), twin.time
    twin.step(150.0)
    speed = (_front(twin.density, h) - x0) / (twin.time - t0)
    expected = 2.0 * np.sqrt(d * rho)
    assert abs(speed - expected) / expected < 0.10, (speed, expected)


def test_a_fraction_scales_the_burden_by_the_lq_survival_fraction() -> None:
    twin = TumourTwin(_box((20, 20, 20), WHITE, 2.0), seed_point=(20.0, 20.0, 20.0))
    twin.reset({"alpha": 0.05, "alpha_beta": 8.0, "dose_per_fraction": 3.0, "fractions": 0})
    twin.step(10.0)
    before = twin.density.copy()
    twin.act("apply dose")
    s = survival_fraction(3.0, 0.05, 8.0)
    assert s == pytest.approx(np.exp(-0.05 * 3.0 - (0.05 / 8.0) * 9.0))
    np.testing.assert_allclose(twin.density, before * s, rtol=1e-12)
    assert twin.burden() == pytest.approx(float(before.sum()) * 8.0 * s, rel=1e-12)
    # at a point: only the sphere round it is irradiated
    after_whole = twin.density.copy()
    twin.act("apply dose", np.array([0.0, 0.0, 0.0]))
    changed = twin.density != after_whole
    assert changed[0, 0, 0] and not changed[-1, -1, -1]


def test_a_course_of_radiotherapy_shrinks_the_tumour_and_chemo_slows_it() -> None:
    def burden(days: float, **params: object) -> float:
        twin = TumourTwin(_box((16, 16, 16), WHITE, 2.0), seed_point=(16.0, 16.0, 16.0))
        twin.reset({"rt_start_day": 0.0, **params})
        twin.step(days)
        return twin.burden()

    untreated, start = burden(42.0, fractions=0), burden(0.0)
    treated = burden(42.0)  # 2 Gy x 30 fractions, 5 a week from day 0: done on day 39
    chemo = burden(42.0, fractions=0, chemo=True, chemo_rate=0.03)
    assert treated < start < untreated
    assert chemo < untreated
    assert [fraction_day(i, 10.0, 5) for i in (0, 4, 5, 9, 10)] == [10.0, 14.0, 17.0, 21.0, 24.0]


def test_fractions_are_delivered_on_schedule_inside_step() -> None:
    twin = TumourTwin(_box((8, 8, 8), WHITE, 2.0), seed_point=(8.0, 8.0, 8.0))
    twin.reset({"rt_start_day": 3.0, "fractions": 2, "fractions_per_week": 5, "rho": 1e-4, "D_white": 1e-4})
    twin.step(2.9)
    b0 = twin.burden()
    twin.step(0.2)  # crosses day 3: one fraction
    s = survival_fraction(2.0, 0.035, 10.0)
    assert twin.burden() / b0 == pytest.approx(s, rel=1e-3)
    twin.step(10.0)  # the second and last
    assert twin.burden() / b0 == pytest.approx(s * s, rel=1e-2)


def test_growth_stays_in_tissue_and_spreads_faster_in_white_matter() -> None:
    brain = brain_labels(4.0)
    twin = TumourTwin(brain, seed_point=(30.0, 25.0, 10.0))
    twin.reset({"rho": 0.2, "D_white": 2.0, "D_grey": 0.4})
    twin.step(60.0)
    labels = brain.values
    assert twin.density[labels == WHITE].max() > 0.5
    assert twin.density[(labels == CSF) | (labels == 0)].max() == 0.0

    def advance(label: int) -> float:
        t = TumourTwin(_box((160, 2, 2), label, 0.5), seed_point=(0.0, 0.0, 0.0))
        t.reset({"fractions": 0, "rho": 0.1})
        t.step(30.0)
        x0 = _front(t.density, 0.5)
        t.step(60.0)
        return _front(t.density, 0.5) - x0

    # defaults D_white = 5 D_grey: the front runs sqrt(5) = 2.2 times faster
    assert advance(WHITE) > 1.8 * advance(GREY)


def test_fields_live_on_the_brain_surface_and_probe_reads_the_density() -> None:
    twin = TumourTwin(brain_labels(4.0))
    fields = twin.fields()
    assert set(fields) == set(twin.schema.outputs) == {"density", "tumour"}
    assert fields["density"].dtype == np.float32 and fields["density"].shape == (twin.mesh.n_points,)
    assert np.all((fields["density"] >= 0.0) & (fields["density"] <= 1.0))
    assert twin.probe(np.array([30.0, 25.0, 10.0]))["density"] > 0.5
    assert twin.probe(np.array([-40.0, -40.0, 0.0]))["density"] < 1e-6
    assert twin.probe(np.array([500.0, 0.0, 0.0]))["density"] == 0.0  # outside the volume
    twin.step(200.0)
    assert twin.fields()["density"].max() > fields["density"].max()


def test_the_tumour_output_marks_the_surface_over_detectable_tumour_and_follows_it() -> None:
    twin = TumourTwin(brain_labels(2.0))  # seeded 25 mm deep in the right frontal white matter
    vertices = twin.mesh.vertices
    seen = twin.fields()["tumour"]
    assert set(np.unique(seen)) == {0.0, 1.0}
    assert twin.fields()["density"].max() < 0.05  # too deep for the surface density to show it
    marked = vertices[seen == 1.0]
    assert np.all(marked[:, 0] > 0.0)  # only over the right hemisphere, where the tumour is
    near = np.linalg.norm(marked - np.array([30.0, 25.0, 10.0]), axis=1)
    assert near.max() < TUMOUR_VIEW_DEPTH_MM + 10.0  # the detectable seed is ~7 mm in radius
    twin.reset({"fractions": 0})
    twin.step(60.0)
    grown = twin.fields()["tumour"]
    assert grown.sum() > 2 * seen.sum()
    for _ in range(30):
        twin.act("apply dose")
    assert twin.fields()["tumour"].sum() == 0.0  # nothing detectable left anywhere


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda t: t.reset({"rho": -1.0}), "rho"),
        (lambda t: t.set_params({"D_wite": 1.0}), "unknown parameter"),
        (lambda t: t.set_params({"fractions": 2.5}), "whole number"),
        (lambda t: t.set_params({"chemo": 1}), "true or false"),
        (lambda t: t.set_params({"alpha": float("nan")}), "finite"),
        (lambda t: t.act("resect"), "unknown action"),
        (lambda t: t.act("seed tumour"), "needs a point"),
        (lambda t: t.step(-1.0), "time step"),
    ],
)
def test_bad_parameters_and_actions_are_refused_in_one_line(call: object, needle: str) -> None:
    twin = TumourTwin(_box((6, 6, 6), WHITE, 2.0), seed_point=None)
    with pytest.raises(ParameterError) as err:
        call(twin)  # type: ignore[operator]
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert twin.params["rho"] == twin.schema.defaults()["rho"]  # a refused change leaves the state alone


def test_a_non_finite_state_raises_a_blow_up_error() -> None:
    twin = TumourTwin(_box((6, 6, 6), WHITE, 2.0), seed_point=(6.0, 6.0, 6.0))
    twin._c[3, 3, 3] = np.nan  # what a broken model or a corrupted state would leave
    with pytest.raises(TwinBlowUpError, match="non-finite") as err:
        twin.step(1.0)
    assert isinstance(err.value, VizServerError)


def test_the_tumour_iso_surface_grows_and_shrinks() -> None:
    twin = TumourTwin(_box((24, 24, 24), WHITE, 2.0), seed_point=(24.0, 24.0, 24.0))
    twin.reset({"fractions": 0, "rho": 0.1})

    def extent() -> float:
        surface = twin.tumour_surface()
        lo, hi = surface.bounds
        return hi[0] - lo[0]

    first = extent()
    twin.step(20.0)
    grown = extent()
    assert grown > first + 4.0
    for _ in range(40):
        twin.act("apply dose")
    assert twin.tumour_surface().n_points == 0
    with pytest.raises(ParameterError, match="threshold"):
        twin.tumour_surface(1.5)
