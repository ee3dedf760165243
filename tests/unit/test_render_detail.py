"""The video view's interactive level of detail: which level each surface takes within the triangle budget, and
when the camera counts as moving or still."""

from __future__ import annotations

import pytest

from vizserver.render.detail import CAMERA_STILL_S, INTERACTIVE_TRIANGLES, CameraMotion, Detail, interactive_levels


def test_a_scene_within_the_budget_is_drawn_in_full() -> None:
    assert interactive_levels([(40_000, (2_500, 10_000)), (15_000, ())], budget=60_000) == [None, None]


def test_a_large_surface_takes_its_finest_level_within_the_budget() -> None:
    # the benchmark's sheet: 203k triangles, levels of 12.7k and 50.9k
    assert interactive_levels([(203_522, (12_720, 50_880))], budget=INTERACTIVE_TRIANGLES) == [1]
    assert interactive_levels([(203_522, (12_720, 50_880))], budget=30_000) == [0]


def test_when_no_level_fits_the_coarsest_is_drawn() -> None:
    assert interactive_levels([(1_000_000, (60_000, 250_000))], budget=10_000) == [0]


def test_surfaces_without_levels_stay_full_and_use_their_share_first() -> None:
    # 40k of 60k go to the surface that cannot shrink; the big one has 20k left, so its 15k level
    chosen = interactive_levels([(40_000, ()), (400_000, (6_000, 15_000, 100_000))], budget=60_000)
    assert chosen == [None, 1]


def test_the_budget_is_shared_in_proportion_to_size() -> None:
    big, small = (300_000, (4_700, 18_750, 75_000)), (100_000, (1_560, 6_250, 25_000))
    # shares 45k and 15k: the big one's 18.75k level, the small one's 6.25k level
    assert interactive_levels([big, small], budget=60_000) == [1, 1]


def test_the_level_list_may_come_in_any_order() -> None:
    assert interactive_levels([(200_000, (50_000, 12_500))], budget=60_000) == [0]


def test_bad_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        interactive_levels([(-1, ())])
    with pytest.raises(ValueError, match="negative"):
        interactive_levels([(10, (5,))], budget=-1)


def test_the_camera_is_moving_until_it_has_been_still_for_the_delay() -> None:
    motion = CameraMotion()
    assert motion.still_after_s == CAMERA_STILL_S
    assert motion.detail(100.0) is Detail.FULL and motion.still_in(100.0) == 0.0  # never moved
    motion.moved(100.0)
    assert motion.detail(100.0) is Detail.INTERACTIVE
    assert motion.still_in(100.1) == pytest.approx(CAMERA_STILL_S - 0.1)
    motion.moved(100.25)  # another camera before the delay ran out: the delay starts again
    assert motion.detail(100.25 + CAMERA_STILL_S - 0.01) is Detail.INTERACTIVE
    assert motion.detail(100.25 + CAMERA_STILL_S) is Detail.FULL
    assert motion.still_in(200.0) == 0.0


def test_a_bad_delay_is_refused() -> None:
    with pytest.raises(ValueError, match="still_after_s"):
        CameraMotion(0.0)
