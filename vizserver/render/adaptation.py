"""Adaptive resolution and frame rate of the video view, pure (fed measured costs, no clock or thread).

A ladder of levels from the requested size and frame rate down to a seventh of the pixels at a third of the
rate. Each frame reports what it cost (render + encode seconds); the median over a short window is compared
with the frame interval (a median, so a burst of load from other work that slows a few frames of a window costs
no resolution). Over ``HIGH_WATER`` of it: one level down (fewer pixels first, then fewer frames). Under
``LOW_WATER`` of the next level up's interval, with the cost scaled by its pixels: one level up. After a change
the window starts again, so one level is tried before the next move.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass

HIGH_WATER = 1.0
"""Step down when the median cost exceeds this fraction of the frame interval. Rendering (its own thread) and
encoding (aiortc's executor) overlap, so their sum may reach the interval before frames fall behind."""
LOW_WATER = 0.7
"""Step up when the next level's predicted cost stays under this fraction of its frame interval."""
WINDOW = 10
"""Frames averaged before any decision."""
SCALES = (1.0, 0.75, 0.5, 0.375)
"""Resolution scales tried, full first: for a thin client a smaller picture (upscaled) beats a later one."""
RATE_FACTORS = (1.0, 2 / 3, 1 / 3)
"""Frame-rate factors tried (at the smallest scale) once resolution can go no lower."""
MIN_SIDE = 64


@dataclass(frozen=True, slots=True)
class Level:
    width: int
    height: int
    fps: float

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def interval(self) -> float:
        return 1.0 / self.fps


def _even(x: float) -> int:
    """Video encoders (4:2:0) want even sides."""
    return max(MIN_SIDE, round(x / 2.0) * 2)


def ladder(width: int, height: int, fps: float) -> tuple[Level, ...]:
    """Levels from best to cheapest for a requested ``width`` x ``height`` at ``fps``."""
    if width < MIN_SIDE or height < MIN_SIDE or not fps > 0:
        raise ValueError(f"video size {width}x{height} at {fps} fps (sides >= {MIN_SIDE}, fps > 0)")
    levels = [Level(_even(width * s), _even(height * s), fps) for s in SCALES]
    low = levels[-1]
    levels += [Level(low.width, low.height, fps * f) for f in RATE_FACTORS[1:]]
    return tuple(levels)


class Adapter:
    """Picks the level for the next frame from the costs of the last ones."""

    def __init__(self, width: int, height: int, fps: float) -> None:
        self.levels = ladder(width, height, fps)
        self.index = 0
        self._costs: deque[float] = deque(maxlen=WINDOW)

    @property
    def level(self) -> Level:
        return self.levels[self.index]

    def observe(self, cost_s: float) -> Level:
        """One frame at the current level took ``cost_s`` seconds of work; returns the level for the next."""
        if cost_s < 0 or cost_s != cost_s:
            raise ValueError(f"frame cost {cost_s} s")
        self._costs.append(cost_s)
        if len(self._costs) < WINDOW:
            return self.level
        typical = statistics.median(self._costs)
        here = self.level
        if typical > HIGH_WATER * here.interval and self.index < len(self.levels) - 1:
            self._move(+1)
        elif self.index > 0:
            up = self.levels[self.index - 1]
            predicted = typical * up.pixels / here.pixels
            if predicted < LOW_WATER * up.interval:
                self._move(-1)
        return self.level

    def _move(self, step: int) -> None:
        self.index += step
        self._costs.clear()
