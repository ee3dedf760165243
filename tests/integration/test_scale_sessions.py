"""Clients of one session on different server processes (``serve --redis``): a real redis-server and real
``vizserver serve`` subprocesses (tests/fixtures/cluster.py).

One process owns a session, the others are edges for it: members, annotations and field frames made on
one process reach clients of another, HTTP joins and invites work on any process (forwarded to the
owner), presence crosses processes, and a killed owner's session is taken over by a surviving process
whose clients reconnect (1012) and resume as the same member with the same role.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fixtures.cluster import (
    Cluster,
    ServerProcess,
    cluster_factory,
    create_session,
    get_json,
    join_session,
    post_json,
)
from fixtures.server import WAIT_S, Client, write_scene
from websockets.exceptions import ConnectionClosed

from vizserver.protocol.presence import Pose, Presence, decode_batch, encode_presence

__all__ = ["cluster_factory"]  # the fixture is used by name

PIN = {"type": "annotation_add", "kind": "pin", "object": 1, "point": [0.5, 0.5, 0.5], "text": "from the owner"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("scale")
    with Cluster(root / "cluster", write_scene(root / "scene"), size=2) as started:
        for server in started.servers:
            asyncio.run(every_process_known(started, server.url))
        yield started


async def every_process_known(cluster: Cluster, url: str) -> None:
    """Wait until the process at ``url`` lists every process in ``welcome.servers`` (each learns of the others
    on its heartbeat, every second)."""
    created = create_session(url)
    deadline = time.monotonic() + WAIT_S
    while True:
        client = await Client.open(ws(url, created["session_id"], created["host_token"]))
        listed = (await client.message("welcome"))["servers"]
        await client.close()
        if set(listed) == set(cluster.urls):
            return
        assert time.monotonic() < deadline, listed
        await asyncio.sleep(0.1)  # the next heartbeat; nothing to wait on from outside


def host_and_guest(cluster: Cluster) -> tuple[ServerProcess, ServerProcess, dict[str, Any], dict[str, Any]]:
    """The cluster's first process (which makes, so owns, a new session), its second (an edge for it), the
    session as made (``session_id``, ``host_token``) and a guest who joined it through the edge."""
    owner, edge = cluster.servers[:2]
    created = create_session(owner.url)
    return owner, edge, created, join_session(edge.url, created["session_id"], "guest")


def ws(base_url: str, session_id: str, token: str) -> str:
    return f"{base_url.replace('http://', 'ws://', 1)}/ws/{session_id}?token={token}"


async def resumed(url: str, client_id: str) -> tuple[Client, dict[str, Any]]:
    """Reconnect with ``hello.resume``, as the page does after a 1012: again after a refusal (1013 while the
    session's new owner is not reachable yet); the connection and its welcome."""
    deadline = time.monotonic() + WAIT_S
    while True:
        client = await Client.open(url, hello={"type": "hello", "protocol": 1, "client": "test",
                                               "resume": {"client_id": client_id}})
        try:
            return client, await client.message("welcome")
        except ConnectionClosed:
            assert time.monotonic() < deadline, "no process took the resume"
            await asyncio.sleep(0.1)  # the page's back-off between attempts, not synchronisation


async def members_named(client: Client, names: set[str]) -> dict[str, Any]:
    """The first ``members`` message that lists every one of ``names`` as connected."""
    while True:
        members = await client.message("members")
        if names <= {m["name"] for m in members["members"] if m["connected"]}:
            return members


async def each_counts_one_client(*urls: str) -> None:
    """Wait until ``/api/health`` of every process counts one connected client (a socket of its own)."""
    deadline = time.monotonic() + WAIT_S
    while (counts := [get_json(f"{url}/api/health")["clients"] for url in urls]) != [1] * len(urls):
        assert time.monotonic() < deadline, counts
        await asyncio.sleep(0.05)  # an earlier test's sockets may still be closing on the server side


def test_the_default_session_is_one_session_across_processes(cluster: Cluster) -> None:
    first, second = (get_json(f"{s.url}/api/sessions/default") for s in cluster.servers)
    assert first["session_id"] == second["session_id"], cluster.output()
    assert first["token"] != second["token"]


def test_clients_on_two_processes_share_members_annotations_and_frames(cluster: Cluster) -> None:
    owner, edge = cluster.servers
    created = create_session(owner.url)
    sid = created["session_id"]
    guest = join_session(edge.url, sid, "guest")  # joined through the edge: forwarded to the owner
    assert guest["session_id"] == sid and guest["role"] == "participant", guest

    async def scenario() -> None:
        host = await Client.open(ws(owner.url, sid, created["host_token"]))
        remote = await Client.open(ws(edge.url, sid, guest["token"]))
        welcome = await remote.message("welcome")
        assert welcome["session_id"] == sid and welcome["role"] == "participant"
        assert welcome["member"] == guest["member"]
        assert set(welcome["servers"]) == {owner.url, edge.url}, welcome
        await members_named(host, {"host", "guest"})
        await members_named(remote, {"host", "guest"})
        await remote.message("annotations")
        await each_counts_one_client(owner.url, edge.url)  # its own socket only, not the edge's relayed one

        await host.send(PIN)
        pinned = await remote.message("annotation")
        assert pinned["annotation"]["text"] == "from the owner", pinned
        await host.message("annotation")  # its own, echoed

        await remote.send({**PIN, "text": "from the edge"})  # a message from an edge client reaches the owner
        mine = await host.message("annotation")
        assert mine["annotation"]["text"] == "from the edge", mine

        frame = await remote.frame()  # the frame loop runs on the owner; its frames reach the edge's client
        assert frame.header.count > 0
        await host.send({"type": "playback", "step": 3})
        moved = await remote.frame(step=3)
        assert moved.values.size == frame.values.size
        await host.close()
        await remote.close()

    asyncio.run(scenario())


def test_http_calls_work_on_a_process_that_does_not_own_the_session(cluster: Cluster) -> None:
    owner, edge = cluster.servers
    created = create_session(owner.url)
    sid, host_token = created["session_id"], created["host_token"]
    by_code = post_json(f"{edge.url}/api/sessions/{created['join_code']}/join", {"name": "by code"})
    assert by_code["session_id"] == sid and by_code["name"] == "by code"
    invited = post_json(f"{edge.url}/api/sessions/{sid}/invite?token={host_token}", {"role": "observer"})
    assert invited["role"] == "observer" and invited["session_id"] == sid
    link = get_json(f"{edge.url}/api/sessions/{sid}/join-link?token={host_token}")
    assert link["join_code"] == created["join_code"] and link["qr_svg"].startswith("<svg")
    exported = get_json(f"{edge.url}/api/sessions/{sid}/annotations?token={invited['token']}")
    assert exported is not None
    with pytest.raises(Exception, match="403"):
        post_json(f"{edge.url}/api/sessions/{sid}/invite?token={invited['token']}", {"role": "observer"})

    async def scenario() -> None:  # the observer invited through the edge connects to the owner as one
        client = await Client.open(ws(owner.url, sid, invited["token"]))
        welcome = await client.message("welcome")
        assert welcome["role"] == "observer" and welcome["member"] == invited["member"]
        await client.close()

    asyncio.run(scenario())


def at(x: float) -> bytes:
    return encode_presence(Presence(Pose((x, 0.0, 0.5), (0.0, 0.0, 0.0, 1.0)), size=0.1))


class Peer:
    """A client that keeps who each slot is and the latest x heard of each client."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.slots: dict[int, str] = {}
        self.x: dict[str, float] = {}

    async def until(self, done: Callable[[], bool]) -> None:
        buffered = [m for m in self.client.messages if m["type"] == "presence_peers"]  # read while awaiting others
        self.client.messages = [m for m in self.client.messages if m["type"] != "presence_peers"]
        for message in buffered:
            self._peers(message)
        deadline = time.monotonic() + WAIT_S
        while not done():
            data = await asyncio.wait_for(self.client.ws.recv(), max(deadline - time.monotonic(), 0.001))
            if isinstance(data, bytes) and data[:4] == b"VZP1":
                for slot, presence in decode_batch(data):
                    self.x[self.slots[slot]] = presence.head.position[0]
            elif isinstance(data, str):
                message = json.loads(data)
                if message["type"] == "presence_peers":
                    self._peers(message)
                else:
                    self.client.messages.append(message)

    def _peers(self, message: dict[str, Any]) -> None:
        if message["full"]:
            self.slots.clear()
        for slot in message["left"]:
            self.slots.pop(slot, None)
        self.slots |= {p["slot"]: p["client_id"] for p in message["peers"]}


def test_presence_crosses_processes(cluster: Cluster) -> None:
    owner, edge, created, guest = host_and_guest(cluster)
    sid = created["session_id"]

    async def scenario() -> None:
        here = Peer(await Client.open(ws(owner.url, sid, created["host_token"])))
        there = Peer(await Client.open(ws(edge.url, sid, guest["token"])))
        here_id = (await here.client.message("welcome"))["client_id"]
        there_id = (await there.client.message("welcome"))["client_id"]
        await here.until(lambda: there_id in here.slots.values())
        await there.until(lambda: here_id in there.slots.values())
        x = 0.25
        while there.x.get(here_id) is None or abs(there.x[here_id] - x) > 1e-2:  # the owner's client moves
            await here.client.send(at(x))
            await there.until(lambda: here_id in there.x)
        x = 0.75
        await there.client.send(at(x))  # and the edge's client moves
        await here.until(lambda: abs(here.x.get(there_id, -1.0) - x) < 1e-2)
        await there.client.close()
        await here.until(lambda: there_id not in here.slots.values())  # it left: its slot is gone
        await here.client.close()

    asyncio.run(scenario())


def test_a_client_on_a_process_that_joins_later_sees_where_the_others_stand(cluster: Cluster) -> None:
    owner, edge, created, guest = host_and_guest(cluster)
    sid = created["session_id"]

    async def scenario() -> None:
        here = Peer(await Client.open(ws(owner.url, sid, created["host_token"])))
        here_id = (await here.client.message("welcome"))["client_id"]
        await here.client.send(at(0.125))  # once, before any other process has a client of the session
        await here.client.send({"type": "ping", "t": 1.0})
        await here.client.message("pong")  # the owner has taken the pose
        there = Peer(await Client.open(ws(edge.url, sid, guest["token"])))
        await there.client.message("welcome")
        await there.until(lambda: abs(there.x.get(here_id, -1.0) - 0.125) < 1e-2)  # without a second pose
        await there.client.close()
        await here.client.close()

    asyncio.run(scenario())


def test_a_resume_on_the_same_edge_replaces_the_old_connection_not_the_new_one(cluster: Cluster) -> None:
    owner, edge, created, guest = host_and_guest(cluster)
    sid = created["session_id"]

    async def scenario() -> None:
        host = await Client.open(ws(owner.url, sid, created["host_token"]))
        old = await Client.open(ws(edge.url, sid, guest["token"]))
        welcome = await old.message("welcome")
        new, again = await resumed(ws(edge.url, sid, guest["token"]), welcome["client_id"])  # old still open
        assert again["client_id"] == welcome["client_id"]
        assert await old.closed() == (1000, "replaced by a newer connection of this client")
        await new.message("annotations")
        await host.send({**PIN, "text": "to the new connection"})
        assert (await new.message("annotation"))["annotation"]["text"] == "to the new connection"
        await new.close()
        await host.close()

    asyncio.run(scenario())


def test_an_edge_refuses_the_presence_of_a_client_the_host_made_an_observer(cluster: Cluster) -> None:
    owner, edge, created, guest = host_and_guest(cluster)
    sid = created["session_id"]

    async def scenario() -> None:
        host = await Client.open(ws(owner.url, sid, created["host_token"]))
        remote = await Client.open(ws(edge.url, sid, guest["token"]))
        await remote.message("welcome")
        await host.send({"type": "set_role", "member": guest["member"], "role": "observer"})
        while True:  # the edge hears the new role with the owner's members message
            members = await remote.message("members")
            if {m["id"]: m["role"] for m in members["members"]}[guest["member"]] == "observer":
                break
        await remote.send(at(0.5))
        error = await remote.message("error")
        assert error["code"] == "forbidden" and "presence" in error["message"], error
        await remote.close()
        await host.close()

    asyncio.run(scenario())


def test_a_session_its_host_ends_ends_for_clients_of_every_process(cluster: Cluster) -> None:
    owner, edge, created, guest = host_and_guest(cluster)
    sid = created["session_id"]
    store = redis.Redis.from_url(cluster.redis.url)

    async def scenario() -> None:
        host = await Client.open(ws(owner.url, sid, created["host_token"]))
        remote = await Client.open(ws(edge.url, sid, guest["token"]))
        await remote.message("welcome")
        await host.send({"type": "end_session"})
        assert (await remote.message("session_ended"))["reason"] == "the host ended the session"
        assert await remote.closed() == (4010, "the host ended the session")
        deadline = time.monotonic() + WAIT_S
        while True:  # refused as unknown (4004); 1013 only while the edge still asks the owner that let it go
            again = await Client.open(ws(edge.url, sid, guest["token"]))
            code, _ = await again.closed()
            if code == 4004:
                break
            assert code == 1013 and time.monotonic() < deadline, code
        await host.close()

    asyncio.run(scenario())
    deadline = time.monotonic() + WAIT_S
    while store.get(f"vz:lease:{sid}") is not None:  # the owner lets go of it on its next heartbeat
        assert time.monotonic() < deadline, "the ended session's lease was kept"
        time.sleep(0.05)  # polling Redis, written by another process
    while True:  # 503 (its owner did not answer) until the edge sees the lease gone, then 404
        with pytest.raises(urllib.error.HTTPError) as refused:
            join_session(edge.url, sid, "late")
        if refused.value.code == 404:
            break
        assert refused.value.code == 503 and time.monotonic() < deadline, refused.value


def test_a_killed_owners_session_is_taken_over_and_its_clients_resume(
    tmp_path: Path, cluster_factory: Callable[..., Cluster]
) -> None:
    cluster = cluster_factory(write_scene(tmp_path / "scene"), size=2)
    owner, survivor = cluster.servers
    created = create_session(owner.url)
    sid = created["session_id"]
    guest = join_session(survivor.url, sid, "guest")
    store = redis.Redis.from_url(cluster.redis.url)

    async def scenario() -> None:
        remote = await Client.open(ws(survivor.url, sid, guest["token"]))
        welcome = await remote.message("welcome")
        await remote.message("annotations")
        await remote.send({**PIN, "text": "kept"})
        await remote.message("annotation")
        deadline = time.monotonic() + WAIT_S
        while b"kept" not in (store.get(f"vz:session:{sid}") or b""):  # saved at most once a second
            assert time.monotonic() < deadline, "the annotation was never saved"
            await asyncio.sleep(0.05)  # polling Redis, written by another process; no event to wait on

        cluster.kill(0)
        code, _ = await remote.closed(timeout=WAIT_S)
        assert code == 1012, cluster.output()

        again, back = await resumed(ws(survivor.url, sid, guest["token"]), welcome["client_id"])
        assert back["member"] == welcome["member"] and back["role"] == "participant", cluster.output()
        assert back["servers"] == [survivor.url]
        annotations = await again.message("annotations")
        assert [a["text"] for a in annotations["items"]] == ["kept"]
        await again.close()

    asyncio.run(scenario())
    assert store.get(f"vz:lease:{sid}") is not None


def test_while_redis_is_down_the_owner_serves_its_clients_and_edge_clients_resume_when_it_is_back(
    tmp_path: Path, cluster_factory: Callable[..., Cluster]
) -> None:
    cluster = cluster_factory(write_scene(tmp_path / "scene"), size=2)
    owner, edge, created, guest = host_and_guest(cluster)
    sid = created["session_id"]

    async def scenario() -> None:
        host = await Client.open(ws(owner.url, sid, created["host_token"]))
        await host.message("annotations")
        remote = await Client.open(ws(edge.url, sid, guest["token"]))
        welcome = await remote.message("welcome")
        await remote.message("annotations")

        await asyncio.to_thread(cluster.redis.stop)
        await host.send({**PIN, "text": "during the outage"})  # the owner's own client is served
        assert (await host.message("annotation"))["annotation"]["text"] == "during the outage"
        await host.send({"type": "playback", "step": 2})
        await host.frame(step=2)

        await asyncio.to_thread(cluster.redis.start)  # same port and folder: what was saved is read back
        code, _ = await remote.closed()  # the edge's client missed what the owner sent meanwhile: it resumes
        assert code == 1012, cluster.output()
        again, back = await resumed(ws(edge.url, sid, guest["token"]), welcome["client_id"])
        assert back["member"] == guest["member"]
        annotations = await again.message("annotations")
        assert [a["text"] for a in annotations["items"]] == ["during the outage"]
        await again.send({**PIN, "text": "after"})  # and the edge's client reaches the owner again
        assert (await host.message("annotation"))["annotation"]["text"] == "after"
        await again.close()
        await host.close()

    asyncio.run(scenario())


def test_an_owner_that_finds_its_lease_taken_lets_the_session_go_and_it_comes_back_from_its_snapshot(
    tmp_path: Path, cluster_factory: Callable[..., Cluster]
) -> None:
    cluster = cluster_factory(write_scene(tmp_path / "scene"), size=1)
    (server,) = cluster.servers
    created = create_session(server.url)
    sid = created["session_id"]
    store = redis.Redis.from_url(cluster.redis.url)

    async def scenario() -> None:
        host = await Client.open(ws(server.url, sid, created["host_token"]))
        welcome = await host.message("welcome")
        await host.message("annotations")
        await host.send({**PIN, "text": "saved"})
        await host.message("annotation")
        deadline = time.monotonic() + WAIT_S
        while b"saved" not in (store.get(f"vz:session:{sid}") or b""):
            assert time.monotonic() < deadline, "the annotation was never saved"
            await asyncio.sleep(0.05)  # polling Redis, written by another process; no event to wait on

        store.set(f"vz:lease:{sid}", "a-process-that-died", px=2000)  # as if another process had taken it
        code, _ = await host.closed()
        assert code == 1012, cluster.output()
        # refused (1013) while the stolen lease runs out; then this process takes the session back
        again, back = await resumed(ws(server.url, sid, created["host_token"]), welcome["client_id"])
        assert (back["member"], back["role"]) == (welcome["member"], "host")
        annotations = await again.message("annotations")
        assert [a["text"] for a in annotations["items"]] == ["saved"]
        await again.close()

    asyncio.run(scenario())
    assert store.get(f"vz:lease:{sid}") not in (None, b"a-process-that-died")  # this process holds it again


def test_three_processes_clients_of_two_edges_see_each_other(
    tmp_path: Path, cluster_factory: Callable[..., Cluster]
) -> None:
    cluster = cluster_factory(write_scene(tmp_path / "scene"), size=3)
    owner, left, right = cluster.servers
    created = create_session(owner.url)
    sid = created["session_id"]
    ann, bob = join_session(left.url, sid, "ann"), join_session(right.url, sid, "bob")

    async def scenario() -> None:
        a = Peer(await Client.open(ws(left.url, sid, ann["token"])))
        b = Peer(await Client.open(ws(right.url, sid, bob["token"])))
        a_id = (await a.client.message("welcome"))["client_id"]
        b_id = (await b.client.message("welcome"))["client_id"]
        await b.until(lambda: a_id in b.slots.values())  # an edge's client, announced by its edge to the other
        await a.until(lambda: b_id in a.slots.values())
        x = 0.5
        while abs(b.x.get(a_id, -1.0) - x) > 1e-2:
            await a.client.send(at(x))
            await b.until(lambda: a_id in b.x)
        await a.client.send({**PIN, "text": "left to right"})  # edge -> owner -> the other edge
        while True:
            pinned = await b.client.message("annotation")
            if pinned["annotation"]["text"] == "left to right":
                break
        await b.client.frame()  # both edges get the owner's frames
        await a.client.frame()
        await a.client.close()
        await b.until(lambda: a_id not in b.slots.values())
        await b.client.close()

    asyncio.run(scenario())


def test_an_owner_stopped_by_its_operator_hands_its_session_over_at_once(
    tmp_path: Path, cluster_factory: Callable[..., Cluster]
) -> None:
    cluster = cluster_factory(write_scene(tmp_path / "scene"), size=2)
    owner, survivor = cluster.servers
    created = create_session(owner.url)
    sid = created["session_id"]
    guest = join_session(survivor.url, sid, "guest")

    async def scenario() -> None:
        remote = await Client.open(ws(survivor.url, sid, guest["token"]))
        welcome = await remote.message("welcome")
        await remote.message("annotations")
        await remote.send({**PIN, "text": "just before"})
        await remote.message("annotation")
        await asyncio.to_thread(cluster.terminate, 0)  # SIGTERM: saved and its lease released on the way out
        code, _ = await remote.closed()
        assert code == 1012, cluster.output()
        again, back = await resumed(ws(survivor.url, sid, guest["token"]), welcome["client_id"])
        assert (back["member"], back["role"]) == (guest["member"], "participant"), cluster.output()
        annotations = await again.message("annotations")
        assert [a["text"] for a in annotations["items"]] == ["just before"]
        await again.close()

    asyncio.run(scenario())
