"""A session's twin run by whichever ``vizserver worker`` takes its job from Redis (server side).

:class:`RedisTwinHost` is a :class:`~vizserver.twins.host.TwinHost`: it posts the job (``XADD
vz:twin:jobs``, with the ``bind`` message already on the job's ``to-worker`` stream) and then speaks
the worker wire protocol over the job's two streams (:mod:`vizserver.scale.twin_keys`). Each posting
is a new *generation* (``INCR vz:twin:{sid}:gen``): a worker still running an older one stops. When
the worker is lost (its ``vz:worker:{id}`` key expired, it went silent past ``hang_timeout_s``, its
twin raised, or it handed the job back on SIGTERM), the host retires the job and posts it again with
the parameters the twin had accepted; the session is told (``restarting: ...``). Until some worker
takes a job the session says it is waiting for one; that is a state, not an error. Queuing, merging
and flow control are :class:`~vizserver.twins.host.HostState`'s, as for the local and WebSocket hosts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Literal

import numpy as np
import numpy.typing as npt
from redis.exceptions import ResponseError

from vizserver.errors import VizServerError
from vizserver.scale.redis_link import REDIS_ERRORS, RedisLink
from vizserver.scale.twin_channel import MAX_STREAM_ENTRIES
from vizserver.scale.twin_keys import (
    GROUP,
    JOBS,
    JOBS_MAXLEN,
    STREAM_TTL_S,
    FieldMap,
    JobStreams,
    TwinJob,
    entries,
    generation_key,
    job_fields,
    message_fields,
    message_of,
    worker_key,
)
from vizserver.twins import wire
from vizserver.twins.host import (
    MAX_PENDING_ACTIONS,
    HostRequests,
    HostState,
    TwinEvent,
    TwinInfo,
    TwinStartError,
    TwinState,
)
from vizserver.twins.recipes import TwinRecipe, check_recipe
from vizserver.twins.runner import (
    DEFAULT_HANG_TIMEOUT_S,
    DEFAULT_MAX_RESTARTS,
    DEFAULT_START_TIMEOUT_S,
    RESTART_WINDOW_S,
)
from vizserver.twins.worker import DEFAULT_FRAME_INTERVAL_S, one_line

log = logging.getLogger("vizserver.twins")

CLAIM_NOTICE_S = 1.0
"""A job no worker has taken after this long: the session is told it waits for a worker."""
READ_BLOCK_MS = 250
"""Longest single wait for the worker's messages; liveness is checked between reads."""
READ_COUNT = 8
LIVENESS_QUIET_S = 1.0
"""A worker that sent nothing for this long has its ``vz:worker`` key looked at (every LIVENESS_EVERY_S)."""
LIVENESS_EVERY_S = 0.5
REDIS_RETRY_S = 0.5
"""While Redis fails, the host retries this often (a Redis outage is not a lost worker)."""

Phase = Literal["new", "starting", "up", "restarting", "failed", "stopped"]


class _FatalJobError(Exception):
    """The job cannot run anywhere (its twin cannot be built, it binds the wrong vertex count)."""


