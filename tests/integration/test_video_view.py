"""The video view over a real WebRTC connection: two aiortc peers in this process on 127.0.0.1, the view's track
sent by one and decoded by the other; camera and field changes reach the decoded pictures; close frees the
render thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack
from fixtures.render_scenes import build, model_pixels, write_sphere_scene, write_volume_scene

from vizserver.errors import LimitExceededError
from vizserver.protocol.field_encoder import FieldEncoder
from vizserver.protocol.messages import Hello, ProtocolError
from vizserver.scenes.cache import AssetStore
from vizserver.scenes.objects import BuiltScene
from vizserver.sessions.session import Accepted, Session
from vizserver.streaming.hub import ClientLink, SessionHub
from vizserver.streaming.metrics import Counters
from vizserver.streaming.series import SeriesLoader
from vizserver.transports.rtc_config import use_host_addresses
from vizserver.transports.video import MAX_VIDEO_VIEWS, VideoView, make_video_view

WAIT_S = 60.0
W, H = 320, 240


@pytest.fixture(scope="module")
def sphere(tmp_path_factory: pytest.TempPathFactory) -> tuple[BuiltScene, AssetStore]:
    folder = tmp_path_factory.mktemp("video")
    return build(write_sphere_scene(folder / "scene"), folder / "cache")


@pytest.fixture(autouse=True)
def loopback_only() -> object:
    use_host_addresses(("127.0.0.1",))
    yield None
    use_host_addresses(())


def make_hub(scene: BuiltScene, store: AssetStore) -> SessionHub:
    session = Session.of_scene("video-test", "ABCDEF", scene, time.monotonic())
    return SessionHub(session, SeriesLoader(store), Counters())


def render_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("render ")]


@asynccontextmanager
async def loopback(track: MediaStreamTrack) -> AsyncIterator[asyncio.Queue[np.ndarray]]:
    """``track`` sent from one peer connection to another; yields a queue of the decoded RGB pictures."""
    sender, receiver = RTCPeerConnection(), RTCPeerConnection()
    pictures: asyncio.Queue[np.ndarray] = asyncio.Queue(maxsize=4)
    readers: list[asyncio.Task[None]] = []

    async def read(remote: MediaStreamTrack) -> None:
        while True:
            frame = await remote.recv()
            assert isinstance(frame, av.VideoFrame)
            picture = frame.to_ndarray(format="rgb24")
            if pictures.full():
                pictures.get_nowait()  # keep the newest: the test looks at what is shown now
            pictures.put_nowait(picture)

    @receiver.on("track")
    def on_track(remote: MediaStreamTrack) -> None:
        readers.append(asyncio.ensure_future(read(remote)))

    sender.addTrack(track)
    await sender.setLocalDescription(await sender.createOffer())
    await receiver.setRemoteDescription(sender.localDescription)
    await receiver.setLocalDescription(await receiver.createAnswer())
    await sender.setRemoteDescription(receiver.localDescription)
    try:
        yield pictures
    finally:
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await sender.close()
        await receiver.close()


async def picture_where(pictures: asyncio.Queue[np.ndarray], ok: Callable[[np.ndarray], bool]) -> np.ndarray:
    deadline = time.monotonic() + WAIT_S
    while True:
        picture = await asyncio.wait_for(pictures.get(), max(0.1, deadline - time.monotonic()))
        if ok(picture):
            return picture
        if time.monotonic() > deadline:
            raise AssertionError("no decoded picture met the condition in time")


def centre(picture: np.ndarray) -> np.ndarray:
    h, w = picture.shape[:2]
    return picture[h // 2 - 3 : h // 2 + 4, w // 2 - 3 : w // 2 + 4].reshape(-1, 3).mean(axis=0)


def run(coroutine: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(coroutine(), 240))


def test_the_video_track_shows_the_model_and_follows_camera_and_fields(sphere) -> None:  # type: ignore[no-untyped-def]
    scene, store = sphere

    async def scenario() -> None:
        hub = make_hub(scene, store)
        view = make_video_view(hub, "viewer-1", asset_path=store.glb_path, width=W, height=H, fps=15)
        try:
            async with loopback(view.track) as pictures:
                first = await picture_where(pictures, lambda p: model_pixels(p) > 0.05 * p.shape[0] * p.shape[1])
                assert first.shape[2] == 3

                # A camera off to the side: the sphere leaves the centre of the picture.
                view.set_camera({"type": "view_camera", "position": [0, -150, 0], "target": [40, 0, 0]})
                moved = await picture_where(pictures, lambda p: model_pixels(p[:, : p.shape[1] // 3]) > 50
                                            and model_pixels(p[:, -p.shape[1] // 4 :]) == 0)
                assert model_pixels(moved) < model_pixels(first) * 2

                # Field frames the viewer's outbox would have sent: the low end of viridis, then the high end.
                view.set_camera({"type": "view_camera", "position": [0, -120, 0], "target": [0, 0, 0]})
                obj = scene.objects[0]
                encoder = FieldEncoder(obj.id, obj.fields[0].id, lo=-20.0, hi=20.0)
                view.take_frame(encoder.encode(np.full(obj.vertices, -20.0, np.float32), step=0, time=0).keyframe)
                await picture_where(pictures, lambda p: centre(p)[2] > centre(p)[1] + 30)  # blue-purple
                pair = encoder.encode(np.full(obj.vertices, 20.0, np.float32), step=1, time=1)
                assert pair.delta is not None
                view.take_frame(pair.delta)
                await picture_where(pictures, lambda p: centre(p)[1] > centre(p)[2] + 60)  # yellow
        finally:
            await view.close()
        assert VideoView.open_count() == 0
        assert render_threads() == []

    run(scenario)


def test_bad_input_is_refused_clearly(sphere) -> None:  # type: ignore[no-untyped-def]
    scene, store = sphere

    async def scenario() -> None:
        hub = make_hub(scene, store)
        view = make_video_view(hub, "viewer-2", asset_path=store.glb_path, width=W, height=H)
        try:
            with pytest.raises(ProtocolError, match="same point"):
                view.set_camera({"type": "view_camera", "position": [1, 1, 1], "target": [1, 1, 1]})
            view.take_frame(b"not a frame")  # logged and dropped, the view goes on
            obj = scene.objects[0]
            encoder = FieldEncoder(obj.id, obj.fields[0].id, lo=-20.0, hi=20.0)
            encoder.encode(np.zeros(obj.vertices, np.float32), step=0, time=0)
            orphan = encoder.encode(np.ones(obj.vertices, np.float32), step=1, time=1).delta
            assert orphan is not None
            view.take_frame(orphan)  # no base held: asks the session for a keyframe instead of failing
            frame = await view.wait_frame(0, WAIT_S)
            assert model_pixels(frame.image) > 0
        finally:
            await view.close()
        with pytest.raises(ValueError, match="fps"):
            make_video_view(hub, "viewer-3", asset_path=store.glb_path, fps=1000)

    run(scenario)


def test_many_views_open_and_close_leave_no_thread_and_the_limit_holds(sphere) -> None:  # type: ignore[no-untyped-def]
    scene, store = sphere

    async def scenario() -> None:
        hub = make_hub(scene, store)
        for cycle in range(3):
            views = [make_video_view(hub, f"v{cycle}-{i}", asset_path=store.glb_path, width=W, height=H)
                     for i in range(MAX_VIDEO_VIEWS)]
            with pytest.raises(LimitExceededError, match="MAX_VIDEO_VIEWS"):
                make_video_view(hub, "one-too-many", asset_path=store.glb_path)
            await views[0].wait_frame(0, WAIT_S)
            await asyncio.gather(*(v.close() for v in views))
            assert VideoView.open_count() == 0
            assert render_threads() == []

    run(scenario)


def test_a_missing_asset_still_gives_frames(tmp_path: Path, sphere) -> None:  # type: ignore[no-untyped-def]
    scene, _ = sphere
    empty = AssetStore(tmp_path / "empty")

    async def scenario() -> None:
        view = make_video_view(make_hub(scene, empty), "viewer-4", asset_path=empty.glb_path, width=W, height=H)
        try:
            frame = await view.wait_frame(0, WAIT_S)
            assert model_pixels(frame.image) == 0  # nothing to draw, but a picture all the same
        finally:
            await view.close()

    run(scenario)


def test_a_view_of_a_volume_scene_ray_casts_the_volume(tmp_path: Path) -> None:
    scene_path = write_volume_scene(tmp_path / "scene")
    scene, store = build(scene_path, tmp_path / "cache")

    async def scenario() -> None:
        hub = make_hub(scene, store)
        volume = make_video_view(hub, "viewer-5", asset_path=store.glb_path, scene_path=scene_path, width=W, height=H)
        surface = make_video_view(hub, "viewer-6", asset_path=store.glb_path, width=W, height=H)  # no scene file
        try:
            image = (await volume.wait_frame(0, WAIT_S)).image
            shell = (await surface.wait_frame(0, WAIT_S)).image
        finally:
            await asyncio.gather(volume.close(), surface.close())
        assert model_pixels(image) > 0.02 * W * H
        # The voxels, not the iso-surface: another picture, a Gaussian blob brightest in the middle and fading out.
        assert np.abs(image.astype(np.int16) - shell).mean() > 5
        brightness = image.astype(np.float32).sum(axis=-1)
        assert brightness[H // 2, W // 2] > brightness[H // 2, W // 2 + 20] > brightness[H // 2, W // 2 + 45]

    run(scenario)


def test_a_connected_viewer_sees_its_objects_static_field(sphere) -> None:  # type: ignore[no-untyped-def]
    """A static field is never subscribed to (its values are in the GLB), yet the browser shows it: so does the view."""
    scene, store = sphere

    async def scenario() -> None:
        hub = make_hub(scene, store)
        hub.session.add_member("viewer-token", "participant", "Viewer", time.monotonic())
        joined = hub.connect("viewer-token", Hello(protocol=1, client="video-test"), ClientLink())
        assert isinstance(joined, Accepted)
        assert hub.session.clients[joined.client_id].subscriptions == {0: None}
        coloured = make_video_view(hub, joined.client_id, asset_path=store.glb_path, width=W, height=H)
        plain_hub = make_hub(tuple_without_fields(scene), store)
        plain = make_video_view(plain_hub, "viewer-7", asset_path=store.glb_path, width=W, height=H)
        try:
            image = (await coloured.wait_frame(0, WAIT_S)).image
            uncoloured = (await plain.wait_frame(0, WAIT_S)).image
        finally:
            await asyncio.gather(coloured.close(), plain.close())
        top, bottom = centre(image[: H // 2]), centre(image[H // 2 :])
        assert np.abs(top - bottom).max() > 40  # height: yellow at the top, purple below
        assert np.abs(centre(uncoloured[: H // 2]) - centre(uncoloured[H // 2 :])).max() < 40

    run(scenario)


def tuple_without_fields(scene: BuiltScene) -> BuiltScene:
    return replace(scene, objects=tuple(replace(o, active_field=None) for o in scene.objects))
