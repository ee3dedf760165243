from __future__ import annotations

from pathlib import Path

import pytest

from vizserver.errors import InputError
from vizserver.scenefile import TourSpec, load_scene_file
from vizserver.sessions.tours import (
    EVERYONE,
    Camera,
    Clip,
    ModeChanged,
    Progress,
    ShowStep,
    Tour,
    TourEffect,
    TourError,
    TourState,
    TwinAction,
)

ROOT = Path(__file__).resolve().parents[2]

SPEC = TourSpec.model_validate({
    "title": "Walk",
    "views": {"front": {"position": [0, -0.3, 0], "target": [0, 0, 0.01]}},
    "steps": [
        {"title": "Front", "text": "first", "camera": {"view": "front"}, "visible": ["heart"]},
        {"title": "Faster", "twin": {"cycle_length": 500}, "time_step": 4, "playing": False},
        {"title": "Cut", "clip": {"axis": "y"}, "twin": {"scar_mode": "slow"},
         "actions": [{"action": "place scar", "point": [1, 2, 3]}]},
        {"title": "Slow", "twin": {"cycle_length": 1200}, "camera": {"position": [0.1, 0, 0], "up": [0, 1, 0]}},
    ],
})


def _state() -> TourState:
    return TourState(Tour.of_spec(SPEC, {"cycle_length": 800, "d_par": 1.0}))


def _shown(effects: list[TourEffect]) -> list[tuple[object, int, bool]]:
    return [(e.to, e.index, e.apply_shared) for e in effects if isinstance(e, ShowStep)]


def _progress(effects: list[TourEffect]) -> list[dict[str, int]]:
    return [dict(e.steps) for e in effects if isinstance(e, Progress)]


def test_a_spec_becomes_plain_steps_with_views_resolved() -> None:
    tour = Tour.of_spec(SPEC)
    assert tour.title == "Walk" and len(tour) == 4
    front, faster, cut, slow = tour.steps
    assert front.camera == Camera((0.0, -0.3, 0.0), (0.0, 0.0, 0.01), (0.0, 0.0, 1.0))
    assert front.caption == "first" and front.visible == ("heart",) and front.clip is None
    assert (faster.time_step, faster.playing, faster.camera, faster.visible) == (4, False, None, None)
    assert cut.clip == Clip("y", 0.5, False)
    assert cut.actions == (TwinAction("place scar", (1.0, 2.0, 3.0)),)
    assert slow.camera == Camera((0.1, 0.0, 0.0), (0.0, 0.0, 0.0), (0.0, 1.0, 0.0))


def test_twin_values_are_those_in_force_at_each_step() -> None:
    steps = Tour.of_spec(SPEC, {"cycle_length": 800, "d_par": 1.0}).steps
    # cycle_length starts at the scene's value, so going back to step 1 restores it;
    # scar_mode has no starting value and is left as it is before the step that sets it.
    assert [dict(s.twin) for s in steps] == [
        {"cycle_length": 800},
        {"cycle_length": 500},
        {"cycle_length": 500, "scar_mode": "slow"},
        {"cycle_length": 1200, "scar_mode": "slow"},
    ]
    assert dict(Tour.of_spec(SPEC).steps[0].twin) == {}


def test_the_default_scene_tour_converts() -> None:
    spec = load_scene_file(ROOT / "scenes" / "default.yaml")
    assert spec.tour is not None and spec.twin is not None
    tour = Tour.of_spec(spec.tour, spec.twin.parameters)
    assert len(tour) == 4
    assert all(s.camera is not None for s in tour.steps)
    assert tour.steps[0].actions == (TwinAction("clear scar", None),)
    assert tour.steps[3].clip == Clip("y", 0.5, False)


def test_nothing_moves_before_the_tour_starts() -> None:
    state = _state()
    assert state.join("m1") == []
    with pytest.raises(TourError) as info:
        state.next("m1", driver=True)
    assert info.value.code == "tour_off"
    assert "no tour is running" in str(info.value)
    assert state.progress() == {}


def test_a_guided_tour_moves_everyone_and_applies_the_shared_parts_once() -> None:
    state = _state()
    state.join("host")
    state.join("m2")
    effects = state.set_mode("guided", driver=True)
    assert effects[0] == ModeChanged("guided", 0, 4)
    assert _shown(effects) == [(EVERYONE, 0, True)]
    effects = state.next("host", driver=True)
    assert _shown(effects) == [(EVERYONE, 1, True)]
    shown = effects[0]
    assert isinstance(shown, ShowStep)
    assert (shown.count, shown.mode, shown.step.title) == (4, "guided", "Faster")
    assert _shown(state.prev("host", driver=True)) == [(EVERYONE, 0, True)]
    assert state.progress() == {"host": 0, "m2": 0}


def test_guided_moves_are_clamped() -> None:
    state = _state()
    state.set_mode("guided", driver=True)
    assert state.prev("p", driver=True) == []
    assert _shown(state.goto("p", 99, driver=True)) == [(EVERYONE, 3, True)]
    assert state.next("p", driver=True) == []
    assert state.guided_index == 3
    assert _shown(state.goto("p", -5, driver=True)) == [(EVERYONE, 0, True)]
    # goto the current step re-applies it (the presenter restores the step's view)
    assert _shown(state.goto("p", 0, driver=True)) == [(EVERYONE, 0, True)]


