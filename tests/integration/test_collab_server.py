"""Annotations and the guided tour over real sockets: several WebSocket clients of one session on a real server.

An annotation made by one client reaches the others and a late joiner, a participant cannot delete the
host's pin, an oversized one is refused with its reason; the presenter steps a guided tour and every
client gets the step (and the shared playback moves); self-paced, each client steps alone and the host
gets the progress; ``GET /api/sessions/{id}/annotations`` exports them for any member's token.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fixtures.server import (
    Client,
    LiveServer,
    http,
    post_json,
    running_twin,
    settings_for,
    start_thread_server,
    twin_with,
    write_scene,
    ws_url,
)

TOUR_YAML = """tour:
  title: Two objects
  steps:
    - title: The wave
      text: Pressure moving through the grid.
      camera: {position: [0.0, -3.0, 1.0]}
      visible: [wave]
    - title: The box
      text: Half of it, at step 3.
      visible: [box]
      clip: {axis: x, position: 0.5}
      time_step: 3
    - title: Everything
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("collab")
    scene = write_scene(root)
    scene.write_text(scene.read_text() + TOUR_YAML)
    live = start_thread_server(settings_for(scene, root / "cache"))
    yield live
    live.stop()


class Room:
    """A new strict session on the served scene: the host's token, and members who join."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        created = post_json(f"{server.url}/api/sessions", {})
        assert created.status == 201, created.body
        self.id: str = created.json()["session_id"]
        self.host_token: str = created.json()["host_token"]

    def join(self, name: str) -> dict[str, Any]:
        answer = post_json(f"{self.server.url}/api/sessions/{self.id}/join", {"name": name})
        assert answer.status == 200, answer.body
        return dict(answer.json())

    async def connect(self, token: str) -> Client:
        client = await Client.open(f"{self.server.ws_url}/ws/{self.id}?token={token}")
        await client.message("playback")
        await client.message("annotations")
        return client

    def export(self, token: str) -> Any:
        return http(f"{self.server.url}/api/sessions/{self.id}/annotations?token={token}")


async def settled(client: Client) -> None:
    """Everything the server sent this client before now has arrived (a ping's pong comes after it)."""
    await client.send({"type": "ping", "t": 1.0})
    await client.message("pong")


PIN = {"type": "annotation_add", "kind": "pin", "object": 1, "point": [0.5, 0.5, 0.5], "text": "corner"}


def test_annotations_reach_everyone_and_late_joiners_and_only_author_or_host_delete(server: LiveServer) -> None:
    room = Room(server)
    ana, ben = room.join("Ana"), room.join("Ben")

    async def scenario() -> None:
        host = await room.connect(room.host_token)
        a = await room.connect(ana["token"])
        b = await room.connect(ben["token"])
        host_id = (await host.message("welcome"))["member"]
        await host.send({**PIN, "text": "the host's"})
        hosts = (await b.message("annotation"))["annotation"]
        for client in (host, a):
            assert (await client.message("annotation"))["annotation"] == hosts
        await a.send({"type": "annotation_add", "kind": "stroke", "points": [[0, 0, 0], [0.1, 0.2, 0.3]],
                      "width": 0.002})
        for client in (host, a, b):  # everyone, the author too, gets it with the server's id
            stroke = (await client.message("annotation", timeout=10))["annotation"]
            assert stroke["kind"] == "stroke" and stroke["author"] == ana["member"] and stroke["color"] == ana["color"]
        assert hosts["text"] == "the host's" and hosts["id"] == 1 and stroke["id"] == 2

        late = await Client.open(f"{server.ws_url}/ws/{room.id}?token={ben['token']}")
        listed = (await late.message("annotations"))["items"]
        assert [(i["id"], i["kind"]) for i in listed] == [(1, "pin"), (2, "stroke")]

        await b.send({"type": "annotation_delete", "id": 1})  # the host's pin
        refused = await b.message("error")
        assert refused["code"] == "forbidden" and "only its author or the host" in refused["message"]
        await b.send({**PIN, "text": "x" * 501})
        oversized = await b.message("error")
        assert oversized == {"type": "error", "code": "bad_annotation",
                             "message": "annotation_add: pin: text is 501 characters (limit 500)"}
        await host.send({"type": "annotation_delete", "id": 2})  # Ana's stroke: the host may
        for client in (host, a, b, late):
            assert (await client.message("annotation_deleted")) == {"type": "annotation_deleted", "ids": [2],
                                                                     "by": host_id}
        await settled(host)
        assert not [m for m in host.messages if m["type"] in ("annotation", "error")]  # nobody else heard of refusals

        exported = room.export(ana["token"])
        assert exported.status == 200 and exported.headers["content-type"].startswith("application/json")
        document = json.loads(exported.body)
        assert document["format"] == "vizserver-annotations" and document["next_id"] == 3
        assert [(i["id"], i["text"]) for i in document["annotations"]] == [(1, "the host's")]
        for client in (host, a, b, late):
            await client.close()

    asyncio.run(scenario())


def test_the_export_needs_a_member_token_of_that_session(server: LiveServer) -> None:
    room, other = Room(server), Room(server)
    assert room.export("forged").status == 403
    assert room.export(other.host_token).status == 403  # another session's token
    assert http(f"{server.url}/api/sessions/nope/annotations?token={room.host_token}").status == 404
    bearer = http(f"{server.url}/api/sessions/{room.id}/annotations",
                  headers={"Authorization": f"Bearer {room.host_token}"})
    assert bearer.status == 200 and json.loads(bearer.body)["annotations"] == []


def test_the_presenter_steps_a_guided_tour_and_every_client_follows(server: LiveServer) -> None:
    room = Room(server)
    pia, ana = room.join("Pia"), room.join("Ana")

    async def scenario() -> None:
        host = await room.connect(room.host_token)
        presenter = await room.connect(pia["token"])
        a = await room.connect(ana["token"])
        outline = await a.message("tour")
        assert outline["titles"] == ["The wave", "The box", "Everything"] and outline["mode"] == "off"
        await host.send({"type": "set_role", "member": pia["member"], "role": "presenter"})
        await presenter.message("members")
        await presenter.send({"type": "tour_mode", "mode": "guided"})
        for client in (host, presenter, a):
            assert (await client.message("tour", mode="guided"))["count"] == 3
            first = await client.message("tour_step", step=0)
            assert first["title"] == "The wave" and first["camera"]["position"] == [0.0, -3.0, 1.0]
            assert first["visible"] == [0] and first["clip"] is None

        await a.send({"type": "tour", "move": "next"})  # a participant does not move a guided tour
        refused = await a.message("error")
        assert refused == {"type": "error", "code": "forbidden", "message": "tour: the presenter moves a guided tour"}

        await presenter.send({"type": "tour", "move": "next"})
        for client in (host, presenter, a):
            second = await client.message("tour_step", step=1)
            assert second["visible"] == [1] and second["clip"] == {"axis": "x", "position": 0.5, "flip": False}
            assert "camera" not in second
            await client.message("playback", step=3)  # the step's time is everyone's
        for client in (host, presenter, a):
            await client.close()

    asyncio.run(scenario())


def test_self_paced_each_client_steps_alone_and_the_host_sees_progress(server: LiveServer) -> None:
    room = Room(server)
    ana, ben = room.join("Ana"), room.join("Ben")

    async def scenario() -> None:
        host = await room.connect(room.host_token)
        a = await room.connect(ana["token"])
        b = await room.connect(ben["token"])
        await host.send({"type": "tour_mode", "mode": "self_paced"})
        for client in (host, a, b):
            await client.message("tour_step", step=0, mode="self_paced")
        await host.message("tour_progress")
        await a.send({"type": "tour", "move": "goto", "step": 2})
        assert (await a.message("tour_step"))["title"] == "Everything"
        progress = await host.message("tour_progress")
        assert progress["steps"] == {(await host.message("welcome"))["member"]: 0, ana["member"]: 2, ben["member"]: 0}
        await b.send({"type": "tour", "move": "next"})
        assert (await b.message("tour_step"))["step"] == 1
        assert (await host.message("tour_progress"))["steps"][ben["member"]] == 1
        await settled(a)
        await settled(b)
        assert not [m for m in a.messages if m["type"] in ("tour_step", "tour_progress", "playback")]  # not Ben's
        assert not [m for m in b.messages if m["type"] == "tour_progress"]  # participants get no progress
        for client in (host, a, b):
            await client.close()

    asyncio.run(scenario())


TWIN_SCENE = """\
version: 1
title: Tour with a twin
objects:
  - name: ventricle
    generator: {name: lv_surface, parameters: {resolution: 24}}
twin:
  kind: cardiac
  object: ventricle
  parameters: {cycle_length: 300}
  options: {resolution: 16}
tour:
  steps:
    - title: Slow pacing
      twin: {cycle_length: 500}
      actions: [{action: clear scar}]
    - title: Back to fast
      twin: {cycle_length: 300}
"""


@pytest.fixture(scope="module")
def twin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("collab-twin")
    scene = root / "twin.yaml"
    scene.write_text(TWIN_SCENE)
    live = start_thread_server(settings_for(scene, root / "cache"))
    yield live
    live.stop()


def test_a_guided_step_sets_the_twin_for_everyone_as_the_movers_request(twin_server: LiveServer) -> None:
    """The default session is open: a participant drives; the step's parameters and action reach the twin."""
    mover, watcher = twin_server.default_session(), twin_server.default_session()

    async def scenario() -> None:
        driver = await Client.open(ws_url(twin_server, mover))
        other = await Client.open(ws_url(twin_server, watcher))
        await running_twin(other)
        await driver.send({"type": "tour_mode", "mode": "guided"})
        assert (await other.message("tour_step"))["title"] == "Slow pacing"
        assert (await twin_with(other, "cycle_length", 500))["state"] == "running"
        applied = await driver.message("twin_applied", timeout=30, seq=4294967295)  # the tour's requests
        assert applied["frame"] >= 0
        await driver.send({"type": "tour", "move": "next"})
        assert (await other.message("tour_step"))["title"] == "Back to fast"
        await twin_with(other, "cycle_length", 300)
        await settled(driver)
        assert not [m for m in driver.messages if m["type"] == "error"], driver.messages
        await driver.close()
        await other.close()

    asyncio.run(scenario())
