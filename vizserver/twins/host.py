"""What a twin host gives a session, and the sans-I/O state every host keeps (docs/twins.md, "Runtime").

The events and the :class:`TwinHost` protocol; :class:`HostState`, what waits to be sent to a worker, what is in
flight and what the twin accepted, with no process or socket; and :class:`HostRequests`, the request methods of a
host on top of it. :class:`~vizserver.twins.runner.LocalTwinRunner` (a worker process) and
:class:`~vizserver.twins.remote.RemoteTwinLink` (a worker over a WebSocket) are the two hosts.

Flow control: at most one input (parameter change, action or reset) and one ``control`` are in
flight to the worker; the next goes when the worker answers (a frame listing its tag, or
``refused``; a ``state`` for a control). Parameter changes waiting behind it merge into one (last
value wins, every tag kept) and at most ``max_pending_actions`` actions and resets wait.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from vizserver.config import PLAYBACK_MAX_SPEED, PLAYBACK_MIN_SPEED
from vizserver.errors import VizServerError
from vizserver.twins import wire
from vizserver.twins.base import ParameterError, ParamValue, Schema
from vizserver.twins.wire import OutputInfo

MAX_PENDING_ACTIONS = 8
"""Actions and resets waiting to be sent; one more is refused ("too many pending actions")."""


# --- what hosts tell sessions --------------------------------------------------------------------


class TwinStartError(VizServerError):
    """The twin could not be started (bad recipe, the twin's constructor failed, not ready in time)."""


@dataclass(frozen=True)
class TwinInfo:
    schema: Schema
    time_unit: str
    time_per_second: float
    outputs: tuple[OutputInfo, ...]
    vertices: int


@dataclass(frozen=True)
class TwinFrame:
    frame: int
    time: float
    step_ms: float
    realtime: float
    caused_by: tuple[int, ...]
    """Tags of the requests first computed in this frame (merged parameter changes: all their tags)."""
    fields: Mapping[str, npt.NDArray[np.float32]]
    """One value per bound vertex; read-only arrays."""


@dataclass(frozen=True)
class TwinState:
    state: Literal["starting", "running", "paused", "restarting", "failed"]
    speed: float
    time: float
    message: str | None = None


@dataclass(frozen=True)
class TwinRefused:
    tag: int
    message: str


@dataclass(frozen=True)
class TwinWasReset:
    message: str
    tags: tuple[int, ...]
    """The reset request's tag; empty for a numerical blow-up."""


TwinEvent = TwinFrame | TwinState | TwinRefused | TwinWasReset


class TwinHost(Protocol):
    """A running twin as a session sees it; implemented by LocalTwinRunner and the remote link."""

    info: TwinInfo | None

    async def start(self) -> TwinInfo:
        """Build and bind the twin; :class:`TwinStartError` with a one-line reason if it cannot."""

    def set_params(self, values: Mapping[str, ParamValue], tag: int) -> None:
        """Never blocks; merged with changes not yet sent."""

    def act(self, action: str, point: tuple[float, float, float] | None, tag: int) -> None: ...

    def control(self, playing: bool | None = None, speed: float | None = None) -> None: ...

    def reset(self, params: Mapping[str, ParamValue] | None, tag: int) -> None: ...

    async def stop(self) -> None: ...


# --- sans-I/O bookkeeping of one link to a worker ------------------------------------------------


@dataclass
class _Input:
    """A request waiting to be sent or in flight; a params input collects the tags merged into it."""

    kind: Literal["params", "action", "reset"]
    tags: list[int]
    values: dict[str, ParamValue] | None = None
    action: str = ""
    point: tuple[float, float, float] | None = None
    wire_tag: int = 0


@dataclass
class HostState:
    """What the server owes one twin worker and what it has been told, without any I/O.

    Requests go in (:meth:`set_params`, :meth:`act`, :meth:`reset`, :meth:`control`), wire
    messages to send come out of :meth:`sendable`, worker messages go into :meth:`received` and
    come out as events. ``params`` are the parameters the twin has accepted: a restarted worker
    starts with them.
    """

    params: dict[str, ParamValue]
    playing: bool = True
    speed: float = 1.0
    max_pending_actions: int = MAX_PENDING_ACTIONS
    schema: Schema | None = None
    time: float = 0.0
    connected: bool = False
    failure: str | None = None
    """The worker's last ``failed`` message (why it is about to exit)."""
    reported_running: bool = False
    _outbox: deque[_Input] = field(default_factory=deque)
    _in_flight: _Input | None = None
    _control_due: bool = False
    _control_in_flight: bool = False
    _next_wire_tag: int = 1

    # --- requests ---

    def set_params(self, values: Mapping[str, ParamValue], tag: int) -> list[TwinEvent]:
        try:
            checked = self._checked_params(values)
        except (ParameterError, wire.WireError) as exc:
            return [TwinRefused(tag, str(exc))]
        last = self._outbox[-1] if self._outbox else None
        if last is not None and last.kind == "params" and last.values is not None:
            last.values.update(checked)
            last.tags.append(tag)
        else:
            self._outbox.append(_Input("params", [tag], checked))
        return []

    def act(self, action: str, point: tuple[float, float, float] | None, tag: int) -> list[TwinEvent]:
        try:
            if self.schema is not None:
                self.schema.action_point(action, point)
            wire.encode(wire.Act(action, point, 0))
        except (ParameterError, wire.WireError) as exc:
            return [TwinRefused(tag, str(exc))]
        return self._queue(_Input("action", [tag], action=action, point=point))

    def reset(self, params: Mapping[str, ParamValue] | None, tag: int) -> list[TwinEvent]:
        try:
            checked = None if params is None else self._checked_params(params)
        except (ParameterError, wire.WireError) as exc:
            return [TwinRefused(tag, str(exc))]
        return self._queue(_Input("reset", [tag], checked))

    def control(self, playing: bool | None = None, speed: float | None = None) -> None:
        """Raises :class:`ParameterError` for a speed outside the playback limits."""
        if speed is not None and not PLAYBACK_MIN_SPEED <= speed <= PLAYBACK_MAX_SPEED:
            raise ParameterError(f"speed {speed:g} is outside [{PLAYBACK_MIN_SPEED:g}, {PLAYBACK_MAX_SPEED:g}]")
        if playing is not None:
            self.playing = playing
        if speed is not None:
            self.speed = float(speed)
        self._control_due = True

    def _checked_params(self, values: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
        checked = dict(values) if self.schema is None else self.schema.validate(values)
        wire.encode(wire.SetParams(checked, 0))  # what the worker would refuse as malformed, refused here
        return checked

    def _queue(self, request: _Input) -> list[TwinEvent]:
        waiting = sum(1 for r in self._outbox if r.kind != "params")
        if waiting >= self.max_pending_actions:
            return [TwinRefused(request.tags[0], f"too many pending actions ({waiting}); wait for the twin")]
        self._outbox.append(request)
        return []

    # --- the link ---

    def sendable(self) -> list[wire.ServerMessage]:
        """What may go to the worker now (nothing while it is not connected)."""
        if not self.connected:
            return []
        out: list[wire.ServerMessage] = []
        if self._control_due and not self._control_in_flight:
            out.append(wire.Control(self.playing, self.speed))
            self._control_due, self._control_in_flight = False, True
        if self._in_flight is None and self._outbox:
            request = self._in_flight = self._outbox.popleft()
            request.wire_tag = self._next_wire_tag
            self._next_wire_tag += 1
            if request.kind == "params":
                out.append(wire.SetParams(request.values or {}, request.wire_tag))
            elif request.kind == "action":
                out.append(wire.Act(request.action, request.point, request.wire_tag))
            else:
                out.append(wire.Reset(request.values, request.wire_tag))
        return out

    @property
    def expects_reply(self) -> bool:
        """The worker owes us a message soon: it runs (frames), or it has an unanswered request."""
        return self.connected and (self.reported_running or self._in_flight is not None or self._control_in_flight)

    def on_connected(self, ready: wire.Ready) -> None:
        """A new worker is ready: it gets the wanted play state first, then the waiting requests."""
        self.schema = ready.schema
        self.time = ready.time
        self.connected = True
        self.failure = None
        self.reported_running = True  # a worker starts running at speed 1
        self._control_due, self._control_in_flight = True, False

    def on_lost(self, message: str) -> list[TwinEvent]:
        """The worker is gone; the request it had not answered is refused (it is not replayed)."""
        self.connected = False
        self._control_in_flight = False
        request, self._in_flight = self._in_flight, None
        if request is None:
            return []
        return [TwinRefused(tag, f"not applied: {message}") for tag in request.tags]

    def on_failed(self, message: str) -> list[TwinEvent]:
        """Given up: every waiting request is refused."""
        events = self.on_lost(message)
        while self._outbox:
            events += [TwinRefused(tag, f"the twin has failed: {message}") for tag in self._outbox.popleft().tags]
        return events

    def received(self, message: wire.WorkerMessage) -> list[TwinEvent]:
        """Events for a worker message (``ready`` is the host's to handle: see :meth:`on_connected`)."""
        request = self._in_flight
        if isinstance(message, wire.Frame):
            self.time = message.time
            caused_by: tuple[int, ...] = ()
            if request is not None and request.wire_tag in message.caused_by:
                caused_by = tuple(request.tags)
                self._accept(request)
            return [TwinFrame(message.frame, message.time, message.step_ms, message.realtime, caused_by,
                              message.fields)]
        if isinstance(message, wire.Refused):
            if request is None or message.tag != request.wire_tag:
                return []
            self._in_flight = None
            return [TwinRefused(tag, message.message) for tag in request.tags]
        if isinstance(message, wire.WasReset):
            mine = request is not None and request.kind == "reset" and request.wire_tag in message.tags
            return [TwinWasReset(message.message, tuple(request.tags) if mine and request else ())]
        if isinstance(message, wire.State):
            self._control_in_flight = False
            if not self._control_due:  # the worker's word, e.g. it paused itself after blow-ups
                self.playing, self.speed = message.state == "running", message.speed
            self.reported_running = message.state == "running"
            self.time = message.time
            return [TwinState(message.state, message.speed, message.time, message.message)]
        if isinstance(message, wire.Failed):
            self.failure = message.message
        return []

    def _accept(self, request: _Input) -> None:
        self._in_flight = None
        if request.kind == "params" and request.values is not None:
            self.params.update(request.values)
        elif request.kind == "reset" and request.values is not None:
            self.params = dict(request.values)



class HostRequests:
    """The request half of a :class:`TwinHost` over a :class:`HostState`: queue (merged) and hand on.

    Hosts provide ``_state``, ``_refusal`` (why requests are refused now, e.g. the worker is gone),
    ``_flush`` (pass what may go now to the worker) and ``_emit`` (hand an event to the server).
    """

    _state: HostState

    def _refusal(self) -> str | None:
        raise NotImplementedError

    def _flush(self) -> None:
        raise NotImplementedError

    def _emit(self, event: TwinEvent) -> None:
        raise NotImplementedError

    def _request(self, apply: Callable[[], list[TwinEvent]], tag: int) -> None:
        why = self._refusal()
        if why is not None:
            events: list[TwinEvent] = [TwinRefused(tag, why)]
        else:
            events = apply()
            self._flush()
        loop = asyncio.get_running_loop()
        for event in events:  # soon, not now: the caller is not re-entered from its own call
            loop.call_soon(self._emit, event)

    def set_params(self, values: Mapping[str, ParamValue], tag: int) -> None:
        self._request(lambda: self._state.set_params(values, tag), tag)

    def act(self, action: str, point: tuple[float, float, float] | None, tag: int) -> None:
        self._request(lambda: self._state.act(action, point, tag), tag)

    def reset(self, params: Mapping[str, ParamValue] | None, tag: int) -> None:
        self._request(lambda: self._state.reset(params, tag), tag)

    def control(self, playing: bool | None = None, speed: float | None = None) -> None:
        """Raises :class:`~vizserver.twins.base.ParameterError` for a speed outside the playback limits."""
        self._state.control(playing, speed)
        self._flush()
