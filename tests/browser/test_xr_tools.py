"""The headset's tools in headless Chromium with iwer emulating a Meta Quest 3: the clipping plane's
handle (grabbed with a squeeze or a hand pinch, moved and turned, the model cut by it), the shown
field's colour bar beside the model, and a stereo frame that shows the model in both eyes.

The model's pixels are told apart from everything else in the headset (rays, panels, the handle, the
colour bar) by drawing the same frame with the scene's objects hidden: what differs is the model.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from fixtures.browser import VIEWPORT, differs, iwer_init_script, state, wait_ready, wait_state
from fixtures.server import LiveServer
from PIL import Image
from playwright.sync_api import Page
from test_xr import hold, press, squeeze
from test_xr_panel import ray_press

pytestmark = pytest.mark.browser

STEREO = "window.__xrDevice.stereoEnabled = true;"
"""iwer draws one eye over the whole page by default; in stereo each eye fills its half of the page."""
HEAD = np.array([0.0, 1.6, 0.0])
"""iwer's headset position (local-floor space, m)."""
QUARTER_TURN_Y = [0.0, math.sin(math.pi / 4), 0.0, math.cos(math.pi / 4)]
PX_PER_M_AT_1_M = 350
"""iwer's 90 degree vertical view on a 700 px high page: a metre across at 1 m is 350 px."""
"""A quarter turn about the vertical (x, y, z, w): a controller's -z (its ray) turns to -x, the handle's +z to +x."""


def enter_vr(page: Page) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Enter VR with both controllers held low (their rays miss the model); returns the model's centre."""
    wait_ready(page)
    page.click("#xr-vr-button")
    wait_state(page, "s.xr.presenting && s.xr.frames > 3")
    hold(page, "left", [-0.3, 0.3, -0.2])
    hold(page, "right", [0.3, 0.3, -0.2])
    return np.asarray(state(page)["xr"]["centre"], dtype=np.float64)


def wait_frames(page: Page, count: int = 3) -> None:
    frames = state(page)["xr"]["frames"]
    wait_state(page, f"s.xr.frames > {frames + count}")


def page_pixels(page: Page) -> npt.NDArray[np.int16]:
    """What the emulated headset shows (iwer draws the session's frames over the whole page)."""
    wait_frames(page, 2)
    png = page.screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def model_mask(page: Page) -> npt.NDArray[np.bool_]:
    """Pixels of the headset's frame that show the scene's objects: the frame with and without them."""
    shown = page_pixels(page)
    page.evaluate("() => { for (const v of window.vizserver.app.views.values()) v.group.visible = false; }")
    hidden = page_pixels(page)
    page.evaluate("() => { for (const v of window.vizserver.app.views.values()) v.group.visible = true; }")
    return differs(shown, hidden)


def pose(page: Page, hand: str, at: npt.ArrayLike, quaternion: list[float]) -> None:
    """Hold an emulated controller at ``at`` (XR space) turned by ``quaternion`` for a few XR frames."""
    x, y, z = np.asarray(at, dtype=np.float64)
    qx, qy, qz, qw = quaternion
    page.evaluate(
        f"""() => {{
          const c = window.__xrDevice.controllers.{hand};
          c.position.set({x}, {y}, {z});
          c.quaternion.set({qx}, {qy}, {qz}, {qw});
        }}"""
    )
    wait_frames(page)