def test_only_a_driver_moves_a_guided_tour() -> None:
    state = _state()
    state.set_mode("guided", driver=True)
    for move in (lambda: state.next("m2", driver=False), lambda: state.goto("m2", 2, driver=False)):
        with pytest.raises(TourError) as info:
            move()
        assert info.value.code == "forbidden"
        assert "the presenter moves a guided tour" in str(info.value)
    assert state.guided_index == 0


def test_only_a_driver_starts_switches_or_stops() -> None:
    state = _state()
    with pytest.raises(TourError, match="presenter or the host starts") as info:
        state.set_mode("guided", driver=False)
    assert info.value.code == "forbidden"
    assert state.mode == "off"


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda s: s.set_mode("solo", driver=True), "mode must be one of off, guided, self_paced, not 'solo'"),
        (lambda s: s.set_mode("guided", driver=True, start="2"), "start must be an integer"),
        (lambda s: s.goto("p", 1.5, driver=True), "step must be an integer, not 1.5"),
        (lambda s: s.goto("p", True, driver=True), "step must be an integer, not True"),
    ],
)
def test_bad_requests_say_why(call: object, fragment: str) -> None:
    state = _state()
    state.set_mode("guided", driver=True)
    with pytest.raises(TourError) as info:
        call(state)  # type: ignore[operator]
    assert info.value.code == "bad_request"
    assert fragment in str(info.value)
    assert isinstance(info.value, InputError)
    assert (state.mode, state.guided_index) == ("guided", 0)


def test_a_member_joining_a_guided_tour_sees_its_step_without_reapplying_it() -> None:
    state = _state()
    state.set_mode("guided", driver=True, start=2)
    effects = state.join("late")
    assert _shown(effects) == [(("late",), 2, False)]
    assert _progress(effects) == []


def test_self_paced_members_walk_alone_and_the_host_sees_where() -> None:
    state = _state()
    for member in ("host", "a", "b"):
        state.join(member)
    state.set_mode("guided", driver=True)
    state.next("host", driver=True)
    effects = state.set_mode("self_paced", driver=True)
    assert effects[0] == ModeChanged("self_paced", 1, 4)
    assert _shown(effects) == []  # everyone already shows the guided step
    assert _progress(effects) == [{"a": 1, "b": 1, "host": 1}]

    effects = state.next("a", driver=False)
    assert _shown(effects) == [(("a",), 2, False)]
    assert _progress(effects) == [{"a": 2, "b": 1, "host": 1}]
    state.next("a", driver=False)
    assert state.next("a", driver=False) == []  # at the end
    assert _shown(state.prev("b", driver=False)) == [(("b",), 0, False)]
    assert _shown(state.goto("b", 2, driver=False)) == [(("b",), 2, False)]
    assert state.progress() == {"a": 3, "b": 2, "host": 1}
    assert state.guided_index == 1  # self-paced moves never move the guided step


def test_starting_self_paced_from_off_shows_everyone_the_first_step() -> None:
    state = _state()
    state.join("a")
    effects = state.set_mode("self_paced", driver=True)
    assert _shown(effects) == [(EVERYONE, 0, False)]
    assert _progress(effects) == [{"a": 0}]


def test_joining_self_paced_starts_at_the_first_step_and_a_return_resumes() -> None:
    state = _state()
    state.join("a")
    state.set_mode("self_paced", driver=True)
    effects = state.join("new")
    assert _shown(effects) == [(("new",), 0, False)]
    assert _progress(effects) == [{"a": 0, "new": 0}]
    state.goto("new", 3, driver=False)
    assert _progress(state.leave("new")) == [{"a": 0}]
    assert state.leave("new") == []
    effects = state.join("new")
    assert _shown(effects) == [(("new",), 3, False)]
    state.forget("new")
    assert _shown(state.join("new")) == [(("new",), 0, False)]


def test_back_to_guided_brings_everyone_to_the_presenters_step() -> None:
    state = _state()
    for member in ("host", "a"):
        state.join(member)
    state.set_mode("guided", driver=True, start=2)
    state.set_mode("self_paced", driver=True)
    state.next("a", driver=False)
    effects = state.set_mode("guided", driver=True)
    assert effects[0] == ModeChanged("guided", 2, 4)
    assert _shown(effects) == [(EVERYONE, 2, True)]
    assert state.progress() == {"a": 2, "host": 2}


def test_stopping_ends_the_tour_and_forgets_the_self_paced_steps() -> None:
    state = _state()
    state.join("a")
    state.set_mode("self_paced", driver=True)
    state.next("a", driver=False)
    assert state.set_mode("off", driver=True) == [ModeChanged("off", 0, 4)]
    assert state.member_steps == {}
    assert state.join("a") == []
    assert state.set_mode("off", driver=True) == []
    # a new start begins at the first step again
    assert _shown(state.set_mode("guided", driver=True)) == [(EVERYONE, 0, True)]


def test_setting_the_same_mode_again_changes_nothing_unless_a_start_is_given() -> None:
    state = _state()
    state.set_mode("guided", driver=True)
    assert state.set_mode("guided", driver=True) == []
    assert _shown(state.set_mode("guided", driver=True, start=9)) == [(EVERYONE, 3, True)]
