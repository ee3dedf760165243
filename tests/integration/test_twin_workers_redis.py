"""Twins run by `vizserver worker --redis` processes: a real redis-server, a real server, real worker subprocesses.

The scene's twin is the exact decay twin (tests/fixtures/twins.py): ``u = amplitude c(t) (1 + x)`` with
``c(0) = 1`` and ``x`` in [0, 1], streamed over its colour range [0, 2]. With ``rate`` 0, ``u`` stays in
``amplitude * [1, 2]``, so a frame says which parameters its worker runs with (defaults would give up
to 2 at the start); twin time restarts at 0 on a new worker, so a frame says which worker computed it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fixtures.redis_server import RedisServer, free_port
from fixtures.server import Client, LiveServer, running_twin, settings_for, start_thread_server, write_scene, ws_url
from fixtures.twin_workers import Worker, frame_at, gone, job_pid, twin_object, twin_status

WAIT_S = 60.0
TESTS = Path(__file__).resolve().parents[1]

TWIN_YAML = """twin:
  kind: {kind}
  object: box
"""


@dataclass
class Cluster:
    redis: RedisServer
    server: LiveServer
    workers: list[Worker] = field(default_factory=list)

    def worker(self, name: str) -> Worker:
        worker = Worker.start(self.redis.url, name)
        self.workers.append(worker)
        return worker


def start_cluster(root: Path, kind: str) -> Cluster:
    redis = RedisServer(root / "redis")
    redis.folder.mkdir(parents=True)
    redis.start()
    scene = write_scene(root / "scene")
    scene.write_text(scene.read_text() + TWIN_YAML.format(kind=kind))
    try:
        server = start_thread_server(settings_for(scene, root / "cache", redis_url=redis.url))
    except BaseException:
        redis.kill()
        raise
    return Cluster(redis, server)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    running = start_cluster(tmp_path, "fixtures.twins:DecayTwin")
    yield running
    stop_cluster(running)


def stop_cluster(running: Cluster) -> None:
    running.server.stop()
    for worker in running.workers:
        worker.stop()
        print(f"--- worker {worker.name}:\n{''.join(worker.lines)}")  # shown when a test fails
    running.redis.kill()
    assert all(w.process.poll() is not None for w in running.workers)  # no worker left behind
    twins = [job_pid(line) for w in running.workers for line in w.lines if "(process " in line]
    assert all(gone(pid) for pid in twins)  # nor a twin process


async def twin_running_on(cluster: Cluster, worker_name: str) -> tuple[Client, Worker]:
    """A client of the default session, once worker ``worker_name`` (started here) runs its twin."""
    client = await Client.open(ws_url(cluster.server, cluster.server.default_session()))
    worker = cluster.worker(worker_name)
    await running_twin(client)
    return client, worker


def steady_at_half_amplitude(first: Any, later: Any) -> bool:
    """Two frames 0.5 s of twin time apart show ``rate`` 0 (equal; rate 1 would shrink them by 40 %) and
    ``amplitude`` 0.5 (``u`` in [0.5, 1])."""
    return bool(np.allclose(first.values, later.values, atol=0.02) and first.values.min() >= 0.45
                and first.values.max() <= 1.05)


def test_a_worker_runs_the_twin_is_steered_and_a_killed_worker_moves_it_with_its_parameters(cluster: Cluster) -> None:
    session = cluster.server.default_session()

    async def scenario() -> None:
        client = await Client.open(ws_url(cluster.server, session))
        waiting = await twin_status(client, "starting", "waiting for a worker")  # none runs yet: a state, not an error
        assert waiting["parameters"] == []
        first = cluster.worker("wa")
        status = await running_twin(client)
        assert {p["name"] for p in status["parameters"]} >= {"rate", "amplitude"}
        twin_pid = job_pid(first.said("running session"))
        box = await twin_object(client)
        await frame_at(client, box)

        await client.send({"type": "twin_params", "seq": 7, "values": {"amplitude": 0.5, "rate": 0.0}})
        applied = await client.message("twin_applied", timeout=WAIT_S, seq=7)
        steered = await frame_at(client, box, after=2.0, min_step=applied["frame"])  # the first worker ran 2 s
        assert steady_at_half_amplitude(steered, await frame_at(client, box, after=steered.header.time + 0.5))

        second = cluster.worker("wb")
        second.said("taking twin jobs")
        first.process.kill()
        moved = await twin_status(client, "restarting", "worker wa lost")
        assert "moving the twin to another worker" in moved["message"]
        await twin_status(client, "running")
        second.said("running session")
        assert await asyncio.to_thread(gone, twin_pid)  # the killed worker's twin process died with it
        resumed = await frame_at(client, box, before=1.0)  # twin time restarted: the second worker's frame
        later = await frame_at(client, box, after=resumed.header.time + 0.5, before=2.0)
        assert steady_at_half_amplitude(resumed, later)  # amplitude 0.5 and rate 0 in force on the new worker
        status = await client.message("twin", timeout=WAIT_S)
        assert status["params"]["amplitude"] == 0.5 and status["params"]["rate"] == 0.0
        await client.close()

    asyncio.run(scenario())


def test_a_stopped_worker_hands_its_twin_over_and_exits_0(cluster: Cluster) -> None:
    async def scenario() -> None:
        client, first = await twin_running_on(cluster, "wa")
        first.said("running session")
        box = await twin_object(client)
        await frame_at(client, box, after=2.0)
        second = cluster.worker("wb")
        second.said("taking twin jobs")
        first.process.terminate()
        handed = await twin_status(client, "restarting", "worker wa is shutting down")  # handed back, not timed out
        assert "lost" not in handed["message"]
        assert await asyncio.to_thread(first.process.wait, WAIT_S) == 0
        first.said("stopped")
        await twin_status(client, "running")
        second.said("running session")
        await frame_at(client, box, before=2.0)
        await client.close()

    asyncio.run(scenario())


def test_a_twin_that_cannot_be_built_fails_with_the_workers_reason_and_the_worker_goes_on(tmp_path: Path) -> None:
    running = start_cluster(tmp_path, "fixtures.twins:broken_twin")
    try:
        worker = running.worker("wa")
        session = running.server.default_session()

        async def scenario() -> None:
            client = await Client.open(ws_url(running.server, session))
            failed = await twin_status(client, "failed")
            assert "the twin could not be built" in failed["message"] and "decay.h5: no such file" in failed["message"]
            await client.close()

        asyncio.run(scenario())
        worker.said("ended with code 1")
        assert worker.process.poll() is None  # still taking jobs
    finally:
        stop_cluster(running)


def test_a_bad_url_is_one_line_and_an_unreachable_redis_is_retried_until_it_answers(tmp_path: Path) -> None:
    bad = subprocess.run([sys.executable, "-m", "vizserver", "worker", "--redis", "http://127.0.0.1:1/0"],
                         capture_output=True, text=True, timeout=WAIT_S)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "expected redis://HOST:PORT/DB" in bad.stderr

    redis = RedisServer(tmp_path / "redis", port=free_port())
    redis.folder.mkdir()
    worker = Worker.start(redis.url, "early")
    try:
        worker.said("is not reachable")
        assert "retrying" in worker.said("is not reachable")
        redis.start()
        worker.said("answers again")
        worker.said("taking twin jobs")
        worker.process.terminate()
        assert worker.process.wait(WAIT_S) == 0
    finally:
        worker.stop()
        redis.kill()


def test_a_crashed_twin_process_is_reported_and_its_job_runs_again(cluster: Cluster) -> None:
    async def scenario() -> None:
        client, worker = await twin_running_on(cluster, "wa")
        os.kill(job_pid(worker.said("running session")), signal.SIGKILL)  # the twin's process only: the worker goes on
        crashed = await twin_status(client, "restarting", "died (SIGKILL)")
        assert "the twin process on worker wa" in crashed["message"]
        await twin_status(client, "running")
        assert worker.process.poll() is None and worker.said("died (SIGKILL)")
        await client.close()

    asyncio.run(scenario())


def test_a_hung_twin_is_moved_and_its_process_killed(cluster: Cluster) -> None:
    async def scenario() -> None:
        client, worker = await twin_running_on(cluster, "wa")
        box = await twin_object(client)
        await frame_at(client, box, after=1.0)
        await client.send({"type": "twin_action", "seq": 1, "action": "hang"})
        hung = await twin_status(client, "restarting", "worker wa stopped answering")
        assert "moving the twin to another worker" in hung["message"]
        worker.said("(a hung twin); killing it")  # its only slot is freed for the job's next generation
        await twin_status(client, "running")
        await frame_at(client, box, before=1.0)
        await client.close()

    asyncio.run(scenario())


def test_a_short_redis_outage_stalls_the_twin_and_it_goes_on_on_the_same_worker(cluster: Cluster) -> None:
    async def scenario() -> None:
        client, worker = await twin_running_on(cluster, "wa")
        box = await twin_object(client)
        before = await frame_at(client, box, after=1.0)
        await asyncio.to_thread(cluster.redis.stop)  # its streams and group are kept (appendonly) and come back
        await asyncio.to_thread(worker.said, "heartbeat failed")  # the worker has seen the outage
        await asyncio.to_thread(cluster.redis.start)
        after = await frame_at(client, box, after=before.header.time + 1.0)  # twin time went on: the same twin
        assert after.header.step > before.header.step
        moves = [m for m in client.messages if m.get("type") == "twin" and m["state"] == "restarting"]
        assert moves == [] and sum("running session" in line for line in worker.lines) == 1
        await client.close()

    asyncio.run(scenario())