def test_the_clip_handle_is_grabbed_turned_and_moved_and_the_model_is_cut_there(
    browser_server: LiveServer, open_page: Callable[..., Page]
) -> None:
    page = open_page(browser_server.url + "/", init_script=iwer_init_script())
    centre = enter_vr(page)
    clip = state(page)["xr"]["clip"]
    assert not clip["enabled"] and not clip["visible"]  # off by default
    whole = model_mask(page)
    assert whole.mean() > 0.01

    press(page, "right", "b-button")  # B turns the plane on: through the model's centre, facing the user
    wait_state(page, "s.xr.clip.enabled && s.xr.clip.visible")
    clip = state(page)["xr"]["clip"]
    np.testing.assert_allclose(clip["point"], centre, atol=1e-5)
    np.testing.assert_allclose(clip["normal"], [0, 0, -1], atol=1e-5)  # keeps the far half, cuts the near one
    assert clip["size"] > 0.4  # covers the model (40 cm across at table size)

    # the right controller at the handle: its squeeze takes the handle, not the model (which it is inside)
    position = state(page)["xr"]["position"]
    hold(page, "right", list(centre))
    wait_state(page, "s.xr.clip.at.some(Boolean)")
    squeeze(page, "right", 1)
    wait_state(page, "s.xr.clip.holding")
    assert state(page)["xr"]["grab"]["holding"] == 0
    # turned a quarter about the vertical and moved 5 cm right: the handle turns and moves with it
    moved = centre + np.array([0.05, 0, 0])
    pose(page, "right", moved, QUARTER_TURN_Y)
    squeeze(page, "right", 0)
    wait_state(page, "!s.xr.clip.holding")
    pose(page, "right", [0.3, 0.3, -0.2], [0, 0, 0, 1])
    xr = state(page)["xr"]
    np.testing.assert_allclose(xr["clip"]["point"], moved, atol=1e-4)
    np.testing.assert_allclose(xr["clip"]["normal"], [-1, 0, 0], atol=1e-4)  # keeps the left, cuts the right
    np.testing.assert_allclose(xr["position"], position, atol=1e-9)  # the model did not move
    assert xr["clip"]["grabs"] == 1 and xr["grab"]["grabs"] == 0

    # in the frame: what lay right of the plane is gone, what lay left of it is still there
    cut = model_mask(page)
    width = VIEWPORT["width"]
    plane_column = width / 2 + PX_PER_M_AT_1_M * 0.05 / 0.4  # where the plane meets the model's near side, 0.4 m away
    right = slice(int(plane_column) + 10, width)
    left = slice(0, int(width / 2) - 10)
    assert whole[:, right].sum() > 500, whole[:, right].sum()
    assert cut[:, right].sum() < 0.02 * whole[:, right].sum(), (cut[:, right].sum(), whole[:, right].sum())
    assert cut[:, left].sum() > 0.9 * whole[:, left].sum(), (cut[:, left].sum(), whole[:, left].sum())

    # the model moves (a grab, a placement): the plane goes with it
    page.evaluate("() => { window.vizserver.app.viewer.content.position.x += 0.1; }")
    wait_state(page, f"Math.abs(s.xr.clip.point[0] - {centre[0] + 0.15}) < 1e-6")

    hold(page, "right", state(page)["xr"]["clip"]["point"])
    wait_state(page, "s.xr.clip.at.some(Boolean)")
    press(page, "right", "b-button")  # off: the whole model again, and a squeeze there is the model's
    wait_state(page, "!s.xr.clip.enabled && !s.xr.clip.visible")
    squeeze(page, "right", 1)
    wait_state(page, "s.xr.grab.holding === 1")
    squeeze(page, "right", 0)
    hold(page, "right", [0.3, 0.3, -0.2])
    assert state(page)["xr"]["clip"]["grabs"] == 1
    page.evaluate("() => { window.vizserver.app.viewer.content.position.x -= 0.1; }")
    again = model_mask(page)
    assert again[:, right].sum() > 0.9 * whole[:, right].sum()

    # the desktop's Clip box turns the headset's plane on (its desktop coordinates are not used there)
    page.evaluate("() => document.getElementById('clip-enabled').click()")
    wait_state(page, "s.xr.clip.enabled && s.clipping")
    renderer = "window.vizserver.app.viewer.renderer"
    assert page.evaluate(f"() => {renderer}.clippingPlanes.length") == 0
    page.evaluate("() => window.__xrDevice.activeSession.end()")
    wait_state(page, "!s.xr.presenting")
    # back on the desktop: the desktop's plane clips again, the headset's is off the materials
    assert page.evaluate(f"() => {renderer}.clippingPlanes.length") == 1
    assert (
        page.evaluate(
            """() => {
          let clipped = 0;
          const content = window.vizserver.app.viewer.content;
          content.traverse((o) => { if (o.material?.clippingPlanes?.length) clipped += 1; });
          return clipped;
        }"""
        )
        == 0
    )

    # entering again with the desktop's plane on: the headset's starts on, where the desktop's is (its X
    # axis, keeping the low side, at the middle of the scene's box, which is the model's centre here)
    page.click("#xr-vr-button")
    wait_state(page, "s.xr.presenting && s.xr.clip.enabled && s.xr.clip.visible")
    clip = state(page)["xr"]["clip"]
    np.testing.assert_allclose(clip["normal"], [-1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(clip["point"], centre, atol=1e-5)


def test_a_hand_pinch_at_the_clip_handle_moves_it_without_probing_or_moving_the_model(
    browser_server: LiveServer, open_page: Callable[..., Page]
) -> None:
    page = open_page(browser_server.url + "/", init_script=iwer_init_script())
    centre = enter_vr(page)
    wait_state(page, "s.xr.scenePanel.visible && s.xr.scenePanel.controls.some((c) => c.name === 'clip')")
    ray_press(page, state(page)["xr"]["scenePanel"], "clip")  # the scene panel's switch turns it on
    wait_state(page, "s.xr.clip.visible && s.xr.scenePanel.values.clip === true")
    move_hand = """([x, y, z]) => {
      const device = window.__xrDevice;
      device.primaryInputMode = 'hand';
      device.hands.right.position.set(x, y, z);
      device.hands.right.quaternion.set(0, 0, 0, 1);
    }"""
    page.evaluate(move_hand, [0.3, 1.2, -0.2])
    wait_frames(page)
    # where the hand's pinch (its target ray's origin) is, relative to where the hand is put
    offset = page.evaluate(
        """() => {
          const xr = window.vizserver.app.viewer.renderer.xr;
          const hand = window.__xrDevice.hands.right.position;
          const origins = [0, 1].map((i) => xr.getController(i).getWorldPosition(xr.getController(i).position.clone()));
          origins.sort((a, b) => a.distanceTo(hand) - b.distanceTo(hand));
          return origins[0].sub(hand).toArray();
        }"""
    )
    start = np.asarray(state(page)["xr"]["position"])
    page.evaluate(move_hand, list(centre - offset))
    wait_state(page, "s.xr.clip.at.some(Boolean)")
    pinch = "(value) => window.__xrDevice.hands.right.updatePinchValue(value)"
    page.evaluate(pinch, 1)
    wait_state(page, "s.xr.clip.holding")
    page.evaluate(move_hand, list(centre - offset + np.array([0, 0.04, -0.03])))
    wait_frames(page)
    page.evaluate(pinch, 0)
    wait_state(page, "!s.xr.clip.holding")
    wait_frames(page)
    xr = state(page)["xr"]
    np.testing.assert_allclose(xr["clip"]["point"], centre + np.array([0, 0.04, -0.03]), atol=1e-4)
    np.testing.assert_allclose(xr["position"], start, atol=1e-9)  # the model stayed
    assert xr["grab"]["grabs"] == 0 and xr["selects"] == 0 and xr["probe"] is None


COLOR_AT = """([x, y]) => {
  const canvas = window.vizserver.app.xr.colorBar.canvas;
  return [...canvas.getContext('2d').getImageData(x, y, 1, 1).data.slice(0, 3)];
}"""


def test_the_colour_bar_shows_the_field_beside_the_model_and_follows_a_colour_map_change(
    browser_server: LiveServer, open_page: Callable[..., Page]
) -> None:
    page = open_page(browser_server.url + "/", init_script=iwer_init_script())
    centre = enter_vr(page)
    wait_state(page, "s.xr.colorBar.visible")
    shown = state(page)["objects"][0]
    bar = state(page)["xr"]["colorBar"]
    assert bar["title"] == shown["field"] == "pressure"
    assert bar["colormap"] == shown["colormap"] and bar["range"] == shown["range"]
    # under the model, facing the user's eyes, its text at least a degree tall there (legible at arm's length)
    position = np.asarray(bar["position"])
    assert abs(position[0] - centre[0]) < 1e-6 and position[1] + bar["size"][1] / 2 < centre[1] - 0.2
    to_eyes = (HEAD - position) / np.linalg.norm(HEAD - position)
    assert np.dot(bar["normal"], to_eyes) > 0.99
    assert math.degrees(math.atan(bar["textHeightM"] / np.linalg.norm(HEAD - position))) > 1.0
    middle = page.evaluate(COLOR_AT, bar["stripMiddle"])
    table = "(name) => [...window.vizserver.app.colormaps.constructor.table(name).slice(127 * 4, 127 * 4 + 3)]"
    assert np.abs(np.subtract(middle, page.evaluate(table, bar["colormap"]))).max() <= 3

    redraws = bar["redraws"]
    wait_frames(page, 10)
    assert state(page)["xr"]["colorBar"]["redraws"] == redraws  # nothing changed: not redrawn
    page.select_option("#colormap-select", "turbo")
    wait_state(page, "s.xr.colorBar.colormap === 'turbo'")
    wait_frames(page, 5)
    bar = state(page)["xr"]["colorBar"]
    assert bar["redraws"] == redraws + 1
    assert np.abs(np.subtract(page.evaluate(COLOR_AT, bar["stripMiddle"]), page.evaluate(table, "turbo"))).max() <= 3
    page.fill("#range-max", "2.5")
    page.dispatch_event("#range-max", "change")
    wait_state(page, "s.xr.colorBar.range[1] === 2.5")
    page.select_option("#field-select", label="temperature")
    wait_state(page, "s.xr.colorBar.title === 'temperature'")
    page.select_option("#field-select", "")  # no field shown: no bar
    wait_state(page, "!s.xr.colorBar.visible")


def test_a_stereo_frame_shows_the_model_in_both_eyes_with_parallax(
    browser_server: LiveServer, open_page: Callable[..., Page]
) -> None:
    page = open_page(browser_server.url + "/", init_script=iwer_init_script() + STEREO)
    centre = enter_vr(page)
    mask = model_mask(page)
    half = VIEWPORT["width"] // 2
    eyes = {"left": mask[:, :half], "right": mask[:, half:]}
    centroids = {}
    for eye, pixels in eyes.items():
        assert pixels.mean() > 0.01, f"the model is missing from the {eye} eye's view"
        rows, columns = np.nonzero(pixels)
        centroids[eye] = np.array([columns.mean(), rows.mean()])
    # each eye 31.5 mm off the middle (iwer's IPD 63 mm): the left eye sees the model further right
    expected = PX_PER_M_AT_1_M * 0.063 / -(centre[2] - HEAD[2])
    disparity = centroids["left"][0] - centroids["right"][0]
    assert 0.6 * expected < disparity < 1.5 * expected, (disparity, expected)
    assert abs(centroids["left"][1] - centroids["right"][1]) < 2  # no vertical offset
