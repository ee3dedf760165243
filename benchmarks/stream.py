"""Streaming throughput: N clients each receiving a 100k-vertex scalar field at 60 Hz from one server.

Prints one JSON line per figure ({"case", "metric", "value", "unit", "baseline", "ratio"}):
- per client count (1, 10, 50) and field (a travelling activation front, uniform noise): delivered
  frames/s per client (p5 over clients), bytes per vertex per frame, server CPU % and RSS;
- the same frames as float32 without quantization (the baseline), measured on the same steps;
- a client that stops reading for the stall window: server RSS growth while the others stream.

The server is a real ``vizserver serve`` subprocess on a free loopback port; the scene is an
openCARP triangle mesh with two ``.igb`` time series generated here. Run:
``python benchmarks/stream.py [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import websockets
from report import emit

from vizserver.protocol.field_encoder import FieldEncoder
from vizserver.protocol.frames import Encoding
from vizserver.protocol.messages import (
    Hello,
    PlaybackRequest,
    Subscribe,
    decode_server_message,
    encode_client_message,
)

TARGET_HZ = 60.0
STEPS = 120


# --------------------------------------------------------------------------------------- scene


def grid_surface(n_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """A gently curved sheet of about ``n_vertices`` points (micrometres, as openCARP writes)."""
    side = int(np.sqrt(n_vertices))
    u, v = np.meshgrid(np.linspace(0, 1, side), np.linspace(0, 1, side), indexing="ij")
    points = np.stack([u * 50_000, v * 50_000, 5_000 * np.sin(np.pi * u) * np.sin(np.pi * v)], -1).reshape(-1, 3)
    i, j = np.meshgrid(np.arange(side - 1), np.arange(side - 1), indexing="ij")
    a = (i * side + j).ravel()
    triangles = np.concatenate([np.stack([a, a + side, a + 1], -1), np.stack([a + 1, a + side, a + side + 1], -1)])
    return points, triangles


def travelling_front(points: np.ndarray, steps: int) -> np.ndarray:
    """Transmembrane-potential-like front sweeping the sheet once: -85 mV at rest, +40 behind the front."""
    x = points[:, 0] / points[:, 0].max()
    centres = np.linspace(-0.1, 1.1, steps)[:, None]
    return (-85.0 + 125.0 * 0.5 * (1 - np.tanh((x[None, :] - centres) / 0.02))).astype(np.float32)


def uniform_noise(n: int, steps: int) -> np.ndarray:
    return np.random.default_rng(7).uniform(-85.0, 40.0, (steps, n)).astype(np.float32)


def write_igb(path: Path, frames: np.ndarray) -> None:
    steps, n = frames.shape
    header = f"x:{n} y:1 z:1 t:{steps} type:float systeme:little_endian org_t:0 inc_t:1 unites_t:ms unites:mV"
    padded = header.encode().ljust(1023, b" ") + b"\x0c"
    path.write_bytes(padded + frames.astype("<f4").tobytes())


def write_scene(folder: Path, n_vertices: int) -> tuple[Path, int]:
    points, triangles = grid_surface(n_vertices)
    (folder / "sheet.pts").write_text(f"{len(points)}\n" + "\n".join(f"{x:.1f} {y:.1f} {z:.1f}" for x, y, z in points))
    lines = "\n".join(f"Tr {a} {b} {c} 1" for a, b, c in triangles)
    (folder / "sheet.elem").write_text(f"{len(triangles)}\n{lines}\n")
    write_igb(folder / "wave.igb", travelling_front(points, STEPS))
    write_igb(folder / "noise.igb", uniform_noise(len(points), STEPS))
    scene = folder / "bench.yaml"
    scene.write_text("title: stream benchmark\nobjects:\n  - name: sheet\n    source: sheet.pts\n    field: wave\n")
    return scene, len(points)


# -------------------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(scene: Path, cache: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "VIZSERVER_CACHE_DIR": str(cache)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vizserver", "serve", str(scene), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/api/health", timeout=2) as r:
                if r.status == 200:
                    return proc, base
        except OSError:
            time.sleep(0.2)  # polling a starting server; not synchronisation between our own parts
    raise SystemExit("server did not start")


def default_session(base: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base}/api/sessions/default", timeout=10) as r:
        answer: dict[str, Any] = json.load(r)
        return answer


# ------------------------------------------------------------------------------------- clients


class Client:
    def __init__(self) -> None:
        self.frames = 0
        self.bytes = 0
        self.first: float | None = None
        self.last: float | None = None


async def connect(base: str, *, read: bool = True, max_queue: int | None = 16) -> tuple[Any, dict[str, Any]]:
    session = default_session(base)
    ws = await websockets.connect(
        base.replace("http", "ws") + session["websocket"], max_size=1 << 26, max_queue=max_queue
    )
    await ws.send(encode_client_message(Hello(type="hello", protocol=1, client="bench/1")))
    state: dict[str, Any] = {}
    while "scene" not in state or "playback" not in state:
        message = await ws.recv()
        if isinstance(message, str):
            decoded = decode_server_message(message)
            state[decoded.type] = decoded.model_dump()
    return ws, state


async def reader(ws: Any, client: Client, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            message = await asyncio.wait_for(ws.recv(), timeout=1.0)
        except TimeoutError:
            continue
        except websockets.ConnectionClosed:
            return
        if isinstance(message, bytes):
            now = time.perf_counter()
            client.frames += 1
            client.bytes += len(message)
            client.first = client.first or now
            client.last = now


async def run_clients(base: str, count: int, field: str, seconds: float, server: psutil.Process) -> dict[str, float]:
    connections = [await connect(base) for _ in range(count)]
    ws0, state = connections[0]
    sheet = state["scene"]["objects"][0]
    field_id = next(f["id"] for f in sheet["fields"] if f["name"] == field)
    for ws, _ in connections:
        await ws.send(encode_client_message(Subscribe(type="subscribe", object=0, field=field_id)))
    stop = asyncio.Event()
    clients = [Client() for _ in connections]
    tasks = [asyncio.create_task(reader(ws, c, stop)) for (ws, _), c in zip(connections, clients, strict=True)]
    speed = TARGET_HZ / state["playback"]["fps"]
    await ws0.send(encode_client_message(PlaybackRequest(type="playback", playing=True, speed=speed, loop=True)))
    await asyncio.sleep(1.0)  # let the stream reach steady state before measuring (a warm-up, not a sync)
    for c in clients:
        c.frames, c.bytes, c.first, c.last = 0, 0, None, None
    server.cpu_percent(None)
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - t0
    cpu = server.cpu_percent(None)
    rss = server.memory_info().rss
    stop.set()
    await ws0.send(encode_client_message(PlaybackRequest(type="playback", playing=False)))
    await asyncio.gather(*tasks)
    for ws, _ in connections:
        await ws.close()
    rates = sorted(c.frames / elapsed for c in clients)
    frames = sum(c.frames for c in clients)
    vertices = sheet["vertices"]
    return {
        "p5_fps": float(np.percentile(rates, 5)),
        "bytes_per_vertex": (sum(c.bytes for c in clients) / frames / vertices) if frames else float("nan"),
        "cpu_percent": cpu,
        "rss_mb": rss / 2**20,
    }


async def stalled_client_growth(base: str, seconds: float, server: psutil.Process) -> float:
    """RSS growth while one client never reads and ten others stream."""
    stalled, _ = await connect(base, max_queue=1)
    rss0 = server.memory_info().rss
    await run_clients(base, 10, "wave", seconds, server)
    growth = (server.memory_info().rss - rss0) / 2**20
    await stalled.close()
    return growth


def float32_bytes_per_vertex(frames: np.ndarray) -> float:
    encoder = FieldEncoder(0, 0, encoding=Encoding.FLOAT32, lo=-85.0, hi=40.0, zstd_level=None, delta=False)
    sizes = [len(encoder.encode(f, step=i, time=float(i)).keyframe) for i, f in enumerate(frames)]
    return float(np.mean(sizes)) / frames.shape[1]


def first_coloured_frame(folder: Path, triangles: int) -> tuple[float, dict[str, Any]]:
    """Milliseconds from navigation start to the first drawn, field-coloured scene in headless Chromium."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from convert import surface_with_field, write_ply
    from fixtures.browser import CHROMIUM, CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    write_ply(folder / "big.ply", *surface_with_field(triangles))
    scene = folder / "big.yaml"
    scene.write_text("title: first frame\nobjects:\n  - name: big\n    source: big.ply\n    field: activation\n")
    cache = folder / "big-cache"
    proc, base = start_server(scene, cache)  # the first start converts and fills the cache
    proc.terminate()
    proc.wait(timeout=30)
    proc, base = start_server(scene, cache)  # a warm server, as a user meets it
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(base + "/")
            shown = float(page.evaluate("window.vizserver.ready.then(() => performance.now())"))
            state: dict[str, Any] = page.evaluate("window.vizserver.state()")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return shown, state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10k vertices, 1 and 10 clients, short windows")
    args = parser.parse_args()
    n_vertices = 10_000 if args.quick else 100_000
    client_counts = (1, 10) if args.quick else (1, 10, 50)
    seconds = 3.0 if args.quick else 10.0
    stall_seconds = 10.0 if args.quick else 60.0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        scene, n = write_scene(folder, n_vertices)
        proc, base = start_server(scene, folder / "cache")
        server = psutil.Process(proc.pid)
        try:
            fields = {"wave": travelling_front(grid_surface(n_vertices)[0], STEPS), "noise": uniform_noise(n, STEPS)}
            for name, frames in fields.items():
                baseline = float32_bytes_per_vertex(frames)
                for count in client_counts:
                    case = f"{count}_clients_{n // 1000}k_vertices_{name}"
                    result = asyncio.run(run_clients(base, count, name, seconds, server))
                    emit(case, "delivered_fps_p5", result["p5_fps"], "frames/s")
                    emit(case, "bytes_per_vertex_per_frame", result["bytes_per_vertex"], "B",
                         "float32_frames", baseline)
                    emit(case, "server_cpu", result["cpu_percent"], "%")
                    emit(case, "server_rss", result["rss_mb"], "MiB")
            growth = asyncio.run(stalled_client_growth(base, stall_seconds, server))
            emit(f"stalled_client_{int(stall_seconds)}s", "server_rss_growth", growth, "MiB")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        triangles = 200_000 if args.quick else 1_000_000
        shown, _ = first_coloured_frame(folder, triangles)
        emit(f"page_{triangles // 1000}k_triangles", "first_coloured_frame", shown, "ms")


if __name__ == "__main__":
    main()
