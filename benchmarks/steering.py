"""Steering latency of a live cardiac twin: a parameter change in, the first frame computed with it out.

A real ``vizserver serve`` subprocess runs a scene whose left ventricle is drawn as a ~100k-vertex
surface and driven by the cardiac twin (its own tetrahedral simulation mesh, interpolated onto the
surface). One WebSocket client on loopback sends ``CHANGES`` parameter changes (``d_par``
alternating, 10 a second, under the rate limit) and times each from sending to receiving the first
binary frame of the twin object whose step (the twin frame number) is at least the frame
``twin_applied`` named. Prints one JSON line per figure:

- steering latency p50 / p95 (ms), against the issue's target "p95 <= 50 ms plus one twin step";
- the twin's own compute time per frame (ms), reported apart (``step_ms`` of the ``twin`` messages);
- simulated-to-wall-time ratio (1.0 = real time; the issue asks >= 1 at 100k vertices);
- the baseline measured in the same run: ``ping``/``pong`` round trips on the same socket (what
  the transport alone costs), as a ratio.

Run: ``python benchmarks/steering.py [--changes N] [--vertices N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import websockets
from report import emit
from stream import default_session, start_server

from vizserver.protocol.frames import FrameHeader

CHANGES = 200
CHANGES_PER_S = 10.0
SCENE = """\
version: 1
title: Steering benchmark
objects:
  - name: ventricle
    generator: {{name: lv_surface, parameters: {{resolution: {surface_resolution}}}}}
twin:
  kind: cardiac
  object: ventricle
  options: {{sim_resolution: {sim_resolution}}}
"""


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


class TwinClient:
    """Reads everything the server sends; resolves latencies as frames arrive."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.object: int | None = None
        self.running = asyncio.Event()
        self.sent: dict[int, float] = {}
        self.applied: dict[int, int] = {}
        self.latency_ms: dict[int, float] = {}
        self.pongs: dict[float, float] = {}
        self.status: dict[str, Any] = {}
        self.step_ms: list[float] = []
        self.realtime: list[float] = []
        self.newest_frame = 0
        self.vertices: dict[int, int] = {}

    async def read(self) -> None:
        async for message in self.ws:
            now = time.perf_counter()
            if isinstance(message, bytes):
                header = FrameHeader.decode(message)
                if header.object == self.object:
                    self.newest_frame = max(self.newest_frame, header.step)
                    for seq, frame in list(self.applied.items()):
                        if header.step >= frame:
                            self.latency_ms[seq] = (now - self.sent[seq]) * 1000.0
                            del self.applied[seq]
                continue
            msg = json.loads(message)
            kind = msg["type"]
            if kind == "scene":
                self.vertices = {o["id"]: o["vertices"] for o in msg["objects"]}
            elif kind == "twin":
                self.status = msg
                self.object = msg["object"]
                if msg["state"] == "running" and msg["parameters"]:
                    self.running.set()
                    if msg["step_ms"] > 0:
                        self.step_ms.append(msg["step_ms"])
                        self.realtime.append(msg["realtime"])
            elif kind == "twin_applied":
                if msg["frame"] <= self.newest_frame:
                    self.latency_ms[msg["seq"]] = (now - self.sent[msg["seq"]]) * 1000.0
                else:
                    self.applied[msg["seq"]] = msg["frame"]
            elif kind == "pong":
                self.pongs[msg["t"]] = (now * 1000.0) - msg["t"]
            elif kind == "error":
                raise SystemExit(f"server refused a change: {msg}")


async def measure(base: str, changes: int) -> dict[str, Any]:
    session = default_session(base)
    async with websockets.connect(base.replace("http", "ws") + session["websocket"], max_size=1 << 26) as ws:
        await ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "bench-steering/1"}))
        client = TwinClient(ws)
        reading = asyncio.create_task(client.read())
        await asyncio.wait_for(client.running.wait(), 600)
        for i in range(changes):
            seq = i + 1
            client.sent[seq] = time.perf_counter()
            await ws.send(json.dumps({"type": "twin_params", "seq": seq, "values": {"d_par": 1.0 + 0.5 * (i % 2)}}))
            await asyncio.sleep(1.0 / CHANGES_PER_S)  # the client's pace of changes, not synchronisation
            await ws.send(json.dumps({"type": "ping", "t": time.perf_counter() * 1000.0}))
        deadline = time.monotonic() + 10.0
        while len(client.latency_ms) < changes and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # waiting for the last frames to arrive, bounded
        reading.cancel()
        return {
            "latency": list(client.latency_ms.values()),
            "lost": changes - len(client.latency_ms),
            "pong": list(client.pongs.values()),
            "step_ms": client.step_ms,
            "realtime": client.realtime,
            "status": client.status,
            "vertices": client.vertices.get(client.object or 0, 0),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=CHANGES)
    parser.add_argument("--surface-resolution", type=int, default=310, help="310: ~100k vertices")
    parser.add_argument("--sim-resolution", type=int, default=None, help="simulation mesh resolution (default: twin's)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        scene_text = SCENE.format(surface_resolution=args.surface_resolution, sim_resolution=args.sim_resolution)
        if args.sim_resolution is None:
            scene_text = scene_text.replace("  options: {sim_resolution: None}\n", "")
        scene = folder / "steering.yaml"
        scene.write_text(scene_text)
        proc, base = start_server(scene, folder / "cache")
        try:
            result = asyncio.run(measure(base, args.changes))
        finally:
            proc.terminate()
            proc.wait(30)
    obj = f"{result['vertices']} streamed vertices"
    latency, pong = result["latency"], result["pong"]
    step = statistics.median(result["step_ms"]) if result["step_ms"] else float("nan")
    transport = statistics.median(pong) if pong else float("nan")
    case = f"cardiac twin, {obj}, {args.changes} changes"
    emit(case, "steering latency p50", percentile(latency, 50), "ms", "ping/pong round trip p50", transport)
    emit(case, "steering latency p95", percentile(latency, 95), "ms", "target 50 ms + one twin step", 50.0 + step)
    emit(case, "changes without a measured frame", float(result["lost"]), "count")
    emit(case, "twin compute per frame (median)", step, "ms")
    emit(case, "simulated / wall time (median)", statistics.median(result["realtime"] or [float("nan")]), "x real time",
         "target real time", 1.0)


if __name__ == "__main__":
    main()
