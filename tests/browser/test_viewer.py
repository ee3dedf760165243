"""The desktop viewer in headless Chromium against a real server: what a researcher sees and does alone.

Scene (tests/fixtures/server.py ``write_scene``): object 0 ``wave``, a PVD series with fields
``pressure`` (sin(3x - step), shown first) and ``temperature`` (10 step + x) over 5 steps; object 1
``box``, a static STL cube in plain blue. Each test has its own session.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fixtures.browser import (
    BACKGROUND,
    canvas_pixels,
    changed_fraction,
    differs,
    drawn_fraction,
    session_url,
    state,
    wait_ready,
    wait_state,
)
from fixtures.server import LiveServer
from PIL import Image
from playwright.sync_api import Page

pytestmark = pytest.mark.browser

CHANGED = 0.01
"""A change a person notices: at least 1 % of the view's pixels differ."""


@pytest.fixture
def page(browser_server: LiveServer, new_session: Callable[[], dict[str, Any]], open_page: Callable[..., Page]) -> Page:
    """The viewer on a fresh session, scene drawn and the first live frame of ``wave`` shown."""
    page = open_page(session_url(browser_server, new_session()))
    wait_ready(page)
    wait_state(page, "s.objects[0].liveField === 'pressure'")
    return page


def only_wave(page: Page) -> None:
    """Hide the box and frame the wave, so the whole view is about the field."""
    page.uncheck(".object-row[data-object-name='box'] .object-visible")
    page.click("#fit-button")
    wait_state(page, "!s.objects[1].visible")


def test_page_loads_the_scene_and_draws_it(page: Page) -> None:
    s = state(page)
    assert [(o["name"], o["level"]) for o in s["objects"]] == [("wave", "full"), ("box", "full")]
    assert s["connection"] == "open"
    assert page.inner_text("#status").startswith("Connected")
    assert page.inner_text("#scene-title") == "Browser test"
    has_webgl2 = "() => !!document.createElement('canvas').getContext('webgl2')"
    assert page.evaluate(has_webgl2), "no WebGL2 in the test browser"
    pixels = canvas_pixels(page)
    assert drawn_fraction(pixels) > 0.05, "the canvas shows only background"
    assert "pressure" in page.inner_text("#color-bar")
    assert [page.input_value("#range-min"), page.input_value("#range-max")] != ["", ""]
    page.uncheck(".object-row[data-object-name='box'] .object-visible")
    assert changed_fraction(pixels, canvas_pixels(page)) > CHANGED, "hiding the box changed nothing"


def test_field_colormap_and_range_change_the_colours(page: Page) -> None:
    only_wave(page)
    pressure = canvas_pixels(page)
    page.select_option("#field-select", label="temperature")
    wait_state(page, "s.objects[0].liveField === 'temperature'")
    temperature = canvas_pixels(page)
    assert changed_fraction(pressure, temperature) > CHANGED
    assert "temperature" in page.inner_text("#color-bar")

    page.select_option("#colormap-select", "grey")
    wait_state(page, "s.objects[0].colormap === 'grey'")
    grey = canvas_pixels(page)
    assert changed_fraction(temperature, grey) > CHANGED
    mesh = differs(grey, BACKGROUND)
    spread = grey[mesh].max(axis=1) - grey[mesh].min(axis=1)
    assert np.median(spread) <= 6, "the grey colour map draws coloured pixels"

    page.fill("#range-min", "0")
    page.fill("#range-max", "1")
    page.press("#range-max", "Tab")
    wait_state(page, "s.objects[0].range[0] === 0 && s.objects[0].range[1] === 1")
    narrow = canvas_pixels(page)
    assert changed_fraction(grey, narrow) > CHANGED
    page.click("#range-reset")
    wait_state(page, "s.objects[0].range[1] > 1")
    assert changed_fraction(grey, canvas_pixels(page)) < CHANGED / 4, "reset did not restore the colours"

    page.select_option("#colormap-select", "categorical")
    wait_state(page, "s.objects[0].colormap === 'categorical'")
    assert changed_fraction(grey, canvas_pixels(page)) > CHANGED, "label colours look like the grey scale"
    assert page.is_disabled("#range-min"), "a label map has no range to edit"