class RedisTwinHost(HostRequests):
    """The twin of ``recipe`` for session ``session_id``, run by a ``vizserver worker`` through ``link``.

    ``targets`` are the ``(n, 3)`` vertex positions its outputs are bound to; ``on_event`` is called
    on the event loop, as every method is.
    """

    def __init__(
        self,
        link: RedisLink,
        session_id: str,
        recipe: TwinRecipe,
        targets: npt.ArrayLike,
        on_event: Callable[[TwinEvent], None],
        frame_interval_s: float = DEFAULT_FRAME_INTERVAL_S,
        *,
        hang_timeout_s: float = DEFAULT_HANG_TIMEOUT_S,
        start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
        max_restarts: int = DEFAULT_MAX_RESTARTS,
        claim_notice_s: float = CLAIM_NOTICE_S,
        max_pending_actions: int = MAX_PENDING_ACTIONS,
    ) -> None:
        self.info: TwinInfo | None = None
        self.worker: str | None = None
        """The worker running the current generation (None until one claims it)."""
        self.generation = 0
        self._link = link
        self._session_id = session_id
        self._recipe = recipe
        self._targets = np.ascontiguousarray(targets, dtype=np.float32)
        self._on_event = on_event
        self._interval = frame_interval_s
        self._hang_timeout_s = hang_timeout_s
        self._start_timeout_s = start_timeout_s
        self._max_restarts = max_restarts
        self._claim_notice_s = claim_notice_s
        self._state = HostState(dict(recipe.params), max_pending_actions=max_pending_actions)
        self._phase: Phase = "new"
        self._failure = ""
        self._entry_id: bytes | None = None
        self._streams: JobStreams | None = None
        self._ready: asyncio.Future[TwinInfo] | None = None
        self._outgoing: deque[wire.ServerMessage] = deque()
        self._wake = asyncio.Event()
        self._quiet_since = 0.0
        self._restarts: deque[float] = deque()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def stopped(self) -> bool:
        return self._phase == "stopped"

    # --- TwinHost ---

    async def start(self) -> TwinInfo:
        if self._phase != "new":
            raise TwinStartError(f"twin {self._recipe.kind}: start() was already called")
        try:
            check_recipe(self._recipe)
            if self._targets.ndim != 2 or self._targets.shape[1] != 3 or len(self._targets) == 0:
                raise TwinStartError(f"twin {self._recipe.kind}: targets must be (n, 3) with n >= 1, "
                                     f"got shape {self._targets.shape}")
            job_fields(TwinJob(self._session_id, 1, self._recipe, self._interval))  # plain JSON, or say why now
        except VizServerError as exc:
            self._phase, self._failure = "failed", str(exc)
            self._emit(TwinState("failed", self._state.speed, 0.0, str(exc)))
            raise TwinStartError(str(exc)) from None
        loop = asyncio.get_running_loop()
        self._phase = "starting"
        self._emit(TwinState("starting", self._state.speed, 0.0))
        self._ready = loop.create_future()
        self._tasks = [loop.create_task(self._supervise(), name=f"twin job {self._session_id}"),
                       loop.create_task(self._send_outgoing(), name=f"twin job sender {self._session_id}")]
        return await self._ready

    async def stop(self) -> None:
        """Stop the worker (``stop``, and a newer generation it notices) and retire the job."""
        if self._phase == "stopped":
            return
        self._phase = "stopped"
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(TwinStartError("the twin was stopped while starting"))
            self._ready.exception()  # retrieved: nobody may be awaiting start() any more
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._streams is None:
            return
        header, blobs = wire.encode(wire.Stop())
        try:
            async with self._link.client.pipeline(transaction=False) as pipe:
                pipe.xadd(self._streams.to_worker, message_fields(header, blobs), maxlen=MAX_STREAM_ENTRIES,  # type: ignore[arg-type]
                          approximate=False)
                pipe.incr(generation_key(self._session_id))
                await pipe.execute()
            await self._retire(keep_to_worker=True)
        except REDIS_ERRORS as exc:  # the streams expire; a worker times out on a server that reads nothing
            log.warning("session %s: could not retire the twin job: %s", self._session_id, exc)

    # --- requests ---

    def _refusal(self) -> str | None:
        if self._phase in ("failed", "stopped"):
            return f"the twin has failed: {self._failure}" if self._phase == "failed" else "the twin was stopped"
        return None

    def _flush(self) -> None:
        if self._phase != "up":
            return
        messages = self._state.sendable()
        if messages:
            self._outgoing.extend(messages)
            self._wake.set()
            self._quiet_since = asyncio.get_running_loop().time()

    async def _send_outgoing(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outgoing and self._streams is not None:
                header, blobs = wire.encode(self._outgoing.popleft())
                try:
                    await self._link.client.xadd(self._streams.to_worker, message_fields(header, blobs),  # type: ignore[arg-type]
                                                 maxlen=MAX_STREAM_ENTRIES, approximate=False)
                except REDIS_ERRORS as exc:  # the request stays unanswered: the hang timeout moves the twin
                    self._link.failed(exc)

    # --- generations ---

    async def _supervise(self) -> None:
        """Post the job, serve it, and post it again whenever its worker is lost, until stopped or given up."""
        while self._phase not in ("stopped", "failed"):
            try:
                await self._post()
            except REDIS_ERRORS as exc:
                self._link.failed(exc)
                await asyncio.sleep(REDIS_RETRY_S)  # retrying until Redis answers; nothing to wait on
                continue
            try:
                reason, counts = await self._serve_generation()
            except _FatalJobError as exc:
                self._give_up(str(exc))
                with contextlib.suppress(*REDIS_ERRORS):
                    await self._retire()
                return
            if self._phase in ("stopped", "failed"):
                return
            with contextlib.suppress(*REDIS_ERRORS):
                await self._retire()
            self._lost(reason, counts)

    async def _post(self) -> None:
        client = self._link.client
        with contextlib.suppress(ResponseError):  # BUSYGROUP: a worker or another server made it
            await client.xgroup_create(JOBS, GROUP, id="0", mkstream=True)
        generation = int(await client.incr(generation_key(self._session_id)))
        streams = JobStreams.of(self._session_id, generation)
        recipe = replace(self._recipe, params=dict(self._state.params))
        fields = job_fields(TwinJob(self._session_id, generation, recipe, self._interval))
        bind_header, bind_blobs = wire.encode(wire.Bind(self._targets))
        async with client.pipeline(transaction=True) as pipe:
            pipe.delete(streams.to_worker, streams.to_server)
            pipe.xadd(streams.to_worker, message_fields(bind_header, bind_blobs))  # type: ignore[arg-type]
            pipe.expire(streams.to_worker, STREAM_TTL_S)
            pipe.xadd(JOBS, fields, maxlen=JOBS_MAXLEN, approximate=True)  # type: ignore[arg-type]
            results = await pipe.execute()
        self.generation, self._streams, self._entry_id, self.worker = generation, streams, results[-1], None
        self._outgoing.clear()

    async def _retire(self, keep_to_worker: bool = False) -> None:
        """Take the current job off the stream (a dead worker's claim included) and drop its streams."""
        if self._streams is None or self._entry_id is None:
            return
        async with self._link.client.pipeline(transaction=False) as pipe:
            pipe.xack(JOBS, GROUP, self._entry_id)
            pipe.xdel(JOBS, self._entry_id)
            pipe.delete(self._streams.to_server, *(() if keep_to_worker else (self._streams.to_worker,)))
            await pipe.execute()

    async def _serve_generation(self) -> tuple[str, bool]:
        """Serve the current generation until its worker is lost: why, and whether it counts as a failure."""
        assert self._streams is not None
        loop = asyncio.get_running_loop()
        client, streams = self._link.client, self._streams
        last_id, posted, claimed_at, noticed = b"0", loop.time(), 0.0, False
        checked = refreshed = posted
        self._quiet_since = posted
        while True:
            try:
                answer = await client.xread({streams.to_server: last_id}, count=READ_COUNT, block=READ_BLOCK_MS)
            except REDIS_ERRORS as exc:
                self._link.failed(exc)
                await asyncio.sleep(REDIS_RETRY_S)  # retrying until Redis answers; nothing to wait on
                self._quiet_since = loop.time()  # Redis's silence, not the worker's
                continue
            read: list[bytes] = []
            for entry_id, fields in entries(answer):
                last_id = entry_id
                read.append(entry_id)
                self._quiet_since = loop.time()
                ended = self._on_entry(fields)
                if self.worker is not None and claimed_at == 0.0:
                    claimed_at = loop.time()
                if ended is not None:
                    return ended
            if read:
                try:
                    await client.xdel(streams.to_server, *read)  # what is read is gone: the worker's back-pressure
                except REDIS_ERRORS as exc:
                    self._link.failed(exc)
            now = loop.time()
            if now - refreshed >= STREAM_TTL_S / 4:  # a job waiting long for a worker keeps its bind message
                refreshed = now
                with contextlib.suppress(*REDIS_ERRORS):
                    await client.expire(streams.to_worker, STREAM_TTL_S)
            worker = self.worker
            if worker is None:
                if not noticed and now - posted >= self._claim_notice_s:
                    noticed = True
                    self._emit(self._waiting_state())
                continue
            quiet = now - self._quiet_since
            if not self._state.connected and now - claimed_at > self._start_timeout_s:
                return f"worker {worker} did not get the twin ready within {self._start_timeout_s:g} s", True
            if self._state.expects_reply and quiet > self._hang_timeout_s:
                return f"worker {worker} stopped answering (nothing for {quiet:.1f} s)", True
            if quiet >= LIVENESS_QUIET_S and now - checked >= LIVENESS_EVERY_S:
                checked = now
                try:
                    alive = await client.exists(worker_key(worker))
                except REDIS_ERRORS as exc:  # Redis is down, not the worker: judge it when Redis is back
                    self._link.failed(exc)
                    continue
                if not alive:
                    return f"worker {worker} lost", True

    def _on_entry(self, fields: FieldMap) -> tuple[str, bool] | None:
        """Handle one entry of the worker's stream; why the generation ended, if it did."""
        claimed = fields.get(b"claimed")
        if claimed is not None:
            self.worker = claimed.decode("utf-8", "replace")
            log.info("session %s: worker %s took the twin job (generation %d)", self._session_id, self.worker,
                     self.generation)
            if self._phase == "restarting":
                self._emit(TwinState("restarting", self._state.speed, self._state.time,
                                     f"restarting on worker {self.worker}"))
            return None
        released = fields.get(b"released")
        if released is not None:
            return f"{released.decode('utf-8', 'replace')}", False
        worker = self.worker or "?"
        try:
            message = wire.decode_from_worker(*message_of(fields), len(self._targets))
        except wire.WireError as exc:
            return f"worker {worker} sent a bad message ({one_line(exc)})", True
        if isinstance(message, wire.Failed):
            if self.info is None:
                raise _FatalJobError(message.message)
            return f"the twin failed on worker {worker}: {message.message}", True
        if isinstance(message, wire.Ready):
            self._on_ready(message)
            return None
        for event in self._state.received(message):
            self._emit(event)
        self._flush()
        return None

    def _on_ready(self, message: wire.Ready) -> None:
        if message.vertices != len(self._targets):
            raise _FatalJobError(f"twin {self._recipe.kind}: the worker bound {message.vertices} vertices, "
                         f"not {len(self._targets)}")
        if self.info is None:
            self.info = TwinInfo(message.schema, message.time_unit, message.time_per_second, message.outputs,
                                 message.vertices)
        self._state.on_connected(message)
        self._phase = "up"
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(self.info)
        self._flush()

    def _lost(self, reason: str, counts: bool) -> None:
        """The current generation's worker is gone: refuse what it had not answered, then post again (or give up)."""
        events = self._state.on_lost(reason)
        self._outgoing.clear()
        for event in events:
            self._emit(event)
        if counts:
            now = asyncio.get_running_loop().time()
            while self._restarts and self._restarts[0] < now - RESTART_WINDOW_S:
                self._restarts.popleft()
            if len(self._restarts) >= self._max_restarts:
                self._give_up(f"{reason} ({len(self._restarts) + 1} failures within {RESTART_WINDOW_S:g} s)")
                return
            self._restarts.append(now)
        log.warning("session %s: %s; posting the twin job again", self._session_id, reason)
        if self.info is not None:
            self._phase = "restarting"
            self._emit(TwinState("restarting", self._state.speed, self._state.time,
                                 f"restarting: {reason}, moving the twin to another worker"))

    def _waiting_state(self) -> TwinState:
        message = "waiting for a worker to take the twin job (is `vizserver worker --redis URL` running?)"
        if self.info is None:
            return TwinState("starting", self._state.speed, 0.0, message)
        return TwinState("restarting", self._state.speed, self._state.time, f"restarting: {message}")

    def _give_up(self, message: str) -> None:
        self._phase, self._failure = "failed", message
        log.error("session %s: twin %s: giving up: %s", self._session_id, self._recipe.kind, message)
        for event in self._state.on_failed(message):
            self._emit(event)
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(TwinStartError(message))
        self._emit(TwinState("failed", self._state.speed, self._state.time, message))

    def _emit(self, event: TwinEvent) -> None:
        try:
            self._on_event(event)
        except Exception:  # a listener's bug must not stop the twin
            log.exception("session %s: the twin event listener failed on %s", self._session_id,
                          type(event).__name__)
