"""Presence relay under a full session: 64 WebSocket clients each sending their presence at 20 Hz.

A real ``vizserver serve`` subprocess on loopback; one asyncio process holds all 64 clients of one
session. Each client sends its presence every 50 ms (its own phase), with the send's sequence number
carried in the head's x coordinate (an integer, exact in float16), so a receiver knows which send an
entry is. Two cases: desktop clients (camera pose only, 12-byte bodies) and headset clients (head,
both hands and a pointer, 38-byte bodies). Prints one JSON line per figure:

- latency from a send to its receipt at the others, p50 and p95 (ms), against the 100 ms target, measured
  at 8 of the 64 receivers (every sender, every entry they receive; parsing all 64 would load the one
  client process enough to distort it); an update replaced by a newer one of the same sender before
  the relay tick (latest wins) is never delivered and has no latency: ``delivered`` says how many were;
- bytes per second per client, received (mean and max over the 64) against the 20 KB/s target, and sent;
  counted as WebSocket frames (payload plus frame header), not TCP/IP;
- the server process's CPU time over the measured seconds (% of one core), and the relay's ping/pong
  round trip p95 on the same sockets as the baseline of the transport alone.

Run: ``python benchmarks/presence.py [--clients 64] [--seconds 10] [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import struct
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import websockets
from report import emit
from stream import start_server

from vizserver.protocol.presence import Pose, Presence, encode_presence, split_batch

RATE_HZ = 20.0
WARMUP_S = 2.0
SAMPLED_RECEIVERS = 8
TARGET_P95_MS = 100.0
TARGET_BYTES_PER_S = 20_000.0
SCENE = """\
version: 1
title: Presence benchmark
objects:
  - name: block
    source: block.stl
"""
BLOCK_STL = """solid block
facet normal 0 0 1
outer loop
vertex 0 0 0
vertex 1 0 0
vertex 0 1 0
endloop
endfacet
endsolid block
"""


def ws_frame_bytes(payload: int, masked: bool) -> int:
    """A WebSocket frame's size on the wire for a payload of ``payload`` bytes (clients mask theirs)."""
    header = 2 if payload < 126 else 4 if payload < 65536 else 10
    return payload + header + (4 if masked else 0)


POSES_PER_CLIENT = 64
"""Distinct poses each client cycles through (encoded once, before the run, so the clients' process spends its
time on the sockets); the send's sequence number is written into each copy's head x."""
HEAD_X_OFFSET = 7
"""Byte offset of the head's x (float16) in a presence message: magic, kind, flags, size."""


def presence_at(seq: int, index: int, xr: bool) -> bytes:
    """Client ``index``'s ``seq``-th presence: walking around the model, its seq in the head's x."""
    angle = seq * 0.05 + index
    turn = (0.0, math.sin(angle / 2), 0.0, math.cos(angle / 2))
    head = Pose((float(seq % 2048), 1.6 + 0.1 * math.sin(angle), math.cos(angle)), turn)
    if not xr:
        return encode_presence(Presence(head, size=0.05))
    left = Pose((0.3 * math.cos(angle), 1.2, 0.3 * math.sin(angle)), (0.0, 0.0, math.sin(angle), math.cos(angle)))
    right = Pose((-0.3 * math.cos(angle), 1.2, 0.2), (math.sin(angle), 0.0, 0.0, math.cos(angle)))
    return encode_presence(
        Presence(head, size=0.2, xr=True, left=left, right=right, pointer=(0.0, 1.0, 0.5), pointer_hit=True,
                 pointer_from="right")
    )


