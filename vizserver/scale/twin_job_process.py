"""One twin job in a process of its own, started by ``vizserver worker`` (:mod:`vizserver.scale.twin_worker`).

Its worker has said ``claimed`` on the job's ``to-server`` stream; the process builds the twin and runs
the worker loop (:func:`vizserver.twins.worker.serve`) over a
:class:`~vizserver.scale.twin_channel.RedisChannel`. It stops when the server sends ``stop``, when the
session has posted a newer generation of the job (``vz:twin:{sid}:gen``, looked at once a second), or
on SIGTERM (its worker is shutting down): then it hands the job back (``released``) so another worker
takes it at once. When the worker process ends (kill -9 included) the job's process kills itself, so
no twin outlives its worker. A process of its own means a twin that crashes or hangs costs only its
job: the worker reaps or kills it.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from types import FrameType

import redis

from vizserver.errors import VizServerError
from vizserver.lifeline import end_with
from vizserver.scale.redis_link import REDIS_PROTOCOL
from vizserver.scale.twin_channel import REDIS_FAILURES, RedisChannel
from vizserver.scale.twin_keys import GROUP, JOBS, TwinJob, generation_key
from vizserver.twins.recipes import build_twin
from vizserver.twins.worker import serve

GENERATION_CHECK_S = 1.0
"""How often a job looks whether its session has moved on to a newer generation."""
SOCKET_TIMEOUT_S = 5.0

EXIT_RELEASED = 3
"""The job was handed back (the worker is shutting down)."""
EXIT_SUPERSEDED = 4
"""The session posted a newer generation of the job."""
EXIT_CRASHED = 5
"""Something other than the twin failed in the job's process (its worker tells the session)."""


class JobStop:
    """Why the job must end now, if it must: the ``should_stop`` of its channel."""

    def __init__(self, client: redis.Redis, job: TwinJob, worker_name: str) -> None:
        self.client = client
        self.job = job
        self.worker_name = worker_name
        self.shutting_down = threading.Event()
        self.superseded = False
        self._checked = 0.0

    def __call__(self) -> str | None:
        if self.shutting_down.is_set():
            return f"worker {self.worker_name} is shutting down"
        now = time.monotonic()
        if now - self._checked >= GENERATION_CHECK_S:
            self._checked = now
            with contextlib.suppress(*REDIS_FAILURES):  # Redis down: the channel itself fails soon enough
                newest = self.client.get(generation_key(self.job.session_id))
                self.superseded = newest is None or int(newest) != self.job.generation
        return "the session moved its twin to a newer job" if self.superseded else None


def job_process_main(url: str, worker_name: str, job: TwinJob, entry_id: bytes, lifeline: Connection) -> None:
    """Entry point of the job's process; its exit code says how the job ended.

    ``lifeline`` is the read end of a pipe whose write end only the worker holds: it reaches its end
    when the worker's process ends, however it ends, and then this process ends too.
    """
    end_with(lifeline)
    try:
        code = _run(url, worker_name, job, entry_id)
    except Exception:  # a bug here, not in the twin: say it where the worker's operator looks
        traceback.print_exc()
        code = EXIT_CRASHED
    sys.exit(code)


def _run(url: str, worker_name: str, job: TwinJob, entry_id: bytes) -> int:
    client = redis.Redis.from_url(url, protocol=REDIS_PROTOCOL, socket_timeout=SOCKET_TIMEOUT_S,
                                  socket_connect_timeout=SOCKET_TIMEOUT_S)
    stop = JobStop(client, job, worker_name)

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.shutting_down.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)  # Ctrl-C reaches the whole process group: hand back, as on SIGTERM
    channel = RedisChannel(client, job.streams, stop)
    code = 0
    try:
        code = serve(channel, lambda: build_twin(job.recipe), job.recipe.params, job.frame_interval_s)
    except VizServerError as exc:  # Redis failed before the loop began
        print(f"worker {worker_name}: {job.describe()}: {exc}", file=sys.stderr, flush=True)
    if stop.shutting_down.is_set() and not stop.superseded:
        with contextlib.suppress(VizServerError):  # hand the twin back so another worker takes it at once
            RedisChannel(client, job.streams, lambda: None).send_entry(
                {"released": f"worker {worker_name} is shutting down"})
        code = EXIT_RELEASED
    elif stop.superseded:
        code = EXIT_SUPERSEDED
    with contextlib.suppress(*REDIS_FAILURES):  # else the worker acks it when it sees this process end
        client.xack(JOBS, GROUP, entry_id)
    client.close()
    return code


def warm_up_main() -> None:
    """An empty job: the worker starts one first, so its fork server has imported everything before a real one."""
