"""WebRTC against a real server on 127.0.0.1: an aiortc client offers over HTTP, then speaks protocol v1
on the ``control`` and ``fields`` data channels, as a browser does (docs/protocol.md "WebRTC")."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fixtures.rtc_client import RtcClient, offer
from fixtures.server import LiveServer, http, post_json, settings_for, start_thread_server, write_scene

from vizserver.protocol.presence import Pose, Presence, encode_presence


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("rtc")
    live = start_thread_server(
        settings_for(write_scene(root, resolution=18, noise=True), root / "cache", rtc_host_addresses="127.0.0.1")
    )
    yield live
    live.stop()


def health(server: LiveServer) -> dict[str, Any]:
    answer = http(f"{server.url}/api/health")
    assert answer.status == 200
    return dict(answer.json())


async def until_health(server: LiveServer, **want: Any) -> dict[str, Any]:
    """Poll /api/health until its ``webrtc.peers`` and ``clients`` are as wanted (20 s deadline)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:
        now = await asyncio.to_thread(health, server)
        if now["webrtc"]["peers"] == want["peers"] and now["clients"] == want["clients"]:
            return now
        assert loop.time() < deadline, f"health stayed {now}, wanted {want}"
        await asyncio.sleep(0.05)


def test_config_says_enabled_with_no_ice_servers(server: LiveServer) -> None:
    answer = http(f"{server.url}/api/rtc/config")
    assert answer.status == 200
    assert answer.json() == {"enabled": True, "ice_servers": []}
    assert health(server)["webrtc"]["enabled"] is True


def test_control_and_fields_carry_the_protocol(server: LiveServer) -> None:
    session = server.default_session()

    async def scenario() -> None:
        client = await RtcClient.open(server.url, session)
        welcome = await client.message("welcome")
        assert welcome["session_id"] == session["session_id"]
        assert welcome["member"] == session["member"]
        scene = await client.message("scene")
        wave = next(o for o in scene["objects"] if o["name"] == "wave")
        frame = await client.frame(object=wave["id"])
        assert frame.values.shape[0] == wave["vertices"]
        assert np.isfinite(frame.values).all()
        assert client.arrivals["fields"] >= 1  # the frame came on the fields channel
        # role-checked: a participant may not lead the view, even in the open default session
        client.send({"type": "follow", "on": True})
        refused = await client.message("error", code="forbidden")
        assert "follow" in refused["message"]
        client.send({"type": "ping", "t": 12.5})
        assert (await client.message("pong"))["t"] == 12.5
        client.send({"type": "playback", "step": 3, "playing": False})
        assert (await client.message("playback", step=3))["playing"] is False
        await client.frame(object=wave["id"], step=3)
        await client.close()
        await until_health(server, peers=0, clients=0)

    asyncio.run(scenario())


def test_presence_on_either_channel_reaches_a_websocket_peer_and_back(server: LiveServer) -> None:
    session = server.default_session()
    other = server.default_session()
    pose = encode_presence(Presence(Pose((0.25, 0.0, 0.5), (0.0, 0.0, 0.0, 1.0)), size=0.1))

    async def scenario() -> None:
        a = await RtcClient.open(server.url, session)
        b = await RtcClient.open(server.url, other)
        await a.message("welcome")
        await b.message("welcome")
        a.send(pose, "fields")
        deadline = asyncio.get_running_loop().time() + 20
        while not b.presence:
            assert asyncio.get_running_loop().time() < deadline, "no presence batch reached b"
            await b._wait(deadline, "presence")
        assert pose[5:] in b.presence[-1]  # the batch carries a's pose body
        b.send(pose, "control")
        while not a.presence:
            await a._wait(deadline, "presence")
        await a.close()
        await b.close()

    asyncio.run(scenario())


def test_messages_over_the_peers_size_limit_arrive_in_pieces(server: LiveServer) -> None:
    """An offer that accepts 1200-byte messages gets a long control message and the noisy frames split, and both
    arrive whole."""
    session = server.default_session()

    async def scenario() -> None:
        client = await RtcClient.open(server.url, session, max_message_size=1200)
        try:
            scene = await client.message("scene")
            wave = next(o for o in scene["objects"] if o["name"] == "wave")
            noisy = next(f["id"] for f in wave["fields"] if f["name"] == "temperature")
            client.send({"type": "subscribe", "object": wave["id"], "field": noisy})
            frame = await client.frame(object=wave["id"], field=noisy)  # ~1700 noisy u8 values: split on fields
            assert frame.values.shape[0] == wave["vertices"]
            assert client.pieces["fields"] >= 2
            stroke = [[i / 100.0, 0.5, 0.25] for i in range(100)]
            client.send({"type": "annotation_add", "kind": "stroke", "points": stroke, "width": 0.01})
            drawn = await client.message("annotation")  # ~3 KB of JSON: split on control
            assert drawn["annotation"]["points"] == stroke
            assert client.pieces["control"] >= 2
        finally:
            await client.close()

    asyncio.run(scenario())


