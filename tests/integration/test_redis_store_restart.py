"""A ``serve --redis`` server saves its sessions in Redis, not in an SQLite file; another server on the same
Redis (its own cache folder) brings them back: the default session's id, a member by her token, her pin
and the playback step."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import redis
from fixtures.redis_server import RedisServer
from fixtures.server import Client, LiveServer, post_json, settings_for, start_thread_server, write_scene

from vizserver.scale.redis_store import session_key
from vizserver.server.settings import STORE_FILE_NAME

WAIT_S = 20.0
PIN = {"type": "annotation_add", "kind": "pin", "object": 1, "point": [0.5, 0.5, 0.5], "text": "kept"}


def _snapshot(url: str, session_id: str) -> dict[str, Any] | None:
    client = redis.Redis.from_url(url)
    try:
        text = client.get(session_key(session_id))
    finally:
        client.close()
    return None if text is None else dict(json.loads(text))


def _connect_url(server: LiveServer, session_id: str, token: str) -> str:
    return f"{server.ws_url}/ws/{session_id}?token={token}"


def test_a_session_saved_in_redis_by_one_server_comes_back_on_another(redis_server: RedisServer,
                                                                       tmp_path: Path) -> None:
    scene = write_scene(tmp_path)
    first = start_thread_server(settings_for(scene, tmp_path / "cache1", redis_url=redis_server.url))
    try:
        default_id = first.default_session()["session_id"]
        created = post_json(f"{first.url}/api/sessions", {}).json()
        sid = created["session_id"]
        ann = post_json(f"{first.url}/api/sessions/{sid}/join", {"name": "Ann"}).json()

        async def before() -> None:
            a = await Client.open(_connect_url(first, sid, ann["token"]))
            await a.send(PIN)
            await a.message("annotation")
            host = await Client.open(_connect_url(first, sid, created["host_token"]))
            await host.send({"type": "playback", "step": 3})
            await a.message("playback", step=3)
            deadline = time.monotonic() + WAIT_S
            while True:  # saved at most a second after the change
                saved = await asyncio.to_thread(_snapshot, redis_server.url, sid)
                if saved is not None and saved["annotations"]["annotations"] and saved["playback"]["position"] == 3:
                    break
                assert time.monotonic() < deadline, "the session was not saved in Redis"
                await asyncio.sleep(0.05)  # polling Redis from outside the server
            await a.close()
            await host.close()

        asyncio.run(before())
    finally:
        first.stop()
    assert not (tmp_path / "cache1" / STORE_FILE_NAME).exists()  # with --redis the SQLite store is not used
    saved = _snapshot(redis_server.url, sid)
    assert saved is not None
    assert ann["token"] not in json.dumps(saved) and created["host_token"] not in json.dumps(saved)

    second = start_thread_server(settings_for(scene, tmp_path / "cache2", redis_url=redis_server.url))
    try:
        assert second.default_session()["session_id"] == default_id

        async def after() -> None:
            a = await Client.open(_connect_url(second, sid, ann["token"]))
            welcome = await a.message("welcome")
            assert (welcome["session_id"], welcome["member"]) == (sid, ann["member"])
            items = (await a.message("annotations"))["items"]
            assert [(i["kind"], i["text"]) for i in items] == [("pin", "kept")]
            assert (await a.message("playback"))["step"] == 3
            await a.close()

        asyncio.run(after())
    finally:
        second.stop()
