"""A killed server process: its clients reconnect to another process from ``welcome.servers`` and resume.

Two real ``serve --redis`` processes and a real redis-server (tests/fixtures/cluster.py). The session
is owned by one process; clients sit on both. ``kill -9`` gives the dead process no chance to say
anything: its clients see their sockets drop, then do what the web client's Connection does
(webxr_client/src/Connection.js with ServerList.js): retry, and after an attempt that fails move to
the next server of the last ``welcome.servers``, resuming with ``hello.resume``. They must come back as
the same member with the same role.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from fixtures.cluster import Cluster, cluster_factory, create_session, hello, join_session, session_ws_url
from fixtures.server import Client, write_scene
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

__all__ = ["cluster_factory"]  # the fixture is used by name

FAILOVER_WAIT_S = 30.0
"""Longest a client may take to be back: the dead owner's lease expires in 3 s (docs/architecture.md)."""


def snapshot_has(cluster: Cluster, session_id: str, *members: str) -> bool:
    """The owner has saved the session with these members (it saves at most once a second)."""
    text = redis.Redis.from_url(cluster.redis.url).get(f"vz:session:{session_id}")
    saved = {m["id"] for m in json.loads(text)["roster"]["members"]} if text is not None else set()
    return saved.issuperset(members)


async def wait_snapshot(cluster: Cluster, session_id: str, *members: str) -> None:
    deadline = time.monotonic() + FAILOVER_WAIT_S
    while not snapshot_has(cluster, session_id, *members):
        text = redis.Redis.from_url(cluster.redis.url).get(f"vz:session:{session_id}")
        assert time.monotonic() < deadline, f"session {session_id} never saved with {members}: {text!r}"
        await asyncio.sleep(0.05)  # polling Redis for the owner's coalesced save; no event reaches the test


async def welcomed(url: str, resume: str | None = None) -> tuple[Client, dict[str, Any]]:
    client = await Client.open(url, hello=hello("failover-test", resume))
    return client, await client.message("welcome")


async def welcomed_knowing(url: str, cluster: Cluster) -> tuple[Client, dict[str, Any]]:
    """A welcome whose ``servers`` lists every process: each process learns of the others on its heartbeat
    (1 s), so a client that connects right after the cluster started may hear of fewer; it connects again."""
    deadline = time.monotonic() + FAILOVER_WAIT_S
    while True:
        client, welcome = await welcomed(url)
        if sorted(welcome.get("servers") or []) == sorted(cluster.urls):
            return client, welcome
        await client.close()
        assert time.monotonic() < deadline, f"welcome.servers never listed every process: {welcome}"
        await asyncio.sleep(0.1)  # the processes' heartbeat has not run yet; nothing to wait on from here


async def fail_over(client: Client, path: str, servers: list[str], dead: str, client_id: str
                    ) -> tuple[Client, dict[str, Any]]:
    """What the web client does after its socket drops: retry, moving round robin over ``servers`` after each
    attempt that fails, and resume; the new connection and its welcome."""
    await client.closed()
    order = [dead, *(s for s in servers if s != dead)]
    deadline = time.monotonic() + FAILOVER_WAIT_S
    attempt = 0
    while True:
        base = order[attempt % len(order)].replace("http://", "ws://", 1)
        try:
            again = await Client.open(base + path, hello=hello("failover-test", client_id))
            return again, await again.message("welcome", timeout=5.0)
        except (OSError, InvalidHandshake, InvalidStatus, ConnectionClosed, TimeoutError):
            assert time.monotonic() < deadline, f"no server took the resume within {FAILOVER_WAIT_S} s"
        attempt += 1
        await asyncio.sleep(0.2)  # the client's back-off between attempts, not synchronisation


async def roles_once(client: Client, wanted: dict[str, str]) -> dict[str, str]:
    """Member roles from the first ``members`` message that has every connected member of ``wanted`` (the
    session sends one on each join, so earlier ones may predate a member's return)."""
    while True:
        members = await client.message("members")
        roles = {m["id"]: m["role"] for m in members["members"] if m["connected"]}
        if wanted.keys() <= roles.keys():
            return roles


def path_of(url: str) -> str:
    return url[url.index("/ws/"):]


