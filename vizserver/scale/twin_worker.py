"""``vizserver worker --redis URL``: take twin jobs from Redis and run them (docs/twins.md, "Twin workers over Redis").

:class:`TwinWorker` joins the consumer group ``workers`` on ``vz:twin:jobs``, claims up to
``max_twins`` jobs and runs each in a thread with the ordinary worker loop
(:func:`vizserver.twins.worker.serve`) over a :class:`~vizserver.scale.twin_channel.RedisChannel`.
A heartbeat thread refreshes ``vz:worker:{id}`` (TTL 3 s) and the claims of its jobs, and marks a job
whose session has moved on to a newer generation, which then stops. SIGTERM (or Ctrl-C) hands every
running job back (a ``released`` entry the server answers by posting it again) and exits 0. Redis being
unreachable is said once and retried with backoff; a job that cannot be run is acked with a ``failed``
message the server shows to the session.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

import redis

from vizserver.errors import VizServerError
from vizserver.scale.redis_link import check_redis_url, safe_url
from vizserver.scale.twin_channel import REDIS_FAILURES, RedisChannel
from vizserver.scale.twin_keys import (
    GROUP,
    JOBS,
    WORKER_TTL_MS,
    FieldMap,
    JobStreams,
    TwinJob,
    TwinJobError,
    entries,
    generation_key,
    job_session,
    parse_job,
    worker_key,
)
from vizserver.twins import wire
from vizserver.twins.recipes import build_twin
from vizserver.twins.worker import EXIT_OK, serve

log = logging.getLogger("vizserver.worker")

HEARTBEAT_S = 1.0
"""How often the worker refreshes its key and its claims (well inside WORKER_TTL_MS)."""
CLAIM_BLOCK_MS = 500
"""Longest wait for a job in one read, so a stop request is seen soon."""
SOCKET_TIMEOUT_S = 5.0
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)
"""Waits between attempts to reach Redis; the last one repeats."""
JOIN_TIMEOUT_S = 10.0
"""On shutdown, how long running jobs get to hand back their twins."""


class WorkerError(VizServerError):
    """The worker cannot run: a bad URL or option, or its name is taken by a live worker."""


@dataclass
class _Running:
    job: TwinJob
    entry_id: bytes
    thread: threading.Thread | None = None
    superseded: str | None = None


@dataclass
class TwinWorker:
    url: str
    name: str = field(default_factory=lambda: default_name())
    max_twins: int = 1
    say: Callable[[str], None] = print
    """Where status lines go (the CLI prints them to stderr)."""
    stopping: threading.Event = field(default_factory=threading.Event)
    _running: dict[bytes, _Running] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        try:
            check_redis_url(self.url)
        except VizServerError as exc:
            raise WorkerError(str(exc)) from None
        if self.max_twins < 1:
            raise WorkerError(f"--max-twins must be at least 1, got {self.max_twins}")
        if not self.name or any(c.isspace() for c in self.name) or len(self.name) > 200:
            raise WorkerError(f"--name {self.name!r}: expected a non-empty name without spaces")
        self.client = redis.Redis.from_url(self.url, socket_timeout=SOCKET_TIMEOUT_S,
                                           socket_connect_timeout=SOCKET_TIMEOUT_S)

    # --- the process ---

    def run(self) -> int:
        """Take and run jobs until :meth:`stop` (or SIGTERM); the exit code."""
        self._connect()
        if self.stopping.is_set():
            return 0
        heartbeat = threading.Thread(target=self._heartbeat, name="worker heartbeat", daemon=True)
        heartbeat.start()
        self.say(f"worker {self.name}: taking twin jobs from {safe_url(self.url)} (at most {self.max_twins} at once)")
        failures = 0
        while not self.stopping.is_set():
            try:
                self._claim_one()
                failures = 0
            except REDIS_FAILURES as exc:
                failures += 1
                self._wait_for_redis(exc, failures)
        self._shut_down()
        heartbeat.join(JOIN_TIMEOUT_S)
        return 0

    def stop(self, *_args: object) -> None:
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        def handler(_signum: int, _frame: FrameType | None) -> None:
            self.stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def _connect(self) -> None:
        """Register the worker (its key, the group), retrying with backoff while Redis is unreachable."""
        failures = 0
        while not self.stopping.is_set():
            try:
                if not self.client.set(worker_key(self.name), self._description(), nx=True, px=WORKER_TTL_MS):
                    raise WorkerError(f"a live worker is already named {self.name!r}; give this one another --name")
                with contextlib.suppress(redis.ResponseError):  # BUSYGROUP: another worker or server made it
                    self.client.xgroup_create(JOBS, GROUP, id="0", mkstream=True)
                if failures:
                    self.say(f"worker {self.name}: Redis at {safe_url(self.url)} answers again")
                return
            except REDIS_FAILURES as exc:
                failures += 1
                self._wait_for_redis(exc, failures)

    def _wait_for_redis(self, exc: BaseException, failures: int) -> None:
        wait = BACKOFF_S[min(failures, len(BACKOFF_S)) - 1]
        if failures == 1 or wait == BACKOFF_S[-1]:
            self.say(f"worker {self.name}: Redis at {safe_url(self.url)} is not reachable ({_one_line(exc)}); "
                     f"retrying every {wait:g} s")
        self.stopping.wait(wait)

    def _description(self) -> str:
        return json.dumps({"name": self.name, "host": socket.gethostname(), "pid": os.getpid(),
                           "twins": len(self._running), "max_twins": self.max_twins})

    # --- jobs ---

    def _claim_one(self) -> None:
        with self._lock:
            full = len(self._running) >= self.max_twins
        if full:
            self.stopping.wait(CLAIM_BLOCK_MS / 1000)  # a job thread ends within a heartbeat or two
            return
        answer = self.client.xreadgroup(GROUP, self.name, {JOBS: ">"}, count=1, block=CLAIM_BLOCK_MS)
        for entry_id, fields in entries(answer):
            self._take(entry_id, fields)

    def _take(self, entry_id: bytes, fields: FieldMap) -> None:
        try:
            job = parse_job(fields)
        except TwinJobError as exc:
            self._refuse(entry_id, fields, str(exc))
            return
        newest = self.client.get(generation_key(job.session_id))
        if newest is None or int(newest) != job.generation:
            log.info("worker %s: skipping %s: the session has moved on", self.name, job.describe())
            self._ack(entry_id)
            return
        running = _Running(job, entry_id)
        running.thread = threading.Thread(target=self._run_job, args=(running,), name=f"twin {job.session_id}",
                                          daemon=True)
        with self._lock:
            self._running[entry_id] = running
        running.thread.start()

    def _refuse(self, entry_id: bytes, fields: FieldMap, why: str) -> None:
        self.say(f"worker {self.name}: bad twin job {entry_id.decode()}: {why}")
        named = job_session(fields)
        if named is not None:
            channel = RedisChannel(self.client, JobStreams.of(*named), lambda: None)
            with contextlib.suppress(VizServerError):
                channel.send(*wire.encode(wire.Failed(f"worker {self.name} cannot run the twin job: {why}")))
        self._ack(entry_id)

    def _run_job(self, running: _Running) -> None:
        job = running.job
        channel = RedisChannel(self.client, job.streams, lambda: self._why_stop(running))
        self.say(f"worker {self.name}: running {job.describe()}")
        code = EXIT_OK
        try:
            channel.send_entry({"claimed": self.name})
            code = serve(channel, lambda: build_twin(job.recipe), job.recipe.params, job.frame_interval_s)
        except VizServerError as exc:  # Redis failed before the loop began
            self.say(f"worker {self.name}: {job.describe()}: {exc}")
        if self.stopping.is_set() and running.superseded is None:
            with contextlib.suppress(VizServerError):  # hand the twin back so another worker takes it at once
                RedisChannel(self.client, job.streams, lambda: None).send_entry(
                    {"released": f"worker {self.name} is shutting down"})
        how = "ended" if code == EXIT_OK else f"ended with code {code}"
        self.say(f"worker {self.name}: {job.describe()} {how}"
                 f"{'' if running.superseded is None else f' ({running.superseded})'}")
        self._ack(running.entry_id)
        with self._lock:
            self._running.pop(running.entry_id, None)

    def _why_stop(self, running: _Running) -> str | None:
        if self.stopping.is_set():
            return f"worker {self.name} is shutting down"
        return running.superseded

    def _ack(self, entry_id: bytes) -> None:
        try:
            with self.client.pipeline(transaction=False) as pipe:
                pipe.xack(JOBS, GROUP, entry_id)
                pipe.xdel(JOBS, entry_id)
                pipe.execute()
        except REDIS_FAILURES as exc:  # the server retires the entry when it posts the job again
            log.warning("worker %s: could not ack job %s: %s", self.name, entry_id.decode(), exc)

    # --- liveness ---

    def _heartbeat(self) -> None:
        while not self.stopping.wait(HEARTBEAT_S):
            with self._lock:
                running = list(self._running.values())
            try:
                with self.client.pipeline(transaction=False) as pipe:
                    pipe.set(worker_key(self.name), self._description(), px=WORKER_TTL_MS)
                    for r in running:
                        pipe.xclaim(JOBS, GROUP, self.name, 0, [r.entry_id], justid=True)
                        pipe.get(generation_key(r.job.session_id))
                    results = pipe.execute()
            except REDIS_FAILURES as exc:
                log.warning("worker %s: heartbeat failed: %s", self.name, exc)
                continue
            for r, newest in zip(running, results[2::2], strict=True):
                if newest is None or int(newest) != r.job.generation:
                    r.superseded = "the session moved its twin to a newer job"

    def _shut_down(self) -> None:
        with self._lock:
            threads = [r.thread for r in self._running.values() if r.thread is not None]
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        try:
            with self.client.pipeline(transaction=False) as pipe:
                pipe.delete(worker_key(self.name))
                pipe.xgroup_delconsumer(JOBS, GROUP, self.name)
                pipe.execute()
        except REDIS_FAILURES as exc:
            log.warning("worker %s: could not deregister: %s (its key expires by itself)", self.name, exc)
        self.say(f"worker {self.name}: stopped")
        self.client.close()


def default_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
