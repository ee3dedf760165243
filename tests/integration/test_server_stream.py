"""The server end to end over real sockets: handshake, scene, shared playback, field frames, bad input."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fixtures.server import (
    FIELDS,
    STEPS,
    Client,
    LiveServer,
    http,
    post_json,
    settings_for,
    start_thread_server,
    write_scene,
    ws_url,
)

from vizserver.config import BAD_MESSAGE_LIMIT, PLAYBACK_LEAD_S


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("stream")
    live = start_thread_server(settings_for(write_scene(root), root / "cache"))
    yield live
    live.stop()


def scene_of(messages: dict[str, object]) -> dict[str, dict[str, object]]:
    return {o["name"]: o for o in messages["objects"]}  # type: ignore[attr-defined, index]


def test_handshake_gives_welcome_scene_and_playback(server: LiveServer) -> None:
    session = server.default_session()

    async def scenario() -> None:
        client = await Client.open(ws_url(server, session))
        welcome = await client.message("welcome")
        assert welcome["protocol"] == 1 and welcome["session_id"] == session["session_id"]
        assert welcome["role"] == "participant" and welcome["client_id"]
        scene = await client.message("scene")
        objects = scene_of(scene)
        assert set(objects) == {"wave", "box"}
        wave = objects["wave"]
        assert wave["time"]["steps"] == STEPS and wave["time"]["times"] == [0.0, 0.5, 1.0, 1.5, 2.0]
        assert [f["name"] for f in wave["fields"] if f["name"] in FIELDS] == list(FIELDS)
        assert objects["box"]["time"] is None and objects["box"]["color"] == "#336699"
        for obj in objects.values():
            assert obj["asset"].startswith("/assets/") and obj["asset"].endswith(".glb")
            assert http(server.url + obj["asset"]).status == 200
        playback = await client.message("playback")
        assert playback["steps"] == STEPS and playback["playing"] is False
        # frames are compressed once for everyone; per-connection deflate would redo it per client
        assert client.ws.response is not None
        assert "permessage-deflate" not in client.ws.response.headers.get("Sec-WebSocket-Extensions", "")
        await client.close()

    asyncio.run(scenario())


def test_paused_session_sends_current_step_to_new_client(server: LiveServer, tmp_path: Path) -> None:
    """A paused session still gives a newly joined client the frame of the current step, values as in the files."""
    import pyvista as pv
    from fixtures.server import step_values

    session = server.default_session()

    async def scenario() -> None:
        client = await Client.open(ws_url(server, session))
        scene = await client.message("scene")
        wave = scene_of(scene)["wave"]
        pressure = next(f for f in wave["fields"] if f["name"] == "pressure")
        frame = await client.frame(object=wave["id"], field=pressure["id"])
        assert frame.header.count == wave["vertices"]
        lo, hi = pressure["range"]
        assert lo < hi
        decoded = np.sort(frame.values)
        grid = pv.read(str(Path(server.settings.scene).parent / "data" / f"step_{frame.header.step:03d}.vtu"))
        expected = np.sort(step_values(grid, frame.header.step)["pressure"])
        # the surface carries a subset of the grid's points; every decoded value lies within the quantization step
        assert decoded.min() >= expected.min() - (hi - lo) / 255 and decoded.max() <= expected.max() + (hi - lo) / 255
        await client.close()

    asyncio.run(scenario())


def test_several_clients_see_the_same_step_after_seek_and_play(server: LiveServer) -> None:
    async def scenario() -> None:
        clients = [await Client.open(ws_url(server, server.default_session())) for _ in range(3)]
        for c in clients:
            await c.message("playback")
        wave_id = scene_of(await clients[0].message("scene"))["wave"]["id"]
        await clients[1].send({"type": "playback", "step": 3, "playing": False})
        for c in clients:
            state = await c.message("playback", step=3)
            assert state["playing"] is False and state["time"] == 1.5
            frame = await c.frame(object=wave_id, step=3)
            assert frame.header.time == 1.5
        await clients[2].send({"type": "playback", "playing": True, "speed": 16.0, "loop": True})
        for c in clients:
            await c.message("playback", playing=True, speed=16.0)
        steps_seen = []
        for c in clients:
            frames = [await c.frame(object=wave_id) for _ in range(STEPS + 1)]
            steps_seen.append({f.header.step for f in frames})
        assert all(len(s) >= 3 for s in steps_seen)  # playback moves for everyone
        await clients[0].send({"type": "playback", "playing": False, "step": 2})
        for c in clients:
            await c.message("playback", step=2, playing=False)
            await c.frame(object=wave_id, step=2)
        for c in clients:
            await c.close()

    asyncio.run(scenario())


def test_playing_sends_frames_ahead_of_their_step_and_seeks_show_at_once(server: LiveServer) -> None:
    """While playing, frames carry a step a lead ahead of the session's; a seek still sends its own step first."""
    body = post_json(f"{server.url}/api/sessions", {}).json()  # a session of its own: nobody else moves it
    session = {"session_id": body["session_id"], "token": body["host_token"]}

    async def scenario() -> None:
        client = await Client.open(ws_url(server, session))
        wave_id = scene_of(await client.message("scene"))["wave"]["id"]
        paused = await client.message("playback")
        assert paused["playing"] is False and paused["step"] == 0
        await client.frame(object=wave_id, step=0)
        rate = paused["fps"]  # steps per second at speed 1
        lead = max(round(PLAYBACK_LEAD_S * rate), 1)
        assert lead >= 2 and lead + 1 < STEPS  # else this test could not tell ahead from current
        sent = time.monotonic()
        await client.send({"type": "playback", "playing": True, "speed": 1.0, "loop": False})
        await client.message("playback", playing=True)
        client.frames.clear()
        first = await client.frame(object=wave_id)
        assert first.header.step >= lead  # step 0 is showing; the next frame is the one due a lead later
        arrivals = [(first, time.monotonic())]
        while arrivals[-1][0].header.step < STEPS - 1:
            arrivals.append((await client.frame(object=wave_id), time.monotonic()))
        # the session's step at arrival is at most (arrival - request) * rate: some frame came before its step
        assert any(f.header.step > (at - sent) * rate for f, at in arrivals)
        await client.send({"type": "playback", "playing": False, "step": 1})
        await client.message("playback", step=1, playing=False)
        await client.frame(object=wave_id, step=1)
        # a seek while playing slowly: the sought step itself comes first, not one a lead ahead
        await client.send({"type": "playback", "playing": True, "step": 3, "speed": 0.05})
        await client.message("playback", step=3, playing=True)
        client.frames.clear()
        assert (await client.frame(object=wave_id)).header.step == 3
        await client.send({"type": "playback", "playing": False})
        await client.close()

    asyncio.run(scenario())


