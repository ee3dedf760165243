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
from fixtures.server import http, settings_for, write_scene

from vizserver.app import create_app
from vizserver.server.runner import make_server


def _fanouts(session_id: str) -> int:
    return sum(1 for t in asyncio.all_tasks() if t.get_name() == f"presence fanout {session_id}" and not t.done())


def test_the_default_session_is_announced_once(tmp_path: Path, redis_server: RedisServer) -> None:
    settings = settings_for(write_scene(tmp_path / "scene"), tmp_path / "cache", redis_url=redis_server.url,
                            webrtc=False)

    async def scenario() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        urls: list[str] = []
        started = asyncio.Event()

        def on_started(url: str) -> None:
            urls.append(url)
            loop.call_soon_threadsafe(started.set)

        server = make_server(create_app(settings), settings, on_started, log_level="warning")
        serving = asyncio.create_task(server.serve())
        try:
            await asyncio.wait_for(started.wait(), 120)
            default = await asyncio.to_thread(lambda: http(f"{urls[0]}/api/sessions/default").json())
            made = await asyncio.to_thread(lambda: http(f"{urls[0]}/api/sessions", method="POST").json())
            return _fanouts(default["session_id"]), _fanouts(made["session_id"])
        finally:
            server.should_exit = True
            await serving

    assert asyncio.run(scenario()) == (1, 1)
