"""Steering a session's twin, as pure logic: check each request, tag it, and say who hears what.

A client's ``twin_params`` / ``twin_action`` / ``twin_control`` (each with the client's ``seq``) is
rate-limited per client (a token bucket), validated against the twin's schema, and becomes a
:class:`Forward` with a fresh server-wide ``tag`` for the runner, or an ``error`` for that client
alone. When a twin frame reports the tags it was computed with (``caused_by``), :meth:`Steering.applied`
names the clients to tell (``twin_applied {seq, frame}``), which is how clients measure steering
latency. Parameter changes are applied to :attr:`Steering.params` at once, so every client's
controls follow the last accepted value. Nothing here touches a socket, a process or a clock.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from vizserver.protocol.messages import (
    ActionInfo,
    ErrorMessage,
    OutputInfo,
    ParameterInfo,
    TwinAction,
    TwinApplied,
    TwinParams,
    TwinRequest,
    TwinStateName,
    TwinStatus,
)
from vizserver.sessions.ratelimit import RateLimiter
from vizserver.twins.base import ParameterError, ParamValue, Schema

STEERING_RATE_PER_S = 20.0
"""Twin requests a client may send per second on average; more are dropped with ``rate_limited``."""
STEERING_BURST = 20
"""Requests a client may send at once after a quiet spell."""
MAX_PENDING_TAGS = 1024
"""Tags waiting for their first frame; the oldest are forgotten past this (their clients get no ``twin_applied``)."""


class SteeringErrorCode:
    BAD_PARAMETER = "bad_parameter"
    RATE_LIMITED = "rate_limited"
    TWIN_UNAVAILABLE = "twin_unavailable"


@dataclass(frozen=True, slots=True)
class Forward:
    """What the runner is asked to do; ``kind`` is ``params``, ``action``, ``control`` or ``reset``."""

    kind: str
    tag: int
    values: Mapping[str, ParamValue] = field(default_factory=dict)
    action: str = ""
    point: tuple[float, float, float] | None = None
    playing: bool | None = None
    speed: float | None = None


@dataclass(frozen=True, slots=True)
class Refuse:
    error: ErrorMessage


@dataclass(frozen=True, slots=True)
class TwinOutput:
    name: str
    unit: str
    range: tuple[float, float]


@dataclass(slots=True)
class Steering:
    """The steering state of one session's twin, drawn on scene object ``object_id``."""

    object_id: int
    schema: Schema
    outputs: tuple[TwinOutput, ...]
    time_unit: str
    initial_params: dict[str, ParamValue]
    params: dict[str, ParamValue] = field(default_factory=dict)
    state: TwinStateName = "starting"
    message: str | None = None
    time: float = 0.0
    speed: float = 1.0
    realtime: float = 0.0
    step_ms: float = 0.0
    _next_tag: int = 1
    _tags: OrderedDict[int, tuple[str, int]] = field(default_factory=OrderedDict)
    _limiter: RateLimiter = field(default_factory=lambda: RateLimiter(STEERING_RATE_PER_S, STEERING_BURST))
    _warned_at: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.params:
            self.params = dict(self.initial_params)

    # --- requests from clients ---

    def request(self, client_id: str, msg: TwinRequest, now: float) -> Forward | Refuse | None:
        """A client's request as a runner command, or the error for that client (``None``: dropped quietly)."""
        if not self._limiter.take(client_id, now):
            if now - self._warned_at.get(client_id, -math.inf) < 1.0:
                return None  # one rate_limited error a second is enough to say it
            self._warned_at[client_id] = now
            why = f"too many twin changes (over {STEERING_RATE_PER_S:g} a second); dropped"
            return Refuse(_error(SteeringErrorCode.RATE_LIMITED, why, msg.seq))
        if self.state == "failed":
            reason = f": {self.message}" if self.message else ""
            return Refuse(_error(SteeringErrorCode.TWIN_UNAVAILABLE, f"the twin has failed{reason}", msg.seq))
        try:
            return self._forward(client_id, msg)
        except ParameterError as exc:
            return Refuse(_error(SteeringErrorCode.BAD_PARAMETER, str(exc), msg.seq))

    def _forward(self, client_id: str, msg: TwinRequest) -> Forward:
        if isinstance(msg, TwinParams):
            values = self.schema.validate(msg.values)
            self.params.update(values)
            return Forward("params", self._tag(client_id, msg.seq), values=values)
        if isinstance(msg, TwinAction):
            point = self.schema.action_point(msg.action, msg.point)
            where = None if point is None else (float(point[0]), float(point[1]), float(point[2]))
            return Forward("action", self._tag(client_id, msg.seq), action=msg.action, point=where)
        if msg.reset:
            self.params = dict(self.initial_params)
            return Forward("reset", self._tag(client_id, msg.seq), values=dict(self.initial_params))
        if msg.playing is None and msg.speed is None:
            raise ParameterError("twin_control: give playing, speed or reset")
        if msg.speed is not None:
            self.speed = msg.speed
        if msg.playing is not None:
            self.state = "running" if msg.playing else "paused"
        return Forward("control", 0, playing=msg.playing, speed=msg.speed)  # no frame computes "with" a pause

    def _tag(self, client_id: str, seq: int) -> int:
        tag = self._next_tag
        self._next_tag += 1
        self._tags[tag] = (client_id, seq)
        while len(self._tags) > MAX_PENDING_TAGS:
            self._tags.popitem(last=False)
        return tag

    def forget_client(self, client_id: str) -> None:
        self._limiter.forget(client_id)
        self._warned_at.pop(client_id, None)

    # --- what the runner reports ---

    def applied(self, caused_by: tuple[int, ...], frame: int, time: float) -> list[tuple[str, TwinApplied]]:
        """``twin_applied`` for each client whose request was first computed in ``frame``."""
        self.time = time
        out = []
        for tag in caused_by:
            who = self._tags.pop(tag, None)
            if who is not None:
                out.append((who[0], TwinApplied(seq=who[1], frame=frame & 0xFFFFFFFF, time=time)))
        return out

    def refused(self, tag: int, message: str) -> tuple[str, ErrorMessage] | None:
        """The runner refused request ``tag``: the error for its client."""
        who = self._tags.pop(tag, None)
        if who is None:
            return None
        return who[0], _error(SteeringErrorCode.BAD_PARAMETER, message, who[1])

    # --- what clients see ---

    def status(self) -> TwinStatus:
        params = {k: _plain(v) for k, v in self.params.items()}
        return TwinStatus(
            object=self.object_id,
            state=self.state,
            message=self.message,
            time=self.time if math.isfinite(self.time) else 0.0,
            time_unit=self.time_unit,
            speed=self.speed,
            realtime=max(0.0, self.realtime) if math.isfinite(self.realtime) else 0.0,
            step_ms=max(0.0, self.step_ms) if math.isfinite(self.step_ms) else 0.0,
            params=params,
            parameters=[
                ParameterInfo(
                    name=p.name,
                    type=p.type,
                    default=_plain(p.default),
                    unit=p.unit,
                    minimum=p.minimum,
                    maximum=p.maximum,
                    choices=list(p.choices) if p.choices else None,
                    description=p.description,
                )
                for p in self.schema.parameters
            ],
            actions=[ActionInfo(name=a.name, description=a.description, needs_point=a.needs_point)
                     for a in self.schema.actions],
            outputs=[OutputInfo(name=o.name, unit=o.unit, range=o.range) for o in self.outputs],
        )


def _error(code: str, message: str, seq: int) -> ErrorMessage:
    return ErrorMessage(code=code, message=message[:1000], seq=seq)


def _plain(value: ParamValue | np.generic) -> ParamValue:
    """Numpy scalars as plain Python values (JSON)."""
    if isinstance(value, np.generic):
        plain: ParamValue = value.item()
        return plain
    return value
