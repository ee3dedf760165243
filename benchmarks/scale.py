"""Scale-out through Redis: 200 WebSocket clients in 4 sessions spread over 1, 2 and 4 server processes.

For each process count P a real ``redis-server`` and P real ``vizserver serve --redis`` processes run
on loopback (tests/fixtures/cluster.py). Four sessions are created with ``POST /api/sessions``,
session s on process s % P (its owner); its 50 clients join with ``POST /api/sessions/{id}/join``
and connect round robin over the processes, so with P > 1 most clients reach their session through
another process (an edge) and everything they see crosses Redis. Every client sends its presence at
20 Hz (binary VZP1, a desktop camera pose) and subscribes to the one field of the scene, a
100k-vertex sheet whose time series the session's host plays at 30 frames/s. The clients are light
(they read only the 4-byte magic of each frame) and run in a few client processes beside the
servers, on the same machine.

Each send is stamped: the sender's wall clock in milliseconds, modulo 2^22, travels in the head's x
and y (float16 integers 0..2047, exact), so any receiver on this machine, in any client process,
computes its latency without a lookup. Receivers of the last 4 clients of each session decode their
presence batches; the others only count.

Prints one JSON line per figure, per process count: field frames delivered per client (p5 and median
over clients), in total, presence latency p50 / p95 (target <= 150 ms), CPU seconds of each server
process and of Redis (``INFO cpu``) over the measured window, how many clients connected. Then the
capacity ratios: total frames delivered per second with 2 (and 4) processes over 1 (target >= 1.7).
The offered load is fixed (clients x 30 frames/s), so the ratio shows capacity only where one process
is saturated (its total well below the offered load, printed beside it); the incompressible noise
field saturates one process sooner than the activation front.
The machine's core count is in every case name: on a 2-core machine the servers, Redis and the
client processes share the same two cores, so more processes cannot add CPU and the figures are
noisy. So each configuration also prints an estimate of what its processes would carry with a core each
(delivered frames/s divided by the busiest process's share of a core; each process is one event loop),
and the ratios of those estimates: how the work divides over processes, relaying through Redis included.

Run: ``python benchmarks/scale.py [--processes 1 2 4] [--clients 200] [--seconds 15] [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import http.client
import json
import math
import multiprocessing
import os
import struct
import sys
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import psutil
import redis
import websockets
from report import emit
from stream import write_scene

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fixtures.cluster import Cluster

from vizserver.protocol.presence import PRESENCE_MAGIC, Pose, Presence, encode_presence, split_batch

SESSIONS = 4
PRESENCE_HZ = 20.0
FIELD_HZ = 30.0
FIELDS = ("wave", "noise")
"""The scene's two fields (benchmarks/stream.py): an activation front sweeping the sheet (frames of a few hundred
bytes after delta coding and zstd) and uniform noise (incompressible, about a byte per vertex)."""
WARMUP_S = 3.0
SAMPLED_PER_SESSION = 4
"""Receivers per session that decode presence batches for latency (decoding all would load the client processes)."""
TARGET_P95_MS = 150.0
TARGET_CAPACITY_RATIO = 1.7
STAMP_MODULO = 1 << 22
"""Send stamps are wall-clock milliseconds modulo this (70 minutes): 11 bits in the head's x, 11 in its y."""
HEAD_X_OFFSET = 7
"""Byte offset of the head's x (float16) in a presence message: magic, kind, flags, size; y follows."""
BODY_X_OFFSET = 2
"""The head's x in a batch entry's body: flags, size."""
FRAME_MAGIC = b"VZF1"
CONNECT_TIMEOUT_S = 60.0
RESULT_TIMEOUT_S = 120.0
JOIN_RETRY_S = 0.3
RECONNECT_CODES = (1012, 1013)
"""Close codes after which a client reconnects and resumes (the session moved; its server did not answer)."""
RECONNECT_BACKOFF_S = 0.5


@dataclass(frozen=True, slots=True)
class ClientSpec:
    index: int
    session: int
    url: str
    host: bool
    sampled: bool
    on_owner: bool
    """Connected to the process that owns its session (else to an edge, through Redis)."""


@dataclass
class ClientTally:
    frames: int = 0
    frame_bytes: int = 0
    latencies: list[float] = field(default_factory=list)
    presence_sent: int = 0
    errors: list[str] = field(default_factory=list)
    resumed: int = 0


