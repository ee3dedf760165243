"""What running a twin on a `vizserver worker` through Redis costs, against a local worker process.

A real ``redis-server`` and two ``python -m vizserver worker`` subprocesses; the server side is a
:class:`~vizserver.scale.twin_jobs.RedisTwinHost` in this process, the baseline a
:class:`~vizserver.twins.runner.LocalTwinRunner` (pipe) measured in the same run. The twin is the
exact decay twin of the tests (``tests/fixtures/twins.py``, next to no compute) bound to ``--vertices``
positions, so what is measured is the transport. Prints one JSON line per figure:

- steering latency p50 / p95 (ms): ``set_params`` to the first frame listing its tag, ``CHANGES``
  changes at 10/s;
- frames delivered per second (the twin runs at 30);
- time to move the twin after kill -9 of its worker (to the first frame from the other worker; the
  worker key's 3 s TTL dominates) and after SIGTERM (handed back at once).

Run: ``python benchmarks/twin_workers.py [--vertices N] [--changes N]`` (needs redis-server on PATH).
The machine is shared: the figures are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from report import emit

from vizserver.scale.redis_link import RedisLink
from vizserver.scale.twin_jobs import RedisTwinHost
from vizserver.scale.twin_keys import worker_key
from vizserver.twins.host import TwinEvent, TwinFrame, TwinHost
from vizserver.twins.recipes import TwinRecipe
from vizserver.twins.runner import LocalTwinRunner

TESTS = Path(__file__).resolve().parents[1] / "tests"
CHANGES = 60
CHANGES_PER_S = 10.0
WAIT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Recorder:
    """Frames as they come: when each arrived, with the tags they list."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, float, tuple[int, ...]]] = []
        self.new_frame = asyncio.Event()

    def __call__(self, event: TwinEvent) -> None:
        if isinstance(event, TwinFrame):
            self.frames.append((time.perf_counter(), event.time, event.caused_by))
            self.new_frame.set()

    async def frame_after(self, since: float, accept: Callable[[float, tuple[int, ...]], bool]) -> float:
        """When the first frame after ``since`` that ``accept`` (twin time, tags) arrived."""
        deadline = time.perf_counter() + WAIT_S
        while True:
            found = next((at for at, t, tags in self.frames if at >= since and accept(t, tags)), None)
            if found is not None:
                return found
            self.new_frame.clear()
            await asyncio.wait_for(self.new_frame.wait(), max(0.001, deadline - time.perf_counter()))


async def steer(host: TwinHost, recorder: Recorder, changes: int) -> tuple[list[float], float]:
    """Steering latencies (ms) and frames per second over the run."""
    latencies: list[float] = []
    started, first = time.perf_counter(), len(recorder.frames)
    for i in range(changes):
        sent = time.perf_counter()
        host.set_params({"amplitude": 1.0 + (i % 2) * 0.5}, i + 1)
        arrived = await recorder.frame_after(sent, lambda _t, tags, tag=i + 1: tag in tags)
        latencies.append((arrived - sent) * 1000.0)
        await asyncio.sleep(max(0.0, sent + 1 / CHANGES_PER_S - time.perf_counter()))  # pacing the changes
    return latencies, (len(recorder.frames) - first) / (time.perf_counter() - started)


def start_worker(url: str, name: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)}
    return subprocess.Popen([sys.executable, "-m", "vizserver", "worker", "--redis", url, "--name", name],
                            env=env, stderr=subprocess.DEVNULL)


async def run(vertices: int, changes: int) -> None:
    targets = np.column_stack([np.linspace(0, 1, vertices), np.zeros(vertices), np.zeros(vertices)]).astype(np.float32)
    recipe = TwinRecipe("fixtures.twins:DecayTwin", {}, {"rate": 0.0})
    sys.path.insert(0, str(TESTS))  # the local runner's worker process imports fixtures.twins too
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)

    local_recorder = Recorder()
    local = LocalTwinRunner(recipe, targets, local_recorder)
    await local.start()
    local_latency, local_fps = await steer(local, local_recorder, changes)
    await local.stop()

    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        redis_server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                         "--appendonly", "no", "--dir", folder], stdout=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        while True:  # polling the new redis-server's port until it answers
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.02)
        workers = [start_worker(url, "bench-a")]
        link = RedisLink(url)
        try:
            await link.start()
            recorder = Recorder()
            host = RedisTwinHost(link, "bench", recipe, targets, recorder)
            await host.start()
            latency, fps = await steer(host, recorder, changes)
            case = f"decay twin, {vertices:,} vertices"
            for q in (50, 95):
                emit(case, f"steering latency p{q}, worker over Redis", float(np.percentile(latency, q)), "ms",
                     "local worker process (pipe)", float(np.percentile(local_latency, q)))
            emit(case, "frames per second, worker over Redis", fps, "1/s", "local worker process (pipe)", local_fps)

            for how, sig in (("kill -9", signal.SIGKILL), ("SIGTERM", signal.SIGTERM)):
                name = f"bench-{len(workers)}"
                workers.append(start_worker(url, name))
                while not await link.client.exists(worker_key(name)):
                    await asyncio.sleep(0.05)  # polling Redis for the new worker's key
                running = next(w for w in workers[:-1] if w.poll() is None)
                before = recorder.frames[-1][1]
                hit = time.perf_counter()
                running.send_signal(sig)
                moved = await recorder.frame_after(hit, lambda t, _tags, before=before: t < before)
                emit(case, f"twin moved to another worker after {how}", moved - hit, "s")
            await host.stop()
        finally:
            for worker in workers:
                worker.kill()
                worker.wait()
            await link.close()
            redis_server.kill()
            redis_server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vertices", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=CHANGES)
    args = parser.parse_args()
    asyncio.run(run(args.vertices, args.changes))


if __name__ == "__main__":
    main()
