"""The video view's interactive level of detail: renders made while ``view_camera`` messages arrive draw the
coarser level; once the camera stops, a full-detail render follows with no further input."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from fixtures.render_scenes import build, build_with_lods, model_pixels, write_sphere_scene

from vizserver.render.detail import Detail
from vizserver.scenes.cache import AssetStore
from vizserver.scenes.objects import BuiltScene
from vizserver.sessions.session import Session
from vizserver.streaming.hub import SessionHub
from vizserver.streaming.metrics import Counters
from vizserver.streaming.series import SeriesLoader
from vizserver.transports.video import VideoView

WAIT_S = 60.0
W, H = 320, 240
BUDGET = 12_000
"""The sphere has ~38k triangles and levels of ~9.5k and ~2.4k: interactive renders take the ~9.5k one."""
STILL_S = 1.0
"""Long enough that a loaded machine's render thread starts the interactive request before the camera is still."""


@pytest.fixture(scope="module")
def fine_sphere(tmp_path_factory: pytest.TempPathFactory) -> tuple[BuiltScene, AssetStore]:
    folder = tmp_path_factory.mktemp("video-lod")
    return build_with_lods(write_sphere_scene(folder / "scene", theta=160, phi=120), folder / "cache")


def camera(angle_x: float) -> dict[str, object]:
    return {"type": "view_camera", "position": [angle_x, -120.0, 20.0], "target": [0.0, 0.0, 0.0], "fov": 40}


def test_moving_renders_the_coarser_level_and_a_still_camera_gets_full_detail(
    fine_sphere: tuple[BuiltScene, AssetStore],
) -> None:
    scene, store = fine_sphere
    obj = scene.objects[0]
    assert obj.lods and obj.lod_triangles[-1] <= BUDGET < obj.triangles

    async def scenario() -> None:
        session = Session.of_scene("video-lod", "ABCDEF", scene, time.monotonic())
        hub = SessionHub(session, SeriesLoader(store), Counters())
        view = VideoView(hub, "viewer-lod", asset_path=store.glb_path, width=W, height=H,
                         interactive_triangles=BUDGET, still_after_s=STILL_S)
        try:
            first = await view.wait_frame(0, WAIT_S)
            assert first.detail is Detail.FULL and first.triangles == obj.triangles  # no camera move yet
            assert not view.still_pending

            for i in range(3):  # a drag: each camera is drawn coarse
                view.set_camera(camera(10.0 * i))
                assert view.detail is Detail.INTERACTIVE and view.still_pending
                moving = await view.wait_frame(view.serial - 1, WAIT_S)
                assert moving.serial == view.serial
                assert moving.detail is Detail.INTERACTIVE and moving.triangles == obj.lod_triangles[-1]
                assert model_pixels(moving.image) > 0.05 * W * H
            last_move = view.serial

            # nothing more is sent: the view's own timer submits the full-detail render of the same camera
            still = await view.wait_frame(last_move, WAIT_S)
            assert still.detail is Detail.FULL and still.triangles == obj.triangles
            assert still.serial == last_move + 1 and view.serial == last_move + 1
            assert view.detail is Detail.FULL and not view.still_pending
            assert model_pixels(still.image) > 0.05 * W * H

            # a move, then close at once: the timer goes with the view
            view.set_camera(camera(-10.0))
            assert view.still_pending
        finally:
            await view.close()
        assert not view.still_pending
        assert VideoView.open_count() == 0

    asyncio.run(asyncio.wait_for(scenario(), 240))


def test_a_scene_without_levels_renders_full_detail_while_moving(tmp_path: Path) -> None:
    scene, store = build(write_sphere_scene(tmp_path / "scene"), tmp_path / "cache")
    obj = scene.objects[0]

    async def scenario() -> None:
        session = Session.of_scene("video-nolod", "ABCDEF", scene, time.monotonic())
        hub = SessionHub(session, SeriesLoader(store), Counters())
        view = VideoView(hub, "viewer-nolod", asset_path=store.glb_path, width=W, height=H,
                         interactive_triangles=100, still_after_s=STILL_S)
        try:
            await view.wait_frame(0, WAIT_S)
            view.set_camera(camera(5.0))
            moving = await view.wait_frame(view.serial - 1, WAIT_S)
            assert moving.detail is Detail.INTERACTIVE and moving.triangles == obj.triangles
        finally:
            await view.close()

    asyncio.run(asyncio.wait_for(scenario(), 240))
