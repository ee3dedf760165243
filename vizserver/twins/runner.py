"""Hosting a twin in a local worker process, driven from the server's event loop (docs/twins.md, "Runtime").

:class:`LocalTwinRunner` owns the worker process, moves messages with two threads (the reader hands
at most :data:`MAX_UNDELIVERED_MESSAGES` to the loop at a time, so a slow loop makes the worker block
on send rather than the server's memory grow), and restarts a worker that dies or stops answering.
What it queues and what it tells the session are :mod:`vizserver.twins.host`'s, shared with the
remote host; the names are re-exported here.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import queue
import signal
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import numpy.typing as npt

from vizserver.errors import VizServerError
from vizserver.io.isolation import main_script_hidden
from vizserver.twins import wire
from vizserver.twins.host import (
    MAX_PENDING_ACTIONS,
    HostRequests,
    HostState,
    TwinEvent,
    TwinFrame,
    TwinHost,
    TwinInfo,
    TwinRefused,
    TwinStartError,
    TwinState,
    TwinWasReset,
)
from vizserver.twins.recipes import TwinRecipe, check_recipe
from vizserver.twins.wire import OutputInfo
from vizserver.twins.worker import DEFAULT_FRAME_INTERVAL_S, ChannelClosedError, PipeChannel, process_main

log = logging.getLogger("vizserver.twins")

DEFAULT_HANG_TIMEOUT_S = 10.0
"""A running worker that sends nothing for this long (or leaves an input unanswered) is killed and restarted."""
DEFAULT_START_TIMEOUT_S = 120.0
"""Building a twin (a large mesh, a recording read from disk) may take this long before ``ready``."""
DEFAULT_MAX_RESTARTS = 3
"""Restarts allowed within RESTART_WINDOW_S; one more failure and the twin is given up ("failed")."""
RESTART_WINDOW_S = 60.0
MAX_UNDELIVERED_MESSAGES = 4
"""Worker messages handed to the event loop and not yet handled; the reader thread waits beyond this."""
STOP_TIMEOUT_S = 5.0
"""A stopping worker has this long to exit after ``stop`` before it is killed."""

__all__ = [
    "HostState", "LocalTwinRunner", "OutputInfo", "TwinEvent", "TwinFrame", "TwinHost", "TwinInfo", "TwinRefused",
    "TwinStartError", "TwinState", "TwinWasReset",
]


# --- the worker process and its two threads ------------------------------------------------------


@dataclass(frozen=True)
class _Lost:
    reason: str


Delivery = Callable[[wire.WorkerMessage | _Lost], None]


class _WorkerProcess:
    """One worker process; a writer thread sends, a reader thread hands messages to the event loop."""

    def __init__(self, recipe: TwinRecipe, frame_interval_s: float, vertices: int,
                 loop: asyncio.AbstractEventLoop, deliver: Delivery) -> None:
        context = multiprocessing.get_context("forkserver")  # the server has threads: no plain fork
        parent, child = context.Pipe(duplex=True)
        self.process = context.Process(target=process_main, args=(child, recipe, frame_interval_s), daemon=True,
                                       name=f"twin {recipe.kind}")
        with main_script_hidden():
            self.process.start()
        child.close()
        self.channel = PipeChannel(parent)
        self._vertices = vertices
        self._loop = loop
        self._deliver = deliver
        self._outbox: queue.SimpleQueue[wire.Encoded | None] = queue.SimpleQueue()
        self._slots = threading.Semaphore(MAX_UNDELIVERED_MESSAGES)
        self._reader = threading.Thread(target=self._read, name="twin reader", daemon=True)
        self._writer = threading.Thread(target=self._write, name="twin writer", daemon=True)
        self._reader.start()
        self._writer.start()

    def send(self, message: wire.ServerMessage) -> None:
        self._outbox.put(wire.encode(message))

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()

    def close(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` for the process to exit, then kill it; the exit code. Blocks: run in a thread."""
        self._outbox.put(None)
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self._slots.release(MAX_UNDELIVERED_MESSAGES)  # a reader waiting for the loop may finish now
        self._writer.join(timeout)
        self._reader.join(timeout)  # both end once the process is gone (unless a grandchild holds the pipe)
        self.channel.close()
        return self.process.exitcode

    def exit_description(self) -> str:
        code = self.process.exitcode
        if code is None:
            return "is still running"
        if code < 0:
            return f"died ({signal.Signals(-code).name})"
        return f"exited with code {code}"

    def _write(self) -> None:
        while (item := self._outbox.get()) is not None:
            try:
                self.channel.send(*item)
            except ChannelClosedError:
                return  # the reader sees the end and reports it

    def _read(self) -> None:
        while True:
            item: wire.WorkerMessage | _Lost
            try:
                received = self.channel.receive(None)
                assert received is not None
                item = wire.decode_from_worker(*received, self._vertices)
            except ChannelClosedError:
                item = _Lost("exited")
            except wire.WireError as exc:
                item = _Lost(f"sent a bad message ({exc})")
            self._slots.acquire()
            try:
                self._loop.call_soon_threadsafe(self._hand_over, item)
            except RuntimeError:  # the loop is closed: nobody listens any more
                return
            if isinstance(item, _Lost):
                return

    def _hand_over(self, item: wire.WorkerMessage | _Lost) -> None:
        self._slots.release()
        self._deliver(item)


