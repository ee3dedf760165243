"""Interactive level of detail of the video view, pure (fed triangle counts and times; no clock, no VTK).

As ParaView's "LOD threshold": while the viewer's camera moves, large surfaces are drawn from a coarser level of
detail (the LOD GLBs the scene build made for the headset client, ``StreamObject.lods``); once the camera has been
still for :data:`CAMERA_STILL_S`, the full surfaces are drawn again, so a picture that stays on screen is always
full detail. The level is chosen once per scene by a triangle budget, not per frame from measured times, so it
does not flap while the camera moves.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

INTERACTIVE_TRIANGLES = 60_000
"""Triangles an interactive (camera moving) render aims at, all objects together. Mesa's software rasteriser
draws the 203k-triangle benchmark sheet at 1280x720 in ~20-27 ms on this project's 2-core machines, its 51k level
(the build's 25 %) in ~8-10 ms (``benchmarks/webrtc.py``): with the VP8 encode (~6-7 ms at 720p) that fits a
33 ms frame with room for the load of other work. At this budget a ~200k-triangle surface draws its 25 % level;
a 1M-triangle one its 6 % level (62k, the coarsest: no level fits)."""

CAMERA_STILL_S = 0.3
"""The camera counts as still once no ``view_camera`` came for this long. Longer than the gaps between a dragging
client's camera messages (30 a second, so ~33 ms; more when a message is late), short enough that the full-detail
picture follows a released drag at once."""


class Detail(enum.Enum):
    """What to draw: every surface in full, or the coarser levels :func:`interactive_levels` picks."""

    FULL = "full"
    INTERACTIVE = "interactive"


def interactive_levels(
    surfaces: Sequence[tuple[int, Sequence[int]]], budget: int = INTERACTIVE_TRIANGLES
) -> list[int | None]:
    """For each surface ``(full triangles, coarser levels' triangles, coarsest first)``: the index of the level to
    draw while the camera moves, or None for the full surface.

    A scene within ``budget`` is drawn in full. Otherwise surfaces without coarser levels stay full and use their
    share first; what is left is shared among the others in proportion to their full size, and each takes its
    finest level within its share (its coarsest when none is).
    """
    if budget < 0:
        raise ValueError(f"triangle budget {budget} is negative")
    for full, levels in surfaces:
        if full < 0 or any(n < 0 for n in levels):
            raise ValueError(f"negative triangle count in {full}, {list(levels)}")
    total = sum(full for full, _ in surfaces)
    if total <= budget:
        return [None] * len(surfaces)
    fixed = sum(full for full, levels in surfaces if not levels)
    scalable = total - fixed
    room = max(budget - fixed, 0)
    chosen: list[int | None] = []
    for full, levels in surfaces:
        if not levels:
            chosen.append(None)
            continue
        share = room * full / scalable
        within = [i for i, n in enumerate(levels) if n <= share]
        finest = max(within, key=lambda i: levels[i]) if within else min(range(len(levels)), key=lambda i: levels[i])
        chosen.append(finest)
    return chosen


class CameraMotion:
    """Whether the viewer's camera is moving: it moved less than ``still_after_s`` ago. Times are seconds on any
    one monotonic clock (the view uses its event loop's)."""

    def __init__(self, still_after_s: float = CAMERA_STILL_S) -> None:
        if not still_after_s > 0:
            raise ValueError(f"still_after_s {still_after_s} must be > 0")
        self.still_after_s = still_after_s
        self._moved_at: float | None = None

    def moved(self, now: float) -> None:
        """A new camera arrived at ``now``."""
        self._moved_at = now

    def still_in(self, now: float) -> float:
        """Seconds until the camera counts as still (0 when it does)."""
        if self._moved_at is None:
            return 0.0
        return max(0.0, self._moved_at + self.still_after_s - now)

    def detail(self, now: float) -> Detail:
        """The detail to render at ``now``."""
        return Detail.INTERACTIVE if self.still_in(now) > 0 else Detail.FULL