# --- sessions over HTTP (from several loopback source addresses: the join limit is per address) ---


def post(base: str, path: str, payload: dict[str, Any], source: str) -> tuple[int, dict[str, Any]]:
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30,
                                            source_address=(source, 0))
    try:
        connection.request("POST", path, json.dumps(payload), {"Content-Type": "application/json"})
        answer = connection.getresponse()
        body = answer.read()
        return answer.status, json.loads(body) if body else {}
    finally:
        connection.close()


def plan_clients(urls: list[str], clients: int) -> list[ClientSpec]:
    """Create the sessions (session s on process s % P) and join every client through the process it will use."""
    per_session = clients // SESSIONS
    specs: list[ClientSpec] = []
    for s in range(SESSIONS):
        source = f"127.0.0.{2 + s}"
        owner = urls[s % len(urls)]
        status, created = post(owner, "/api/sessions", {}, source)
        if status != 201:
            raise RuntimeError(f"POST /api/sessions on {owner}: {status} {created}")
        sid = created["session_id"]
        for k in range(per_session):
            base = urls[(s + k) % len(urls)]
            token = created["host_token"] if k == 0 else join(base, sid, f"s{s}c{k}", source)
            ws = base.replace("http://", "ws://", 1)
            specs.append(ClientSpec(len(specs), s, f"{ws}/ws/{sid}?token={token}", host=k == 0,
                                    sampled=k >= per_session - SAMPLED_PER_SESSION, on_owner=base == owner))
    return specs


def join(base: str, sid: str, name: str, source: str) -> str:
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while True:
        status, answer = post(base, f"/api/sessions/{sid}/join", {"name": name}, source)
        if status == 200:
            return str(answer["token"])
        if status != 429 or time.monotonic() > deadline:
            raise RuntimeError(f"join {sid} on {base}: {status} {answer.get('detail', answer)}")
        time.sleep(JOIN_RETRY_S)  # the server's join rate limit: wait for its bucket to refill


# --- the client processes ---


def stamp_now() -> int:
    return int(time.time() * 1000.0) % STAMP_MODULO


def latency_ms(stamp: int) -> float:
    return float((stamp_now() - stamp) % STAMP_MODULO)


class BenchClient:
    def __init__(self, spec: ClientSpec, field_name: str, link: Link) -> None:
        self.spec = spec
        self.field_name = field_name
        self.ws = link.ws
        self.client_id = link.client_id
        self.fps = link.fps
        self.tally = ClientTally()
        self.pose = bytearray(encode_presence(Presence(Pose((0.0, 0.0, 1.0), (0.0, 0.0, 0.0, 1.0)), size=0.05)))
        self.window = (math.inf, math.inf)

    def measuring(self) -> bool:
        return self.window[0] <= time.time() < self.window[1]

    async def read(self) -> None:
        """Count frames and presence latencies; after a 1012 or 1013 close, reconnect and resume as the web client
        does (to the same process: it serves the session as owner or edge)."""
        while True:
            try:
                async for message in self.ws:
                    if isinstance(message, str) or not self.measuring():
                        continue
                    magic = message[:4]
                    if magic == FRAME_MAGIC:
                        self.tally.frames += 1
                        self.tally.frame_bytes += len(message)
                    elif magic == PRESENCE_MAGIC and self.spec.sampled:
                        for _slot, body in split_batch(message):
                            x, y = struct.unpack_from("<ee", body, BODY_X_OFFSET)
                            self.tally.latencies.append(latency_ms(int(x) + (int(y) << 11)))
                return
            except websockets.ConnectionClosed as closed:
                rcvd = closed.rcvd
                self.tally.errors.append(f"{rcvd.code} {rcvd.reason[:60]}" if rcvd else "no close frame")
                if rcvd is None or rcvd.code not in RECONNECT_CODES or not await self.resume():
                    return

    async def resume(self) -> bool:
        while time.time() < self.window[1]:
            await asyncio.sleep(RECONNECT_BACKOFF_S)  # the client's back-off before it tries again
            try:
                link = await handshake(self.spec.url, self.field_name, self.client_id)
            except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.ConnectionClosed):
                continue
            self.ws, self.client_id = link.ws, link.client_id
            self.tally.resumed += 1
            return True
        return False

    async def send_presence(self, start: float, stop: float, clients: int) -> None:
        period = 1.0 / PRESENCE_HZ
        due = start + (self.spec.index / clients) * period
        while due < stop:
            await asyncio.sleep(max(0.0, due - time.time()))  # the client's 20 Hz pace
            stamp = stamp_now()
            struct.pack_into("<ee", self.pose, HEAD_X_OFFSET, float(stamp & 2047), float(stamp >> 11))
            with contextlib.suppress(websockets.ConnectionClosed):  # reconnecting (read() resumes it) or gone
                await self.ws.send(bytes(self.pose))
            if self.measuring():
                self.tally.presence_sent += 1
            due += period


