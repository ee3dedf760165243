"""A session's live twin: the runner's events into frames and messages, clients' requests into runner commands.

The :class:`TwinController` sits between a :class:`~vizserver.streaming.hub.SessionHub` and a
:class:`~vizserver.twins.runner.TwinHost` (a local worker process or a remote worker). Starting the
twin takes a while (a worker builds its mesh), so the session is open at once and says
``twin {state: "starting"}``; when the twin is ready its object gains the twin's output fields
(a new ``scene``) and they stream live. Steering decisions are :class:`~vizserver.sessions.steering.Steering`'s;
this class only carries them out. Everything runs on the event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from vizserver.errors import VizServerError
from vizserver.protocol.messages import ErrorMessage, TwinRequest, TwinStatus
from vizserver.scenes.objects import FieldDescription, StreamObject
from vizserver.sessions.steering import Forward, Refuse, Steering, SteeringErrorCode, TwinOutput
from vizserver.streaming.streamer import LiveFrame
from vizserver.twins.base import ParameterError, ParamValue
from vizserver.twins.runner import (
    TwinEvent,
    TwinFrame,
    TwinHost,
    TwinInfo,
    TwinRefused,
    TwinState,
    TwinWasReset,
)

if TYPE_CHECKING:
    from vizserver.streaming.hub import SessionHub

log = logging.getLogger("vizserver.twins")

STATUS_COALESCE_S = 0.05
"""Accepted changes are broadcast at most this often (a drag from several clients is not a flood to everyone)."""

STATUS_EVERY_S = 2.0
"""While the twin runs, everyone gets its time and real-time factor this often (frames carry the time too)."""

HostFactory = Callable[[Callable[[TwinEvent], None]], Awaitable[TwinHost]]
"""Makes the twin's host (e.g. starts a worker process), given the callback for its events."""


