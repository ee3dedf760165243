"""Remote twins: RemoteTwinLink in a real Starlette/uvicorn app, talking to a real `vizserver twin-worker` process.

Each test runs one event loop with a tiny app on a free loopback port whose ``/ws/twin/{id}``
route hands the accepted socket to a :class:`RemoteTwinLink`; the worker is a second process
(``python -m vizserver twin-worker``) or, for hostile input, a raw WebSocket client in the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
import uvicorn
from fixtures.twins import DecayTwin, expected_u, positions
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect

from vizserver.twins import wire
from vizserver.twins.remote import RemoteTwinLink, check_url, parse_option
from vizserver.twins.runner import TwinEvent, TwinFrame, TwinRefused, TwinStartError, TwinState

WAIT_S = 20.0
N = 8  # as many targets as DecayTwin has points: sampling is exact
TESTS = Path(__file__).resolve().parents[1]
EXAMPLE = TESTS.parent / "examples" / "external_model"
E = TypeVar("E", bound=TwinEvent)


@dataclass
class TwinApp:
    """The server side: every worker that connects gets a link; its events and its end are recorded."""

    url: str
    links: asyncio.Queue[RemoteTwinLink] = field(default_factory=asyncio.Queue)
    events: asyncio.Queue[TwinEvent] = field(default_factory=asyncio.Queue)
    ended: asyncio.Queue[RemoteTwinLink] = field(default_factory=asyncio.Queue)
    ready_timeout_s: float = WAIT_S
    targets: np.ndarray = field(default_factory=lambda: positions(N))

    async def link(self) -> RemoteTwinLink:
        return await asyncio.wait_for(self.links.get(), WAIT_S)

    async def next(self, kind: type[E], where: Callable[[E], bool] = lambda e: True) -> E:
        """The next event of ``kind`` matching ``where``, skipping others."""
        async with asyncio.timeout(WAIT_S):
            while True:
                event = await self.events.get()
                if isinstance(event, kind) and where(event):
                    return event

    async def run_ended(self, link: RemoteTwinLink) -> None:
        assert await asyncio.wait_for(self.ended.get(), WAIT_S) is link


@contextlib.asynccontextmanager
async def twin_app() -> AsyncIterator[TwinApp]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()  # connections wait in the backlog until uvicorn serves: no start-up race
    app = TwinApp(f"ws://127.0.0.1:{sock.getsockname()[1]}/ws/twin/s1?token=t")

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        if websocket.path_params["session_id"] == "refused":  # as the server does with a wrong token
            await websocket.close(4403, "not the session's host token")
            return
        link = RemoteTwinLink(websocket, app.targets, app.events.put_nowait, ready_timeout_s=app.ready_timeout_s)
        app.links.put_nowait(link)
        await link.run()  # must return, never raise, whatever the worker does
        app.ended.put_nowait(link)

    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[WebSocketRoute("/ws/twin/{session_id}", endpoint)]),
                                           log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield app
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT_S)
        sock.close()


async def start_worker(url: str, *options: str, twin: str = "fixtures.twins:DecayTwin",
                       cwd: Path | None = None) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "vizserver", "twin-worker", "--connect", url, "--twin", twin,
        "--frame-interval", "0.02", *options, env=env, cwd=cwd, stderr=subprocess.PIPE)


async def finished(process: asyncio.subprocess.Process) -> tuple[int, str]:
    _, err = await asyncio.wait_for(process.communicate(), WAIT_S)
    assert process.returncode is not None
    return process.returncode, err.decode()


def run(test: Callable[[], Any]) -> None:
    asyncio.run(test())


# --- with a real worker process --------------------------------------------------------------------


def test_frames_from_a_worker_process_carry_the_model_values() -> None:
    async def scenario() -> None:
        async with twin_app() as app:
            worker = await start_worker(app.url, "--option", "points=8")
            link = await app.link()
            info = await asyncio.wait_for(link.start(), WAIT_S)
            assert info.vertices == N and info.time_unit == "s" and info.schema.outputs == ("u", "x")
            assert info.outputs[0] == wire.OutputInfo("u", "mV", (0.0, 2.0))
            frames = [await app.next(TwinFrame) for _ in range(3)]
            assert [f.frame for f in frames] == sorted(f.frame for f in frames) and frames[-1].time > 0
            for f in frames:
                np.testing.assert_allclose(f.fields["u"], expected_u(1.0, 1.0, f.time, N), rtol=1e-5)
                np.testing.assert_allclose(f.fields["x"], np.linspace(0, 1, N), rtol=1e-6)
            await link.stop()
            await app.run_ended(link)
            code, _ = await finished(worker)
            assert code == 0
            assert not any(isinstance(e, TwinState) and e.state == "failed" for e in _drain(app.events))

    run(scenario)


def test_a_parameter_change_comes_back_as_caused_by_and_changes_the_values() -> None:
    async def scenario() -> None:
        async with twin_app() as app:
            worker = await start_worker(app.url)
            link = await app.link()
            await asyncio.wait_for(link.start(), WAIT_S)
            await app.next(TwinFrame)
            link.set_params({"rate": 20.0}, 41)
            link.set_params({"rate": 5.0}, 42)  # merged with 41 if that one has not gone yet
            applied = await app.next(TwinFrame, lambda f: 42 in f.caused_by)
            after = await app.next(TwinFrame)
            ratio = after.fields["u"] / applied.fields["u"]
            np.testing.assert_allclose(ratio, np.exp(-5.0 * (after.time - applied.time)), rtol=1e-4)
            link.set_params({"rate": 1e6}, 43)  # out of range: the twin refuses it
            refused = await app.next(TwinRefused)
            assert refused.tag == 43 and "rate" in refused.message
            link.act("kick", (0.0, 0.0, 0.0), 44)
            kicked = await app.next(TwinFrame, lambda f: 44 in f.caused_by)
            assert kicked.fields["u"][0] > after.fields["u"][0]
            await link.stop()
            await app.run_ended(link)
            assert (await finished(worker))[0] == 0

    run(scenario)


def test_a_worker_killed_mid_stream_fails_the_link_which_returns_cleanly() -> None:
    async def scenario() -> None:
        async with twin_app() as app:
            worker = await start_worker(app.url)
            link = await app.link()
            await asyncio.wait_for(link.start(), WAIT_S)
            await app.next(TwinFrame)
            worker.kill()
            failed = await app.next(TwinState, lambda s: s.state == "failed")
            assert failed.message is not None and failed.message.startswith("remote twin disconnected")
            await app.run_ended(link)
            await finished(worker)
            link.set_params({"rate": 2.0}, 7)  # after the end: refused with the reason, not lost silently
            refused = await app.next(TwinRefused)
            assert refused.tag == 7 and "disconnected" in refused.message

    run(scenario)


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with twin_app() as app:
            await cli_errors(app)

    async def cli_errors(app: TwinApp) -> None:
        free = socket.socket()
        free.bind(("127.0.0.1", 0))
        closed_port = free.getsockname()[1]
        free.close()  # nothing listens here now: the connection is refused
        cases = {
            "http://example.org/x": ("fixtures.twins:DecayTwin", "expected ws://HOST:PORT"),
            f"ws://127.0.0.1:{closed_port}/ws/twin/a": ("no_such_module:Twin", "cannot import 'no_such_module'"),
            f"ws://127.0.0.1:{closed_port}/ws/twin/b?token=x": ("fixtures.twins:DecayTwin", "cannot connect"),
            app.url.replace("/s1?", "/refused?"): (
                "fixtures.twins:DecayTwin",
                "the server refused the twin: closed by the server: code 4403 (not the session's host token)"),
        }
        env = {**os.environ, "PYTHONPATH": str(TESTS)}
        processes = {
            url: await asyncio.create_subprocess_exec(
                sys.executable, "-m", "vizserver", "twin-worker", "--connect", url, "--twin", twin, env=env,
                stderr=subprocess.PIPE)
            for url, (twin, _) in cases.items()
        }
        for url, process in processes.items():
            code, err = await finished(process)
            assert code == 2, err
            assert err.count("\n") == 1 and err.startswith("error: ") and cases[url][1] in err
            assert "token=x" not in err and "token=t" not in err  # the host token stays out of messages

    run(scenario)


def test_the_external_model_example_runs_as_a_remote_twin() -> None:
    """examples/external_model: FitzHugh-Nagumo on the bound vertices, imported from the worker's folder."""

    async def scenario() -> None:
        async with twin_app() as app:
            grid = np.stack(np.meshgrid(np.arange(12.0), np.arange(12.0), [0.0]), axis=-1).reshape(-1, 3)
            app.targets = grid.astype(np.float32)
            worker = await start_worker(app.url, "--option", "k=6", twin="fhn_model:FitzHughNagumoTwin", cwd=EXAMPLE)
            link = await app.link()
            info = await asyncio.wait_for(link.start(), WAIT_S)
            assert info.vertices == len(grid) and info.schema.outputs == ("u",)
            first = await app.next(TwinFrame)
            u = first.fields["u"]
            assert u.max() > 1.0 and np.median(u) == pytest.approx(-1.2, abs=0.05)  # paced site excited, rest at rest
            far = grid[-1]  # the corner opposite the pacing site
            link.act("stimulate", (float(far[0]), float(far[1]), 0.0), 9)
            stimulated = await app.next(TwinFrame, lambda f: 9 in f.caused_by)
            assert stimulated.fields["u"][-1] > 1.0
            await link.stop()
            await app.run_ended(link)
            assert (await finished(worker))[0] == 0

    run(scenario)


