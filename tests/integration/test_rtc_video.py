"""A ``video: true`` offer to a real server: the answer sends a rendered view of the session, the client's field
frames colour it instead of coming on ``fields``, ``view_camera`` moves it, and the view goes with the peer."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamTrack
from fixtures.render_scenes import model_pixels
from fixtures.rtc_client import RtcClient
from fixtures.server import LiveServer, settings_for, start_thread_server, write_scene

from vizserver.transports.video import VideoView

WAIT_S = 60.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("rtc-video")
    live = start_thread_server(settings_for(write_scene(root), root / "cache", rtc_host_addresses="127.0.0.1"))
    yield live
    live.stop()


def watch(client: RtcClient) -> asyncio.Queue[np.ndarray]:
    """Decoded pictures of the client's incoming video track (the newest few)."""
    pictures: asyncio.Queue[np.ndarray] = asyncio.Queue(maxsize=2)

    async def read(track: MediaStreamTrack) -> None:
        while True:
            frame = await track.recv()
            assert isinstance(frame, av.VideoFrame)
            if pictures.full():
                pictures.get_nowait()
            pictures.put_nowait(frame.to_ndarray(format="rgb24"))

    for receiver in client.pc.getReceivers():
        if receiver.track is not None and receiver.track.kind == "video":
            client.reader = asyncio.ensure_future(read(receiver.track))  # type: ignore[attr-defined]
    return pictures


async def picture_where(pictures: asyncio.Queue[np.ndarray], good: object) -> np.ndarray:
    deadline = time.monotonic() + WAIT_S
    while True:
        picture = await asyncio.wait_for(pictures.get(), max(0.01, deadline - time.monotonic()))
        if good(picture):  # type: ignore[operator]
            return picture
        assert time.monotonic() < deadline, "no picture met the condition in time"


def render_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("render ")]


def test_video_peer_gets_the_rendered_view(server: LiveServer) -> None:
    session = server.default_session()

    async def scenario() -> None:
        viewer = await RtcClient.open(server.url, session, video=True)
        pictures = watch(viewer)
        await viewer.message("welcome")
        first = await picture_where(pictures, lambda p: model_pixels(p) > 0.002 * p.shape[0] * p.shape[1])
        assert first.shape[1] >= first.shape[0]

        # a plain client of the same session gets field frames; the video client's went to its render
        plain = await RtcClient.open(server.url, server.default_session())
        await plain.frame()
        assert viewer.frames == []
        assert VideoView.open_count() == 1

        # the camera moves with view_camera; a bad one is answered like any bad message
        viewer.send({"type": "view_camera", "position": [50, -50, 50], "target": [0, 0, 0]})
        before = model_pixels(first)
        await picture_where(pictures, lambda p: abs(model_pixels(p) - before) > 0.2 * before)
        viewer.send({"type": "view_camera", "position": [1, 1, 1], "target": [1, 1, 1]})
        bad = await viewer.message("error", code="bad_message")
        assert "view_camera" in bad["message"]

        viewer.reader.cancel()  # type: ignore[attr-defined]
        await viewer.close()
        await plain.close()
        deadline = time.monotonic() + WAIT_S
        while VideoView.open_count() or render_threads():
            assert time.monotonic() < deadline, f"views {VideoView.open_count()}, threads {render_threads()}"
            await asyncio.sleep(0.05)

    asyncio.run(scenario())


def test_plain_peer_sends_view_camera_to_the_session(server: LiveServer) -> None:
    """Without video, view_camera is an ordinary (unknown) control message: the session refuses it."""
    session = server.default_session()

    async def scenario() -> None:
        client = await RtcClient.open(server.url, session)
        await client.message("welcome")
        client.send({"type": "view_camera", "position": [50, -50, 50], "target": [0, 0, 0]})
        error = await client.message("error")
        assert error["code"] in ("bad_message", "forbidden")
        await client.close()

    asyncio.run(scenario())
