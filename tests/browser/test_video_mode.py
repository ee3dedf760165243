"""The thin-client page (``?mode=video``) in headless Chromium against a real server: the server renders the
session's scene and streams it as WebRTC video; the page orbits its own camera with the mouse and drives the
shared session's time. Without WebRTC the page says video mode needs it.

Scene (tests/fixtures/server.py ``write_scene``): ``wave``, a 5-step series coloured by ``pressure``, and
``box``, a static blue cube. The server renders with VTK offscreen; Chromium decodes the video.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from fixtures.browser import (
    PIXEL_TOLERANCE,
    RTC_SERVER_ENV,
    WAIT_MS,
    changed_fraction,
    ensure_client_built,
    session_url,
    state,
    wait_state,
)
from fixtures.server import LiveServer, post_json, start_process_server, write_scene
from PIL import Image
from playwright.sync_api import Page

pytestmark = pytest.mark.browser

CHANGED = 0.01
"""A change a person notices: at least 1 % of the video's pixels differ."""

NO_WEBRTC = "delete window.RTCPeerConnection;"


def serve(folder: Path, env: dict[str, str]) -> LiveServer:
    ensure_client_built()
    scene = write_scene(folder, title="Video test")
    return start_process_server(scene, {"VIZSERVER_CACHE_DIR": str(folder / "cache"), **env})


@pytest.fixture(scope="module")
def video_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = serve(tmp_path_factory.mktemp("video-scene"), RTC_SERVER_ENV)
    yield server
    server.stop()


def video_page(server: LiveServer, open_page: Callable[..., Page], init_script: str | None = None) -> Page:
    session = post_json(f"{server.url}/api/sessions", {}).json()
    return open_page(session_url(server, session) + "&mode=video", init_script=init_script)


def video_pixels(page: Page) -> npt.NDArray[np.int16]:
    png = page.locator("#video-view").screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def model_fraction(pixels: npt.NDArray[np.int16]) -> float:
    """Share of the video that is not its background (the colour of its corners)."""
    corner = pixels[2, 2]
    return float((np.abs(pixels - corner).max(axis=-1) > PIXEL_TOLERANCE).mean())


def wait_video(page: Page, condition: Callable[[npt.NDArray[np.int16]], bool], what: str) -> npt.NDArray[np.int16]:
    """The video's pixels once ``condition`` holds for them (screenshots polled until WAIT_MS, then ``what``)."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        now = video_pixels(page)
        if condition(now):
            return now
        if time.monotonic() > deadline:
            raise AssertionError(what)


def wait_video_change(page: Page, before: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
    """The video's pixels once at least CHANGED of them differ from ``before``."""
    return wait_video(page, lambda now: changed_fraction(before, now) > CHANGED, "the video did not change")


def playing_page(server: LiveServer, open_page: Callable[..., Page]) -> Page:
    page = video_page(server, open_page)
    page.wait_for_function("() => document.body.dataset.state === 'ready'", timeout=WAIT_MS)
    wait_state(page, "s.video.width > 0 && s.video.playing && s.sentCameras > 0")
    return page


def test_video_plays_and_shows_the_model(video_server: LiveServer, open_page: Callable[..., Page]) -> None:
    page = playing_page(video_server, open_page)
    s = state(page)
    assert s["mode"] == "video" and s["transport"]["transport"] == "webrtc"
    assert page.inner_text("#status").startswith("Connected · WebRTC")
    assert page.is_hidden("#video-loading"), "the loading notice stays over the video"
    start = s["video"]["currentTime"]
    wait_state(page, f"s.video.currentTime > {start} + 0.5")  # frames keep coming
    pixels = video_pixels(page)
    assert model_fraction(pixels) > 0.05, "the video shows only background"
    box = page.locator("#video-view").bounding_box()
    viewport = page.viewport_size
    assert box is not None and viewport is not None
    assert box["x"] + box["width"] >= viewport["width"] - 1 and box["height"] >= viewport["height"] - 1, box


def test_dragging_the_video_moves_the_camera(video_server: LiveServer, open_page: Callable[..., Page]) -> None:
    page = playing_page(video_server, open_page)
    before_state = state(page)
    before = video_pixels(page)
    box = page.locator("#video-view").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 220, y + 60, steps=8)
    page.mouse.up()
    wait_state(page, f"s.sentCameras > {before_state['sentCameras']}")
    after_state = state(page)
    assert after_state["camera"]["position"] != before_state["camera"]["position"]
    assert after_state["camera"]["target"] == before_state["camera"]["target"], "a drag orbits about the target"
    assert after_state["sentCameras"] - before_state["sentCameras"] <= 9, "every pointer move was sent"
    turned = wait_video_change(page, before)
    assert model_fraction(turned) > 0.05

    page.mouse.move(x, y)
    page.mouse.wheel(0, 600)  # farther away: the model shrinks
    wait_state(page, f"s.sentCameras > {after_state['sentCameras']}")
    shown = model_fraction(turned)
    wait_video(page, lambda now: model_fraction(now) < 0.8 * shown, "zooming out did not make the model smaller")

    page.click("#video-fit-button")  # back to the first view of the whole scene
    first = before_state["camera"]["position"]
    page.wait_for_function(
        "(first) => window.vizserver.state().camera.position.every((v, i) => v === first[i])",
        arg=first,
        timeout=WAIT_MS,
    )


def test_time_controls_drive_the_shared_session(video_server: LiveServer, open_page: Callable[..., Page]) -> None:
    page = playing_page(video_server, open_page)
    before = video_pixels(page)
    page.focus("#time-slider")
    page.keyboard.press("End")
    wait_state(page, "s.playback && s.playback.step === 4")
    wait_video_change(page, before)  # the render follows the session's step
    assert page.inner_text("#time-label").startswith("Step 5 / 5")


def test_video_mode_without_webrtc_says_it_needs_it(
    video_server: LiveServer, tmp_path: Path, open_page: Callable[..., Page]
) -> None:
    page = video_page(video_server, open_page, init_script=NO_WEBRTC)
    message = page.locator("#video-unavailable")
    message.wait_for(state="visible")
    assert "Video mode needs WebRTC" in message.inner_text()
    assert "This browser has no WebRTC" in message.inner_text()
    href = page.get_attribute("#video-unavailable a", "href")
    assert href and "mode=video" not in href, "the way out is the 3D view of the same session"
    assert page.evaluate("() => document.body.dataset.state") == "error"

    server = serve(tmp_path, {**RTC_SERVER_ENV, "VIZSERVER_WEBRTC": "0"})
    try:
        page = video_page(server, open_page)
        page.locator("#video-unavailable").wait_for(state="visible")
        assert "WebRTC is turned off on this server" in page.inner_text("#video-unavailable")
        assert state(page)["transport"] is None, "no connection is tried without the video"
    finally:
        server.stop()
