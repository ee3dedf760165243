"""The live twin's panel in headless Chromium against a real server running a small cardiac twin.

Scene: one object ``ventricle`` (``lv_surface`` of 602 vertices, millimetres, scaled to metres and
moved 10 cm along x, so its own coordinates differ from the world's) with a cardiac twin paced every
300 ms. The server's default session runs one twin for the whole module; each test starts from a
reset (the scene's parameters), running at 1x. The page records what it sends (``window.__sent``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import pyvista as pv
from fixtures.browser import WAIT_MS, canvas_pixels, state, wait_ready, wait_state
from fixtures.server import LiveServer
from playwright.sync_api import Page

from vizserver.anatomy.lv import lv_surface

pytestmark = pytest.mark.browser

SCENE_PARAMS = {"cycle_length": 300, "stim_amplitude": 20}

START_MS = 120_000
"""The twin's worker builds its mesh and operators (and compiles its kernel) before it runs."""

RUNNING = "s.twin && s.twin.state === 'running' && s.twin.params.cycle_length !== undefined"

RECORD_SENT = """
window.__sent = [];
for (const Link of [WebSocket, RTCDataChannel]) { // the page's messages go on either (docs/protocol.md "WebRTC")
  const send = Link.prototype.send;
  Link.prototype.send = function (data) {
    if (typeof data === 'string') window.__sent.push({ t: performance.now(), message: JSON.parse(data) });
    return send.call(this, data);
  };
}
"""




@pytest.fixture
def open_twin(twin_server: LiveServer, open_page: Callable[..., Page]) -> Callable[[], Page]:
    """Open the viewer on the default session and wait for the running twin and its live field."""

    def open_() -> Page:
        page = open_page(f"{twin_server.url}/", init_script=RECORD_SENT)
        wait_ready(page)
        wait_state(page, f"{RUNNING} && s.objects[0].liveField === 'vm'", timeout=START_MS)
        return page

    return open_


@pytest.fixture
def page(open_twin: Callable[[], Page]) -> Page:
    """A viewer whose twin was just reset to the scene's parameters and runs at 1x."""
    page = open_twin()
    page.click("#twin-reset")
    condition = " && ".join(f"s.twin.params.{k} === {v}" for k, v in SCENE_PARAMS.items())
    wait_state(page, condition)
    if state(page)["twin"]["speed"] != 1:
        page.select_option("#twin-speed", "1")
    if state(page)["twin"]["state"] == "paused":
        page.click("#twin-play")
    wait_state(page, f"{RUNNING} && s.twin.speed === 1")
    page.evaluate("() => { window.__sent.length = 0; }")
    return page


def sent(page: Page, kind: str) -> list[dict[str, Any]]:
    """Messages of type ``kind`` the page sent since the fixture, each with its send time ``t`` (ms)."""
    entries = page.evaluate("() => window.__sent")
    return [{**e["message"], "t": e["t"]} for e in entries if e["message"]["type"] == kind]