def test_time_slider_shows_another_step(page: Page) -> None:
    only_wave(page)
    first = canvas_pixels(page)
    page.focus("#time-slider")
    page.keyboard.press("End")
    wait_state(page, "s.playback.step === 4 && s.objects[0].frameStep === 4")
    assert changed_fraction(first, canvas_pixels(page)) > CHANGED
    assert page.inner_text("#time-label").startswith("Step 5 / 5")


def test_play_advances_through_the_steps_and_pause_stops(page: Page) -> None:
    page.evaluate(
        "() => { window.seen = new Set(); window.buffered = 0; window.watch = setInterval(() => {"
        " const o = window.vizserver.state().objects[0]; window.seen.add(o.frameStep);"
        " window.buffered = Math.max(window.buffered, o.bufferedSteps); }, 10); }"
    )
    page.click("#play-button")
    wait_state(page, "s.playback.playing")
    page.wait_for_function("() => window.seen.size >= 3", timeout=30_000)
    # frames come a lead ahead of their step: besides the one drawn, two later steps wait in the client's buffer
    page.wait_for_function("() => window.buffered >= 3", timeout=30_000)
    assert page.get_attribute("#play-button", "data-playing") == "true"
    page.click("#play-button")
    wait_state(page, "!s.playback.playing")
    assert page.get_attribute("#play-button", "data-playing") == "false"


def test_click_probes_the_value_under_the_pointer(page: Page) -> None:
    only_wave(page)
    box = page.locator("#viewport-canvas").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    label = page.locator("#probe-label")
    label.wait_for(state="visible")
    match = re.fullmatch(r"pressure = (\S+)", label.inner_text())
    assert match, label.inner_text()
    value = float(label.get_attribute("data-value") or "nan")
    assert -1.0 <= value <= 1.0, "pressure is sin(...): the probe read a value outside [-1, 1]"
    page.mouse.click(box["x"] + 5, box["y"] + 5)
    label.wait_for(state="hidden")


def test_split_view_shows_two_objects_with_linked_cameras(page: Page) -> None:
    single = canvas_pixels(page)
    page.check("#split-enabled")
    wait_state(page, "s.split && s.split[0] === 0 && s.split[1] === 1")
    split = canvas_pixels(page)
    half = split.shape[1] // 2
    left, right = split[:, :half], split[:, half : 2 * half]
    assert drawn_fraction(left) > 0.03 and drawn_fraction(right) > 0.03
    assert changed_fraction(single, split) > CHANGED
    page.select_option("#split-right", label="wave")
    wait_state(page, "s.split[1] === 0")
    same = canvas_pixels(page)
    left, right = same[:, :half], same[:, half : 2 * half]
    assert changed_fraction(left, right) < 0.02, "the same object on both sides should look the same"
    box = page.locator("#viewport-canvas").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.25 + 120, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()
    turned = canvas_pixels(page)
    left2, right2 = turned[:, :half], turned[:, half : 2 * half]
    assert changed_fraction(left, left2) > CHANGED, "dragging did not turn the view"
    assert changed_fraction(left2, right2) < 0.02, "the right camera did not follow the left one"


def test_clipping_plane_cuts_the_mesh(page: Page) -> None:
    only_wave(page)
    whole = canvas_pixels(page)
    page.check("#clip-enabled")
    wait_state(page, "s.clipping")
    clipped = canvas_pixels(page)
    assert changed_fraction(whole, clipped) > CHANGED


def test_screenshot_button_downloads_the_view(page: Page) -> None:
    with page.expect_download() as download:
        page.click("#screenshot-button")
    path = download.value.path()
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert download.value.suggested_filename.endswith(".png")
    with Image.open(path) as image:
        assert image.size[0] > 100 and image.size[1] > 100
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    assert drawn_fraction(pixels) > 0.05, "the screenshot shows only background"
