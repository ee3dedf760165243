"""The scale-out bench itself: a real Redis and two real ``serve --redis`` processes start, answer, stop and restart."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import psutil
import redis
from fixtures.cluster import Cluster, cluster_factory, create_session, join_session
from fixtures.server import write_scene

__all__ = ["cluster_factory"]  # the fixture is used by name


def test_two_processes_with_redis_answer_health_and_restart(
    tmp_path: Path, cluster_factory: Callable[..., Cluster]
) -> None:
    cluster = cluster_factory(write_scene(tmp_path / "scene"), size=2)
    assert redis.Redis.from_url(cluster.redis.url).ping()
    pids = [s.pid for s in cluster.servers]
    assert len(set(pids)) == 2 and all(psutil.pid_exists(p) for p in pids)
    for server in cluster.servers:
        health = server.health()
        assert health is not None and health["status"] == "ok", cluster.output()
        created = create_session(server.url)
        joined = join_session(server.url, created["session_id"], "student")
        assert joined["session_id"] == created["session_id"] and joined["role"] == "participant"

    cluster.kill(0)
    assert not cluster.servers[0].running and cluster.servers[0].health() is None
    assert cluster.servers[1].health() is not None
    health = cluster.restart(0)
    assert health["status"] == "ok" and cluster.servers[0].pid != pids[0] and cluster.servers[0].starts == 2


def test_close_leaves_no_process(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path / "c", write_scene(tmp_path / "scene"), size=2).start()
    children = [cluster.redis.process.pid if cluster.redis.process else -1, *(s.pid for s in cluster.servers)]
    cluster.close()
    mine = {p.pid for p in psutil.Process(os.getpid()).children(recursive=True)}
    assert not mine.intersection(children)
    assert all(s.health() is None for s in cluster.servers)

