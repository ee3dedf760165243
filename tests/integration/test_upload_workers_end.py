"""A server killed with ``kill -9`` leaves no upload conversion worker behind (vizserver/lifeline.py).

The workers are forkserver children, so they are not the server's children: before the lifeline, each
killed server left its pool's worker (and the fork server it kept alive) waiting for ever, some 200 MB
apiece. The server here is a real ``vizserver serve`` subprocess; its processes are found by the
``VIZSERVER_CACHE_DIR`` they inherit, which is this test's own folder.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psutil
import pyvista as pv
from fixtures.server import Client, start_process_server, upload_converted, write_scene, ws_url

GONE_WAIT_S = 20.0


def _processes_of(cache_dir: Path) -> list[psutil.Process]:
    """Processes (other than this one) started for the server whose cache is ``cache_dir``."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("VIZSERVER_CACHE_DIR") == str(cache_dir):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def test_conversion_workers_end_with_a_killed_server(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    server = start_process_server(write_scene(tmp_path / "scene"), {"VIZSERVER_CACHE_DIR": str(cache)})
    assert server.process is not None
    sphere = tmp_path / "sphere.stl"
    pv.Sphere().save(sphere)
    try:
        session = server.default_session()

        async def upload() -> None:
            client = await Client.open(ws_url(server, session))
            await upload_converted(client, server.url, session["session_id"], session["token"], "sphere.stl",
                                   sphere.read_bytes())
            await client.close()

        asyncio.run(upload())
        helpers = [p for p in _processes_of(cache) if p.pid != server.process.pid]
        assert helpers, "the conversion ran in no worker process"
    finally:
        server.process.kill()
        server.process.wait(10)

    deadline = time.monotonic() + GONE_WAIT_S
    while left := [p for p in helpers if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]:
        assert time.monotonic() < deadline, f"still running after the server was killed: {left}"
        time.sleep(0.1)  # polling other processes' exit; nothing here is told of it