# --- the runner ----------------------------------------------------------------------------------

Phase = Literal["new", "starting", "up", "restarting", "failed", "stopped"]


class LocalTwinRunner(HostRequests):
    """A :class:`TwinHost` running the twin of ``recipe`` in a local worker process.

    ``targets`` are the ``(n, 3)`` vertex positions (in the twin's coordinates) its outputs are
    bound to. ``on_event`` is called on the event loop thread; every method is called on the loop.
    """

    def __init__(
        self,
        recipe: TwinRecipe,
        targets: npt.ArrayLike,
        on_event: Callable[[TwinEvent], None],
        frame_interval_s: float = DEFAULT_FRAME_INTERVAL_S,
        *,
        hang_timeout_s: float = DEFAULT_HANG_TIMEOUT_S,
        start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
        max_restarts: int = DEFAULT_MAX_RESTARTS,
        max_pending_actions: int = MAX_PENDING_ACTIONS,
        playing: bool = True,
        speed: float = 1.0,
    ) -> None:
        self.info: TwinInfo | None = None
        self._recipe = recipe
        self._targets = np.asarray(targets, dtype=np.float32)
        self._on_event = on_event
        self._interval = frame_interval_s
        self._hang_timeout_s = hang_timeout_s
        self._start_timeout_s = start_timeout_s
        self._max_restarts = max_restarts
        self._state = HostState(dict(recipe.params), max_pending_actions=max_pending_actions)
        self._state.control(playing, speed)
        self._phase: Phase = "new"
        self._failure = ""
        self._worker: _WorkerProcess | None = None
        self._generation = 0
        """Bumped whenever the current worker is let go: messages of an older generation are ignored."""
        self._ready: asyncio.Future[wire.Ready] | None = None
        self._quiet_since = 0.0
        self._restarts: deque[float] = deque()
        self._watchdog: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def stopped(self) -> bool:
        return self._phase == "stopped"

    @property
    def pid(self) -> int | None:
        """The current worker's process id (None between workers)."""
        return None if self._worker is None else self._worker.process.pid

    # --- TwinHost ---

    async def start(self) -> TwinInfo:
        if self._phase != "new":
            raise TwinStartError(f"twin {self._recipe.kind}: start() was already called")
        try:
            check_recipe(self._recipe)
            if self._targets.ndim != 2 or self._targets.shape[1] != 3 or len(self._targets) == 0:
                raise TwinStartError(f"twin {self._recipe.kind}: targets must be (n, 3) with n >= 1, "
                                     f"got shape {self._targets.shape}")
            self._phase = "starting"
            self._emit(TwinState("starting", self._state.speed, 0.0))
            info = await self._launch()
        except VizServerError as exc:
            if not self.stopped:
                self._phase, self._failure = "failed", str(exc)
                self._emit(TwinState("failed", self._state.speed, 0.0, str(exc)))
            raise TwinStartError(str(exc)) from None
        self._watchdog = asyncio.create_task(self._watch(), name="twin watchdog")
        return info

    async def stop(self) -> None:
        """Ask the worker to stop, kill it after STOP_TIMEOUT_S, and wait for it and its threads."""
        if self._phase == "stopped":
            return
        self._phase = "stopped"
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(TwinStartError("the twin was stopped while starting"))
        if self._watchdog is not None:
            self._watchdog.cancel()
        await asyncio.gather(*self._tasks, *([self._watchdog] if self._watchdog else []), return_exceptions=True)
        worker = self._detach()
        if worker is not None:
            worker.send(wire.Stop())
            await asyncio.to_thread(worker.close, STOP_TIMEOUT_S)

    # --- requests ---

    def _refusal(self) -> str | None:
        if self._phase in ("failed", "stopped"):
            return f"the twin has failed: {self._failure}" if self._phase == "failed" else "the twin was stopped"
        return None

    def _flush(self) -> None:
        if self._worker is None or self._phase != "up":
            return
        messages = self._state.sendable()
        for message in messages:
            self._worker.send(message)
        if messages:
            self._quiet_since = asyncio.get_running_loop().time()

    # --- the worker ---

    async def _launch(self) -> TwinInfo:
        """Start a worker with the accepted params and wait for ``ready``; TwinStartError if it never is."""
        loop = asyncio.get_running_loop()
        self._generation += 1
        generation = self._generation
        recipe = replace(self._recipe, params=dict(self._state.params))
        self._ready = ready = loop.create_future()
        deliver = functools.partial(self._on_item, generation)
        worker = await asyncio.to_thread(_WorkerProcess, recipe, self._interval, len(self._targets), loop, deliver)
        if generation != self._generation or self._phase == "stopped":
            await asyncio.to_thread(worker.close, 0.0)
            raise TwinStartError("the twin was stopped while starting")
        self._worker = worker
        worker.send(wire.Bind(self._targets))
        try:
            message = await asyncio.wait_for(ready, self._start_timeout_s)
        except TimeoutError:
            await self._end(self._detach())
            raise TwinStartError(f"twin {self._recipe.kind}: not ready within {self._start_timeout_s:g} s") from None
        if generation != self._generation:
            raise TwinStartError(f"twin {self._recipe.kind}: the worker exited right after it was ready")
        if message.vertices != len(self._targets):
            await self._end(self._detach())
            raise TwinStartError(f"twin {self._recipe.kind}: the worker bound {message.vertices} vertices, "
                                 f"not {len(self._targets)}")
        self.info = TwinInfo(message.schema, message.time_unit, message.time_per_second, message.outputs,
                             message.vertices)
        self._state.on_connected(message)
        self._phase = "up"
        self._quiet_since = loop.time()
        self._flush()
        return self.info

    def _on_item(self, generation: int, item: wire.WorkerMessage | _Lost) -> None:
        if generation != self._generation:
            return  # from a worker already let go
        self._quiet_since = asyncio.get_running_loop().time()
        if isinstance(item, _Lost):
            self._begin_recovery(f"the twin worker {item.reason}")
        elif isinstance(item, wire.Ready):
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(item)
        else:
            for event in self._state.received(item):
                self._emit(event)
            self._flush()

    def _detach(self) -> _WorkerProcess | None:
        """Let the current worker go: from now on its messages are ignored."""
        self._generation += 1
        worker, self._worker = self._worker, None
        return worker

    async def _end(self, worker: _WorkerProcess | None) -> str:
        """Kill ``worker`` (if still running) and wait for it; how it ended, in words."""
        if worker is None:
            return "is gone"
        worker.kill()
        await asyncio.to_thread(worker.close, STOP_TIMEOUT_S)
        return worker.exit_description()

    def _begin_recovery(self, reason: str) -> None:
        """The worker died, hung or misbehaved: let it go now, fail a pending start or restart in a task."""
        worker = self._detach()
        was_up = self._phase == "up"
        if was_up:
            self._phase = "restarting"
        events = self._state.on_lost(self._state.failure or reason) if was_up else []
        task = asyncio.create_task(self._recover(worker, reason, self._state.failure, was_up, events))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _recover(self, worker: _WorkerProcess | None, reason: str, failure: str | None, was_up: bool,
                       events: list[TwinEvent]) -> None:
        how = await self._end(worker)
        message = failure or f"{reason} ({how})"
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(TwinStartError(message))
        if not was_up or self._phase == "stopped":
            return
        for event in events:
            self._emit(event)
        await self._restart(message)

    async def _restart(self, message: str) -> None:
        loop = asyncio.get_running_loop()
        while self._phase not in ("stopped", "failed"):
            now = loop.time()
            while self._restarts and self._restarts[0] < now - RESTART_WINDOW_S:
                self._restarts.popleft()
            if len(self._restarts) >= self._max_restarts:
                self._give_up(f"{message} ({len(self._restarts) + 1} failures within {RESTART_WINDOW_S:g} s)")
                return
            self._restarts.append(now)
            self._phase = "restarting"
            log.warning("twin %s: %s; restarting", self._recipe.kind, message)
            self._emit(TwinState("restarting", self._state.speed, self._state.time, f"{message}; restarting"))
            try:
                await self._launch()
                return
            except TwinStartError as exc:
                message = str(exc)

    def _give_up(self, message: str) -> None:
        self._phase, self._failure = "failed", message
        log.error("twin %s: giving up: %s", self._recipe.kind, message)
        for event in self._state.on_failed(message):
            self._emit(event)
        self._emit(TwinState("failed", self._state.speed, self._state.time, message))

    async def _watch(self) -> None:
        """Restart a worker that owes a message (it runs, or has a request) and sent nothing for hang_timeout_s."""
        loop = asyncio.get_running_loop()
        period = min(self._hang_timeout_s / 4, 1.0)
        while self._phase not in ("stopped", "failed"):
            await asyncio.sleep(period)  # a watchdog's tick, not a wait for an event
            quiet = loop.time() - self._quiet_since
            if self._phase == "up" and self._state.expects_reply and quiet > self._hang_timeout_s:
                self._begin_recovery(f"the twin stopped answering (nothing for {quiet:.1f} s)")

    def _emit(self, event: TwinEvent) -> None:
        try:
            self._on_event(event)
        except Exception:  # a listener's bug must not stop the twin
            log.exception("twin %s: the event listener failed on %s", self._recipe.kind, type(event).__name__)