def excited_fraction(page: Page) -> float:
    """Share of the view's central pixels coloured as excited tissue (viridis above about -40 mV: green to yellow)."""
    pixels = canvas_pixels(page)
    h, w, _ = pixels.shape
    centre = pixels[h // 5 : h - h // 5, w // 5 : w - w // 5]
    return float((centre[..., 1] > 100).mean())


def wait_pixels(page: Page, condition: Callable[[float], bool], what: str, timeout_s: float = WAIT_MS / 1000) -> float:
    """Take screenshots until ``condition(excited_fraction)`` holds; fail with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        fraction = excited_fraction(page)
        if condition(fraction):
            return fraction
        if time.monotonic() > deadline:
            pytest.fail(f"{what} (excited share of the view {fraction:.4f})")


def click_ventricle(page: Page) -> None:
    """Click the middle of the view (the viewer frames the ventricle, so its front wall is there)."""
    box = page.locator("#viewport-canvas").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def distance_to_surface(point: npt.ArrayLike) -> float:
    """Distance (mm) from ``point`` (ventricle coordinates) to the ventricle's surface."""
    mesh = lv_surface(24)
    faces = np.hstack([np.full((len(mesh.triangles), 1), 3), mesh.triangles]).ravel()
    surface = pv.PolyData(np.asarray(mesh.vertices, dtype=np.float64), faces)
    _, closest = surface.find_closest_cell(np.asarray(point, dtype=np.float64), return_closest_point=True)
    return float(np.linalg.norm(np.asarray(closest) - np.asarray(point)))


def test_the_panel_is_generated_from_the_twin_schema(page: Page) -> None:
    twin = state(page)["twin"]
    names = page.eval_on_selector_all(".twin-param", "els => els.map((e) => e.dataset.name)")
    assert set(names) == set(twin["params"]) >= {"d_par", "cycle_length", "scar_mode"}
    cycle = page.locator(".twin-param[data-name='cycle_length']")
    assert cycle.locator(".twin-param-unit").inner_text() == "ms"
    assert cycle.locator("input[type='range']").count() == 1
    assert float(cycle.locator("input[type='number']").input_value()) == 300
    assert "cycle" in (cycle.get_attribute("title") or "").lower()  # the description is the tooltip
    d_par = page.locator(".twin-param[data-name='d_par']")
    assert d_par.locator(".twin-param-unit").inner_text() == "mm²/ms"
    assert d_par.locator("input[type='range']").get_attribute("title") == "logarithmic scale"  # 0.01 .. 10
    choices = page.eval_on_selector_all(".twin-param[data-name='scar_mode'] option", "os => os.map((o) => o.value)")
    assert choices == ["none", "block", "slow"]
    tools = page.eval_on_selector_all("#twin-tools button", "bs => bs.map((b) => [b.textContent, b.className])")
    assert ["pace here", "twin-tool"] in tools and ["place scar", "twin-tool"] in tools
    assert ["clear scar", "twin-action"] in tools
    assert page.inner_text("#twin-state") == "Running"
    assert re.search(r"t = [\d.]+ (ms|s) · [\d.e+-]+× real time", page.inner_text("#twin-clock"))
    assert page.input_value("#twin-speed") == "1"
    assert page.locator("#time-section").is_hidden()  # no time series: a live twin has no playback


def test_a_slider_steers_the_twin_for_everyone_and_the_heart_goes_quiet(
    page: Page, open_twin: Callable[[], Page]
) -> None:
    other = open_twin()
    wait_pixels(page, lambda f: f > 0.01, "the paced heart never showed an excited region")
    slider = page.locator(".twin-param[data-name='stim_amplitude'] input[type='range']")
    slider.focus()
    slider.press("Home")  # the slider's lowest value: no stimulus
    wait_state(page, "s.twin.params.stim_amplitude === 0")  # the server's broadcast says so
    changes = sent(page, "twin_params")
    assert changes and changes[-1]["values"] == {"stim_amplitude": 0}
    other.locator(".twin-param[data-name='stim_amplitude'][data-value='0']").wait_for()  # the other page follows
    assert float(other.input_value(".twin-param[data-name='stim_amplitude'] input[type='number']")) == 0
    wait_pixels(page, lambda f: f < 0.0005, "without a stimulus the heart did not come to rest")


def test_dragging_a_slider_sends_at_most_15_changes_a_second_and_always_the_final_value(page: Page) -> None:
    slider = page.locator(".twin-param[data-name='cycle_length'] input[type='range']")
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.2, y)
    page.mouse.down()
    for k in range(1, 61):
        page.mouse.move(box["x"] + box["width"] * (0.2 + 0.9 * k / 60), y)  # past the right end
    page.mouse.up()
    wait_state(page, "s.twin.params.cycle_length === 5000")
    changes = sent(page, "twin_params")
    assert changes[-1]["values"] == {"cycle_length": 5000}
    span_s = (changes[-1]["t"] - changes[0]["t"]) / 1000
    assert len(changes) <= 2 + 15 * span_s, f"{len(changes)} changes in {span_s:.2f} s"
    gaps = np.diff([c["t"] for c in changes[:-1]])  # the release sends at once
    assert gaps.size == 0 or gaps.min() >= 60, gaps
    seqs = [c["seq"] for c in changes]
    assert seqs == sorted(set(seqs))


