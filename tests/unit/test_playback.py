"""Shared playback, driven by explicit clock readings: play, pause, seek, speed, loop, end of series."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vizserver.protocol.messages import PlaybackRequest, PlaybackState
from vizserver.sessions.playback import Playback

TIMES = [2.0 * i for i in range(10)]  # 10 steps, 2 ms apart


def test_paused_by_default_and_holds_its_step() -> None:
    p = Playback(steps=10)
    assert p.step_at(0.0) == p.step_at(1000.0) == 0
    assert p.next_step_time(5.0) is None


def test_play_advances_at_fps_times_speed() -> None:
    p = Playback(steps=10, fps=10.0).change(100.0, playing=True)
    assert [p.step_at(100.0 + t) for t in (0.0, 0.09, 0.1, 0.35, 0.99)] == [0, 0, 1, 3, 9]
    fast = p.change(100.0, speed=4.0)
    assert fast.step_at(100.25) == 10 % 10 == 0  # 10 steps in 0.25 s at 4x: looped back to 0
    assert fast.step_at(100.2) == 8


def test_loop_wraps_and_no_loop_stops_at_the_last_step() -> None:
    p = Playback(steps=10, fps=10.0, loop=True).change(0.0, playing=True)
    assert p.step_at(1.05) == 0 and p.step_at(2.35) == 3
    once = Playback(steps=10, fps=10.0, loop=False).change(0.0, playing=True)
    assert once.step_at(0.95) == 9 and once.step_at(50.0) == 9
    assert not once.ended(0.85) and once.ended(0.95)
    assert once.state(50.0, TIMES).playing is False
    assert once.next_step_time(50.0) is None
    restarted = once.change(50.0, playing=True)  # play after the end starts again
    assert restarted.step_at(50.0) == 0 and restarted.step_at(50.31) == 3


def test_pause_and_speed_changes_are_continuous() -> None:
    p = Playback(steps=100, fps=10.0).change(0.0, playing=True)
    paused = p.change(0.55, playing=False)
    assert paused.step_at(0.55) == 5 and paused.step_at(99.0) == 5
    resumed = paused.change(10.0, playing=True)
    assert resumed.step_at(10.0) == 5 and resumed.step_at(10.05) == 6  # the half step left is kept
    faster = resumed.change(10.05, speed=2.0)
    assert faster.step_at(10.05) == 6 and faster.step_at(10.3) == 11


def test_seek_clamps_and_keeps_playing_state() -> None:
    p = Playback(steps=10, fps=10.0).change(0.0, playing=True)
    seeked = p.change(3.0, step=7)
    assert seeked.playing and seeked.step_at(3.0) == 7 and seeked.step_at(3.1) == 8
    assert p.change(3.0, step=1000).step_at(3.0) == 9
    paused = Playback(steps=10).change(0.0, step=4)
    assert not paused.playing and paused.step_at(100.0) == 4


def test_apply_client_request_and_state_message() -> None:
    p = Playback(steps=10, fps=5.0).apply(PlaybackRequest(playing=True, speed=2.0, loop=False), 10.0)
    state = p.state(10.35, TIMES)
    assert state == PlaybackState(playing=True, step=3, time=6.0, speed=2.0, loop=False, steps=10, fps=5.0)
    assert p.apply(PlaybackRequest(), 10.35).step_at(10.35) == 3  # an empty request changes nothing
    assert Playback(steps=10, fps=5.0).state(0.0).time == 0.0  # no times: step / fps


def test_next_step_time_schedules_the_next_frame() -> None:
    p = Playback(steps=10, fps=10.0).change(1.0, playing=True)
    t = p.next_step_time(1.03)
    assert t == pytest.approx(1.1)
    assert p.step_at(t + 1e-9) == 1  # type: ignore[operator]
    assert p.change(1.03, speed=0.5).next_step_time(1.03) == pytest.approx(1.03 + 0.07 / 0.5)


def test_single_step_and_empty_series() -> None:
    for steps in (0, 1):
        p = Playback(steps=steps).change(0.0, playing=True)
        assert p.step_at(10.0) == 0 and p.next_step_time(10.0) is None
        assert p.state(10.0, [0.0] * steps).step == 0


def test_invalid_state_is_refused() -> None:
    with pytest.raises(ValueError):
        Playback(steps=-1)
    with pytest.raises(ValueError):
        Playback(steps=5, fps=0.0)
    with pytest.raises(ValueError):
        Playback(steps=5, speed=100.0)


changes = st.lists(
    st.tuples(
        st.floats(0.0, 5.0),  # clock advance before the change
        st.one_of(st.none(), st.booleans()),
        st.one_of(st.none(), st.integers(0, 40)),
        st.one_of(st.none(), st.floats(0.05, 16.0)),
        st.one_of(st.none(), st.booleans()),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 30), st.floats(0.5, 120.0), st.floats(0.0, 1e6), changes)
def test_steps_stay_in_range_and_the_next_step_time_moves_on(
    steps: int,
    fps: float,
    start: float,
    requests: list[tuple[float, bool | None, int | None, float | None, bool | None]],
) -> None:
    """Whatever clients ask, the step is a valid index, and the time a server would wake up at to send the
    next frame shows a new step (no busy loop on rounding), at most one frame period away."""
    p, now = Playback(steps=steps, fps=fps), start
    for advance, playing, step, speed, loop in requests:
        now += advance
        before = p.step_at(now)
        p = p.change(now, playing=playing, step=step, speed=speed, loop=loop)
        if step is not None:
            assert p.step_at(now) == min(step, max(steps - 1, 0))
        elif playing is None:
            assert p.step_at(now) == before  # speed and loop changes never jump
        assert 0 <= p.step_at(now) < max(steps, 1)
        wake = p.next_step_time(now)
        if wake is not None:
            assert now < wake <= now + 1.0 / (fps * p.speed) + 1e-9
            assert p.step_at(wake) != p.step_at(now)
