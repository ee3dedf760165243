"""Every Redis connection vizserver makes speaks RESP2 (scale/redis_link.py ``REDIS_PROTOCOL``): redis-py 8's
RESP3 pub/sub parser formats each message for a discarded debug line, ten times the CPU of receiving it
(benchmarks/redis_pubsub.py). Checked on a real redis-server, which reports each connection's protocol."""

from __future__ import annotations

import asyncio

from fixtures.redis_server import RedisServer

from vizserver.scale.redis_link import RedisLink
from vizserver.scale.twin_worker import TwinWorker


def test_the_server_processes_client_and_its_pubsub_speak_resp2(redis_server: RedisServer) -> None:
    async def protocols() -> tuple[str, str]:
        link = RedisLink(redis_server.url)
        pubsub = link.client.pubsub()
        try:
            await pubsub.subscribe("vz:test")
            info = await link.client.client_info()
            clients = await link.client.client_list()
            return str(info["resp"]), ",".join(sorted({str(c["resp"]) for c in clients}))
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            await link.close()

    assert asyncio.run(protocols()) == ("2", "2")


def test_a_twin_workers_client_speaks_resp2(redis_server: RedisServer) -> None:
    worker = TwinWorker(redis_server.url)
    try:
        assert str(worker.client.client_info()["resp"]) == "2"
    finally:
        worker.client.close()
