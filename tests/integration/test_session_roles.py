"""Roles over real sockets: several WebSocket clients of one session on a real server, each with its own token.

An observer is refused playback (and nobody else hears of it), the host hands the presenter role over
and takes it back, removal closes the removed member's socket with 4011 and revokes its token, ending
the session closes everyone with 4010; tokens work only in their own session; invites need the host
token; a join flood gets 429.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from fixtures.server import (
    Client,
    LiveServer,
    http,
    multipart,
    post_json,
    settings_for,
    start_thread_server,
    upload_converted,
    write_scene,
)

from vizserver.sessions import registry as registry_module


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("roles")
    live = start_thread_server(settings_for(write_scene(root), root / "cache"))
    yield live
    live.stop()


class Room:
    """A new strict session: the host's token, and more members through invites and joins."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        created = post_json(f"{server.url}/api/sessions", {})
        assert created.status == 201, created.body
        self.id = created.json()["session_id"]
        self.host_token = created.json()["host_token"]

    def invite(self, role: str, name: str) -> dict[str, Any]:
        answer = post_json(f"{self.server.url}/api/sessions/{self.id}/invite?token={self.host_token}",
                           {"role": role, "name": name})
        assert answer.status == 200, answer.body
        return dict(answer.json())

    def join(self, name: str) -> dict[str, Any]:
        answer = post_json(f"{self.server.url}/api/sessions/{self.id}/join", {"name": name})
        assert answer.status == 200, answer.body
        return dict(answer.json())

    def url(self, token: str) -> str:
        return f"{self.server.ws_url}/ws/{self.id}?token={token}"

    async def connect(self, token: str) -> Client:
        client = await Client.open(self.url(token))
        await client.message("playback")
        return client


async def members(client: Client, **where: Any) -> dict[str, dict[str, Any]]:
    """The next ``members`` message in which every ``name: role`` of ``where`` holds; entries by name."""
    while True:
        listed = {m["name"]: m for m in (await client.message("members"))["members"]}
        if all(listed.get(name, {}).get("role") == role for name, role in where.items()):
            return listed


async def settled(client: Client) -> None:
    """Everything the server sent this client before now has arrived (a ping's pong comes after it)."""
    await client.send({"type": "ping", "t": 1.0})
    await client.message("pong")


def test_an_observer_is_refused_playback_and_nobody_else_hears_of_it(server: LiveServer) -> None:
    room = Room(server)
    observer = room.invite("observer", "Olga")
    assert observer["role"] == "observer" and observer["member"]

    async def scenario() -> None:
        host = await room.connect(room.host_token)
        olga = await room.connect(observer["token"])
        assert (await olga.message("welcome"))["role"] == "observer"
        await olga.send({"type": "playback", "step": 3, "playing": True})
        refused = await olga.message("error")
        assert refused["code"] == "forbidden" and "playback" in refused["message"] and "observer" in refused["message"]
        await settled(host)
        await settled(olga)
        assert not [m for m in host.messages if m["type"] in ("playback", "error")]
        assert not [m for m in olga.messages if m["type"] == "playback"]
        await olga.send({"type": "raise_hand"})  # an observer watches only
        assert (await olga.message("error"))["code"] == "forbidden"
        await host.send({"type": "playback", "step": 2})  # the host drives
        assert (await olga.message("playback", step=2))["playing"] is False
        await host.close()
        await olga.close()

    asyncio.run(scenario())


def test_the_host_hands_the_presenter_role_over_and_takes_it_back(server: LiveServer) -> None:
    room = Room(server)
    pia = room.join("Pia")

    async def scenario() -> None:
        host = await room.connect(room.host_token)
        student = await room.connect(pia["token"])
        await student.send({"type": "playback", "step": 1})
        assert (await student.message("error"))["code"] == "forbidden"
        await host.send({"type": "set_role", "member": pia["member"], "role": "presenter"})
        assert (await members(student, Pia="presenter"))["Pia"]["connected"] is True
        await student.send({"type": "playback", "step": 4})
        await host.message("playback", step=4)  # the presenter drives everyone's view
        await host.send({"type": "return_presenter"})  # the host takes it back
        await members(student, Pia="participant")
        await student.send({"type": "playback", "step": 0})
        assert (await student.message("error"))["code"] == "forbidden"
        await host.send({"type": "set_role", "member": pia["member"], "role": "presenter"})
        await members(host, Pia="presenter")
        await student.send({"type": "return_presenter"})  # and the presenter hands it back
        await members(host, Pia="participant")
        await host.close()
        await student.close()

    asyncio.run(scenario())


def test_participants_steer_only_while_the_host_allows_it(server: LiveServer) -> None:
    room = Room(server)  # its scene has no twin: a request that passes the role check hears twin_unavailable
    sam = room.join("Sam")

    async def scenario() -> None:
        host = await room.connect(room.host_token)
        student = await room.connect(sam["token"])
        await student.send({"type": "twin_params", "seq": 1, "values": {"d": 1.0}})
        refused = await student.message("error", seq=1)
        assert refused["code"] == "forbidden" and "while the host allows steering" in refused["message"]
        await host.send({"type": "allow_steering", "allowed": True})
        assert (await student.message("members", steering=True))["open"] is False
        await student.send({"type": "twin_params", "seq": 2, "values": {"d": 1.0}})
        assert (await student.message("error", seq=2))["code"] == "twin_unavailable"
        await host.send({"type": "allow_steering", "allowed": False})
        await student.message("members", steering=False)
        await student.send({"type": "twin_control", "seq": 3, "playing": False})
        assert (await student.message("error", seq=3))["code"] == "forbidden"
        await host.close()
        await student.close()

    asyncio.run(scenario())


