"""``serve --redis --public-url URL``: the address a process is listed under in ``welcome.servers`` (where a
client fails over to) is the one its operator gives, not its listening address; a bad one stops ``serve``."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from fixtures.cli import run_cli
from fixtures.redis_server import RedisServer
from fixtures.server import WAIT_S, Client, http, start_process_server, write_scene

PUBLIC = "https://viz-2.hospital.example:8443"


def test_welcome_lists_a_process_under_its_public_url(tmp_path: Path, redis_server: RedisServer) -> None:
    scene = write_scene(tmp_path / "scene")
    env = {"VIZSERVER_CACHE_DIR": str(tmp_path / "cache"), "VIZSERVER_REDIS_URL": redis_server.url}
    first = start_process_server(scene, env)
    second = start_process_server(scene, env, ("--public-url", f"{PUBLIC}/"))
    try:
        joined = http(f"{first.url}/api/sessions/default").json()
        url = f"{first.url.replace('http://', 'ws://', 1)}/ws/{joined['session_id']}?token={joined['token']}"

        async def servers_listed() -> list[str]:
            deadline = time.monotonic() + WAIT_S
            while True:
                client = await Client.open(url)
                listed: list[str] = (await client.message("welcome"))["servers"]
                await client.close()
                if len(listed) == 2 or time.monotonic() > deadline:
                    return listed
                await asyncio.sleep(0.1)  # processes learn of each other on their heartbeat

        assert sorted(asyncio.run(servers_listed())) == sorted([first.url, PUBLIC])
    finally:
        second.stop()
        first.stop()


def test_a_public_url_that_is_not_http_stops_serve(tmp_path: Path) -> None:
    result = run_cli("serve", str(write_scene(tmp_path / "scene")), "--port", "0", "--public-url", "ftp://viz-2",
                     env={"VIZSERVER_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 2
    assert "--public-url 'ftp://viz-2': expected http(s)://HOST:PORT" in result.stderr