def test_malformed_messages_get_errors_then_4003_and_others_are_unaffected(server: LiveServer) -> None:
    async def scenario() -> None:
        bad = await Client.open(ws_url(server, server.default_session()))
        good = await Client.open(ws_url(server, server.default_session()))
        await bad.message("welcome")
        await good.message("welcome")
        await bad.send("this is not json")
        first = await bad.message("error")
        assert first["code"] == "bad_message" and "not JSON" in first["message"]
        await bad.send(b"\x00\x01binary")
        assert (await bad.message("error"))["code"] == "unexpected_binary"
        await bad.send(json.dumps({"type": "ping", "t": 1.0, "pad": "x" * (70 << 10)}))
        assert (await bad.message("error"))["code"] == "too_large"
        for i in range(BAD_MESSAGE_LIMIT - 3):
            await bad.send({"type": "teleport", "n": i})
        code, reason = await bad.closed()
        assert code == 4003 and "too many bad messages" in reason
        await good.send({"type": "ping", "t": 42.0})
        assert (await good.message("pong"))["t"] == 42.0
        await good.close()

    asyncio.run(scenario())


def test_wrong_protocol_version_closes_4002(server: LiveServer) -> None:
    async def scenario() -> None:
        client = await Client.open(
            ws_url(server, server.default_session()), hello={"type": "hello", "protocol": 2, "client": "future"}
        )
        error = await client.message("error")
        assert error["code"] == "unsupported_protocol"
        code, reason = await client.closed()
        assert code == 4002 and reason == "protocol 2 not supported; server speaks 1"

    asyncio.run(scenario())


