"""Uploads over real HTTP into a live session: progress for everyone, a new scene, clear failures, size limits."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import pyvista as pv
from fixtures.server import Client, LiveServer, http, multipart, settings_for, start_thread_server, write_scene, ws_url

FORM = "multipart/form-data; boundary=b"
EMPTY_FILE = b'--b\r\nContent-Disposition: form-data; name="file"; filename="e.stl"\r\n\r\n\r\n--b--\r\n'
LIMIT = 300_000
"""The server's upload limit in these tests (bytes)."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("uploads")
    live = start_thread_server(settings_for(write_scene(root), root / "cache", max_upload_bytes=LIMIT))
    yield live
    live.stop()


def stl_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "sphere.stl"
    pv.Sphere(theta_resolution=24, phi_resolution=24).save(path)
    data = path.read_bytes()
    assert len(data) < LIMIT
    return data


def upload_url(server: LiveServer, session: dict[str, str]) -> str:
    return f"{server.url}/api/uploads?session={session['session_id']}&token={session['token']}"


def test_good_upload_reaches_everyone_as_progress_then_a_new_scene(server: LiveServer, tmp_path: Path) -> None:
    session = server.default_session()
    data = stl_bytes(tmp_path)

    async def scenario() -> None:
        clients = [await Client.open(ws_url(server, session)), await Client.open(ws_url(server, session))]
        before = [await c.message("scene") for c in clients]
        body, headers = multipart("../../evil/My Sphere.stl", data)
        answer = await asyncio.to_thread(http, upload_url(server, session), "POST", body, headers)
        assert answer.status == 202, answer.body
        upload_id = answer.json()["upload_id"]
        assert answer.json()["name"] == "My Sphere.stl"
        for client, old in zip(clients, before, strict=True):
            received = await client.message("upload", upload_id=upload_id, stage="received")
            assert received["name"] == "My Sphere.stl" and received["fraction"] == 1.0
            await client.message("upload", upload_id=upload_id, stage="converting")
            scene = await client.message("scene", timeout=60)
            assert scene["revision"] == old["revision"] + 1
            assert len(scene["objects"]) == len(old["objects"]) + 1
            added = scene["objects"][-1]
            assert added["name"] == "My Sphere" and added["triangles"] > 0 and added["id"] == len(old["objects"])
            done = await client.message("upload", upload_id=upload_id, stage="done")
            assert done["fraction"] == 1.0
            assert http(server.url + added["asset"]).status == 200
        for c in clients:
            await c.close()

    asyncio.run(scenario())
    stored = list((server.settings.cache_dir / "uploads").iterdir())
    assert all(p.parent == server.settings.cache_dir / "uploads" for p in stored)
    assert not any("evil" in p.name or "Sphere" in p.name for p in stored)  # server-chosen names only


def test_bad_file_fails_with_the_readers_error_and_changes_nothing(server: LiveServer) -> None:
    session = server.default_session()

    async def scenario() -> None:
        client = await Client.open(ws_url(server, session))
        before = await client.message("scene")
        body, headers = multipart("noise.stl", b"\x13\x37 this is not an STL file at all " * 20)
        answer = await asyncio.to_thread(http, upload_url(server, session), "POST", body, headers)
        assert answer.status == 202
        upload_id = answer.json()["upload_id"]
        failed = await client.message("upload", upload_id=upload_id, stage="failed", timeout=60)
        assert failed["error"].startswith("noise.stl: ") and "\n" not in failed["error"]
        await client.send({"type": "ping", "t": 7.0})
        await client.message("pong")
        assert not [m for m in client.messages if m["type"] == "scene"]
        await client.close()
        fresh = await Client.open(ws_url(server, server.default_session()))
        after = await fresh.message("scene")
        assert after["revision"] == before["revision"] and after["objects"] == before["objects"]
        await fresh.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("query", "status"),
    [("session=nosuch&token=x", 404), ("session={sid}&token=wrong", 403), ("session={sid}", 403)],
)
def test_upload_needs_a_session_and_its_token(server: LiveServer, tmp_path: Path, query: str, status: int) -> None:
    session = server.default_session()
    body, headers = multipart("sphere.stl", stl_bytes(tmp_path))
    url = f"{server.url}/api/uploads?" + query.format(sid=session["session_id"])
    assert http(url, "POST", body, headers).status == status


@pytest.mark.parametrize(
    ("body", "content_type", "words"),
    [
        (b"plain", "text/plain", "multipart/form-data"),
        (b'--b\r\nContent-Disposition: form-data; name="other"\r\n\r\nx\r\n--b--\r\n', FORM, "no 'file' field"),
        (EMPTY_FILE, FORM, "e.stl: file is empty"),
    ],
)
def test_what_is_wrong_at_once_is_400(server: LiveServer, body: bytes, content_type: str, words: str) -> None:
    answer = http(upload_url(server, server.default_session()), "POST", body, {"Content-Type": content_type})
    assert answer.status == 400 and words in answer.json()["detail"]


def test_declared_oversized_upload_is_413_before_reading(server: LiveServer) -> None:
    session = server.default_session()
    parts = urlsplit(upload_url(server, session))
    conn = HTTPConnection(parts.hostname, parts.port, timeout=20)
    conn.putrequest("POST", f"{parts.path}?{parts.query}")
    conn.putheader("Content-Type", "multipart/form-data; boundary=b")
    conn.putheader("Content-Length", str(10 << 30))  # 10 GiB announced, nothing sent
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413 and b"over the limit" in response.read()
    conn.close()


def test_streamed_oversized_upload_is_413_when_the_limit_is_crossed(server: LiveServer) -> None:
    session = server.default_session()
    parts = urlsplit(upload_url(server, session))
    body, headers = multipart("big.stl", b"x" * (LIMIT + 50_000))
    conn = HTTPConnection(parts.hostname, parts.port, timeout=20)
    conn.putrequest("POST", f"{parts.path}?{parts.query}")
    conn.putheader("Content-Type", headers["Content-Type"])
    conn.putheader("Transfer-Encoding", "chunked")  # no Content-Length: only counting the bytes can catch it
    conn.endheaders()
    for i in range(0, len(body), 32 << 10):
        chunk = body[i : i + (32 << 10)]
        conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    conn.send(b"0\r\n\r\n")
    response = conn.getresponse()
    assert response.status == 413 and b"big.stl: upload is over the limit of 300,000 bytes" in response.read()
    conn.close()
    uploads = server.settings.cache_dir / "uploads"
    assert not [p for p in uploads.iterdir() if p.suffix == ".part"]  # the partial file is gone
    metrics = http(f"{server.url}/metrics").body.decode()
    assert 'vizserver_uploads_total{status="refused"} ' in metrics
