"""The server's HTTP routes over a real socket: health, scenes, sessions, assets, metrics, the page."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.server import Client, LiveServer, http, post_json, settings_for, start_thread_server, write_scene, ws_url

from vizserver.io.glb_decode import read_glb


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("http")
    scene = write_scene(root)
    other = "version: 1\ntitle: Other one\nobjects:\n  - name: lv\n    generator: {name: lv_surface}\n"
    (root / "other.yaml").write_text(other)
    (root / "broken.yaml").write_text("title: [unclosed\n")
    live = start_thread_server(settings_for(scene, root / "cache"))
    yield live
    live.stop()


def asset_of(server: LiveServer) -> str:
    session = server.default_session()

    async def first_asset() -> str:
        client = await Client.open(ws_url(server, session))
        scene = await client.message("scene")
        await client.close()
        return str(scene["objects"][0]["asset"])

    return str(asyncio.run(first_asset()))


def test_health_counts_sessions(server: LiveServer) -> None:
    answer = http(f"{server.url}/api/health")
    assert answer.status == 200
    body = answer.json()
    assert body["status"] == "ok" and body["version"] and body["sessions"] >= 1 and body["clients"] >= 0


def test_scenes_lists_the_folder_with_titles_and_errors(server: LiveServer) -> None:
    body = http(f"{server.url}/api/scenes").json()
    by_name = {s["name"]: s for s in body["scenes"]}
    assert body["served"] == "test"
    assert by_name["test"] == {"name": "test", "title": "Test series", "served": True}
    assert by_name["other"]["title"] == "Other one" and by_name["other"]["served"] is False
    assert by_name["broken"]["title"] is None and "broken.yaml" in by_name["broken"]["error"]


def test_create_session_then_join_by_id_and_by_code(server: LiveServer) -> None:
    created = post_json(f"{server.url}/api/sessions", {})
    assert created.status == 201
    body = created.json()
    assert set(body) == {"session_id", "join_code", "host_token", "url"}
    assert len(body["join_code"]) == 6 and body["session_id"] in body["url"]
    joined = post_json(f"{server.url}/api/sessions/{body['session_id']}/join", {"name": "Ana"})
    assert joined.status == 200 and joined.json()["role"] == "participant" and joined.json()["name"] == "Ana"
    by_code = post_json(f"{server.url}/api/sessions/{body['join_code'].lower()}/join", {})
    assert by_code.status == 200 and by_code.json()["session_id"] == body["session_id"]
    assert by_code.json()["token"] not in (body["host_token"], joined.json()["token"])
    assert post_json(f"{server.url}/api/sessions/nosuch/join", {}).status == 404

    async def host_connects() -> None:
        client = await Client.open(
            f"{server.ws_url}/ws/{body['session_id']}?token={body['host_token']}"
        )
        assert (await client.message("welcome"))["role"] == "host"
        await client.close()

    asyncio.run(host_connects())


def test_create_session_on_another_scene_of_the_folder(server: LiveServer) -> None:
    created = post_json(f"{server.url}/api/sessions", {"scene": "other"})
    assert created.status == 201
    body = created.json()

    async def scene_title() -> str:
        client = await Client.open(f"{server.ws_url}/ws/{body['session_id']}?token={body['host_token']}")
        scene = await client.message("scene")
        await client.close()
        return str(scene["title"])

    assert asyncio.run(scene_title()) == "Other one"
    assert post_json(f"{server.url}/api/sessions", {"scene": "../etc/passwd"}).status == 404
    assert post_json(f"{server.url}/api/sessions", {"scene": "missing"}).status == 404
    broken = post_json(f"{server.url}/api/sessions", {"scene": "broken"})
    assert broken.status == 422 and broken.json()["detail"].startswith("broken.yaml: ")


def test_asset_is_immutable_with_etag_304_and_ranges(server: LiveServer) -> None:
    path = asset_of(server)
    digest = Path(path).stem
    full = http(server.url + path)
    assert full.status == 200
    assert full.headers["etag"] == f'"{digest}"'
    assert full.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert full.headers["content-type"] == "model/gltf-binary"
    assert full.body[:4] == b"glTF" and read_glb(full.body)

    assert hashlib.sha256(full.body).hexdigest() == digest
    assert http(server.url + path, headers={"If-None-Match": f'"{digest}"'}).status == 304
    assert http(server.url + path, headers={"If-None-Match": '"other"'}).status == 200
    part = http(server.url + path, headers={"Range": "bytes=4-11"})
    assert part.status == 206 and part.body == full.body[4:12]
    assert part.headers["content-range"] == f"bytes 4-11/{len(full.body)}"
    beyond = http(server.url + path, headers={"Range": f"bytes={len(full.body) + 10}-"})
    assert beyond.status == 416


@pytest.mark.parametrize(
    "name",
    [
        "0" * 64 + ".glb",  # well-formed, unknown
        "ABC.glb",
        "0" * 63 + ".glb",
        "0" * 64 + ".txt",
        "..%2F..%2Fetc%2Fpasswd",
        ("f" * 64).upper() + ".glb",
    ],
)
def test_unknown_or_malformed_asset_names_are_404(server: LiveServer, name: str) -> None:
    assert http(f"{server.url}/assets/{name}").status == 404


def test_metrics_expose_the_counters(server: LiveServer) -> None:
    async def one_frame() -> None:  # a client that got a frame, then left
        client = await Client.open(ws_url(server, server.default_session()))
        await client.frame()
        await client.close()

    asyncio.run(one_frame())
    answer = http(f"{server.url}/metrics")
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/plain")
    text = answer.body.decode()
    for name in (
        "vizserver_clients",
        "vizserver_sessions",
        "vizserver_frames_sent_total",
        "vizserver_frames_dropped_total",
        "vizserver_bytes_sent_total",
        'vizserver_outbox_depth{kind="control"}',
        'vizserver_uploads_total{status="done"}',
    ):
        assert f"\n{name} " in "\n" + text, name
    values = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    assert int(values["vizserver_bytes_sent_total"]) > 0
    assert int(values["vizserver_frames_sent_total"]) > 0


def test_page_without_built_client_says_how_to_build_it(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import vizserver.server.client as client_routes

    monkeypatch.setattr(client_routes, "STATIC_DIR", Path("/nonexistent/static"))
    answer = http(f"{server.url}/")
    assert answer.status == 503 and b"make install" in answer.body


def test_openapi_docs_are_served(server: LiveServer) -> None:
    assert http(f"{server.url}/docs").status == 200
    paths = http(f"{server.url}/openapi.json").json()["paths"]
    for route in ("/api/health", "/api/scenes", "/api/sessions", "/api/uploads", "/assets/{filename}", "/metrics"):
        assert route in paths, route