def test_clients_of_a_killed_edge_resume_on_the_owner(tmp_path: Path,
                                                      cluster_factory: Callable[..., Cluster]) -> None:
    cluster = cluster_factory(write_scene(tmp_path / "scene"), size=2)
    owner, edge = cluster.servers
    created = create_session(owner.url)
    sid = created["session_id"]
    joined = join_session(edge.url, sid, "student")

    async def run() -> None:
        host, host_welcome = await welcomed(session_ws_url(owner.url, sid, created["host_token"]))
        student_url = session_ws_url(edge.url, sid, joined["token"])
        student, welcome = await welcomed_knowing(student_url, cluster)
        assert welcome["member"] == joined["member"] and welcome["role"] == "participant"
        assert sorted(welcome["servers"]) == sorted(cluster.urls), welcome
        await wait_snapshot(cluster, sid, joined["member"])

        cluster.kill(edge.index)
        again, resumed = await fail_over(student, path_of(student_url), welcome["servers"], edge.url,
                                         welcome["client_id"])
        assert (resumed["member"], resumed["role"], resumed["session_id"]) == (joined["member"], "participant", sid)
        assert resumed["client_id"] == welcome["client_id"]  # the owner lived: the same connection identity
        roles = await roles_once(again, {joined["member"]: "participant"})
        assert roles[joined["member"]] == "participant"
        assert host_welcome["role"] == "host"
        await again.close()
        await host.close()

    asyncio.run(run())


def test_clients_of_a_killed_owner_resume_on_the_process_that_takes_the_session(
        tmp_path: Path, cluster_factory: Callable[..., Cluster]) -> None:
    cluster = cluster_factory(write_scene(tmp_path / "scene"), size=2)
    owner, edge = cluster.servers
    created = create_session(owner.url)
    sid = created["session_id"]
    joined = join_session(edge.url, sid, "student")

    async def run() -> None:
        host_url = session_ws_url(owner.url, sid, created["host_token"])
        host, host_welcome = await welcomed_knowing(host_url, cluster)
        student, student_welcome = await welcomed(session_ws_url(edge.url, sid, joined["token"]))
        await wait_snapshot(cluster, sid, host_welcome["member"], joined["member"])

        cluster.kill(owner.index)
        # the host's socket dropped; it fails over to the edge, which takes the session from its snapshot
        host_again, host_back = await fail_over(host, path_of(host_url), host_welcome["servers"], owner.url,
                                                host_welcome["client_id"])
        assert (host_back["member"], host_back["role"]) == (host_welcome["member"], "host")
        student_back = await student_or_resumed(student, student_welcome, sid, joined["token"], cluster)
        assert (student_back["member"], student_back["role"]) == (joined["member"], "participant")
        roles = await roles_once(host_again, {host_welcome["member"]: "host", joined["member"]: "participant"})
        assert roles[host_welcome["member"]] == "host" and roles[joined["member"]] == "participant"
        await host_again.close()

    asyncio.run(run())


async def student_or_resumed(student: Client, welcome: dict[str, Any], sid: str, token: str, cluster: Cluster
                             ) -> dict[str, Any]:
    """The edge's own client after the takeover: closed with 1012 (the session moved here), it resumes."""
    code, _ = await student.closed(timeout=FAILOVER_WAIT_S)
    assert code == 1012, f"closed with {code}, not 1012 (service restart)"
    again = await Client.open(session_ws_url(cluster.servers[1].url, sid, token),
                              hello=hello("failover-test", welcome["client_id"]))
    back = await again.message("welcome")
    await again.close()
    return back


def test_welcome_lists_the_live_processes(tmp_path: Path, cluster_factory: Callable[..., Cluster]) -> None:
    cluster = cluster_factory(write_scene(tmp_path / "scene"), size=2)
    created = create_session(cluster.servers[0].url)

    async def run() -> list[str]:
        client, welcome = await welcomed_knowing(session_ws_url(cluster.servers[1].url, created["session_id"],
                                                                created["host_token"]), cluster)
        await client.close()
        await wait_snapshot(cluster, created["session_id"], "m1")  # else the session dies with its owner
        cluster.kill(0)  # a dead process leaves the list within its key's time to live (3 s)
        deadline = time.monotonic() + FAILOVER_WAIT_S
        while True:
            try:  # 1013 while the survivor takes the dead owner's session over: try again, as the page does
                client, welcome = await welcomed(session_ws_url(cluster.servers[1].url, created["session_id"],
                                                                created["host_token"]))
                await client.close()
                if welcome.get("servers") == [cluster.servers[1].url]:
                    return list(welcome["servers"])
            except ConnectionClosed:
                pass
            assert time.monotonic() < deadline, \
                f"the dead process stayed in welcome.servers: {welcome}\n{cluster.output()}"
            await asyncio.sleep(0.2)  # waiting out the dead process's key expiry

    assert asyncio.run(run()) == [cluster.servers[1].url], cluster.output()
