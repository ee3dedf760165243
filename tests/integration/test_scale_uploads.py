"""Uploads into a session whose owner is another server process (``serve --redis``): a real redis-server and
two real ``vizserver serve`` subprocesses (tests/fixtures/cluster.py).

An upload to the edge is checked by the owner (token, role), converted on the edge, and its objects handed
to the owner, so clients on both processes see the progress and the new object; its GLB goes through Redis
(``vz:asset:{sha256}``), so either process serves it even when its cache lacks it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import pyvista as pv
import redis
from fixtures.cluster import Cluster, ServerProcess, create_session, get_json, post_json
from fixtures.server import Client, http, multipart, write_scene

from vizserver.scale.cluster import lease_key, server_key
from vizserver.scale.shared_assets import SHARED_ASSET_TTL_S, asset_key

CONVERT_WAIT_S = 90.0
"""Longest an upload's conversion may take (a fresh worker process on 2 shared cores)."""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("scale_uploads")
    with Cluster(root / "cluster", write_scene(root / "scene"), size=2) as started:
        yield started


def open_session(cluster: Cluster) -> tuple[ServerProcess, ServerProcess, str, str, str]:
    """The default session (open: its participants may upload): (owner, edge, session id, a participant
    token got from the owner, one got from the edge)."""
    shared = redis.Redis.from_url(cluster.redis.url, decode_responses=True)
    try:
        on_edge = get_json(f"{cluster.servers[1].url}/api/sessions/default")
        sid = on_edge["session_id"]
        holder = shared.get(lease_key(sid))
        owner_url = shared.get(server_key(holder)) if holder else None
    finally:
        shared.close()
    owner, edge = sorted(cluster.servers, key=lambda s: s.url != owner_url)
    assert owner.url == owner_url, (owner_url, cluster.urls)
    guest = get_json(f"{edge.url}/api/sessions/default")
    return owner, edge, sid, get_json(f"{owner.url}/api/sessions/default")["token"], guest["token"]


def ws(base_url: str, session_id: str, token: str) -> str:
    return f"{base_url.replace('http://', 'ws://', 1)}/ws/{session_id}?token={token}"


def upload_url(base_url: str, session_id: str, token: str) -> str:
    return f"{base_url}/api/uploads?session={session_id}&token={token}"


def ply_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "ball.ply"
    pv.Sphere(theta_resolution=20, phi_resolution=20).save(path)
    return path.read_bytes()


def test_an_upload_to_the_edge_reaches_clients_of_both_processes_and_its_asset_both_servers(
        cluster: Cluster, tmp_path: Path) -> None:
    owner, edge, sid, owner_token, guest_token = open_session(cluster)

    async def scenario() -> dict[str, object]:
        host = await Client.open(ws(owner.url, sid, owner_token))
        remote = await Client.open(ws(edge.url, sid, guest_token))
        clients = (host, remote)
        before = [await c.message("scene") for c in clients]
        body, headers = multipart("Ball.ply", ply_bytes(tmp_path))
        answer = await asyncio.to_thread(http, upload_url(edge.url, sid, guest_token), "POST", body, headers)
        assert answer.status == 202, (answer.body, cluster.output())
        upload_id = answer.json()["upload_id"]
        added: dict[str, object] = {}
        for client, old in zip(clients, before, strict=True):
            received = await client.message("upload", upload_id=upload_id, stage="received")
            assert received["name"] == "Ball.ply" and received["fraction"] == 1.0
            await client.message("upload", upload_id=upload_id, stage="converting", timeout=CONVERT_WAIT_S)
            scene = await client.message("scene", timeout=CONVERT_WAIT_S)
            assert scene["revision"] == old["revision"] + 1, cluster.output()
            assert len(scene["objects"]) == len(old["objects"]) + 1
            added = scene["objects"][-1]
            assert added["name"] == "Ball" and added["triangles"] > 0
            done = await client.message("upload", upload_id=upload_id, stage="done", timeout=CONVERT_WAIT_S)
            assert done["fraction"] == 1.0
        for client in clients:
            await client.close()
        return added

    added = asyncio.run(scenario())
    asset_path = str(added["asset"])
    digest = asset_path.rsplit("/", 1)[-1].removesuffix(".glb")
    shared = redis.Redis.from_url(cluster.redis.url)
    try:
        in_redis = shared.get(asset_key(digest))
        assert in_redis is not None and 0 < shared.ttl(asset_key(digest)) <= SHARED_ASSET_TTL_S
    finally:
        shared.close()
    # the processes share one cache folder here: take the file away, so the owner must read it from Redis
    (cluster.cache_dir / "glb" / f"{digest}.glb").unlink()
    from_owner = http(owner.url + asset_path)
    assert from_owner.status == 200, cluster.output()
    assert (cluster.cache_dir / "glb" / f"{digest}.glb").is_file()  # a copy kept
    from_edge = http(edge.url + asset_path)
    assert from_edge.status == 200
    assert from_owner.body == from_edge.body == in_redis