def test_removal_closes_the_socket_and_revokes_the_token(server: LiveServer) -> None:
    room = Room(server)
    rex, stay = room.join("Rex"), room.join("Stay")

    async def scenario() -> None:
        host = await room.connect(room.host_token)
        removed = await room.connect(rex["token"])
        other = await room.connect(stay["token"])
        await members(other, Rex="participant")
        await removed.send({"type": "raise_hand"})
        assert (await members(other, Rex="participant"))["Rex"]["hand_raised"] is True
        await host.send({"type": "remove_member", "member": rex["member"]})
        assert await removed.closed() == (4011, "removed from the session by the host")
        listed = await members(other, Stay="participant")
        while "Rex" in listed:
            listed = await members(other, Stay="participant")
        again = await Client.open(room.url(rex["token"]))
        assert await again.closed() == (4004, "unknown session or bad token")
        await settled(other)  # the others stay connected
        await host.close()
        await other.close()

    asyncio.run(scenario())


def test_ending_the_session_tells_everyone_and_closes_every_connection(server: LiveServer) -> None:
    room = Room(server)
    guest = room.join("Guest")

    async def scenario() -> None:
        host = await room.connect(room.host_token)
        other = await room.connect(guest["token"])
        await other.send({"type": "end_session"})
        assert (await other.message("error"))["code"] == "forbidden"
        await host.send({"type": "end_session"})
        for client in (host, other):
            assert (await client.message("session_ended"))["reason"] == "the host ended the session"
            assert await client.closed() == (4010, "the host ended the session")
        again = await Client.open(room.url(room.host_token))
        assert (await again.closed())[0] == 4004

    asyncio.run(scenario())
    assert post_json(f"{server.url}/api/sessions/{room.id}/join", {}).status == 404


def test_tokens_belong_to_one_session_and_invites_to_its_host(server: LiveServer) -> None:
    first, second = Room(server), Room(server)
    member = first.join("Ana")

    async def scenario() -> None:
        for token in (first.host_token, member["token"], first.host_token[:-2] + "xx"):
            client = await Client.open(second.url(token))
            assert await client.closed() == (4004, "unknown session or bad token")

    asyncio.run(scenario())
    refused = post_json(f"{server.url}/api/sessions/{first.id}/invite?token={member['token']}", {"role": "observer"})
    assert refused.status == 403 and "host" in refused.json()["detail"]
    other_host = post_json(f"{server.url}/api/sessions/{first.id}/invite?token={second.host_token}", {})
    assert other_host.status == 403
    bearer = http(f"{server.url}/api/sessions/{first.id}/invite", "POST", b'{"role": "observer"}',
                  {"Content-Type": "application/json", "Authorization": f"Bearer {first.host_token}"})
    assert bearer.status == 200 and bearer.json()["role"] == "observer"
    assert post_json(f"{server.url}/api/sessions/nosuch/invite?token=x", {}).status == 404
    host_role = post_json(f"{server.url}/api/sessions/{first.id}/invite?token={first.host_token}", {"role": "host"})
    assert host_role.status == 422


def test_only_those_who_drive_the_view_may_upload_into_it(server: LiveServer) -> None:
    room = Room(server)
    stl = b"solid t\n facet normal 0 0 1\n  outer loop\n   vertex 0 0 0\n   vertex 1 0 0\n   vertex 0 1 0\n" \
          b"  endloop\n endfacet\nendsolid t\n"
    body, headers = multipart("tri.stl", stl)
    for member in (room.join("Pat"), room.invite("observer", "Obi")):
        refused = http(f"{server.url}/api/uploads?session={room.id}&token={member['token']}", "POST", body, headers)
        assert refused.status == 403 and f"not allowed for a {member['role']}" in refused.json()["detail"]

    async def scenario() -> None:
        host = await room.connect(room.host_token)
        await upload_converted(host, server.url, room.id, room.host_token, "tri.stl", stl)
        await host.close()

    asyncio.run(scenario())


def test_a_join_flood_gets_429_with_a_reason(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "JOIN_BURST_PER_ADDRESS", 5)
    monkeypatch.setattr(registry_module, "JOIN_RATE_PER_ADDRESS_PER_S", 0.01)
    live = start_thread_server(settings_for(write_scene(tmp_path), tmp_path / "cache"))
    try:
        statuses = [http(f"{live.url}/api/sessions/default").status for _ in range(6)]
        assert statuses == [200] * 5 + [429]
        flooded = http(f"{live.url}/api/sessions/default")
        assert flooded.status == 429 and "too many joins from 127.0.0.1" in flooded.json()["detail"]
    finally:
        live.stop()
