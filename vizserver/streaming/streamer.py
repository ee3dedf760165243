"""The per-session frame loop: advance playback, encode each step's fields once, hand them to every subscriber.

One asyncio task per session. Each round it reads the playback step and the session's streams
(subscribed (object, field) pairs), encodes the streams whose step changed in a worker thread
(reading the step and quantizing/compressing are CPU work), and puts the same :class:`FramePair`
into the outbox of every subscriber that has not been given it yet; the outbox picks keyframe or
delta per client. A client that joins or subscribes while playback is paused therefore still gets
the current step. While playing, the step encoded is the one due ``PLAYBACK_LEAD_S`` from now (at
least one step ahead, see :func:`lead_step`), so frames arrive before their display time; the round
right after a playback change (play, pause, seek, speed) sends the current step instead, so a seek
shows at once. The loop sleeps until the next step is due or it is kicked (playback changed,
someone subscribed, a keyframe was asked for).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vizserver.config import PLAYBACK_LEAD_MAX_STEPS, PLAYBACK_LEAD_S
from vizserver.errors import VizServerError
from vizserver.protocol.field_encoder import FieldEncoder, FramePair
from vizserver.protocol.outbox import Outbox
from vizserver.scenes.objects import FieldDescription, StreamObject
from vizserver.sessions.playback import Playback
from vizserver.sessions.session import Session
from vizserver.streaming.series import SeriesLoader

log = logging.getLogger("vizserver.streaming")

Key = tuple[int, int]
U32_MASK = 0xFFFFFFFF


def lead_step(playback: Playback, now: float) -> int:
    """The step to send at ``now``: while playing, the one shown ``PLAYBACK_LEAD_S`` later (1 to
    ``PLAYBACK_LEAD_MAX_STEPS`` steps ahead, wrapped or held at the end as playback does); else the current one."""
    rate = playback.fps * playback.speed
    if not playback.playing:
        return playback.step_at(now)
    steps = min(max(round(PLAYBACK_LEAD_S * rate), 1), PLAYBACK_LEAD_MAX_STEPS)
    return playback.step_at(now + steps / rate)


@dataclass(frozen=True, slots=True)
class _Latest:
    step: int
    pair: FramePair


@dataclass(frozen=True, slots=True)
class LiveFrame:
    """The newest output of a live twin on one object: frame number, twin time, values by field name."""

    frame: int
    time: float
    fields: Mapping[str, npt.NDArray[np.float32]]


class Streamer:
    """Frames for one session. ``outboxes`` maps connected client ids to their outboxes (live view)."""

    def __init__(
        self,
        session: Session,
        outboxes: Mapping[str, Outbox],
        loader: SeriesLoader,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._outboxes = outboxes
        self._loader = loader
        self._clock = clock
        self._kick = asyncio.Event()
        self._encoders: dict[Key, FieldEncoder] = {}
        self._latest: dict[Key, _Latest] = {}
        self._given: dict[Key, set[str]] = {}
        self._failed: set[tuple[Key, int]] = set()
        self._seen: Playback | None = None  # the playback of the last round, to notice changes
        self._live: dict[int, LiveFrame] = {}
        self.frames_encoded = 0

    def kick(self) -> None:
        """Re-evaluate now (playback or subscriptions changed)."""
        self._kick.set()

    def resend(self, client_id: str, key: Key) -> None:
        """Give ``client_id`` the current frame of ``key`` again (it asked for a keyframe)."""
        self._given.get(key, set()).discard(client_id)
        self._kick.set()

    def push_live(self, object_id: int, frame: LiveFrame) -> None:
        """A twin computed ``frame`` for ``object_id``: send it to the subscribers (an unsent older one is dropped)."""
        self._live[object_id] = frame
        self._kick.set()

    def forget(self, client_id: str) -> None:
        """``client_id`` has a new, empty outbox (it connected or resumed): it needs every current frame again."""
        for given in self._given.values():
            given.discard(client_id)

    async def run(self) -> None:
        while True:
            self._kick.clear()
            try:
                await self.deliver()
            except Exception:  # a bug must not end streaming for the whole session: log it, go on next round
                log.exception("session %s: frame round failed", self._session.id)
            due = self._session.playback.next_step_time(self._clock())
            timeout = None if due is None else max(0.0, due - self._clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), timeout)

    async def deliver(self) -> None:
        """One round: encode what changed, then offer each stream's latest frame to whoever lacks it."""
        session = self._session
        now = self._clock()
        playback = session.playback
        changed = playback is not self._seen
        self._seen = playback
        step = playback.step_at(now) if changed else lead_step(playback, now)
        streams = session.streams()
        jobs: list[tuple[Key, StreamObject, int]] = []
        live_jobs: list[tuple[Key, StreamObject, LiveFrame]] = []
        for key in streams:
            obj = session.objects[key[0]]
            if key[0] in session.live_objects:
                live, latest = self._live.get(key[0]), self._latest.get(key)
                if live is not None and (latest is None or latest.step != live.frame):
                    live_jobs.append((key, obj, live))
                continue
            obj_step = min(step, len(obj.times or ()) - 1)
            latest = self._latest.get(key)
            if obj_step >= 0 and (latest is None or latest.step != obj_step) and (key, obj_step) not in self._failed:
                jobs.append((key, obj, obj_step))
        if jobs or live_jobs:
            encoded = await asyncio.to_thread(self._encode_all, jobs, live_jobs)
            for key, obj_step, pair in encoded:
                self._latest[key] = _Latest(obj_step, pair)
                self._given[key] = set()
        for key, clients in streams.items():
            current = self._latest.get(key)
            if current is None:
                continue
            given = self._given.setdefault(key, set())
            for client_id in clients:
                outbox = self._outboxes.get(client_id)
                if outbox is not None and client_id not in given:
                    outbox.put_frames(current.pair)
                    given.add(client_id)

    def _encode_all(
        self, jobs: list[tuple[Key, StreamObject, int]], live_jobs: list[tuple[Key, StreamObject, LiveFrame]]
    ) -> list[tuple[Key, int, FramePair]]:
        return self._encode(jobs) + self._encode_live(live_jobs)

    def _encode_live(self, jobs: list[tuple[Key, StreamObject, LiveFrame]]) -> list[tuple[Key, int, FramePair]]:
        """Runs in a worker thread: the frame number travels in the header's ``step``."""
        out: list[tuple[Key, int, FramePair]] = []
        for key, obj, live in jobs:
            desc = obj.field(key[1])
            values = None if desc is None else live.fields.get(desc.name)
            if desc is None or values is None:
                continue
            try:
                pair = self._encoder(key, desc).encode(values, step=live.frame & U32_MASK, time=live.time)
            except (VizServerError, ValueError) as exc:
                log.error("%s: live field %s frame %d cannot be streamed: %s", obj.name, desc.name, live.frame, exc)
                continue
            self.frames_encoded += 1
            out.append((key, live.frame, pair))
        return out

    def _encoder(self, key: Key, desc: FieldDescription) -> FieldEncoder:
        encoder = self._encoders.get(key)
        if encoder is None:
            lo, hi = desc.range or (0.0, 0.0)
            encoder = FieldEncoder(key[0], key[1], lo=lo, hi=hi, components=desc.components)
            self._encoders[key] = encoder
        return encoder

    def _encode(self, jobs: list[tuple[Key, StreamObject, int]]) -> list[tuple[Key, int, FramePair]]:
        """Runs in a worker thread: read each step's values and encode them (one encoder per stream)."""
        out: list[tuple[Key, int, FramePair]] = []
        for key, obj, step in jobs:
            desc = obj.field(key[1])
            if desc is None or obj.series is None or obj.times is None:
                continue
            try:
                values = self._loader.values(obj.series, obj.name).values(desc.name, step)
                encoder = self._encoder(key, desc)
                time_value = obj.times[step]
                pair = encoder.encode(values, step=step, time=time_value if math.isfinite(time_value) else 0.0)
            except (VizServerError, OSError, ValueError, KeyError) as exc:
                self._failed.add((key, step))
                log.error("%s: field %s step %d cannot be streamed: %s", obj.name, desc.name, step, exc)
                continue
            self.frames_encoded += 1
            out.append((key, step, pair))
        return out