def test_a_bad_file_uploaded_to_the_edge_fails_for_everyone(cluster: Cluster) -> None:
    owner, edge, sid, owner_token, guest_token = open_session(cluster)

    async def scenario() -> None:
        host = await Client.open(ws(owner.url, sid, owner_token))
        remote = await Client.open(ws(edge.url, sid, guest_token))
        before = [await c.message("scene") for c in (host, remote)]
        body, headers = multipart("noise.stl", b"\x13\x37 this is not an STL file at all " * 20)
        answer = await asyncio.to_thread(http, upload_url(edge.url, sid, guest_token), "POST", body, headers)
        assert answer.status == 202, answer.body
        upload_id = answer.json()["upload_id"]
        for client in (host, remote):
            failed = await client.message("upload", upload_id=upload_id, stage="failed", timeout=CONVERT_WAIT_S)
            assert failed["error"].startswith("noise.stl: ") and "\n" not in failed["error"], failed
            await client.send({"type": "ping", "t": 1.0})
            await client.message("pong")
            assert not [m for m in client.messages if m["type"] == "scene"]
        for client in (host, remote):
            await client.close()
        fresh = await Client.open(ws(edge.url, sid, guest_token))
        after = await fresh.message("scene")
        assert after["revision"] == before[1]["revision"]
        await fresh.close()

    asyncio.run(scenario())


def temporal_xdmf() -> bytes:
    """A two-step time series in one file (XDMF, inline data): a square of two triangles with a node field."""
    def step(time: float, values: str) -> str:
        return (f'<Grid Name="s{time:g}" GridType="Uniform"><Time Value="{time}"/>'
                '<Topology TopologyType="Triangle" NumberOfElements="2">'
                '<DataItem Dimensions="2 3" NumberType="Int" Format="XML">0 1 2 0 2 3</DataItem></Topology>'
                '<Geometry GeometryType="XYZ"><DataItem Dimensions="4 3" NumberType="Float" Format="XML">'
                '0 0 0 1 0 0 1 1 0 0 1 0</DataItem></Geometry>'
                '<Attribute Name="v" AttributeType="Scalar" Center="Node">'
                f'<DataItem Dimensions="4" NumberType="Float" Format="XML">{values}</DataItem></Attribute></Grid>')
    grids = step(0.0, "0 1 2 3") + step(1.0, "3 2 1 0")
    return ('<?xml version="1.0"?><Xdmf Version="3.0"><Domain>'
            f'<Grid Name="series" GridType="Collection" CollectionType="Temporal">{grids}</Grid>'
            '</Domain></Xdmf>').encode()


def test_a_time_series_uploaded_to_the_edge_fails_saying_why(cluster: Cluster) -> None:
    owner, edge, sid, owner_token, guest_token = open_session(cluster)

    async def scenario() -> None:
        host = await Client.open(ws(owner.url, sid, owner_token))
        remote = await Client.open(ws(edge.url, sid, guest_token))
        for client in (host, remote):
            await client.message("scene")
        body, headers = multipart("run.xdmf", temporal_xdmf())
        answer = await asyncio.to_thread(http, upload_url(edge.url, sid, guest_token), "POST", body, headers)
        assert answer.status == 202, answer.body
        upload_id = answer.json()["upload_id"]
        for client in (host, remote):
            failed = await client.message("upload", upload_id=upload_id, stage="failed", timeout=CONVERT_WAIT_S)
            assert "time series" in failed["error"] and "does not own the session" in failed["error"], failed
            await client.send({"type": "ping", "t": 1.0})
            await client.message("pong")
            assert not [m for m in client.messages if m["type"] == "scene"]
        for client in (host, remote):
            await client.close()

    asyncio.run(scenario())


def test_uploads_to_the_edge_need_the_owners_consent(cluster: Cluster, tmp_path: Path) -> None:
    owner, edge = cluster.servers
    created = create_session(owner.url)
    sid = created["session_id"]
    invited = post_json(f"{edge.url}/api/sessions/{sid}/invite?token={created['host_token']}", {"role": "observer"})
    body, headers = multipart("ball.ply", ply_bytes(tmp_path))
    refused = http(upload_url(edge.url, sid, invited["token"]), "POST", body, headers)
    assert refused.status == 403 and "observer" in refused.json()["detail"], refused.body
    wrong = http(upload_url(edge.url, sid, "not-a-token"), "POST", body, headers)
    assert wrong.status == 403 and "token" in wrong.json()["detail"]
    assert http(upload_url(edge.url, "nosuch", "x"), "POST", body, headers).status == 404


def test_an_asset_over_the_shared_cap_fails_its_upload_and_stays_out_of_redis(tmp_path: Path) -> None:
    cap = 2_000
    with Cluster(tmp_path / "cluster", write_scene(tmp_path / "scene"), size=2,
                 env={"VIZSERVER_MAX_SHARED_ASSET_BYTES": str(cap)}) as small:
        owner, edge, sid, owner_token, guest_token = open_session(small)

        async def scenario() -> None:
            host = await Client.open(ws(owner.url, sid, owner_token))
            remote = await Client.open(ws(edge.url, sid, guest_token))
            before = [await c.message("scene") for c in (host, remote)]
            body, headers = multipart("ball.ply", ply_bytes(tmp_path))
            answer = await asyncio.to_thread(http, upload_url(edge.url, sid, guest_token), "POST", body, headers)
            assert answer.status == 202, answer.body
            upload_id = answer.json()["upload_id"]
            for client, old in zip((host, remote), before, strict=True):
                failed = await client.message("upload", upload_id=upload_id, stage="failed", timeout=CONVERT_WAIT_S)
                assert f"over the {cap:,} bytes" in failed["error"], failed
                await client.send({"type": "ping", "t": 1.0})
                await client.message("pong")
                assert not [m for m in client.messages if m["type"] == "scene"], old
            for client in (host, remote):
                await client.close()

        asyncio.run(scenario())
        shared = redis.Redis.from_url(small.redis.url)
        try:
            assert list(shared.scan_iter(match=asset_key("*"))) == []
        finally:
            shared.close()
