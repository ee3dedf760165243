"""A WebRTC peer that stops taking data: the server's send buffer for it stays bounded (frames wait in the
outbox, latest wins) and the peer is closed after the stall timeout, as a stalled WebSocket is with 4008."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from fixtures.rtc_client import RtcClient
from fixtures.server import LiveServer, http, settings_for, start_thread_server, write_scene

from vizserver.transports.webrtc import BUFFER_LOW_BYTES, RtcPeers

STALL_S = 2.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("rtc-stall")
    scene = write_scene(root, resolution=16, noise=True)
    live = start_thread_server(
        settings_for(scene, root / "cache", rtc_host_addresses="127.0.0.1", stall_timeout_s=STALL_S)
    )
    yield live
    live.stop()


def test_a_peer_that_stops_reading_is_bounded_then_closed(server: LiveServer) -> None:
    """Frames keep coming (playing at speed 16) and another member draws large strokes, so control messages
    pile up for the deaf peer; its send buffers stay bounded and it is closed, while the other member is
    served throughout."""
    assert server.server is not None
    peers: RtcPeers = server.server.config.app.state.rtc

    async def scenario() -> None:
        deaf = await RtcClient.open(server.url, server.default_session())
        await deaf.message("welcome")
        scene = await deaf.message("scene")
        wave = next(o for o in scene["objects"] if o["name"] == "wave")
        noisy = next(f["id"] for f in wave["fields"] if f["name"] == "temperature")
        deaf.send({"type": "subscribe", "object": wave["id"], "field": noisy})
        deaf.send({"type": "playback", "playing": True, "speed": 16.0, "loop": True})
        frame = await deaf.frame(object=wave["id"], field=noisy)
        frame_bytes = 48 + 2 * len(frame.values)
        drawer = await RtcClient.open(server.url, server.default_session())
        await drawer.message("welcome")

        async def ignore(data: bytes) -> None:
            """The deaf client's SCTP takes nothing more: no data, no acknowledgements (ICE still answers)."""

        deaf.pc.sctp._handle_data = ignore  # type: ignore[method-assign]
        server_peer = peers.peers[deaf.peer_id]
        stroke = [[i / 1000.0, 0.5, 0.25] for i in range(1000)]
        for _ in range(4):  # ~30 KB of JSON each, to every member
            drawer.send({"type": "annotation_add", "kind": "stroke", "points": stroke, "width": 0.01})
            await drawer.message("annotation")
        most = 0
        deadline = time.monotonic() + 30
        while deaf.peer_id in peers.peers:
            most = max(most, *(c.bufferedAmount for c in server_peer.channels.values()))
            assert time.monotonic() < deadline, f"the stalled peer was not closed ({most} bytes waiting)"
            await asyncio.sleep(0.01)
        assert BUFFER_LOW_BYTES < most <= BUFFER_LOW_BYTES + 64 * 1024 + frame_bytes, f"{most} bytes waited"
        health = (await asyncio.to_thread(http, f"{server.url}/api/health")).json()
        assert health["webrtc"]["peers"] == 1 and health["clients"] == 1
        drawer.send({"type": "ping", "t": 3.0})
        assert (await drawer.message("pong"))["t"] == 3.0
        await deaf.close()
        await drawer.close()

    asyncio.run(scenario())
