"""A twin on `vizserver worker`s serving one session across two `serve --redis` processes (tests/fixtures/cluster.py).

The session's owner process runs its twin controller, whose job a worker takes; clients of the other
process (an edge) get the same frames. Killing the worker moves the twin to the other worker for
clients of both processes; killing the owner process moves the session to the other process, whose
controller posts the job again (a newer generation) with the parameters saved with the session, and
the twin goes on on a worker.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis
from fixtures.cluster import Cluster, create_session, join_session
from fixtures.server import Client, write_scene
from fixtures.twin_workers import Worker, frame_at, gone, job_pid, twin_object, twin_status
from websockets.exceptions import ConnectionClosed

WAIT_S = 60.0
TESTS = Path(__file__).resolve().parents[1]
TWIN_YAML = "twin:\n  kind: fixtures.twins:DecayTwin\n  object: box\n"
MAX_TWINS = ("--max-twins", "4")
"""The default session's twin takes a slot too."""


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    scene = write_scene(tmp_path / "scene")
    scene.write_text(scene.read_text() + TWIN_YAML)
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
    with Cluster(tmp_path / "cluster", scene, size=2, env={"PYTHONPATH": path}) as started:
        yield started


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()
        print(f"--- worker {worker.name}:\n{''.join(worker.lines)}")  # shown when a test fails
    assert all(w.process.poll() is not None for w in started)
    assert all(gone(job_pid(line)) for w in started for line in w.lines if "(process " in line)


def ws(base_url: str, session_id: str, token: str) -> str:
    return f"{base_url.replace('http://', 'ws://', 1)}/ws/{session_id}?token={token}"


def saved_with_amplitude(cluster: Cluster, session_id: str, amplitude: float) -> None:
    """Wait until the owner has saved the session (``vz:session:{sid}``) with the twin at ``amplitude``."""
    client = redis.Redis.from_url(cluster.redis.url)
    deadline = time.monotonic() + WAIT_S
    try:
        while True:
            raw = client.get(f"vz:session:{session_id}")
            twin = json.loads(raw).get("twin") if raw else None
            if twin and twin["params"].get("amplitude") == amplitude:
                return
            assert time.monotonic() < deadline, f"session {session_id} never saved with amplitude {amplitude}"
            time.sleep(0.05)  # polling Redis for the owner's next save (at most once a second)
    finally:
        client.close()


def test_clients_of_two_processes_see_the_twin_and_its_move_to_another_worker(cluster: Cluster,
                                                                              workers: list[Worker]) -> None:
    owner, edge = cluster.urls
    session = create_session(owner)
    guest = join_session(edge, session["session_id"], "guest")
    workers.append(first := Worker.start(cluster.redis.url, "wa", *MAX_TWINS))

    async def scenario() -> None:
        host = await Client.open(ws(owner, session["session_id"], session["host_token"]))
        other = await Client.open(ws(edge, session["session_id"], guest["token"]))
        await twin_status(host, "running")
        await twin_status(other, "running")
        first.said(f"running session {session['session_id']}")
        boxes = [await twin_object(c) for c in (host, other)]
        for client, box in zip((host, other), boxes, strict=True):
            await frame_at(client, box, after=1.0)
        workers.append(second := Worker.start(cluster.redis.url, "wb", *MAX_TWINS))
        second.said("taking twin jobs")
        first.process.kill()
        for client, box in zip((host, other), boxes, strict=True):
            await twin_status(client, "restarting", "worker wa lost")
            await frame_at(client, box, before=1.0)  # twin time restarted: the second worker's frames
        second.said(f"running session {session['session_id']}")
        await host.close()
        await other.close()

    asyncio.run(scenario())


def test_a_killed_owner_process_leaves_the_twin_to_the_new_owner(cluster: Cluster, workers: list[Worker]) -> None:
    owner, edge = cluster.urls
    session = create_session(owner)
    guest = join_session(edge, session["session_id"], "guest")
    workers.append(first := Worker.start(cluster.redis.url, "wa", *MAX_TWINS))
    workers.append(second := Worker.start(cluster.redis.url, "wb", *MAX_TWINS))

    async def scenario() -> None:
        other = await Client.open(ws(edge, session["session_id"], guest["token"]))
        welcome = await other.message("welcome", timeout=WAIT_S)
        await twin_status(other, "running")
        box = await twin_object(other)
        host = await Client.open(ws(owner, session["session_id"], session["host_token"]))  # a guest may not steer
        await host.send({"type": "twin_params", "seq": 5, "values": {"amplitude": 0.5, "rate": 0.0}})
        await host.message("twin_applied", timeout=WAIT_S, seq=5)
        await asyncio.to_thread(saved_with_amplitude, cluster, session["session_id"], 0.5)
        cluster.kill(0)
        deadline = time.monotonic() + WAIT_S
        with pytest.raises(ConnectionClosed):  # the edge closes its clients (1012) when the session moves
            while time.monotonic() < deadline:
                await other.frame(timeout=WAIT_S)
        while True:  # resume on the surviving process, which now owns the session
            other = await Client.open(ws(edge, session["session_id"], guest["token"]),
                                      hello={"type": "hello", "protocol": 1, "client": "test",
                                             "resume": {"client_id": welcome["client_id"]}})
            try:
                await other.message("welcome", timeout=WAIT_S)
                break
            except ConnectionClosed:
                assert time.monotonic() < deadline, "the surviving process never took the session"
                await asyncio.sleep(0.1)  # the page's back-off between attempts
        await twin_status(other, "running")
        box = await twin_object(other)
        moved = await frame_at(other, box, before=1.0)  # a new generation of the job: twin time restarted
        later = await frame_at(other, box, after=moved.header.time + 0.5, before=2.0)
        assert np.allclose(moved.values, later.values, atol=0.02)  # rate 0 (rate 1 would shrink u by 40 %)
        assert moved.values.min() >= 0.45 and moved.values.max() <= 1.05  # amplitude 0.5: the parameters set before
        lines = first.lines + second.lines
        assert sum(f"running session {session['session_id']}" in line for line in lines) == 2, lines
        superseded = f"session {session['session_id']} twin 'fixtures.twins:DecayTwin' (generation 1) ended (the " \
                     "session moved its twin to a newer job)"
        while not any(superseded in line for line in first.lines + second.lines):  # the dead owner's job stops
            assert time.monotonic() < deadline, first.lines + second.lines
            await asyncio.sleep(0.05)  # polling another process's output
        await other.close()
        await host.close()

    asyncio.run(scenario())