def test_first_message_not_hello_closes_4001(server: LiveServer) -> None:
    async def scenario() -> None:
        client = await Client.open(ws_url(server, server.default_session()), hello={"type": "ping", "t": 0})
        code, _ = await client.closed()
        assert code == 4001

    asyncio.run(scenario())


@pytest.mark.parametrize("which", ["unknown session", "bad token", "no token"])
def test_unknown_session_or_bad_token_is_refused(server: LiveServer, which: str) -> None:
    session = server.default_session()
    url = {
        "unknown session": f"{server.ws_url}/ws/nosuchsession?token={session['token']}",
        "bad token": f"{server.ws_url}/ws/{session['session_id']}?token=wrong",
        "no token": f"{server.ws_url}/ws/{session['session_id']}",
    }[which]

    async def scenario() -> None:
        client = await Client.open(url)
        code, reason = await client.closed()
        assert code == 4004 and reason == "unknown session or bad token"
        assert not client.messages

    asyncio.run(scenario())


def test_keyframe_request_gets_a_full_frame_and_unsubscribe_stops_frames(server: LiveServer) -> None:
    async def scenario() -> None:
        client = await Client.open(ws_url(server, server.default_session()))
        wave = scene_of(await client.message("scene"))["wave"]
        pressure = wave["active_field"]
        first = await client.frame(object=wave["id"], field=pressure)
        assert not first.header.delta  # a newcomer's first frame decodes alone
        await client.send({"type": "keyframe", "object": wave["id"], "field": pressure})
        again = await client.frame(object=wave["id"], field=pressure)
        assert not again.header.delta and again.header.sequence == first.header.sequence
        await client.send({"type": "subscribe", "object": wave["id"], "field": None})
        await client.send({"type": "playback", "step": 4})
        await client.message("playback", step=4)
        await client.send({"type": "ping", "t": 1.0})
        await client.message("pong")
        assert not [f for f in client.frames if f.header.step == 4]
        await client.send({"type": "subscribe", "object": 99, "field": 0})
        assert "no object 99" in (await client.message("error"))["message"]
        await client.send({"type": "playback", "step": 0})
        await client.close()

    asyncio.run(scenario())


def test_resume_keeps_the_client_identity_and_its_subscriptions(server: LiveServer) -> None:
    session = server.default_session()

    async def scenario() -> None:
        first = await Client.open(ws_url(server, session))
        client_id = (await first.message("welcome"))["client_id"]
        wave = scene_of(await first.message("scene"))["wave"]
        temperature = next(f["id"] for f in wave["fields"] if f["name"] == "temperature")
        await first.send({"type": "subscribe", "object": wave["id"], "field": temperature})
        await first.frame(field=temperature)
        await first.close()
        hello = {"type": "hello", "protocol": 1, "client": "test", "resume": {"client_id": client_id}}
        second = await Client.open(ws_url(server, session), hello=hello)
        assert (await second.message("welcome"))["client_id"] == client_id
        await second.message("scene")
        await second.message("playback")
        frame = await second.frame(object=wave["id"])
        assert frame.header.field == temperature and not frame.header.delta  # keyframe of the kept subscription
        await second.close()
        stranger = await Client.open(ws_url(server, server.default_session()), hello=hello)  # another token
        assert (await stranger.message("welcome"))["client_id"] != client_id
        await stranger.close()

    asyncio.run(scenario())
