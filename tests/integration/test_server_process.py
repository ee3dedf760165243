"""``python -m vizserver serve`` as a user runs it: limits from the environment, a stalled client, cache, shutdown."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fixtures.server import (
    WAIT_S,
    Client,
    LiveServer,
    http,
    multipart,
    rss_bytes,
    start_process_server,
    write_scene,
    ws_url,
)

UPLOAD_LIMIT = 2_000_000
STALL_S = 2.0
RSS_GROWTH_BOUND = 40 << 20
"""A stalled client may cost the server at most this much memory while frames keep flowing."""
PING_BOUND_S = 0.5
"""Round trip of a ping while the server streams at full speed (it is ~ms when the loop never blocks)."""


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("process")
    env = {
        "VIZSERVER_CACHE_DIR": str(root / "cache"),
        "VIZSERVER_MAX_INPUT_BYTES": str(UPLOAD_LIMIT),
        "VIZSERVER_STALL_TIMEOUT_S": str(STALL_S),
    }
    return write_scene(root, resolution=28, noise=True), env


@pytest.fixture(scope="module")
def server(scene: tuple[Path, dict[str, str]]) -> Iterator[LiveServer]:
    live = start_process_server(*scene)
    yield live
    live.stop()


def test_first_start_converts_and_prints_the_url(server: LiveServer) -> None:
    text = "".join(server.log)
    assert "converted" in text and "open http://127.0.0.1:" in text
    assert http(f"{server.url}/api/health").json()["sessions"] == 1


def test_upload_over_the_environment_limit_is_413(server: LiveServer) -> None:
    session = server.default_session()
    body, headers = multipart("huge.stl", b"\0" * (UPLOAD_LIMIT + 1))
    url = f"{server.url}/api/uploads?session={session['session_id']}&token={session['token']}"
    answer = http(url, "POST", body, headers)
    assert answer.status == 413 and "2,000,000 bytes" in answer.json()["detail"]


def stalled_client(server: LiveServer, session: dict[str, str], subscribe: list[tuple[int, int]]) -> socket.socket:
    """A WebSocket client that says hello, subscribes, then never reads again (tiny receive buffer)."""
    parts = urlsplit(server.url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(WAIT_S)
    sock.connect((parts.hostname, parts.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws/{session['session_id']}?token={session['token']} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert response.startswith(b"HTTP/1.1 101")
    texts = ['{"type":"hello","protocol":1,"client":"stalled"}']
    texts += [f'{{"type":"subscribe","object":{o},"field":{f}}}' for o, f in subscribe]
    for text in texts:
        payload = text.encode()
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
    return sock


def clients_now(server: LiveServer) -> int:
    return int(http(f"{server.url}/api/health").json()["clients"])


def test_stalled_client_is_dropped_memory_stays_flat_and_others_keep_streaming(server: LiveServer) -> None:
    assert server.process is not None
    session = server.default_session()

    async def scenario() -> None:
        watcher = await Client.open(ws_url(server, session))
        scene = await watcher.message("scene")
        wave = next(o for o in scene["objects"] if o["name"] == "wave")
        noise = next(f["id"] for f in wave["fields"] if f["name"] == "temperature")
        await watcher.send({"type": "subscribe", "object": wave["id"], "field": noise})
        await watcher.send({"type": "playback", "playing": True, "speed": 16.0, "loop": True})
        await watcher.message("playback", playing=True)
        await watcher.frame(field=noise)
        rss_before = rss_bytes(server.process.pid)
        stalled = await asyncio.to_thread(stalled_client, server, session, [(wave["id"], noise)])
        try:
            deadline = time.monotonic() + STALL_S + WAIT_S
            seen_two = False
            peak = rss_before
            while time.monotonic() < deadline:
                watcher.frames.clear()
                await watcher.frame(field=noise)  # frames keep flowing to the reading client
                peak = max(peak, rss_bytes(server.process.pid))
                count = await asyncio.to_thread(clients_now, server)
                seen_two = seen_two or count == 2
                if seen_two and count == 1:
                    break
            else:
                raise AssertionError("the stalled client was never dropped")
            assert peak - rss_before < RSS_GROWTH_BOUND, f"RSS grew {(peak - rss_before) >> 20} MiB"
            for _ in range(5):
                await watcher.frame(field=noise)
            started = time.monotonic()  # the event loop answers at once while it streams at full speed
            await watcher.send({"type": "ping", "t": 1.0})
            await watcher.message("pong")
            assert time.monotonic() - started < PING_BOUND_S
        finally:
            stalled.close()
        metrics = await asyncio.to_thread(http, f"{server.url}/metrics")
        values = dict(line.rsplit(" ", 1) for line in metrics.body.decode().splitlines() if not line.startswith("#"))
        assert int(values["vizserver_frames_sent_total"]) > 0
        await watcher.send({"type": "playback", "playing": False})
        await watcher.close()

    asyncio.run(scenario())
    assert "client stopped reading" in "".join(server.log)


def test_shutdown_closes_clients_with_1001_and_second_start_uses_the_cache(
    server: LiveServer, scene: tuple[Path, dict[str, str]]
) -> None:
    assert server.process is not None

    async def connected_then_shutdown() -> tuple[int | None, str]:
        client = await Client.open(ws_url(server, server.default_session()))
        await client.message("welcome")
        server.process.terminate()  # type: ignore[union-attr]
        return await client.closed()

    code, reason = asyncio.run(connected_then_shutdown())
    assert code == 1001 and reason == "server shutting down"
    assert server.process.wait(WAIT_S) == 0

    again = start_process_server(*scene)
    try:
        assert "from the cache" in "".join(again.log)
        assert http(f"{again.url}/api/health").status == 200
    finally:
        again.stop()
