"""WebRTC peers end cleanly: a peer killed without a goodbye, and many connect/disconnect cycles that leave no
task, thread or peer connection behind (docs/protocol.md "WebRTC", "Closing")."""

from __future__ import annotations

import asyncio
import gc
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from fixtures.rtc_client import RtcClient, offer
from fixtures.server import LiveServer, http, server_in_this_loop, settings_for, start_thread_server, write_scene

from vizserver.transports import webrtc
from vizserver.transports.rtc_config import use_host_addresses

TESTS = Path(__file__).resolve().parent.parent
CYCLES = 30


def health(url: str) -> dict[str, Any]:
    answer = http(f"{url}/api/health")
    assert answer.status == 200
    return dict(answer.json())


async def until_gone(url: str, deadline_s: float = 20.0) -> None:
    """Poll /api/health until no WebRTC peer and no client is left."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    while True:
        now = await asyncio.to_thread(health, url)
        if now["webrtc"]["peers"] == 0 and now["clients"] == 0:
            return
        assert loop.time() < deadline, f"still connected: {now}"
        await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("rtc-teardown")
    settings = settings_for(write_scene(root), root / "cache", rtc_host_addresses="127.0.0.1", stall_timeout_s=2.0)
    live = start_thread_server(settings)
    yield live
    live.stop()


def test_a_killed_peer_is_cleaned_up(server: LiveServer) -> None:
    """A client process killed mid-stream sends nothing more; the server drops its peer and its client."""
    session = server.default_session()
    process = subprocess.Popen(
        [sys.executable, "-m", "fixtures.rtc_client", server.url, session["session_id"], session["token"]],
        cwd=TESTS, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("connected "), line + process.stdout.read()
        assert health(server.url)["webrtc"]["peers"] == 1
        assert health(server.url)["clients"] == 1
        process.send_signal(signal.SIGKILL)
        process.wait()
        asyncio.run(until_gone(server.url, deadline_s=60.0))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _threads() -> int:
    """Threads of this process, except the loop's default executor's (it grows to its bound as it is used)."""
    return sum(1 for t in threading.enumerate() if not t.name.startswith("asyncio_"))


def _live_peer_connections() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, RTCPeerConnection))


def test_many_cycles_leak_nothing(tmp_path: Path) -> None:
    """30 peers come and go (a normal visit, one that never says hello, one refused for a bad first message);
    afterwards the server's loop runs no more tasks, the process no more threads, and no peer connection
    object is alive. Server and clients share one event loop here, so every task is counted."""
    settings = settings_for(write_scene(tmp_path), tmp_path / "cache", rtc_host_addresses="127.0.0.1")

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        async with server_in_this_loop(settings) as url:
            session = await asyncio.to_thread(lambda: http(f"{url}/api/sessions/default").json())

            async def visit(kind: int) -> None:
                if kind == 0:
                    client = await RtcClient.open(url, session)
                    await client.message("welcome")
                    await client.message("scene")
                elif kind == 1:
                    client = await RtcClient.open(url, session, hello=None)
                else:
                    client = await RtcClient.open(url, session, hello={"type": "ping", "t": 1.0})
                    closed = await client.closed()
                    assert closed["code"] == 4001
                    await asyncio.wait_for(client.closed_event.wait(), 20)  # the server closed the connection
                await client.close()
                await until_gone(url)

            async def settled(want: tuple[int, int, int]) -> tuple[int, int, int]:
                deadline = loop.time() + 20
                while True:
                    now = (len(asyncio.all_tasks()), _threads(), _live_peer_connections())
                    if all(n <= w for n, w in zip(now, want, strict=True)) or loop.time() > deadline:
                        return now
                    await asyncio.sleep(0.1)

            for kind in range(3):  # warm up: executor threads, lazily made tasks
                await visit(kind)
            baseline = await settled((10**6, 10**6, 0))
            for cycle in range(CYCLES):
                await visit(cycle % 3)
            after = await settled(baseline)
            names = sorted(t.name for t in threading.enumerate())
            assert all(a <= b for a, b in zip(after, baseline, strict=True)), (  # other tests' threads may end
                f"(tasks, threads, peer connections): {baseline} before, {after} after {names}"
            )
            assert after[2] == 0
            assert (await asyncio.to_thread(health, url))["webrtc"] == {"enabled": True, "peers": 0}

    asyncio.run(scenario())


def test_the_server_going_away_says_1001(tmp_path: Path) -> None:
    settings = settings_for(write_scene(tmp_path), tmp_path / "cache", rtc_host_addresses="127.0.0.1")
    live = start_thread_server(settings)
    session = live.default_session()

    async def scenario() -> None:
        client = await RtcClient.open(live.url, session)
        await client.message("welcome")
        stopping = asyncio.get_running_loop().run_in_executor(None, live.stop)
        closed = await client.closed()
        assert closed == {"type": "rtc_close", "code": 1001, "reason": "server shutting down"}
        await stopping
        await asyncio.wait_for(client.closed_event.wait(), 20)
        await client.close()

    try:
        asyncio.run(scenario())
    finally:
        live.stop()


def test_a_peer_that_never_connects_or_never_says_hello_is_dropped(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answered offer whose channels never open, and a peer that opens them but says nothing, are ended
    after the connect and hello timeouts (shortened here; the server runs in this process)."""
    monkeypatch.setattr(webrtc, "CONNECT_TIMEOUT_S", 1.0)
    monkeypatch.setattr(webrtc, "HELLO_TIMEOUT_S", 1.0)
    session = server.default_session()

    async def scenario() -> None:
        use_host_addresses(("127.0.0.1",))
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.createDataChannel("control")
        await pc.setLocalDescription(await pc.createOffer())
        answer = await offer(server.url, {"session_id": session["session_id"], "token": session["token"],
                                          "sdp": pc.localDescription.sdp, "type": "offer"})
        assert answer.status == 200  # ... and the answer is never applied: nothing connects
        assert health(server.url)["webrtc"]["peers"] == 1
        await until_gone(server.url)
        await pc.close()

        silent = await RtcClient.open(server.url, session, hello=None)
        closed = await silent.closed()
        assert closed == {"type": "rtc_close", "code": 4001, "reason": "no hello within 1 s"}
        await asyncio.wait_for(silent.closed_event.wait(), 20)
        await until_gone(server.url)
        await silent.close()

    asyncio.run(scenario())