class TwinController:
    def __init__(
        self,
        hub: SessionHub,
        object_id: int,
        make_host: HostFactory,
        initial_params: Mapping[str, ParamValue],
        colormap: str = "viridis",
        clock: Callable[[], float] = time.monotonic,
        message: str | None = None,
    ) -> None:
        self._hub = hub
        self.object_id = object_id
        self._initial = dict(initial_params)
        self._colormap = colormap
        self._clock = clock
        self._make_host = make_host
        self.host: TwinHost | None = None
        self.steering: Steering | None = None
        self._state = "starting"
        self._message = message
        self._last_status = -float("inf")
        self._status_pending = False

    # --- life cycle ---

    async def start(self) -> None:
        """Start the twin; on failure the session stays open and says why (``twin {state: "failed"}``)."""
        try:
            self.host = await self._make_host(self.on_event)
            info = await self.host.start()
            initial = info.schema.defaults()
            initial.update(info.schema.validate(self._initial))
        except (VizServerError, ParameterError) as exc:
            self._state, self._message = "failed", str(exc)
            if self.host is not None:
                await self.host.stop()
            log.error("session %s: the twin did not start: %s", self._hub.session.id, exc)
            self._hub.broadcast(self.status())
            return
        self.steering = Steering(
            object_id=self.object_id,
            schema=info.schema,
            outputs=tuple(TwinOutput(o.name, o.unit, o.range) for o in info.outputs),
            time_unit=info.time_unit,
            initial_params=initial,
            state="running",
        )
        session = self._hub.session
        session.make_live(live_object(session.objects[self.object_id], info, self._colormap))
        self._hub.broadcast(session.scene_message())
        self._hub.broadcast(self.status())
        self._hub.streamer.kick()

    async def stop(self) -> None:
        if self.host is not None:
            await self.host.stop()

    # --- clients ---

    def status(self) -> TwinStatus:
        if self.steering is not None:
            return self.steering.status()
        return TwinStatus(object=self.object_id, state="failed" if self._state == "failed" else "starting",
                          message=self._message, time=0.0, speed=1.0, realtime=0.0, params={}, parameters=[],
                          actions=[], outputs=[])

    def receive(self, client_id: str, msg: TwinRequest) -> None:
        steering = self.steering
        if steering is None or self.host is None:
            why = f"the twin failed to start: {self._message}" if self._state == "failed" else "the twin is starting"
            self._hub.send(client_id, ErrorMessage(code=SteeringErrorCode.TWIN_UNAVAILABLE, message=why, seq=msg.seq))
            return
        decision = steering.request(client_id, msg, self._clock())
        if isinstance(decision, Refuse):
            self._hub.send(client_id, decision.error)
        elif isinstance(decision, Forward):
            self._carry_out(decision)
            self._status_soon()

    def _status_soon(self) -> None:
        """Broadcast the status shortly: changes from many clients within ``STATUS_COALESCE_S`` share one."""
        if self._status_pending:
            return
        self._status_pending = True
        asyncio.get_running_loop().call_later(STATUS_COALESCE_S, self._status_now)

    def _status_now(self) -> None:
        self._status_pending = False
        self._hub.broadcast(self.status())

    def _carry_out(self, command: Forward) -> None:
        host = self.host
        assert host is not None  # steering exists only once the host has started
        if command.kind == "params":
            host.set_params(command.values, command.tag)
        elif command.kind == "action":
            host.act(command.action, command.point, command.tag)
        elif command.kind == "reset":
            host.reset(command.values, command.tag)
        else:
            host.control(playing=command.playing, speed=command.speed)

    def forget_client(self, client_id: str) -> None:
        if self.steering is not None:
            self.steering.forget_client(client_id)

    # --- the runner ---

    def on_event(self, event: TwinEvent) -> None:
        """What the host reports (called on the event loop)."""
        steering = self.steering
        if isinstance(event, TwinState):
            self._state, self._message = event.state, event.message
            if steering is not None:
                steering.state, steering.message = event.state, event.message
                steering.speed, steering.time = event.speed, event.time
                self._hub.broadcast(steering.status())
            elif event.state == "starting" and event.message is not None:  # e.g. waiting for a twin worker
                self._hub.broadcast(self.status())
            return
        if steering is None:
            return
        if isinstance(event, TwinFrame):
            for client_id, applied in steering.applied(event.caused_by, event.frame, event.time):
                self._hub.send(client_id, applied)
            steering.realtime, steering.step_ms = event.realtime, event.step_ms
            self._hub.streamer.push_live(self.object_id, LiveFrame(event.frame, event.time, event.fields))
            now = self._clock()
            if now - self._last_status >= STATUS_EVERY_S:
                self._last_status = now
                self._hub.broadcast(steering.status())
        elif isinstance(event, TwinRefused):
            refused = steering.refused(event.tag, event.message)
            if refused is not None:
                self._hub.send(*refused)
        elif isinstance(event, TwinWasReset):
            steering.message = event.message
            if not event.tags:  # a blow-up, not a user's reset: say so to everyone
                log.warning("session %s: %s", self._hub.session.id, event.message)
            self._hub.broadcast(steering.status())


def live_object(obj: StreamObject, info: TwinInfo, colormap: str) -> StreamObject:
    """``obj`` with the twin's outputs as streamed fields (replacing same-named ones), the first one active."""
    outputs = {o.name for o in info.outputs}
    kept = [f for f in obj.fields if f.name not in outputs]
    fields = [dataclasses.replace(f, id=i) for i, f in enumerate(kept)]
    first_output = len(fields)
    for o in info.outputs:
        lo, hi = float(o.range[0]), float(o.range[1])
        fields.append(FieldDescription(id=len(fields), name=o.name, unit=o.unit, components=1, range=(lo, hi),
                                       color_range=(lo, hi), colormap=colormap, categorical=False, streamed=True))
    active = first_output if info.outputs else obj.active_field
    return dataclasses.replace(obj, fields=tuple(fields), active_field=active)