@dataclass(frozen=True, slots=True)
class Link:
    ws: Any
    client_id: str
    fps: float


async def handshake(url: str, field_name: str, resume: str | None = None) -> Link:
    """Connect, say hello (resuming ``resume``), read up to the scene and playback, subscribe to the field."""
    ws = await websockets.connect(url, max_size=1 << 26, max_queue=4, compression=None,
                                  open_timeout=CONNECT_TIMEOUT_S)
    hello: dict[str, Any] = {"type": "hello", "protocol": 1, "client": "bench-scale/1"}
    if resume is not None:
        hello["resume"] = {"client_id": resume}
    await ws.send(json.dumps(hello))
    seen: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while not {"welcome", "scene", "playback"} <= seen.keys():
        message = await asyncio.wait_for(ws.recv(), max(0.001, deadline - time.monotonic()))
        if isinstance(message, str):
            decoded = json.loads(message)
            seen[decoded["type"]] = decoded
    sheet = seen["scene"]["objects"][0]
    field_id = next((f["id"] for f in sheet.get("fields", []) if f["name"] == field_name), None)
    if field_id is not None:
        await ws.send(json.dumps({"type": "subscribe", "object": sheet["id"], "field": field_id}))
    return Link(ws, str(seen["welcome"]["client_id"]), float(seen["playback"].get("fps") or FIELD_HZ))


async def open_client(spec: ClientSpec, field_name: str) -> BenchClient:
    return BenchClient(spec, field_name, await handshake(spec.url, field_name))


async def client_process(specs: list[ClientSpec], total: int, field_name: str, pipe: Connection) -> None:
    opened = await asyncio.gather(*(open_client(s, field_name) for s in specs), return_exceptions=True)
    clients = [c for c in opened if isinstance(c, BenchClient)]
    failures = [f"{type(e).__name__}: {e}" for e in opened if isinstance(e, BaseException)]
    readers = [asyncio.create_task(c.read()) for c in clients]
    pipe.send(("ready", len(clients), failures[:5]))
    start, warmup, seconds = await asyncio.to_thread(pipe.recv)
    stop = start + warmup + seconds
    for c in clients:
        c.window = (start + warmup, stop)
    await asyncio.sleep(max(0.0, start - time.time()))  # the common start the parent chose
    for c in clients:
        if c.spec.host:  # a host closed by then (1012: its session moved) leaves its session still
            with contextlib.suppress(websockets.ConnectionClosed):
                await c.ws.send(json.dumps({"type": "playback", "playing": True, "loop": True,
                                            "speed": min(16.0, FIELD_HZ / c.fps)}))
    await asyncio.gather(*(c.send_presence(start, stop, total) for c in clients))
    await asyncio.sleep(max(0.0, stop - time.time()))
    for r in readers:
        r.cancel()
    await asyncio.gather(*(c.ws.close() for c in clients), return_exceptions=True)
    pipe.send(("done", [(c.spec.on_owner, c.tally.frames, c.tally.frame_bytes, c.tally.latencies,
                         c.tally.presence_sent, c.tally.errors, c.tally.resumed) for c in clients]))


def client_process_main(specs: list[ClientSpec], total: int, field_name: str, pipe: Connection) -> None:
    asyncio.run(client_process(specs, total, field_name, pipe))


# --- one configuration ---


def redis_cpu_s(url: str) -> float:
    info = redis.Redis.from_url(url).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def cpu_s(process: psutil.Process) -> float:
    """CPU seconds so far; NaN for a process that has died (a server that crashed under the load)."""
    try:
        times = process.cpu_times()
    except psutil.NoSuchProcess:
        return math.nan
    return float(times.user + times.system)


