"""WebRTC: the server-rendered video view and the data channels, against the WebSocket in the same run.

A real ``vizserver serve`` subprocess (host candidates on 127.0.0.1) serves the stream benchmark's
scene: a curved sheet of ``--vertices`` points (102,400 points: 203,522 triangles, just over the 200k past
which the scene build makes coarser levels of detail, as it does for any larger surface) with a travelling
activation front as its time series. Python aiortc clients on loopback:

- a **video peer** (``POST /api/rtc/offer`` with ``video: true``, a recvonly video transceiver) asks for
  1280x720 at 30 fps and decodes every frame. While its camera orbits (a ``view_camera`` every 33 ms on
  ``control``): decoded frames/s, frames/s that differ from the one before (fresh renders), and the size
  the adaptive view settled at. Then, playback paused, the camera jumps between two views ``--changes``
  times: time from sending ``view_camera`` to the first decoded frame showing the new view (p50, p95);
- a **data channel peer** and a **WebSocket client** in the same session: field frames/s while the series
  plays, and the field frame round trip, ``keyframe`` request sent to that frame received (p50, p95);
- the baseline for the video figures, in this process: the same scene rendered by ``SceneRenderer``
  alone at 1280x720 (render-only frames/s, no encode, no network), at full detail (a still camera) and at
  interactive detail (what the view draws while the camera orbits: ``video_orbit interactive_triangles``,
  the triangles the same renderer draws then, against the full scene's).

The Python client's video receive path adds about one frame interval to camera-to-frame: aiortc's jitter
buffer hands a frame to the decoder only when the first packet of the next frame arrives (a browser does not).

Targets (issue 8): >= 30 frames/s at 720p; camera-to-frame p95 <= 150 ms on loopback. The machine's
GL is Mesa's software rasteriser and VP8 is encoded in software, on cores shared with the clients:
figures are noisy and say what this machine does, not what a GPU server does.

Run: ``python benchmarks/webrtc.py [--quick] [--vertices N] [--seconds S] [--changes N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import av
import numpy as np
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from report import emit
from stream import default_session, start_server, write_scene

from vizserver.protocol.fragments import Reassembler, is_fragment
from vizserver.protocol.frames import FrameHeader
from vizserver.transports.rtc_config import use_host_addresses

WIDTH, HEIGHT, FPS = 1280, 720, 30.0
CAMERA_PERIOD_S = 1 / 30
CHANGE_DIFF = 6.0
"""Mean absolute difference (0-255) that counts a decoded frame as showing the new camera."""
WAIT_S = 30.0
DISTINCT_LEVELS = 24
DISTINCT_FRACTION = 0.002
"""A decoded frame is a fresh render when this fraction of its pixels moved by more than DISTINCT_LEVELS (0-255)
from the frame before: re-encoding the same picture moves fewer, by less."""
ORBIT_TURN_S = 2.0
"""One turn of the orbiting camera: 6 degrees between two camera messages, so every fresh render differs."""


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else math.nan


def post_json(url: str, payload: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(url, json.dumps(payload).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


class RtcClient:
    """An aiortc peer of the server: ``control`` and ``fields`` data channels, optionally receiving video."""

    def __init__(self, video: bool) -> None:
        self.pc = RTCPeerConnection()
        self.control = self.pc.createDataChannel("control", ordered=True)
        self.fields = self.pc.createDataChannel("fields", ordered=False, maxRetransmits=0)
        self.video = video
        self.texts: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.frames: asyncio.Queue[tuple[float, FrameHeader]] = asyncio.Queue()
        self.frame_count = 0
        self.pictures = 0
        self.distinct = 0
        self.picture: np.ndarray | None = None
        self.picture_at = 0.0
        self.picture_event = asyncio.Event()
        self._pieces = {label: Reassembler(1 << 27) for label in ("control", "fields")}
        self._readers: list[asyncio.Task[None]] = []
        for channel in (self.control, self.fields):
            channel.on("message", self._on_message(channel.label))
        if video:
            self.pc.addTransceiver("video", direction="recvonly")
            self.pc.on("track", self._on_track)

    def _on_message(self, label: str) -> Any:
        def handle(data: str | bytes) -> None:
            if isinstance(data, bytes) and is_fragment(data):
                whole = self._pieces[label].add(data)
                if whole is None:
                    return
                data = whole
            if isinstance(data, str):
                self.texts.put_nowait(json.loads(data))
            elif data[:4] == b"VZF1":
                self.frame_count += 1
                self.frames.put_nowait((time.perf_counter(), FrameHeader.decode(data)))
                while self.frames.qsize() > 64:
                    self.frames.get_nowait()

        return handle

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._readers.append(asyncio.ensure_future(self._read_video(track)))

    async def _read_video(self, track: MediaStreamTrack) -> None:
        while True:
            frame = await track.recv()
            assert isinstance(frame, av.VideoFrame)
            picture = frame.to_ndarray(format="rgb24")
            now = time.perf_counter()
            self.pictures += 1
            previous = self.picture
            if previous is None or previous.shape != picture.shape or (
                np.abs(picture[::4, ::4].astype(np.int16) - previous[::4, ::4]).max(axis=-1) > DISTINCT_LEVELS
            ).mean() > DISTINCT_FRACTION:
                self.distinct += 1
            self.picture, self.picture_at = picture, now
            self.picture_event.set()

    async def connect(self, base: str, session: dict[str, Any]) -> dict[str, Any]:
        opened = asyncio.Event()
        self.control.on("open", opened.set)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        body = {"session_id": session["session_id"], "token": session["token"], "type": "offer",
                "sdp": self.pc.localDescription.sdp, "video": self.video}
        status, answer = await asyncio.to_thread(post_json, f"{base}/api/rtc/offer", body)
        if status != 200:
            raise RuntimeError(f"offer answered {status}: {answer}")
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        await asyncio.wait_for(opened.wait(), WAIT_S)
        self.send({"type": "hello", "protocol": 1, "client": "bench-webrtc/1"})
        state: dict[str, Any] = {}
        while "scene" not in state:
            message = await asyncio.wait_for(self.texts.get(), WAIT_S)
            state[message["type"]] = message
        return state

    def send(self, message: dict[str, Any]) -> None:
        self.control.send(json.dumps(message))

    async def next_picture(self, after: float) -> tuple[float, np.ndarray]:
        deadline = time.perf_counter() + WAIT_S
        while self.picture is None or self.picture_at <= after:
            self.picture_event.clear()
            await asyncio.wait_for(self.picture_event.wait(), max(0.01, deadline - time.perf_counter()))
        return self.picture_at, self.picture

    async def close(self) -> None:
        for task in self._readers:
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        await self.pc.close()


class WsClient:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.frames: asyncio.Queue[tuple[float, FrameHeader]] = asyncio.Queue()
        self.frame_count = 0
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if isinstance(message, bytes) and message[:4] == b"VZF1":
                self.frame_count += 1
                self.frames.put_nowait((time.perf_counter(), FrameHeader.decode(message)))
                while self.frames.qsize() > 64:
                    self.frames.get_nowait()

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))


def orbit_camera(centre: np.ndarray, radius: float, angle: float) -> dict[str, Any]:
    eye = centre + radius * np.array([math.cos(angle), math.sin(angle), 0.6])
    return {"type": "view_camera", "position": eye.tolist(), "target": centre.tolist(), "up": [0, 0, 1], "fov": 40}


async def frame_round_trips(send: Any, frames: asyncio.Queue[tuple[float, FrameHeader]], key: tuple[int, int],
                            count: int) -> list[float]:
    """``keyframe`` request to the next frame of ``key``, ``count`` times (ms)."""
    times = []
    for _ in range(count):
        await asyncio.sleep(0.05)  # a duplicate of the last answer, if any, arrives before the next request
        while not frames.empty():
            frames.get_nowait()
        start = time.perf_counter()
        await send({"type": "keyframe", "object": key[0], "field": key[1]})
        deadline = start + WAIT_S
        while True:
            at, header = await asyncio.wait_for(frames.get(), max(0.01, deadline - time.perf_counter()))
            if header.key == key and not header.delta:
                times.append((at - start) * 1000.0)
                break
    return times


async def run(base: str, args: argparse.Namespace, bounds: np.ndarray) -> None:
    session = default_session(base)
    centre = (bounds[0] + bounds[1]) / 2.0
    radius = float(np.linalg.norm(bounds[1] - bounds[0])) * 1.2

    # --- video peer ---
    video = RtcClient(video=True)
    await video.connect(base, session)
    try:
        video.send({"type": "playback", "playing": False})
        await video.next_picture(0.0)
        start, pictures, distinct = time.perf_counter(), video.pictures, video.distinct
        angle = 0.0
        while time.perf_counter() - start < args.seconds:
            angle += 2 * math.pi * CAMERA_PERIOD_S / ORBIT_TURN_S
            video.send(orbit_camera(centre, radius, angle))
            await asyncio.sleep(CAMERA_PERIOD_S)
        elapsed = time.perf_counter() - start
        assert video.picture is not None
        height, width = video.picture.shape[:2]
        emit("video_orbit", "frames_per_s_delivered", (video.pictures - pictures) / elapsed, "frames/s",
             "target", FPS)
        emit("video_orbit", "distinct_frames_per_s", (video.distinct - distinct) / elapsed, "frames/s", "target", FPS)
        emit("video_orbit", "delivered_height", float(height), "px", "requested", float(HEIGHT))
        emit("video_orbit", "delivered_width", float(width), "px", "requested", float(WIDTH))

        views = [orbit_camera(centre, radius, 0.0), orbit_camera(centre, radius * 0.5, math.pi * 0.75)]
        video.send(views[0])
        at, _ = await video.next_picture(time.perf_counter() + 0.5)  # the view has settled
        latencies = []
        for i in range(args.changes):
            _, before = await video.next_picture(at)
            sent = time.perf_counter()
            video.send(views[(i + 1) % 2])
            while True:
                at, picture = await video.next_picture(max(at, sent))
                if picture.shape != before.shape or np.abs(picture.astype(np.int16) - before).mean() > CHANGE_DIFF:
                    latencies.append((at - sent) * 1000.0)
                    break
            await asyncio.sleep(0.2)  # let the adaptive level settle between jumps
        emit("camera_to_frame", "p50", percentile(latencies, 50), "ms")
        emit("camera_to_frame", "p95", percentile(latencies, 95), "ms", "target", 150.0)
    finally:
        await video.close()

    # --- data channel and WebSocket, same session, same stream ---
    data = RtcClient(video=False)
    state = await data.connect(base, session)
    ws = WsClient(await websockets.connect(base.replace("http", "ws") + session["websocket"], max_size=1 << 27))
    try:
        await ws.send({"type": "hello", "protocol": 1, "client": "bench-webrtc-ws/1"})
        sheet = state["scene"]["objects"][0]
        key = (int(sheet["id"]), int(sheet["active_field"]))
        await asyncio.wait_for(data.frames.get(), WAIT_S)
        await asyncio.wait_for(ws.frames.get(), WAIT_S)

        async def send_rtc(message: dict[str, Any]) -> None:
            data.send(message)

        rtc_rtt = await frame_round_trips(send_rtc, data.frames, key, args.changes)
        ws_rtt = await frame_round_trips(ws.send, ws.frames, key, args.changes)
        emit("field_round_trip_datachannel", "p50", percentile(rtc_rtt, 50), "ms", "websocket",
             percentile(ws_rtt, 50))
        emit("field_round_trip_datachannel", "p95", percentile(rtc_rtt, 95), "ms", "websocket",
             percentile(ws_rtt, 95))

        data.send({"type": "playback", "playing": True, "loop": True, "speed": 4.0})
        await asyncio.wait_for(data.frames.get(), WAIT_S)
        counts = data.frame_count, ws.frame_count
        start = time.perf_counter()
        await asyncio.sleep(args.seconds)
        elapsed = time.perf_counter() - start
        rtc_fps, ws_fps = (data.frame_count - counts[0]) / elapsed, (ws.frame_count - counts[1]) / elapsed
        data.send({"type": "playback", "playing": False})
        emit("field_stream_datachannel", "frames_per_s", rtc_fps, "frames/s", "websocket", ws_fps)
    finally:
        ws.task.cancel()
        await ws.ws.close()
        await data.close()


def render_only(scene: Path, cache: Path, frames: int, detail: Any) -> tuple[float, int]:
    """Frames/s of the bare renderer at 1280x720 on the benchmark scene (orbiting camera) at ``detail``, in this
    process, and the triangles it drew."""
    from vizserver.render.camera import ViewCamera
    from vizserver.render.scene_renderer import SceneRenderer, SceneState
    from vizserver.scenes.build import load_or_build
    from vizserver.scenes.cache import AssetStore

    store = AssetStore(cache)
    built = load_or_build(scene, store).scene
    renderer = SceneRenderer(store.glb_path)
    try:
        renderer.update(SceneState(built.objects, {}, {}), detail)
        first = renderer.fit_camera()
        centre = np.asarray(first.target)
        radius = float(np.linalg.norm(np.asarray(first.position) - centre))
        renderer.render(first, WIDTH, HEIGHT)
        times = []
        for i in range(frames):
            angle = 2 * math.pi * i / frames
            eye = centre + radius * np.array([math.cos(angle), math.sin(angle), 0.5])
            start = time.perf_counter()
            renderer.render(ViewCamera(position=tuple(eye), target=tuple(centre)), WIDTH, HEIGHT)
            times.append(time.perf_counter() - start)
        triangles = renderer.triangles_drawn
    finally:
        renderer.close()
    return 1.0 / statistics.median(times), triangles


def scene_bounds(scene: Path, cache: Path) -> np.ndarray:
    from vizserver.io.glb_decode import read_glb_file
    from vizserver.scenes.build import load_or_build
    from vizserver.scenes.cache import AssetStore

    store = AssetStore(cache)
    obj = load_or_build(scene, store).scene.objects[0]
    path = store.glb_path(obj.asset)
    assert path is not None
    points = np.concatenate([m.positions for m in read_glb_file(path).meshes.values()])
    transform = np.asarray(obj.transform).reshape(4, 4, order="F")
    world = points @ transform[:3, :3].T + transform[:3, 3]
    return np.stack([world.min(axis=0), world.max(axis=0)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run that still prints every figure")
    parser.add_argument("--vertices", type=int, default=102_400, help="sheet vertices (triangles ~ 2x)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--changes", type=int, default=40)
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.changes = 3.0, 8
    os.environ["VIZSERVER_RTC_HOST_ADDRESSES"] = "127.0.0.1"
    use_host_addresses(("127.0.0.1",))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        scene, n = write_scene(folder, args.vertices)
        cache = folder / "cache"
        bounds = scene_bounds(scene, cache)  # builds the scene once; the server finds it in the cache
        emit("scene", "vertices", float(n), "vertices")
        from vizserver.render.detail import Detail

        frames = 10 if args.quick else 40
        full_fps, full_triangles = render_only(scene, cache, frames, Detail.FULL)
        interactive_fps, interactive_triangles = render_only(scene, cache, frames, Detail.INTERACTIVE)
        emit("render_only_1280x720", "frames_per_s", full_fps, "frames/s", "target", FPS)
        emit("render_only_1280x720_interactive", "frames_per_s", interactive_fps, "frames/s", "full_detail",
             full_fps)
        emit("video_orbit", "interactive_triangles", float(interactive_triangles), "triangles", "full",
             float(full_triangles))
        proc, base = start_server(scene, cache)
        try:
            asyncio.run(run(base, args, bounds))
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