def test_bad_offers_get_clear_errors(server: LiveServer) -> None:
    session = server.default_session()
    url = f"{server.url}/api/rtc/offer"

    def ask(payload: dict[str, Any]) -> tuple[int, str]:
        answer = post_json(url, payload)
        return answer.status, str(answer.json()["detail"])

    base = {"session_id": session["session_id"], "token": session["token"], "type": "offer"}
    not_json = http(url, "POST", b"{nope", {"Content-Type": "application/json"})
    assert not_json.status == 400 and "not JSON" in not_json.json()["detail"]
    assert ask({**base})[0] == 400  # no sdp
    status, detail = ask({**base, "sdp": "hello"})
    assert status == 400 and "v=0" in detail
    status, detail = ask({**base, "sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\nm=audio 9 x 0\r\n"})
    assert status == 400 and "data channels" in detail
    status, detail = ask({**base, "sdp": "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=bogus\r\n"})
    assert status == 400 and detail.startswith("sdp: cannot use the offer")
    status, detail = ask({**base, "sdp": "v=0\r\nm=application 9 x\r\na=max-message-size:100\r\n"})
    assert status == 400 and "below 1200" in detail
    assert ask({**base, "sdp": "v=0", "video": "yes"})[0] == 400  # strict: no coercion
    assert ask({**base, "sdp": "v=0", "session_id": "nope"})[0] == 404
    assert ask({**base, "sdp": "v=0", "token": "forged"})[0] == 404
    assert health(server)["webrtc"]["peers"] == 0


def test_too_many_peers_for_one_member(server: LiveServer) -> None:
    session = server.default_session()

    async def scenario() -> None:
        clients = [await RtcClient.open(server.url, session, hello=None) for _ in range(4)]
        try:
            await RtcClient.open(server.url, session)
        except Exception as refused:  # RtcRefused
            answer = refused.answer  # type: ignore[attr-defined]
            assert answer.status == 429
            assert "limit 4" in answer.json()["detail"]
        else:
            raise AssertionError("a fifth peer connection was answered")
        other = await RtcClient.open(server.url, server.default_session())  # another member is not affected
        await other.message("welcome")
        for client in [*clients, other]:
            await client.close()
        await until_health(server, peers=0, clients=0)

    asyncio.run(scenario())


def test_a_closed_peer_leaves_the_session(server: LiveServer) -> None:
    created = post_json(f"{server.url}/api/sessions", {})
    assert created.status == 201
    host = {"session_id": created.json()["session_id"], "token": created.json()["host_token"]}
    joined = post_json(f"{server.url}/api/sessions/{host['session_id']}/join", {"name": "watcher"})
    assert joined.status == 200

    async def scenario() -> None:
        client = await RtcClient.open(server.url, host)
        await client.message("welcome")
        watcher = await RtcClient.open(server.url, joined.json())
        await watcher.message("welcome")
        await until_health(server, peers=2, clients=2)
        await client.close()
        await until_health(server, peers=1, clients=1)
        while True:  # the watcher hears that the host is gone
            members = await watcher.message("members")
            by_name = {m["name"]: m["connected"] for m in members["members"]}
            if by_name.get("watcher") and not any(c for n, c in by_name.items() if n != "watcher"):
                break
        await watcher.close()
        await until_health(server, peers=0, clients=0)

    asyncio.run(scenario())


def test_offer_for_a_disabled_server(tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("rtc-off")
    live = start_thread_server(settings_for(write_scene(root), root / "cache", webrtc=False))
    try:
        session = live.default_session()
        assert http(f"{live.url}/api/rtc/config").json() == {"enabled": False, "ice_servers": []}
        answer = asyncio.run(offer(live.url, {"session_id": session["session_id"], "token": session["token"],
                                              "sdp": "v=0", "type": "offer"}))
        assert answer.status == 503 and "WebSocket" in answer.json()["detail"]
        assert http(f"{live.url}/api/health").json()["webrtc"] == {"enabled": False, "peers": 0}
    finally:
        live.stop()
