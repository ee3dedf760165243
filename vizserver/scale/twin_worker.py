"""``vizserver worker --redis URL``: take twin jobs from Redis and run them (docs/twins.md, "Twin workers over Redis").

:class:`TwinWorker` joins the consumer group ``workers`` on ``vz:twin:jobs``, claims up to
``max_twins`` jobs and runs each in a process of its own (:mod:`vizserver.scale.twin_job_process`),
so a twin that crashes or hangs costs only its job. Between claims the worker reaps ended job
processes (acking their jobs; one that died by a signal is reported to the session as ``failed``); a
heartbeat thread refreshes ``vz:worker:{id}`` (TTL 3 s) and the claims of its jobs, and kills a job
process that goes on 5 s after its session moved to a newer generation (a hung twin). SIGTERM (or
Ctrl-C) makes every job hand its twin back (``released``, which the server answers by posting it
again) and exits 0. Redis being unreachable is said and retried with backoff; a job entry that
cannot be read is acked with a ``failed`` message the server shows to the session.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import FrameType

import redis

from vizserver.errors import VizServerError
from vizserver.io.isolation import main_script_hidden
from vizserver.scale.redis_link import REDIS_PROTOCOL, check_redis_url, safe_url
from vizserver.scale.twin_channel import REDIS_FAILURES, RedisChannel
from vizserver.scale.twin_job_process import (
    EXIT_CRASHED,
    EXIT_RELEASED,
    EXIT_SUPERSEDED,
    job_process_main,
    warm_up_main,
)
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
from vizserver.twins.worker import EXIT_OK, EXIT_TWIN_FAILED, ChannelClosedError

log = logging.getLogger("vizserver.worker")

HEARTBEAT_S = 1.0
"""How often the worker refreshes its key and its claims (well inside WORKER_TTL_MS)."""
CLAIM_BLOCK_MS = 250
"""Longest wait for a job in one read, so a stop request and ended jobs are seen soon."""
SOCKET_TIMEOUT_S = 5.0
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)
"""Waits between attempts to reach Redis; the last one repeats."""
SUPERSEDED_GRACE_S = 5.0
"""A job process still running this long after its session moved on is hung in its twin: it is killed."""
JOIN_TIMEOUT_S = 10.0
"""On shutdown, how long job processes get to hand back their twins before they are killed."""

_CLAIM_FAILURES: tuple[type[BaseException], ...] = (*REDIS_FAILURES, ChannelClosedError)
"""Redis failing while a job is claimed (directly, or in a channel)."""
_CONTEXT = multiprocessing.get_context("forkserver")  # the worker has threads: no plain fork
_PRELOAD = ["vizserver.scale.twin_job_process", "vizserver.twins.base", "numpy", "redis"]
"""Imported once by the fork server, so a job's process starts in milliseconds, not seconds."""


class WorkerError(VizServerError):
    """The worker cannot run: a bad URL or option, or its name is taken by a live worker."""