@dataclass
class BenchClient:
    index: int
    ws: Any
    client_id: str
    sampled: bool
    slots: dict[int, int] = field(default_factory=dict)
    """slot -> sender index."""
    received: int = 0
    sent: int = 0
    sends: dict[int, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    pings: list[float] = field(default_factory=list)
    measuring: bool = False
    poses: list[bytearray] = field(default_factory=list)


class Run:
    def __init__(self, clients: list[BenchClient]) -> None:
        self.clients = clients
        self.by_id = {c.client_id: c.index for c in clients}

    async def read(self, client: BenchClient) -> None:
        async for message in client.ws:
            now = time.perf_counter()
            if client.measuring:
                client.received += ws_frame_bytes(len(message if isinstance(message, bytes) else message.encode()),
                                                  masked=False)
            if isinstance(message, str):
                msg = json.loads(message)
                if msg["type"] == "presence_peers":
                    for slot in msg["left"]:
                        client.slots.pop(slot, None)
                    client.slots |= {p["slot"]: self.by_id.get(p["client_id"], -1) for p in msg["peers"]}
                elif msg["type"] == "pong" and client.measuring:
                    client.pings.append(now * 1000.0 - msg["t"])
                continue
            if not client.sampled or not client.measuring:
                continue
            for slot, body in split_batch(message):
                sender = self.clients[client.slots[slot]]
                seq = int(np.frombuffer(body, dtype="<f2", count=1, offset=2)[0])
                sent_at = sender.sends.get(seq)
                if sent_at is not None:
                    client.latencies.append((now - sent_at) * 1000.0)

    async def send(self, client: BenchClient, start: float, stop: float, xr: bool) -> None:
        period = 1.0 / RATE_HZ
        phase = (client.index / len(self.clients)) * period
        seq = 0
        next_ping = start + 1.0
        while True:
            due = start + phase + seq * period
            if due > stop:
                return
            await asyncio.sleep(max(0.0, due - time.perf_counter()))  # the client's 20 Hz pace
            data = client.poses[seq % POSES_PER_CLIENT]
            struct.pack_into("<e", data, HEAD_X_OFFSET, float(seq % 2048))
            client.sends[seq % 2048] = time.perf_counter()
            await client.ws.send(data)
            if client.measuring:
                client.sent += ws_frame_bytes(len(data), masked=True)
            if client.sampled and due >= next_ping:
                next_ping += 1.0
                await client.ws.send(json.dumps({"type": "ping", "t": time.perf_counter() * 1000.0}))
            seq += 1


def join_urls(base: str, count: int) -> list[str]:
    created = _post(f"{base}/api/sessions", {})
    tokens = [created["host_token"]]
    while len(tokens) < count:
        try:
            tokens.append(_post(f"{base}/api/sessions/{created['session_id']}/join", {"name": f"bench{len(tokens)}"})[
                "token"])
        except urllib.error.HTTPError as error:
            if error.code != 429:
                raise
            time.sleep(0.5)  # the server's join rate limit: wait for its bucket to refill
    ws = base.replace("http", "ws", 1)
    return [f"{ws}/ws/{created['session_id']}?token={t}" for t in tokens]


def _post(url: str, payload: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(url, json.dumps(payload).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        result: dict[str, Any] = json.load(answer)
        return result


async def measure(base: str, count: int, seconds: float, xr: bool, server: psutil.Process) -> dict[str, Any]:
    urls = join_urls(base, count)
    clients: list[BenchClient] = []
    for i, url in enumerate(urls):
        ws = await websockets.connect(url, max_size=1 << 22, compression=None)
        await ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "bench-presence/1"}))
        while True:
            msg = json.loads(await ws.recv())
            if msg["type"] == "welcome":
                break
        poses = [bytearray(presence_at(k, i, xr)) for k in range(POSES_PER_CLIENT)]
        clients.append(BenchClient(i, ws, msg["client_id"], sampled=i < SAMPLED_RECEIVERS, poses=poses))
    run = Run(clients)
    readers = [asyncio.create_task(run.read(c)) for c in clients]
    start = time.perf_counter() + 0.2
    stop = start + WARMUP_S + seconds
    senders = [asyncio.create_task(run.send(c, start, stop, xr)) for c in clients]
    await asyncio.sleep(start + WARMUP_S - time.perf_counter())  # the warm-up's length, not synchronisation
    cpu_before = server.cpu_times()
    own_before = os.times()
    for c in clients:
        c.measuring = True
    measured_from = time.perf_counter()
    await asyncio.gather(*senders)
    measured = time.perf_counter() - measured_from
    cpu_after = server.cpu_times()
    own_after = os.times()
    for c in clients:
        c.measuring = False
    for r in readers:
        r.cancel()
    for c in clients:
        await c.ws.close()
    cpu = (cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system) / measured
    latencies = [x for c in clients for x in c.latencies]
    expected = SAMPLED_RECEIVERS * (count - 1) * RATE_HZ * seconds
    return {
        "latencies": latencies,
        "delivered": len(latencies) / expected if expected else 0.0,
        "received": [c.received / measured for c in clients],
        "sent": [c.sent / measured for c in clients],
        "cpu": cpu * 100.0,
        "client_cpu": (own_after.user + own_after.system - own_before.user - own_before.system) / measured * 100.0,
        "load": os.getloadavg()[0],
        "pings": [x for c in clients for x in c.pings],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="3 s per case")
    args = parser.parse_args()
    seconds = 3.0 if args.quick else args.seconds
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "block.stl").write_text(BLOCK_STL)
        scene = folder / "presence.yaml"
        scene.write_text(SCENE)
        proc, base = start_server(scene, folder / "cache")
        try:
            server = psutil.Process(proc.pid)
            for xr in (False, True):
                result = asyncio.run(measure(base, args.clients, seconds, xr, server))
                report(args.clients, seconds, xr, result)
        finally:
            proc.terminate()
            proc.wait(30)


def report(count: int, seconds: float, xr: bool, result: dict[str, Any]) -> None:
    body = len(presence_at(0, 0, xr)) - 5
    kind = "headset (head, hands, pointer)" if xr else "desktop (camera)"
    case = f"{count} {kind} clients at {RATE_HZ:g} Hz, {body}-byte presence, {seconds:g} s"
    latency = np.asarray(result["latencies"] or [math.nan])
    ping = float(np.percentile(result["pings"], 95)) if result["pings"] else math.nan
    emit(case, "latency send to receipt p50", float(np.percentile(latency, 50)), "ms")
    emit(case, "latency send to receipt p95", float(np.percentile(latency, 95)), "ms", "target", TARGET_P95_MS)
    emit(case, "ping/pong round trip p95 (transport alone)", ping, "ms")
    emit(case, "updates delivered (rest replaced by a newer one, latest wins)", result["delivered"], "fraction")
    received = np.asarray(result["received"])
    emit(case, "received per client (mean)", float(received.mean()), "B/s", "target", TARGET_BYTES_PER_S)
    emit(case, "received per client (max)", float(received.max()), "B/s", "target", TARGET_BYTES_PER_S)
    emit(case, "sent per client (mean)", float(np.mean(result["sent"])), "B/s", "target", TARGET_BYTES_PER_S)
    emit(case, "server CPU", result["cpu"], "% of one core")
    emit(case, "the 64 clients' process CPU", result["client_cpu"], "% of one core")
    emit(case, "machine load average (1 min) at the end", result["load"], "runnable processes", "cores",
         float(os.cpu_count() or 1))


if __name__ == "__main__":
    main()
