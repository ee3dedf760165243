"""Presence over real sockets: several WebSocket clients in one session of a real server see each other move."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fixtures.server import WAIT_S, LiveServer, post_json, settings_for, start_thread_server, write_scene
from websockets.asyncio.client import ClientConnection, connect

from vizserver.protocol.presence import Pose, Presence, decode_batch, encode_presence


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("presence")
    live = start_thread_server(settings_for(write_scene(root), root / "cache"))
    yield live
    live.stop()


def new_session(server: LiveServer, people: int) -> list[str]:
    """WebSocket URLs of ``people`` members of a new session (the host first)."""
    created = post_json(f"{server.url}/api/sessions", {})
    assert created.status == 201, created.body
    session = created.json()
    tokens = [session["host_token"]]
    for i in range(people - 1):
        joined = post_json(f"{server.url}/api/sessions/{session['session_id']}/join", {"name": f"p{i}"})
        assert joined.status == 200, joined.body
        tokens.append(joined.json()["token"])
    return [f"{server.ws_url}/ws/{session['session_id']}?token={t}" for t in tokens]


def at(x: float, y: float = 0.0) -> bytes:
    return encode_presence(Presence(Pose((x, y, 0.5), (0.0, 0.0, 0.0, 1.0)), size=0.1))


class Peer:
    """A client that keeps who each slot is and the latest presence heard of each."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.client_id = ""
        self.slots: dict[int, str] = {}
        self.heard: dict[str, Presence] = {}
        self.messages: list[dict[str, Any]] = []
        self.batches = 0

    @classmethod
    async def join(cls, url: str) -> Peer:
        peer = cls(await connect(url, open_timeout=WAIT_S))
        await peer.ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "presence-test"}))
        peer.client_id = (await peer.until(lambda p: any(m["type"] == "welcome" for m in p.messages)))[0]["client_id"]
        return peer

    async def until(self, done: Any, timeout: float = WAIT_S) -> list[dict[str, Any]]:
        """Read until ``done(self)`` is true; the control messages read so far."""
        deadline = time.monotonic() + timeout
        while not done(self):
            data = await asyncio.wait_for(self.ws.recv(), max(deadline - time.monotonic(), 0.001))
            if isinstance(data, str):
                message = json.loads(data)
                self.messages.append(message)
                if message["type"] == "presence_peers":
                    if message["full"]:
                        self.slots.clear()
                    for slot in message["left"]:
                        self.heard.pop(self.slots.pop(slot, ""), None)
                    self.slots |= {p["slot"]: p["client_id"] for p in message["peers"]}
            elif data[:4] == b"VZP1":
                self.batches += 1
                for slot, presence in decode_batch(data):
                    self.heard[self.slots[slot]] = presence
        return self.messages

    def x_of(self, client_id: str) -> float | None:
        presence = self.heard.get(client_id)
        return None if presence is None else presence.head.position[0]


async def everyone(urls: list[str]) -> list[Peer]:
    peers = [await Peer.join(url) for url in urls]
    ids = {p.client_id for p in peers}
    for peer in peers:
        await peer.until(lambda p: set(p.slots.values()) == ids)
    return peers


def test_each_client_sees_the_others_move_and_not_itself(server: LiveServer) -> None:
    async def scenario() -> None:
        a, b, c = await everyone(new_session(server, 3))
        await a.ws.send(at(1.0))
        await b.ws.send(at(2.0))
        for peer in (b, c):
            await peer.until(lambda p: p.x_of(a.client_id) == 1.0)
        await c.until(lambda p: p.x_of(b.client_id) == 2.0)
        await a.ws.send(at(3.0, y=-4.0))
        await c.until(lambda p: p.x_of(a.client_id) == 3.0)
        assert c.heard[a.client_id].head.position == (3.0, -4.0, 0.5)
        await a.until(lambda p: p.x_of(b.client_id) == 2.0)
        assert a.client_id not in a.heard  # nobody hears itself
        peers_of_c = [m for m in c.messages if m["type"] == "presence_peers" and m["full"]]
        assert peers_of_c and all(p["name"] and p["role"] and p["member"] for p in peers_of_c[0]["peers"])
        for peer in (a, b, c):
            await peer.ws.close()

    asyncio.run(scenario())


