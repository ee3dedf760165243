"""Receiving field frames through Redis pub/sub: the client vizserver makes against redis-py's default client.

A real ``redis-server`` on loopback; one client publishes ``--messages`` random ``--size``-byte messages
(an incompressible field frame pair crossing to an edge), another receives them as ``ClusterNode`` does
(``PubSub.get_message``). Measured: the receiving process's CPU per message, for the client
:class:`~vizserver.scale.redis_link.RedisLink` makes (RESP2) and, as the baseline in the same run,
redis-py's default client (RESP3 in redis-py 8, whose pub/sub parser formats every message for a debug
log line that is then thrown away).

Run: ``python benchmarks/redis_pubsub.py [--size BYTES] [--messages N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import redis.asyncio as aioredis
from report import emit

from vizserver.scale.redis_link import RedisLink

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fixtures.redis_server import RedisServer


async def cpu_per_message(publisher: aioredis.Redis, receiver: aioredis.Redis, size: int, messages: int) -> float:
    """Milliseconds of this process's CPU per message published and received."""
    pubsub = receiver.pubsub()
    await pubsub.subscribe("bench")
    data = os.urandom(size)
    received = 0

    async def receive() -> None:
        nonlocal received
        while received < messages:
            if await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0) is not None:
                received += 1

    reading = asyncio.create_task(receive())
    began = time.process_time()
    for _ in range(messages):
        await publisher.publish("bench", data)
    await asyncio.wait_for(reading, 120)
    spent = time.process_time() - began
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    return spent / messages * 1000


async def run(url: str, size: int, messages: int) -> None:
    publisher = aioredis.Redis.from_url(url, protocol=2)
    ours = RedisLink(url).client
    default = aioredis.Redis.from_url(url)
    await cpu_per_message(publisher, ours, size, 20)  # warm up: connections made, code paths loaded
    base = await cpu_per_message(publisher, default, size, messages)
    value = await cpu_per_message(publisher, ours, size, messages)
    case = f"{messages} pub/sub messages of {size} bytes, publish and receive in one process, loopback"
    emit(case, "CPU per message, vizserver's client (RESP2)", value, "ms", "redis-py default client (RESP3)", base)
    for client in (publisher, ours, default):
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--messages", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        server = RedisServer(Path(folder), appendonly=False)
        server.start()
        try:
            asyncio.run(run(server.url, args.size, args.messages))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
