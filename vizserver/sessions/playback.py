"""Shared time-series playback of a session: play, pause, seek, speed, loop (docs/protocol.md ``playback``).

Pure: every method takes the clock reading ``now`` (seconds of a monotonic clock) from the caller,
so tests drive it with plain numbers. The position is continuous: ``anchor_step`` (fractional) at
``anchor_time``, moving at ``fps * speed`` steps per second while playing. Every change re-anchors
at the current position, so changing speed or pausing never jumps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from vizserver.config import PLAYBACK_MAX_SPEED, PLAYBACK_MIN_SPEED
from vizserver.protocol.messages import PlaybackRequest, PlaybackState

STEP_EPSILON = 1e-6
"""A position this close below a whole step counts as that step, so clock arithmetic such as
``(100.1 - 100.0) * 10 = 0.99999...`` shows step 1 at the time :meth:`Playback.next_step_time` named."""


@dataclass(frozen=True, slots=True)
class Playback:
    """Playback state; ``steps`` time steps shown at ``fps`` steps per second at speed 1."""

    steps: int
    fps: float = 10.0
    playing: bool = False
    speed: float = 1.0
    loop: bool = True
    anchor_step: float = 0.0
    anchor_time: float = 0.0

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"fps must be a positive number, got {self.fps}")
        if not PLAYBACK_MIN_SPEED <= self.speed <= PLAYBACK_MAX_SPEED:
            raise ValueError(f"speed must be {PLAYBACK_MIN_SPEED} to {PLAYBACK_MAX_SPEED}, got {self.speed}")

    @property
    def last_step(self) -> int:
        return max(self.steps - 1, 0)

    def position(self, now: float) -> float:
        """The fractional step at ``now``: wrapped into ``[0, steps)`` when looping, else held at the last step."""
        pos = self.anchor_step
        if self.playing:
            pos += max(now - self.anchor_time, 0.0) * self.fps * self.speed
        if self.steps <= 1:
            return 0.0
        if self.loop:
            wrapped = math.fmod(pos, self.steps)
            return 0.0 if wrapped > self.steps - STEP_EPSILON else wrapped
        return min(pos, float(self.last_step))

    def step_at(self, now: float) -> int:
        """The step shown at ``now``."""
        return min(int(self.position(now) + STEP_EPSILON), self.last_step)

    def ended(self, now: float) -> bool:
        """Playing without loop and the last step has been reached: nothing more will change."""
        return self.playing and not self.loop and self.position(now) + STEP_EPSILON >= self.last_step

    def change(
        self,
        now: float,
        *,
        playing: bool | None = None,
        step: int | None = None,
        speed: float | None = None,
        loop: bool | None = None,
    ) -> Playback:
        """The state after a play/pause/seek/speed/loop request at ``now``. A seek beyond the series lands
        on its last step; ``play`` after a non-looping series ended starts again from step 0."""
        anchor = self.position(now)
        if step is not None:
            anchor = float(min(max(step, 0), self.last_step))
        new = replace(
            self,
            anchor_step=anchor,
            anchor_time=now,
            playing=self.playing if playing is None else playing,
            speed=self.speed if speed is None else speed,
            loop=self.loop if loop is None else loop,
        )
        if playing and step is None and not new.loop and anchor + STEP_EPSILON >= new.last_step and new.steps > 1:
            new = replace(new, anchor_step=0.0)
        return new

    def apply(self, request: PlaybackRequest, now: float) -> Playback:
        """:meth:`change` with a client's ``playback`` message."""
        return self.change(now, playing=request.playing, step=request.step, speed=request.speed, loop=request.loop)

    def next_step_time(self, now: float) -> float | None:
        """The clock reading at which the shown step next changes; None when paused or ended."""
        if not self.playing or self.steps <= 1 or self.ended(now):
            return None
        pos = self.anchor_step + max(now - self.anchor_time, 0.0) * self.fps * self.speed
        return self.anchor_time + (math.floor(pos + STEP_EPSILON) + 1 - self.anchor_step) / (self.fps * self.speed)

    def state(self, now: float, times: Sequence[float] = ()) -> PlaybackState:
        """The ``playback`` message at ``now``; ``time`` is ``times[step]`` (the step's simulation time)
        when given, else ``step / fps``. ``playing`` is false once a non-looping series has ended."""
        step = self.step_at(now)
        time = float(times[step]) if step < len(times) else step / self.fps
        return PlaybackState(
            playing=self.playing and not self.ended(now),
            step=step,
            time=time,
            speed=self.speed,
            loop=self.loop,
            steps=self.steps,
            fps=self.fps,
        )