def test_pace_here_sends_the_point_in_the_objects_own_coordinates_and_shows_the_latency(page: Page) -> None:
    page.click("#twin-tools button[data-action='pace here']")
    assert page.get_attribute("#twin-tools button[data-action='pace here']", "aria-pressed") == "true"
    assert "pace here" in page.inner_text("#twin-tool-hint")
    click_ventricle(page)
    wait_state(page, "s.twin.lastLatencyMs !== null && s.twin.markers === 1")
    (action,) = sent(page, "twin_action")
    assert action["action"] == "pace here"
    # the ventricle is scaled to metres and moved 0.1 m; the point must be on its surface in millimetres
    assert distance_to_surface(action["point"]) < 0.05, action["point"]
    badge = page.locator("#latency-badge")
    assert badge.is_visible()
    assert re.fullmatch(r"steering \d+ ms", badge.inner_text())
    latency = state(page)["twin"]["lastLatencyMs"]
    assert 0 < latency < 10_000
    assert state(page)["twin"]["error"] is None
    assert state(page)["twin"]["probeSamples"] == 0  # a tool click is not a probe
    page.keyboard.press("Escape")
    assert state(page)["twin"]["tool"] is None


def test_an_out_of_range_value_is_refused_with_a_clear_message_and_the_control_snaps_back(page: Page) -> None:
    number = page.locator(".twin-param[data-name='cycle_length'] input[type='number']")
    number.fill("99999")
    number.press("Enter")
    message = page.locator("#twin-message")
    message.wait_for()
    text = message.inner_text()
    assert text.startswith("Change refused") and "cycle_length" in text and "5000" in text, text
    assert state(page)["twin"]["error"] == text
    assert float(number.input_value()) == 300  # back to the server's value
    assert state(page)["twin"]["params"]["cycle_length"] == 300
    (refused,) = sent(page, "twin_params")
    assert refused["values"] == {"cycle_length": 99999}


def test_the_probe_plots_the_clicked_point_over_twin_time_and_play_pause_and_speed_steer_the_twin(
    page: Page,
) -> None:
    click_ventricle(page)
    wait_state(page, "s.twin.probeSamples >= 10")
    value = state(page)["twin"]["probeValue"]
    assert -90 <= value <= 30, value  # mV of a cell between rest and the top of its upstroke
    assert "vm at the probe" in page.inner_text("#probe-chart")
    line = page.evaluate(
        """() => {
          const c = document.querySelector('#probe-chart canvas');
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let n = 0;
          for (let i = 0; i < d.length; i += 4) if (d[i + 2] > 200 && d[i] < 140) n++;  // the blue line
          return n;
        }"""
    )
    assert line > 20, "the chart draws no line"

    page.click("#twin-play")
    wait_state(page, "s.twin.state === 'paused'")
    assert page.inner_text("#twin-play") == "▶"
    frame = state(page)["twin"]["frame"]
    page.click("#twin-play")
    wait_state(page, f"s.twin.state === 'running' && s.twin.frame > {frame}")
    page.select_option("#twin-speed", "2")
    wait_state(page, "s.twin.speed === 2")
    controls = sent(page, "twin_control")
    assert [c.get("playing") for c in controls[:2]] == [False, True] and controls[2]["speed"] == 2
    assert state(page)["twin"]["error"] is None


def test_reset_restores_the_scenes_parameters(page: Page) -> None:
    page.locator(".twin-param[data-name='scar_mode'] select").select_option("slow")
    wait_state(page, "s.twin.params.scar_mode === 'slow'")
    page.click("#twin-reset")
    wait_state(page, "s.twin.params.scar_mode === 'block'")
    assert page.input_value(".twin-param[data-name='scar_mode'] select") == "block"
