"""A session this process opens is announced to the cluster once: one lease watch, one presence fan-out.

The server runs in the test's own event loop (as in test_rtc_teardown), against a real redis-server, so its
tasks can be counted by name. The default session is opened by the runtime (which announces every hub it
opens) while the cluster start-up waits for that same announcement; a second, concurrent announcement
used to start a second presence fan-out that nobody stopped, publishing every pose twice.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from fixtures.redis_server import RedisServer
from fixtures.server import http, server_in_this_loop, settings_for, write_scene


def _fanouts(session_id: str) -> int:
    return sum(1 for t in asyncio.all_tasks() if t.get_name() == f"presence fanout {session_id}" and not t.done())


def test_the_default_session_is_announced_once(tmp_path: Path, redis_server: RedisServer) -> None:
    settings = settings_for(write_scene(tmp_path / "scene"), tmp_path / "cache", redis_url=redis_server.url,
                            webrtc=False)

    async def scenario() -> tuple[int, int]:
        async with server_in_this_loop(settings) as url:
            default = await asyncio.to_thread(lambda: http(f"{url}/api/sessions/default").json())
            made = await asyncio.to_thread(lambda: http(f"{url}/api/sessions", method="POST").json())
            return _fanouts(default["session_id"]), _fanouts(made["session_id"])

    assert asyncio.run(scenario()) == (1, 1)