def test_a_client_that_leaves_disappears_for_the_others(server: LiveServer) -> None:
    async def scenario() -> None:
        a, b = await everyone(new_session(server, 2))
        await a.ws.send(at(1.0))
        await b.until(lambda p: p.x_of(a.client_id) == 1.0)
        await a.ws.close()
        await b.until(lambda p: a.client_id not in p.slots.values())
        assert a.client_id not in b.heard
        left = [m for m in b.messages if m["type"] == "presence_peers" and m["left"]]
        assert len(left) == 1 and len(left[0]["left"]) == 1
        await b.ws.close()

    asyncio.run(scenario())


def test_bad_presence_is_refused_clearly_and_others_go_on(server: LiveServer) -> None:
    async def scenario() -> None:
        a, b = await everyone(new_session(server, 2))
        good = at(1.0)
        await a.ws.send(good[:-3])
        error = (await a.until(lambda p: any(m["type"] == "error" for m in p.messages)))[-1]
        assert error["code"] == "bad_frame" and "presence message of 14 bytes (at least 17)" in error["message"]
        nan = bytearray(good)
        nan[7:9] = b"\x00\x7e"  # head x: a float16 NaN
        await a.ws.send(bytes(nan))
        await a.until(lambda p: sum(m["type"] == "error" for m in p.messages) == 2)
        assert "not finite" in a.messages[-1]["message"]
        await a.ws.send(good)
        await b.until(lambda p: p.x_of(a.client_id) == 1.0)  # the connection is still served
        assert b.x_of(a.client_id) == 1.0
        for peer in (a, b):
            await peer.ws.close()

    asyncio.run(scenario())


def test_a_flood_is_cut_to_the_rate_limit(server: LiveServer) -> None:
    async def scenario() -> None:
        flooder, watcher, marker = await everyone(new_session(server, 3))
        for i in range(60):
            await flooder.ws.send(at(float(i)))
        await flooder.ws.send(json.dumps({"type": "ping", "t": 1.0}))
        await flooder.until(lambda p: any(m["type"] == "pong" for m in p.messages))  # the server read the flood
        await marker.ws.send(at(-1.0))
        await watcher.until(lambda p: p.x_of(marker.client_id) == -1.0)  # any later batch holds the flooder's latest
        last = watcher.x_of(flooder.client_id)
        assert last is not None and 4.0 <= last <= 8.0, last  # the burst of 5 (and a token or two), not 59
        for peer in (flooder, watcher, marker):
            await peer.ws.close()

    asyncio.run(scenario())


def test_a_binary_message_that_is_not_presence_is_still_refused(server: LiveServer) -> None:
    async def scenario() -> None:
        (a,) = await everyone(new_session(server, 1))
        await a.ws.send(b"\x00\x01binary")
        error = (await a.until(lambda p: any(m["type"] == "error" for m in p.messages)))[-1]
        assert error["code"] == "unexpected_binary"
        await a.ws.send(json.dumps({"type": "ping", "t": 2.0}))
        await a.until(lambda p: any(m["type"] == "pong" for m in p.messages))
        assert a.batches == 0
        await a.ws.close()

    asyncio.run(scenario())


def test_an_observers_presence_is_refused_and_not_relayed(server: LiveServer) -> None:
    """Observers watch only (sessions/roles.py): they see everyone, nobody sees them."""

    async def scenario() -> None:
        host_url, participant_url = new_session(server, 2)
        session_id, host_token = host_url.split("/ws/")[1].split("?token=")
        invited = post_json(f"{server.url}/api/sessions/{session_id}/invite?token={host_token}",
                            {"role": "observer", "name": "watcher"})
        assert invited.status == 200, invited.body
        observer_url = f"{server.ws_url}/ws/{session_id}?token={invited.json()['token']}"
        host, participant, observer = await everyone([host_url, participant_url, observer_url])
        await observer.ws.send(at(7.0))
        error = (await observer.until(lambda p: any(m["type"] == "error" for m in p.messages)))[-1]
        assert error["code"] == "forbidden" and "presence" in error["message"]
        await host.ws.send(at(1.0))  # sent after the observer's: a batch that holds it would hold the observer's
        await participant.until(lambda p: p.x_of(host.client_id) == 1.0)
        await observer.until(lambda p: p.x_of(host.client_id) == 1.0)  # an observer sees the others
        assert observer.client_id not in participant.heard
        for peer in (host, participant, observer):
            await peer.ws.close()

    asyncio.run(scenario())
