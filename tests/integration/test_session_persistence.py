"""Sessions survive a restart: real ``vizserver serve`` processes on one store file, real WebSocket clients.

The first server is stopped (SIGTERM) after its session changed; the second serves the same sessions:
same ids, join code, members (id, name, colour, role) for the same tokens, the hand queue, the pin, the
tour step, the playback step and the twin's parameter; the store holds no token. A store that is not a
database, or from a newer vizserver, is named in the log and left alone, and the server starts with
sessions in memory; a row that cannot be read is skipped (and kept).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fixtures.server import (
    WAIT_S,
    Client,
    LiveServer,
    http,
    post_json,
    running_twin,
    start_process_server,
    write_scene,
)

TESTS = Path(__file__).resolve().parents[1]

EXTRA_YAML = """twin:
  kind: fixtures.twins:DecayTwin
  object: box
tour:
  title: Walk
  steps:
    - title: First
    - title: Second
    - title: Third
"""

PIN = {"type": "annotation_add", "kind": "pin", "object": 1, "point": [0.5, 0.5, 0.5], "text": "kept"}


def _scene(root: Path) -> tuple[Path, dict[str, str]]:
    scene = write_scene(root)
    scene.write_text(scene.read_text() + EXTRA_YAML)
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
    return scene, {"VIZSERVER_CACHE_DIR": str(root / "cache"), "PYTHONPATH": path}  # workers import fixtures.twins


def _saved_rows(store: Path) -> dict[str, dict[str, Any]]:
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=WAIT_S)
    try:
        return {i: json.loads(j) for i, j in db.execute("SELECT id, json FROM sessions")}
    finally:
        db.close()


async def _members(client: Client, **where: Any) -> dict[str, Any]:
    """The next ``members`` message in which every ``key: value`` of ``where`` holds."""
    while True:
        listed = await client.message("members")
        if all(listed.get(k) == v for k, v in where.items()):
            return listed


async def _twin_param(client: Client, name: str, value: float) -> dict[str, Any]:
    await running_twin(client)
    while True:
        status = await client.message("twin", timeout=60)
        if status["params"].get(name) == value:
            return status


def _connect_url(server: LiveServer, session_id: str, token: str) -> str:
    return f"{server.ws_url}/ws/{session_id}?token={token}"


def test_a_restarted_server_brings_back_sessions_members_roles_annotations_tour_and_twin(tmp_path: Path) -> None:
    scene, env = _scene(tmp_path)
    store = tmp_path / "cache" / "sessions.sqlite"
    first = start_process_server(scene, env)
    try:
        default_id = first.default_session()["session_id"]
        created = post_json(f"{first.url}/api/sessions", {}).json()
        sid, code, host_token = created["session_id"], created["join_code"], created["host_token"]
        ann = post_json(f"{first.url}/api/sessions/{sid}/join", {"name": "Ann"}).json()
        bob = post_json(f"{first.url}/api/sessions/{sid}/join", {"name": "Bob"}).json()

        async def before() -> dict[str, Any]:
            host = await Client.open(_connect_url(first, sid, host_token))
            a = await Client.open(_connect_url(first, sid, ann["token"]))
            b = await Client.open(_connect_url(first, sid, bob["token"]))
            await host.send({"type": "set_role", "member": ann["member"], "role": "presenter"})
            await b.send({"type": "raise_hand"})
            await host.send({"type": "allow_steering", "allowed": True})
            listed = await _members(host, hands=[bob["member"]], steering=True)
            await running_twin(host)
            await host.send({"type": "twin_params", "seq": 1, "values": {"rate": 5.0}})
            await _twin_param(host, "rate", 5.0)
            await a.send(PIN)
            await host.message("annotation")
            await a.send({"type": "tour_mode", "mode": "guided", "start": 1})
            await host.message("tour_step", step=1)
            await a.send({"type": "playback", "step": 3})
            await host.message("playback", step=3)
            for client in (host, a, b):
                await client.close()
            return listed

        listed = asyncio.run(before())
        assert {m["name"]: m["role"] for m in listed["members"]} == {"host": "host", "Ann": "presenter",
                                                                     "Bob": "participant"}
    finally:
        first.stop()
    row = _saved_rows(store)[sid]
    assert host_token not in json.dumps(row) and ann["token"] not in json.dumps(row)
    assert (row["twin"]["params"]["rate"], row["tour"]["guided_index"], row["playback"]["position"]) == (5.0, 1, 3)

    second = start_process_server(scene, env)
    try:
        assert second.default_session()["session_id"] == default_id  # links to the default session still work
        rejoined = post_json(f"{second.url}/api/sessions/{code}/join", {"name": "Cy"})
        assert rejoined.status == 200 and rejoined.json()["session_id"] == sid and rejoined.json()["member"] == "m4"

        async def after() -> None:
            a = await Client.open(_connect_url(second, sid, ann["token"]))
            welcome = await a.message("welcome")
            assert (welcome["session_id"], welcome["member"], welcome["role"]) == (sid, ann["member"], "presenter")
            b = await Client.open(_connect_url(second, sid, bob["token"]))
            assert (await b.message("welcome"))["member"] == bob["member"]
            now = await _members(a, hands=[bob["member"]])
            assert now["steering"] is True
            before = {m["id"]: (m["name"], m["color"], m["role"]) for m in listed["members"]}
            assert {m["id"]: (m["name"], m["color"], m["role"]) for m in now["members"]} == {
                k: v for k, v in before.items() if k != listed["members"][0]["id"]}  # the host is not back yet
            items = (await a.message("annotations"))["items"]
            assert [(i["kind"], i["text"], i["author"]) for i in items] == [("pin", "kept", ann["member"])]
            tour = await a.message("tour")
            assert (tour["mode"], tour["step"]) == ("guided", 1)
            assert (await a.message("playback"))["step"] == 3
            await _twin_param(a, "rate", 5.0)
            host = await Client.open(_connect_url(second, sid, host_token))
            assert (await host.message("welcome"))["role"] == "host"
            digest = row["roster"]["members"][0]["token_sha256"]
            forged = await Client.open(_connect_url(second, sid, f"sha256:{digest}"))
            assert (await forged.closed())[0] == 4004
            for client in (a, b, host):
                await client.close()

        asyncio.run(after())
    finally:
        second.stop()
    assert "Traceback" not in "".join(second.log)


@pytest.fixture(scope="module")
def plain_scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("store")
    return write_scene(root), {"VIZSERVER_CACHE_DIR": str(root / "cache")}


def _newer_store(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta VALUES ('schema_version', '99')")
    db.commit()
    db.close()


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda p: p.write_bytes(b"not a database, just bytes" * 100), "file is not a database"),
        (_newer_store, "written by a newer vizserver (store schema 99; this one reads 1)"),
    ],
    ids=["garbage", "newer"],
)
def test_an_unusable_store_is_named_and_left_alone_and_the_server_starts(
    plain_scene: tuple[Path, dict[str, str]], tmp_path: Path, make: Any, said: str
) -> None:
    scene, env = plain_scene
    path = tmp_path / "mine.sqlite"
    make(path)
    before = path.read_bytes()
    server = start_process_server(scene, env, ("--store", str(path)))
    try:
        assert http(f"{server.url}/api/health").status == 200
        assert server.default_session()["session_id"]
    finally:
        server.stop()
    log = "".join(server.log)
    assert f"session store {path}: {said}" in log and "sessions are kept in memory only this run" in log
    assert path.read_bytes() == before


def test_a_corrupt_or_newer_row_is_skipped_and_the_others_come_back(
    plain_scene: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    scene, env = plain_scene
    path = tmp_path / "rows.sqlite"
    env = {**env, "VIZSERVER_STORE": str(path)}
    first = start_process_server(scene, env)
    try:
        created = post_json(f"{first.url}/api/sessions", {}).json()
    finally:
        first.stop()
    good = _saved_rows(path)[created["session_id"]]
    newer = {**good, "id": "from-the-future", "version": 2, "join_code": "ZZZZZZ"}
    db = sqlite3.connect(path)
    db.execute("INSERT INTO sessions VALUES ('broken', 0, '{\"format\": \"vizserver-session\", \"version\": 1')")
    db.execute("INSERT INTO sessions VALUES ('from-the-future', 0, ?)", (json.dumps(newer),))
    db.commit()
    db.close()
    second = start_process_server(scene, env)
    try:
        rejoined = post_json(f"{second.url}/api/sessions/{created['session_id']}/join", {"name": "again"})
        assert rejoined.status == 200
        assert http(f"{second.url}/api/health").json()["sessions"] == 2  # the default session and the good one
    finally:
        second.stop()
    log = "".join(second.log)
    assert "row broken skipped: saved session is not valid JSON" in log
    assert "row from-the-future skipped: saved session: version 2 is not supported" in log
    assert {"broken", "from-the-future", created["session_id"]} <= set(_raw_ids(path))  # unreadable rows are kept


def test_no_store_keeps_sessions_in_memory_only(plain_scene: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    scene, env = plain_scene
    cache = tmp_path / "cache"
    server = start_process_server(scene, {**env, "VIZSERVER_CACHE_DIR": str(cache)}, ("--no-store",))
    try:
        assert post_json(f"{server.url}/api/sessions", {}).status == 201
    finally:
        server.stop()
    assert "sessions are kept in memory only (no store)" in "".join(server.log)
    assert not (cache / "sessions.sqlite").exists()


def _raw_ids(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return [row[0] for row in db.execute("SELECT id FROM sessions")]
    finally:
        db.close()
