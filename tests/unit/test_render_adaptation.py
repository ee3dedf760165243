"""Adaptive resolution and frame rate of the video view (pure: fed costs, no clock)."""

from __future__ import annotations

import itertools

import pytest

from vizserver.render.adaptation import WINDOW, Adapter, ladder


def test_ladder_goes_from_the_requested_size_down_to_fewer_pixels_then_fewer_frames() -> None:
    levels = ladder(1280, 720, 30.0)
    assert (levels[0].width, levels[0].height, levels[0].fps) == (1280, 720, 30.0)
    assert all(a.pixels >= b.pixels and a.fps >= b.fps for a, b in itertools.pairwise(levels))
    assert levels[-1].pixels < levels[0].pixels / 3 and levels[-1].fps < 30.0
    assert all(lv.width % 2 == 0 and lv.height % 2 == 0 for lv in ladder(1001, 577, 25.0))


def test_a_bad_request_is_refused() -> None:
    with pytest.raises(ValueError, match="video size"):
        ladder(10, 720, 30.0)
    with pytest.raises(ValueError, match="fps"):
        ladder(1280, 720, 0.0)
    with pytest.raises(ValueError, match="frame cost"):
        Adapter(640, 480, 30.0).observe(float("nan"))


def test_steps_down_while_over_budget_and_stops_at_the_cheapest_level() -> None:
    adapter = Adapter(1280, 720, 30.0)
    seen = [adapter.level]
    for _ in range(WINDOW * 20):
        level = adapter.observe(0.2)  # 200 ms a frame: far over any level's budget
        if level != seen[-1]:
            seen.append(level)
    assert seen == list(adapter.levels)
    assert adapter.level == adapter.levels[-1]


def test_one_slow_frame_does_not_move_it() -> None:
    adapter = Adapter(1280, 720, 30.0)
    for _ in range(WINDOW - 1):
        adapter.observe(0.005)
    assert adapter.observe(0.1) == adapter.levels[0]  # the window's typical frame is still well under 33 ms


def test_a_burst_of_slow_frames_does_not_step_down_but_a_sustained_majority_does() -> None:
    burst = Adapter(1280, 720, 30.0)
    for cost in [0.012] * (WINDOW - 4) + [0.060] * 4:  # other work slowed four frames of ten
        burst.observe(cost)
    assert burst.index == 0
    sustained = Adapter(1280, 720, 30.0)
    for cost in [0.012] * (WINDOW // 2 - 1) + [0.060] * (WINDOW // 2 + 1):
        sustained.observe(cost)
    assert sustained.index == 1


def test_steps_back_up_when_there_is_room_and_holds_in_between() -> None:
    adapter = Adapter(1280, 720, 30.0)
    for _ in range(WINDOW * 3):
        adapter.observe(0.05)  # 50 ms: full size is over budget, three quarters (56% of the pixels) fits? not at 0.9
    low = adapter.index
    assert low >= 1
    for _ in range(WINDOW * 5):
        adapter.observe(0.012 * adapter.level.pixels / adapter.levels[0].pixels)  # cost in proportion to pixels
    assert adapter.index == 0
    held = Adapter(1280, 720, 30.0)
    for _ in range(WINDOW * 5):
        held.observe(0.025)  # 75 % of the 33 ms budget: not over, and no room to go up: stays
    assert held.index == 0