# --- a hostile "worker": a raw WebSocket client --------------------------------------------------


def test_garbage_before_ready_fails_start_with_a_clear_error() -> None:
    async def scenario() -> None:
        async with twin_app() as app, connect(app.url) as ws:
            bind = await ws.recv()
            assert json.loads(bind)["type"] == "bind" and len(await ws.recv()) == 12 * N
            await ws.send("this is not JSON")
            link = await app.link()
            with pytest.raises(TwinStartError, match=r"^remote twin sent a bad message: header is not JSON"):
                await asyncio.wait_for(link.start(), WAIT_S)
            await app.run_ended(link)
            await asyncio.wait_for(ws.wait_closed(), WAIT_S)
            assert ws.close_code == 1008

    run(scenario)


def test_a_malformed_frame_after_ready_gives_the_failed_state() -> None:
    async def scenario() -> None:
        async with twin_app() as app, connect(app.url) as ws:
            await ws.recv()
            await ws.recv()
            twin = DecayTwin(points=N)
            ready, _ = wire.encode(wire.Ready(twin.schema, "s", 1.0, (
                wire.OutputInfo("u", "mV", (0.0, 2.0)), wire.OutputInfo("x", "", (0.0, 1.0))), N, 0.0))
            await ws.send(ready.decode())
            link = await app.link()
            await asyncio.wait_for(link.start(), WAIT_S)
            header, blobs = wire.encode(wire.Frame(1, 0.1, 1.0, 1.0, (), {"u": np.zeros(N + 1, np.float32)}))
            await ws.send(header.decode())
            await ws.send(bytes(blobs[0]))  # one value too many for the bound vertices
            failed = await app.next(TwinState, lambda s: s.state == "failed")
            assert failed.message is not None
            assert failed.message.startswith("remote twin sent a bad message: frame: field blobs of [36] bytes")
            await app.run_ended(link)

    run(scenario)


def test_a_worker_that_never_says_ready_times_out() -> None:
    async def scenario() -> None:
        async with twin_app() as app:
            app.ready_timeout_s = 0.2
            ws = await connect(app.url)
            await ws.recv()
            link = await app.link()
            with pytest.raises(TwinStartError, match="no ready within"):
                await asyncio.wait_for(link.start(), WAIT_S)
            await app.run_ended(link)
            await ws.close()

    run(scenario)


# --- pure helpers ----------------------------------------------------------------------------------


def test_options_parse_as_json_else_text() -> None:
    assert parse_option("points=8") == ("points", 8)
    assert parse_option("scale=0.5") == ("scale", 0.5)
    assert parse_option("fast=true") == ("fast", True)
    assert parse_option("mesh=heart.vtu") == ("mesh", "heart.vtu")
    assert check_url("wss://host:9000/ws/twin/a?token=b") == "wss://host:9000/ws/twin/a?token=b"


def _drain(events: asyncio.Queue[TwinEvent]) -> list[TwinEvent]:
    out = []
    while not events.empty():
        out.append(events.get_nowait())
    return out
