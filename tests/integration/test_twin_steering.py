"""Steering a live cardiac twin end to end: a real server, its twin in a worker process, WebSocket clients."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fixtures.server import (
    Client,
    LiveServer,
    post_json,
    running_twin,
    settings_for,
    start_thread_server,
    twin_with,
    ws_url,
)

from vizserver.sessions.steering import STEERING_BURST

SCENE = """\
version: 1
title: Steering test
objects:
  - name: ventricle
    generator: {name: lv_surface, parameters: {resolution: 24}}
twin:
  kind: cardiac
  object: ventricle
  parameters: {cycle_length: 300}
  options: {resolution: 16}
"""

REST_MV = -80.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("twin")
    scene = root / "twin.yaml"
    scene.write_text(SCENE)
    live = start_thread_server(settings_for(scene, root / "cache"))
    yield live
    live.stop()


async def twin_frame(client: Client, object_id: int, at_least: int = 0) -> Any:
    """The next frame of the twin object whose frame number (header step) is at least ``at_least``."""
    while True:
        frame = await client.frame(object=object_id)
        if frame.header.step >= at_least:
            return frame


def test_twin_starts_streams_live_frames_and_is_shown_on_its_object(server: LiveServer) -> None:
    session = server.default_session()

    async def scenario() -> None:
        client = await Client.open(ws_url(server, session))
        status = await running_twin(client)
        assert {p["name"] for p in status["parameters"]} >= {"d_par", "cycle_length", "scar_mode"}
        assert status["params"]["cycle_length"] == 300  # the scene's initial value
        assert [a["name"] for a in status["actions"]][:2] == ["pace here", "place scar"]
        assert status["time_unit"] == "ms"
        scene = await client.message("scene", revision=1)  # the object gained the twin's fields
        ventricle = next(o for o in scene["objects"] if o["name"] == "ventricle")
        names = [f["name"] for f in ventricle["fields"]]
        assert ventricle["fields"][ventricle["active_field"]]["name"] == "vm" and "activation_time" in names
        first = await twin_frame(client, ventricle["id"])
        later = await twin_frame(client, ventricle["id"], first.header.step + 3)
        assert later.header.time > first.header.time
        assert first.values.shape == (ventricle["vertices"],)
        await client.close()

    asyncio.run(scenario())


def test_a_change_reaches_the_twin_and_the_first_frame_computed_with_it_says_so(server: LiveServer) -> None:
    session = server.default_session()

    async def scenario() -> None:
        alice = await Client.open(ws_url(server, session))
        bob = await Client.open(ws_url(server, session))
        status = await running_twin(alice)
        await running_twin(bob)
        obj = status["object"]
        # wait until the wave is under way, then pause and reset: the field must go back to rest everywhere
        while True:
            frame = await twin_frame(alice, obj)
            if float(np.nanmax(frame.values)) > REST_MV + 30:
                break
        await alice.send({"type": "twin_params", "seq": 5, "values": {"d_par": 2.0}})
        applied = await alice.message("twin_applied", seq=5)
        await twin_with(bob, "d_par", 2.0)  # everyone's controls follow
        await alice.send({"type": "twin_control", "seq": 6, "playing": False})
        await alice.send({"type": "twin_control", "seq": 7, "reset": True})
        reset = await alice.message("twin_applied", seq=7)
        assert reset["frame"] > applied["frame"]
        after = await twin_frame(alice, obj, reset["frame"])
        assert float(np.nanmax(after.values)) < REST_MV + 1.0  # computed after the reset: at rest
        assert after.header.time == 0.0
        await alice.send({"type": "twin_control", "seq": 8, "playing": True})
        while (await twin_frame(alice, obj, after.header.step + 1)).header.time == 0.0:
            pass  # frames resume from the reset state
        assert not [m for m in bob.messages if m["type"] == "twin_applied"]  # only the sender is told
        await alice.close()
        await bob.close()

    asyncio.run(scenario())


def test_bad_changes_get_clear_errors_to_their_sender_only(server: LiveServer) -> None:
    session = server.default_session()

    async def scenario() -> None:
        mallory = await Client.open(ws_url(server, session))
        other = await Client.open(ws_url(server, session))
        status = await running_twin(mallory)
        await running_twin(other)
        await mallory.send({"type": "twin_params", "seq": 1, "values": {"d_par": 1e9}})
        error = await mallory.message("error", seq=1)
        assert error["code"] == "bad_parameter" and "d_par" in error["message"] and "outside" in error["message"]
        await mallory.send({"type": "twin_params", "seq": 2, "values": {"warp": 9}})
        assert "unknown parameter" in (await mallory.message("error", seq=2))["message"]
        await mallory.send({"type": "twin_action", "seq": 3, "action": "pace here"})
        assert "needs a point" in (await mallory.message("error", seq=3))["message"]
        for seq in range(10, 10 + STEERING_BURST + 5):
            await mallory.send({"type": "twin_params", "seq": seq, "values": {"a": 0.12}})
        limited = await mallory.message("error", code="rate_limited")
        assert "too many" in limited["message"]
        # the others keep getting frames and nothing about mallory's errors
        frame = await twin_frame(other, status["object"])
        assert frame.values.size > 0
        assert not [m for m in other.messages if m["type"] == "error"]
        await mallory.close()
        await other.close()

    asyncio.run(scenario())


def test_a_session_without_a_twin_says_so(tmp_path: Path) -> None:
    scene = tmp_path / "plain.yaml"
    scene.write_text("version: 1\ntitle: plain\nobjects:\n  - name: lv\n    generator: {name: lv_surface}\n")
    live = start_thread_server(settings_for(scene, tmp_path / "cache"))
    try:
        session = live.default_session()

        async def scenario() -> None:
            client = await Client.open(ws_url(live, session))
            await client.message("playback")
            await client.send({"type": "twin_params", "seq": 4, "values": {"d_par": 2.0}})
            error = await client.message("error", seq=4)
            assert error["code"] == "twin_unavailable"
            assert not [m for m in client.messages if m["type"] == "twin"]
            await client.close()

        asyncio.run(scenario())
    finally:
        live.stop()


def test_each_new_session_gets_its_own_twin(server: LiveServer) -> None:
    created = post_json(f"{server.url}/api/sessions", {})
    assert created.status == 201
    other = created.json()
    joined = {"session_id": other["session_id"], "token": other["host_token"]}  # a participant may not steer there
    default = server.default_session()

    async def scenario() -> None:
        a = await Client.open(ws_url(server, default))
        b = await Client.open(ws_url(server, joined))
        await running_twin(a)
        await running_twin(b)
        await b.send({"type": "twin_params", "seq": 1, "values": {"eps0": 0.01}})
        await twin_with(b, "eps0", 0.01)
        # the default session's twin is unaffected
        await a.send({"type": "twin_control", "seq": 1, "speed": 2.0})
        theirs = await a.message("twin", timeout=10, speed=2.0)
        assert theirs["params"]["eps0"] != 0.01
        await a.close()
        await b.close()

    asyncio.run(scenario())


FAULTY_SCENE = """\
version: 1
title: Faulty twin
objects:
  - name: sheet
    generator: {name: lv_surface, parameters: {resolution: 8}}