@dataclass
class _Running:
    job: TwinJob
    entry_id: bytes
    process: BaseProcess
    lifeline: Connection
    superseded_at: float | None = None


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
    _own_pending_checked: bool = False

    def __post_init__(self) -> None:
        try:
            check_redis_url(self.url)
        except VizServerError as exc:
            raise WorkerError(str(exc)) from None
        if self.max_twins < 1:
            raise WorkerError(f"--max-twins must be at least 1, got {self.max_twins}")
        if not self.name or any(c.isspace() for c in self.name) or len(self.name) > 200:
            raise WorkerError(f"--name {self.name!r}: expected a non-empty name without spaces")
        self.client = redis.Redis.from_url(self.url, protocol=REDIS_PROTOCOL, socket_timeout=SOCKET_TIMEOUT_S,
                                           socket_connect_timeout=SOCKET_TIMEOUT_S)

    # --- the process ---

    def run(self) -> int:
        """Take and run jobs until :meth:`stop` (or SIGTERM); the exit code."""
        _CONTEXT.set_forkserver_preload(_PRELOAD)
        with main_script_hidden():  # the fork server up and its imports done before taking jobs: one empty job
            warm_up = _CONTEXT.Process(target=warm_up_main, name="twin job warm-up")
            warm_up.start()
        warm_up.join()
        self._connect()
        if self.stopping.is_set():
            return 0
        heartbeat = threading.Thread(target=self._heartbeat, name="worker heartbeat", daemon=True)
        heartbeat.start()
        self.say(f"worker {self.name}: taking twin jobs from {safe_url(self.url)} (at most {self.max_twins} at once)")
        failures = 0
        while not self.stopping.is_set():
            self._reap()
            try:
                self._claim_one()
                failures = 0
            except _CLAIM_FAILURES as exc:
                failures += 1
                self._own_pending_checked = False  # a claim may have been delivered and lost with the error
                self._wait_for_redis(exc, failures)
        self._shut_down()
        heartbeat.join(JOIN_TIMEOUT_S)
        return 0

    def stop(self) -> None:
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        def handler(_signum: int, _frame: FrameType | None) -> None:
            self.stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def _connect(self) -> None:
        """Register the worker (its key, the group), retrying with backoff while Redis is unreachable."""
        failures = 0
        taken_until: float | None = None
        while not self.stopping.is_set():
            try:
                if not self.client.set(worker_key(self.name), self._description(), nx=True, px=WORKER_TTL_MS):
                    # A predecessor of this name that died (a restart) leaves its key for up to its TTL; a live
                    # worker keeps it: then this one is misnamed.
                    now = time.monotonic()
                    taken_until = taken_until or now + 2 * WORKER_TTL_MS / 1000
                    if now > taken_until:
                        raise WorkerError(f"a live worker is already named {self.name!r}; give this one another "
                                          "--name")
                    self.stopping.wait(HEARTBEAT_S / 4)
                    continue
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
        if not self._own_pending_checked:
            # Entries delivered to this name but never started (a Redis error mid-claim, or a previous
            # worker of the same --name that died): take them again; stale ones are skipped and acked.
            answer = self.client.xreadgroup(GROUP, self.name, {JOBS: "0"}, count=100)
            self._own_pending_checked = True
            for entry_id, fields in entries(answer):
                with self._lock:
                    known = entry_id in self._running
                if not fields:  # deleted since (the server retired it): nothing left to run
                    self._ack(entry_id)
                elif not known:
                    self._take(entry_id, fields)
        with self._lock:
            full = len(self._running) >= self.max_twins
        if full:
            self.stopping.wait(CLAIM_BLOCK_MS / 1000)  # until a job process ends (reaped next round)
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
        RedisChannel(self.client, job.streams, lambda: None).send_entry({"claimed": self.name})
        lifeline, held = _CONTEXT.Pipe(duplex=False)  # only this process holds ``held``: its end ends the job
        process = _CONTEXT.Process(target=job_process_main, args=(self.url, self.name, job, entry_id, lifeline),
                                   name=f"twin {job.session_id}")
        with main_script_hidden():
            process.start()
        lifeline.close()
        with self._lock:
            self._running[entry_id] = _Running(job, entry_id, process, held)
        self.say(f"worker {self.name}: running {job.describe()} (process {process.pid})")

    def _refuse(self, entry_id: bytes, fields: FieldMap, why: str) -> None:
        self.say(f"worker {self.name}: bad twin job {entry_id.decode()}: {why}")
        named = job_session(fields)
        if named is not None:
            self._tell_session(JobStreams.of(*named), f"worker {self.name} cannot run the twin job: {why}")
        self._ack(entry_id)

    def _tell_session(self, streams: JobStreams, failure: str) -> None:
        channel = RedisChannel(self.client, streams, lambda: None)
        with contextlib.suppress(VizServerError):
            channel.send(*wire.encode(wire.Failed(failure)))

    def _reap(self) -> None:
        """Ack the jobs whose process ended, and say how each ended (a crash also to the session)."""
        with self._lock:
            ended = [r for r in self._running.values() if r.process.exitcode is not None]
            for r in ended:
                del self._running[r.entry_id]
        for r in ended:
            r.process.join()
            r.lifeline.close()
            code = r.process.exitcode
            assert code is not None
            if (code < 0 or code == EXIT_CRASHED) and r.superseded_at is None and not self.stopping.is_set():
                how = f"died ({signal.Signals(-code).name})" if code < 0 else "failed (see the worker's log)"
                self._tell_session(r.job.streams, f"the twin process on worker {self.name} {how}")
            else:
                how = _EXITS.get(code, f"ended with code {code}")
                if code < 0:
                    how = f"was killed ({signal.Signals(-code).name})"
            self.say(f"worker {self.name}: {r.job.describe()} {how}")
            self._ack(r.entry_id)

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
        failing = False
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
                if not failing:  # once per outage; the claim loop says when Redis answers again
                    log.warning("worker %s: heartbeat failed: %s", self.name, exc)
                failing = True
                continue
            failing = False
            now = time.monotonic()
            for r, newest in zip(running, results[2::2], strict=True):
                if newest is not None and int(newest) == r.job.generation:
                    continue
                if r.superseded_at is None:
                    r.superseded_at = now
                elif now - r.superseded_at > SUPERSEDED_GRACE_S and r.process.is_alive():
                    self.say(f"worker {self.name}: {r.job.describe()} went on {SUPERSEDED_GRACE_S:g} s after its "
                             "session moved on (a hung twin); killing it")
                    r.process.kill()

    def _shut_down(self) -> None:
        with self._lock:
            processes = [r.process for r in self._running.values()]
        for process in processes:
            if process.is_alive() and process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)  # it hands its twin back, then exits
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        self._reap()
        try:
            with self.client.pipeline(transaction=False) as pipe:
                pipe.delete(worker_key(self.name))
                pipe.xgroup_delconsumer(JOBS, GROUP, self.name)
                pipe.execute()
        except REDIS_FAILURES as exc:
            log.warning("worker %s: could not deregister: %s (its key expires by itself)", self.name, exc)
        self.say(f"worker {self.name}: stopped")
        self.client.close()


_EXITS = {
    EXIT_OK: "ended",
    EXIT_TWIN_FAILED: "ended with code 1 (the twin failed)",
    EXIT_RELEASED: "handed back",
    EXIT_SUPERSEDED: "ended (the session moved its twin to a newer job)",
}


def default_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
