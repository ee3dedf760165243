"""A remote twin end to end: `vizserver twin-worker` (the external-model example) serving a session of a real server."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.server import (
    Client,
    LiveServer,
    http,
    post_json,
    settings_for,
    start_process_server,
    start_thread_server,
)

WAIT_S = 60.0
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "external_model"

SCENE = """\
version: 1
title: Remote twin test
objects:
  - name: ventricle
    generator: {name: lv_surface, parameters: {resolution: 16}}
twin:
  kind: remote
  object: ventricle
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("remote")
    scene = root / "remote.yaml"
    scene.write_text(SCENE)
    live = start_thread_server(settings_for(scene, root / "cache"))
    yield live
    live.stop()


def new_session(server: LiveServer) -> dict[str, Any]:
    answer = post_json(f"{server.url}/api/sessions", {})
    assert answer.status == 201, answer.body
    return dict(answer.json())


def start_worker(server: LiveServer, session_id: str, token: str) -> subprocess.Popen[str]:
    url = f"{server.ws_url}/ws/twin/{session_id}?token={token}"
    return subprocess.Popen(
        [sys.executable, "-m", "vizserver", "twin-worker", "--connect", url, "--twin", "fhn_model:FitzHughNagumoTwin"],
        cwd=EXAMPLE, env=dict(os.environ), stderr=subprocess.PIPE, text=True)


async def twin_status(client: Client, state: str) -> dict[str, Any]:
    """The next ``twin`` message in ``state`` (others, e.g. "starting", are skipped)."""
    while True:
        status = await client.message("twin", timeout=WAIT_S)
        if status["state"] == state:
            return status


def test_a_twin_worker_streams_and_is_steered_and_its_loss_is_reported(server: LiveServer) -> None:
    session = new_session(server)

    async def scenario() -> None:
        client = await Client.open(f"{server.ws_url}/ws/{session['session_id']}?token={session['host_token']}")
        waiting = await client.message("twin", timeout=WAIT_S)
        assert waiting["state"] == "starting"
        worker = start_worker(server, session["session_id"], session["host_token"])
        try:
            status = await twin_status(client, "running")
            assert {p["name"] for p in status["parameters"]} >= {"diffusion", "period"}
            assert [a["name"] for a in status["actions"]] == ["stimulate"]
            while True:  # the scene that gives the object the twin's output
                scene = await client.message("scene", timeout=WAIT_S)
                ventricle = next(o for o in scene["objects"] if o["name"] == "ventricle")
                if "u" in [f["name"] for f in ventricle["fields"]]:
                    break
            assert ventricle["fields"][ventricle["active_field"]]["name"] == "u"
            first = await client.frame(object=ventricle["id"], field=ventricle["active_field"])
            assert first.values.shape == (ventricle["vertices"],) and first.values.max() > 0  # paced: excited
            await client.send({"type": "twin_params", "seq": 7, "values": {"diffusion": 2.0}})
            applied = await client.message("twin_applied", timeout=WAIT_S, seq=7)
            assert applied["frame"] > first.header.step
            worker.kill()
            failed = await twin_status(client, "failed")
            assert failed["message"].startswith("remote twin disconnected")
            assert http(f"{server.url}/api/sessions/default").status == 200  # the server goes on
            await client.close()
        finally:
            worker.kill()
            worker.wait(WAIT_S)

    asyncio.run(scenario())


def test_a_worker_with_a_wrong_token_exits_2_with_one_line(server: LiveServer) -> None:
    session = new_session(server)
    worker = start_worker(server, session["session_id"], "not-the-host-token")
    _, err = worker.communicate(timeout=WAIT_S)
    assert worker.returncode == 2, err
    assert err.count("\n") == 1 and "the server refused the twin" in err and "not-the-host-token" not in err


def test_the_default_sessions_worker_command_is_printed_for_the_operator(tmp_path: Path) -> None:
    scene = tmp_path / "remote.yaml"
    scene.write_text(SCENE)
    live = start_process_server(scene, {"VIZSERVER_CACHE_DIR": str(tmp_path / "cache")})
    try:
        printed = [line for line in live.log if "the scene's twin is remote" in line]
        assert printed, "".join(live.log)
        found = re.search(r"/ws/twin/(\S+)\?token=([^'\s]+)'", printed[0])
        assert found is not None
        session_id, token = found.group(1), found.group(2)
        assert session_id == live.default_session()["session_id"]
        worker = start_worker(live, session_id, token)
        try:
            async def scenario() -> None:
                client = await Client.open(f"{live.ws_url}/ws/{session_id}?token={live.default_session()['token']}")
                await twin_status(client, "running")
                await client.close()

            asyncio.run(scenario())
        finally:
            worker.kill()
            worker.wait(WAIT_S)
    finally:
        live.stop()