def measure(cluster: Cluster, clients: int, seconds: float, client_processes: int, field_name: str) -> dict[str, Any]:
    specs = plan_clients(cluster.urls, clients)
    context = multiprocessing.get_context("spawn")
    pipes: list[Connection] = []
    workers = []
    for w in range(client_processes):
        parent, child = context.Pipe()
        share = specs[w::client_processes]
        worker = context.Process(target=client_process_main, args=(share, len(specs), field_name, child), daemon=True)
        worker.start()
        pipes.append(parent)
        workers.append(worker)
    try:
        connected, failures = 0, []
        for pipe in pipes:
            if not pipe.poll(CONNECT_TIMEOUT_S * 2):
                raise RuntimeError("a client process did not connect its clients in time")
            _, count, failed = receive(pipe)
            connected += count
            failures += failed
        start = time.time() + 0.5
        for pipe in pipes:
            pipe.send((start, WARMUP_S, seconds))
        servers = [psutil.Process(s.pid) for s in cluster.servers]
        time.sleep(max(0.0, start + WARMUP_S - time.time()))  # the warm-up's length, not synchronisation
        own = [psutil.Process(w.pid) for w in workers if w.pid is not None]
        cpu0 = [cpu_s(p) for p in servers]
        own0 = sum(cpu_s(p) for p in own)
        redis0 = redis_cpu_s(cluster.redis.url)
        time.sleep(seconds)  # the measured window's length
        cpu = [cpu_s(p) - c for p, c in zip(servers, cpu0, strict=True)]
        redis_cpu = redis_cpu_s(cluster.redis.url) - redis0
        client_cpu = sum(cpu_s(p) for p in own) - own0
        load = os.getloadavg()[0]
        rows: list[Any] = []
        for pipe in pipes:
            if not pipe.poll(RESULT_TIMEOUT_S):
                raise RuntimeError("a client process did not report in time")
            rows += receive(pipe)[1]
    finally:
        for worker in workers:
            worker.join(10)
            if worker.is_alive():
                worker.kill()
    return {"rows": rows, "cpu": cpu, "redis_cpu": redis_cpu, "client_cpu": client_cpu, "connected": connected,
            "failures": failures, "load": load, "planned": len(specs)}


def receive(pipe: Connection) -> Any:
    try:
        return pipe.recv()
    except EOFError:
        raise RuntimeError("a client process died (its traceback is on stderr)") from None


