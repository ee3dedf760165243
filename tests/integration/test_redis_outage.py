"""Redis goes down under a real ``serve --redis`` server (uvicorn in a thread, a real ``redis-server``): the
server keeps its WebSocket clients streaming, ``/api/health`` says ``degraded`` and ``/metrics`` says Redis is
down; Redis restarted on the same port brings health back, saves what changed meanwhile, and loses nothing
saved before."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import redis
from fixtures.redis_server import RedisServer
from fixtures.server import STEPS, Client, LiveServer, http, settings_for, start_thread_server, write_scene, ws_url

from vizserver.scale.redis_store import session_key

WAIT_S = 20.0


def _pin(text: str) -> dict[str, Any]:
    return {"type": "annotation_add", "kind": "pin", "object": 1, "point": [0.5, 0.5, 0.5], "text": text}


def _health(server: LiveServer) -> dict[str, Any]:
    answer = http(f"{server.url}/api/health")
    assert answer.status == 200  # degraded or not, the process serves its clients
    return dict(answer.json())


def _metric(server: LiveServer, name: str) -> float:
    text = http(f"{server.url}/metrics").body.decode()
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(f"{name} ")]
    assert len(values) == 1, f"{name} not in /metrics"
    return values[0]


def _saved_pins(redis_url: str, session_id: str) -> list[str]:
    """The texts of the pins in the session's snapshot in Redis (none when it is not saved)."""
    client = redis.Redis.from_url(redis_url)
    try:
        text = client.get(session_key(session_id))
    finally:
        client.close()
    if text is None:
        return []
    return [a["text"] for a in json.loads(text)["annotations"]["annotations"] if a["kind"] == "pin"]


async def _until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)  # polling HTTP and Redis: there is no event to wait on from outside


def test_clients_keep_streaming_through_a_redis_outage_and_state_is_saved_when_it_returns(
    redis_server: RedisServer, tmp_path: Any
) -> None:
    server = start_thread_server(settings_for(write_scene(tmp_path), tmp_path / "cache", redis_url=redis_server.url))
    try:
        health = _health(server)
        assert health["status"] == "ok" and health["redis"]["up"] is True
        assert _metric(server, "vizserver_redis_up") == 1
        session = server.default_session()
        sid = session["session_id"]

        async def scenario() -> None:
            client = await Client.open(ws_url(server, session))
            await client.message("playback")
            await client.send(_pin("before the outage"))
            await client.message("annotation")
            await _until(lambda: _saved_pins(redis_server.url, sid) == ["before the outage"], "the first pin saved")

            await asyncio.to_thread(redis_server.stop)
            await _until(lambda: _health(server)["status"] == "degraded", "health to say degraded")
            down = _health(server)["redis"]
            assert down["up"] is False and down["outages"] == 1 and down["error"]
            assert _metric(server, "vizserver_redis_up") == 0
            assert _metric(server, "vizserver_redis_outages_total") == 1

            # the server's own clients go on: playback frames stream, a change is shared
            await client.send({"type": "playback", "playing": True, "speed": 16.0, "loop": True})
            await client.message("playback", playing=True)
            steps = {(await client.frame()).header.step for _ in range(2 * STEPS)}
            assert len(steps) >= 3
            await client.send(_pin("during the outage"))
            await client.message("annotation")
            await _until(lambda: _metric(server, "vizserver_redis_unsaved_sessions") >= 1, "the change held")

            await asyncio.to_thread(redis_server.start)  # same port and folder: its append-only file is read back
            await _until(lambda: _health(server)["status"] == "ok", "health to say ok again")
            await _until(lambda: _saved_pins(redis_server.url, sid) == ["before the outage", "during the outage"],
                         "the pin made during the outage saved, with the one before")
            await client.send({"type": "playback", "playing": False, "step": 1})
            await client.message("playback", step=1, playing=False)
            await _until(lambda: _metric(server, "vizserver_redis_unsaved_sessions") == 0, "every change saved")
            back = _health(server)["redis"]
            assert back["up"] is True and back["outages"] == 1  # dead pooled connections are not a second outage
            assert _metric(server, "vizserver_redis_up") == 1
            await client.send({"type": "playback", "playing": False, "step": 2})
            await client.message("playback", step=2, playing=False)
            await client.close()

        asyncio.run(scenario())
    finally:
        server.stop()


def test_a_hung_redis_counts_as_down_and_clients_are_not_held_up(redis_server: RedisServer, tmp_path: Any) -> None:
    """A stopped (SIGSTOP) redis-server accepts connections and never answers: the slow case, not the refused one."""
    server = start_thread_server(settings_for(write_scene(tmp_path), tmp_path / "cache", redis_url=redis_server.url))
    assert redis_server.process is not None
    pid = redis_server.process.pid
    try:
        session = server.default_session()

        async def scenario() -> None:
            client = await Client.open(ws_url(server, session))
            await client.message("playback")
            os.kill(pid, signal.SIGSTOP)
            try:
                await client.send(_pin("while Redis hangs"))  # a save is due: it must not hold up anything
                await client.message("annotation")
                await _until(lambda: _health(server)["status"] == "degraded", "health to say degraded")
                for step in (1, 2, 3):
                    await client.send({"type": "playback", "step": step})
                    await client.message("playback", step=step)
                    await client.frame(step=step)
            finally:
                os.kill(pid, signal.SIGCONT)
            await _until(lambda: _health(server)["status"] == "ok", "health to say ok again")
            await _until(lambda: _saved_pins(redis_server.url, session["session_id"]) == ["while Redis hangs"],
                         "the pin saved once Redis answers")
            await client.close()

        asyncio.run(scenario())
    finally:
        server.stop()


def test_a_server_started_while_redis_is_down_serves_and_leaves_saved_sessions_alone(
    redis_server: RedisServer, tmp_path: Any
) -> None:
    scene = write_scene(tmp_path)
    first = start_thread_server(settings_for(scene, tmp_path / "cache1", redis_url=redis_server.url))
    try:
        saved_id = first.default_session()["session_id"]
        deadline = time.monotonic() + WAIT_S
        while not _exists(redis_server.url, saved_id):
            assert time.monotonic() < deadline, "the first server's session was not saved"
            time.sleep(0.05)  # polling Redis from outside the server
    finally:
        first.stop()

    redis_server.stop()
    second = start_thread_server(settings_for(scene, tmp_path / "cache2", redis_url=redis_server.url))
    try:
        health = _health(second)
        assert health["status"] == "degraded" and health["redis"]["up"] is False
        session = second.default_session()  # a session of its own to serve meanwhile

        async def scenario() -> None:
            client = await Client.open(ws_url(second, session))
            await client.message("welcome")
            await client.send(_pin("made while Redis was down"))
            await client.message("annotation")
            await asyncio.to_thread(redis_server.start)
            await _until(lambda: _health(second)["status"] == "ok", "health to say ok")
            await _until(lambda: _saved_pins(redis_server.url, session["session_id"]) == ["made while Redis was down"],
                         "the new session saved once Redis is back")
            await client.close()

        asyncio.run(scenario())
        assert _exists(redis_server.url, saved_id)  # what was saved before is still there
    finally:
        second.stop()


def _exists(redis_url: str, session_id: str) -> bool:
    client = redis.Redis.from_url(redis_url)
    try:
        return bool(client.exists(session_key(session_id))) and bool(client.sismember("vz:sessions", session_id))
    finally:
        client.close()