twin:
  kind: fixtures.twins:DecayTwin
  object: sheet
"""


async def twin_state(client: Client, state: str) -> dict[str, Any]:
    while True:
        status = await client.message("twin", timeout=60)
        if status["state"] == state:
            return status


def test_a_crashing_or_blowing_up_twin_is_recovered_and_everyone_is_told(tmp_path: Path) -> None:
    scene = tmp_path / "faulty.yaml"
    scene.write_text(FAULTY_SCENE)
    live = start_thread_server(settings_for(scene, tmp_path / "cache"))
    try:
        session = live.default_session()

        async def scenario() -> None:
            user = await Client.open(ws_url(live, session))
            watcher = await Client.open(ws_url(live, session))
            status = await running_twin(user)
            await running_twin(watcher)
            await user.send({"type": "twin_action", "seq": 1, "action": "crash"})
            restarting = await twin_state(watcher, "restarting")
            assert "division by zero" in restarting.get("message", "")
            await twin_state(watcher, "running")
            frame = await twin_frame(watcher, status["object"])
            assert np.all(np.isfinite(frame.values))
            await user.send({"type": "twin_action", "seq": 2, "action": "blow up"})
            while True:  # the reset is said to everyone, with the twin's own message
                told = await watcher.message("twin", timeout=30)
                if "NaN" in told.get("message", ""):
                    break
            after = await twin_frame(watcher, status["object"], frame.header.step + 1)
            assert np.all(np.isfinite(after.values))
            await user.close()
            await watcher.close()

        asyncio.run(scenario())
    finally:
        live.stop()


def test_past_the_live_twin_limit_a_new_session_says_why_it_has_no_twin(tmp_path: Path) -> None:
    scene = tmp_path / "faulty.yaml"
    scene.write_text(FAULTY_SCENE)
    live = start_thread_server(settings_for(scene, tmp_path / "cache", max_live_twins=1))
    try:
        created = post_json(f"{live.url}/api/sessions", {}).json()
        joined = {"session_id": created["session_id"], "token": created["host_token"]}  # the host may steer

        async def scenario() -> None:
            first = await Client.open(ws_url(live, live.default_session()))
            await running_twin(first)  # the default session's twin is the one allowed
            second = await Client.open(ws_url(live, joined))
            while True:
                status = await second.message("twin", timeout=30)
                if status["state"] == "failed":
                    break
            assert "already runs 1 live twins" in status.get("message", "")
            await second.send({"type": "twin_params", "seq": 3, "values": {"rate": 2.0}})
            refused = await second.message("error", seq=3)
            assert refused["code"] == "twin_unavailable"
            await first.close()
            await second.close()

        asyncio.run(scenario())
    finally:
        live.stop()