def report(processes: int, clients: int, seconds: float, vertices: int, field_name: str, result: dict[str, Any]
           ) -> tuple[float, float]:
    """Print the figures of one configuration; returns the total frames delivered per second and the estimate of
    what the processes would carry with a core each (see :func:`core_capacity`)."""
    cores = os.cpu_count() or 1
    case = (f"{processes} server process(es) + Redis, {clients} clients in {SESSIONS} sessions, presence "
            f"{PRESENCE_HZ:g} Hz, one {vertices}-vertex field ({field_name}) at {FIELD_HZ:g} Hz per session, "
            f"{seconds:g} s, "
            f"loopback, {cores}-core machine shared with the clients (noisy)")
    rows = result["rows"]
    rates = np.asarray([r[1] / seconds for r in rows] + [0.0] * (result["planned"] - len(rows)))
    frames = sum(r[1] for r in rows)
    latencies = np.asarray([x for r in rows for x in r[3]] or [math.nan])
    closed = sum(1 for r in rows if r[5])
    emit(case, "clients connected and welcomed", result["connected"], "clients", "planned", result["planned"])
    if result["failures"]:
        print(json.dumps({"case": case, "metric": "connect failures (first few)", "value": result["failures"]}))
    emit(case, "clients closed by the server during the run", closed, "clients")
    emit(case, "reconnects that resumed (after 1012 / 1013)", sum(r[6] for r in rows), "reconnects")
    if closed:
        reasons = collections.Counter(e for r in rows for e in r[5])
        print(json.dumps({"case": case, "metric": "how the server closed them", "value": dict(reasons)}), flush=True)
    emit(case, "field frames delivered per client p5", float(np.percentile(rates, 5)), "frames/s", "target",
         FIELD_HZ)
    emit(case, "field frames delivered per client median", float(np.median(rates)), "frames/s")
    for on_owner, where in ((True, "on the session's owner process"), (False, "on an edge process (via Redis)")):
        some = [r[1] / seconds for r in rows if r[0] is on_owner]
        if some and processes > 1:
            emit(case, f"field frames delivered per client p5, clients {where}", float(np.percentile(some, 5)),
                 "frames/s", "target", FIELD_HZ)
            emit(case, f"field frames delivered per client median, clients {where}", float(np.median(some)),
                 "frames/s")
    emit(case, "field frames delivered in total", frames / seconds, "frames/s", "offered", clients * FIELD_HZ)
    emit(case, "field frame size mean", sum(r[2] for r in rows) / frames if frames else math.nan, "bytes")
    emit(case, "presence latency send to receipt p50", float(np.percentile(latencies, 50)), "ms")
    emit(case, "presence latency send to receipt p95", float(np.percentile(latencies, 95)), "ms", "target",
         TARGET_P95_MS)
    emit(case, "presence entries received at sampled receivers", float(np.sum(np.isfinite(latencies))), "entries")
    for i, cpu in enumerate(result["cpu"]):
        emit(case, f"server process {i} CPU over the window", cpu, "CPU s", "window", seconds)
    emit(case, "Redis CPU over the window (INFO cpu)", result["redis_cpu"], "CPU s", "window", seconds)
    emit(case, "the client processes' CPU over the window", result["client_cpu"], "CPU s", "window", seconds)
    emit(case, "machine load average (1 min) at the end", result["load"], "runnable processes", "cores", cores)
    capacity = core_capacity(frames / seconds, result["cpu"], seconds)
    emit(case, "estimated capacity with a core per server process", capacity, "frames/s")
    return frames / seconds, capacity


def core_capacity(delivered_per_s: float, cpu_s: list[float], seconds: float) -> float:
    """Frames/s the processes would deliver if each had a core of its own: what they delivered, scaled by how
    busy the busiest one was (each process is one event loop, so a core is its ceiling). An estimate for
    machines with fewer cores than processes plus clients, where delivered totals cannot show capacity."""
    busiest = max(cpu_s, default=0.0) / seconds
    return delivered_per_s / busiest if busiest > 0 else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--vertices", type=int, default=100_000)
    parser.add_argument("--client-processes", type=int, default=2, help="processes the clients are spread over")
    parser.add_argument("--fields", nargs="+", choices=FIELDS, default=list(FIELDS))
    parser.add_argument("--quick", action="store_true", help="5 s per configuration")
    args = parser.parse_args()
    seconds = 5.0 if args.quick else args.seconds
    totals: dict[tuple[str, int], tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "scene").mkdir()
        scene, vertices = write_scene(root / "scene", args.vertices)
        for field_name in args.fields:
            for processes in args.processes:
                try:  # a fresh cluster for each: no sessions or connections left from the last measurement
                    with Cluster(root / f"{field_name}{processes}", scene, processes,
                                 shared_cache=root / "cache") as cluster:
                        result = measure(cluster, args.clients, seconds, args.client_processes, field_name)
                    totals[field_name, processes] = report(processes, args.clients, seconds, vertices, field_name,
                                                           result)
                except (RuntimeError, OSError) as exc:
                    case = f"{processes} server process(es), {args.clients} clients, field {field_name}"
                    print(json.dumps({"case": case, "metric": "error", "value": None, "error": str(exc)[:800]}),
                          flush=True)
    for (field_name, processes), (total, capacity) in totals.items():
        one = totals.get((field_name, 1))
        if processes != 1 and one:
            case = (f"{processes} vs 1 server process(es), {args.clients} clients, field {field_name}, "
                    f"{os.cpu_count()}-core machine")
            emit(case, f"capacity: field frames delivered per second in total (target ratio >= "
                 f"{TARGET_CAPACITY_RATIO:g})", total, "frames/s", "1 server process", one[0])
            emit(case, f"capacity estimated with a core per server process (target ratio >= "
                 f"{TARGET_CAPACITY_RATIO:g})", capacity, "frames/s", "1 server process", one[1])


if __name__ == "__main__":
    main()
