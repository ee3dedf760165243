"""The headset's scene panel (right of the model) on a recorded series, without a twin: playback
(play / pause, scrub) by controller ray reaches the server and every page of the session; the field
and colour map by finger poke change what the page shows; a switch another part puts on the panel
toggles. iwer emulates a Meta Quest 3 (tests/fixtures/browser.py); the helpers that aim a controller
and move a fingertip are test_xr's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fixtures.browser import WAIT_MS, iwer_init_script, join_url, session_url, state, wait_ready, wait_state
from fixtures.server import LiveServer
from playwright.sync_api import Page
from test_xr import RECORD_SENT, aim_right_controller_at_panel, press, put_right_fingertip, wait_frames

pytestmark = pytest.mark.browser

STEPS = 5
"""Steps of the browser_server's series (tests/fixtures/server.py write_scene)."""


def enter_vr(page: Page) -> dict[str, Any]:
    """Enter immersive VR and wait for the scene panel with its time and field sections; returns its state."""
    page.click("#xr-vr-button")
    wait_state(
        page,
        "s.xr.presenting && s.xr.scenePanel.visible && s.xr.scenePanel.sections.includes('time')"
        " && s.xr.scenePanel.sections.includes('field')",
    )
    return dict(state(page)["xr"]["scenePanel"])


def control(panel: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [c for c in panel["controls"] if c["name"] == name]
    return dict(found)


def ray_press(page: Page, panel: dict[str, Any], name: str) -> None:
    """Point the right controller at a control of the scene panel and pull the trigger."""
    aim_right_controller_at_panel(page, control(panel, name)["centre"], panel)
    wait_state(page, f"s.xr.scenePanel.hovered.includes('{name}')")
    press(page, "right", "trigger")


def poke(page: Page, panel: dict[str, Any], at: list[float]) -> None:
    """Bring the right index fingertip to ``at`` on the panel from in front, touch, and back off."""
    normal = np.asarray(panel["normal"])
    for depth in (0.05, -0.003, 0.1):
        put_right_fingertip(page, np.asarray(at) + depth * normal, panel)


def test_playing_and_scrubbing_from_the_headset_panel_reach_every_page_of_the_session(
    browser_server: LiveServer, new_session: Callable[[], dict[str, Any]], open_page: Callable[..., Page]
) -> None:
    session = new_session()
    headset = open_page(session_url(browser_server, session), init_script=RECORD_SENT + iwer_init_script())
    other = open_page(join_url(browser_server, session))
    for page in (headset, other):
        wait_ready(page)
        wait_state(page, f"s.playback.steps === {STEPS} && !s.playback.playing")
    panel = enter_vr(headset)
    xr = state(headset)["xr"]
    assert not xr["panel"]["visible"]  # no twin: no twin panel, the scene panel alone
    assert panel["position"][0] > xr["centre"][0] + 0.1  # right of the model
    assert np.dot(panel["normal"], -np.asarray(panel["position"])) > 0  # facing the user
    assert control(panel, "time-play")["label"].endswith("Play")

    ray_press(headset, panel, "time-play")
    for page in (headset, other):
        wait_state(page, "s.playback.playing")
    wait_state(headset, "s.xr.scenePanel.values['time-play'] === true")
    wait_state(headset, "s.xr.scenePanel.controls.find((c) => c.name === 'time-play').label.endsWith('Pause')")
    ray_press(headset, panel, "time-play")
    for page in (headset, other):
        wait_state(page, "!s.playback.playing")

    # hold the trigger on the scrub slider and sweep it to another step
    step = state(headset)["playback"]["step"]
    target = 0 if step >= 2 else STEPS - 1
    scrub = control(panel, "time-step")
    left, right = np.asarray(scrub["left"]), np.asarray(scrub["right"])
    aim_right_controller_at_panel(headset, list(left + 0.5 * (right - left)), panel)
    wait_state(headset, "s.xr.scenePanel.hovered.includes('time-step')")
    headset.evaluate("() => window.__xrDevice.controllers.right.updateButtonValue('trigger', 1)")
    wait_frames(headset)
    aim_right_controller_at_panel(headset, list(left + (target / (STEPS - 1)) * (right - left)), panel)
    wait_frames(headset)
    headset.evaluate("() => window.__xrDevice.controllers.right.updateButtonValue('trigger', 0)")
    for page in (headset, other):
        wait_state(page, f"s.playback.step === {target} && !s.playback.playing", timeout=WAIT_MS)
    seeks = [m for m in headset.evaluate("() => window.__sent") if m["type"] == "playback" and "step" in m]
    assert seeks and seeks[-1]["step"] == target, seeks
    scrub_label = "s.xr.scenePanel.controls.find((c) => c.name === 'time-step').label"
    wait_state(headset, f"{scrub_label} === 'Step {target + 1} / {STEPS}'")
    assert headset.input_value("#time-slider") == str(target)  # the desktop slider shows it too
    assert state(headset)["xr"]["selects"] == 0  # the panel took every trigger: nothing behind it was probed


def test_a_finger_poke_on_the_headset_panel_picks_the_field_and_the_colour_map(
    browser_server: LiveServer, new_session: Callable[[], dict[str, Any]], open_page: Callable[..., Page]
) -> None:
    page = open_page(session_url(browser_server, new_session()), init_script=iwer_init_script())
    wait_ready(page)
    wait_state(page, "s.objects[0].field === 'pressure' && s.objects[0].colormap !== null")
    panel = enter_vr(page)
    page.evaluate("() => { window.__xrDevice.primaryInputMode = 'hand'; }")
    colormap = state(page)["objects"][0]["colormap"]
    fields = {c["label"]: c for c in panel["controls"] if c["name"].startswith("field:")}
    assert set(fields) == {"none", "pressure", "temperature"} and fields["pressure"]["active"], fields
    assert sum(c["name"].startswith("object:") for c in panel["controls"]) == 2  # wave and box
    assert {c["name"] for c in panel["controls"]} >= {"colormap:turbo", "colormap:viridis"}

    poke(page, panel, fields["temperature"]["centre"])
    wait_state(page, "s.objects[0].field === 'temperature'")
    assert page.evaluate("() => document.getElementById('field-select').selectedOptions[0].text").startswith(
        "temperature"
    )
    wait_state(page, "s.xr.scenePanel.values.field.startsWith('temperature')")

    target = "turbo" if colormap != "turbo" else "coolwarm"
    poke(page, panel, control(panel, f"colormap:{target}")["centre"])
    wait_state(page, f"s.objects[0].colormap === '{target}'")
    assert page.input_value("#colormap-select") == target
    assert state(page)["xr"]["scenePanel"]["pokes"] == 2

    # another part of the headset view (a clipping plane, say) puts a switch on the panel
    page.evaluate(
        """() => {
          window.__switched = false;
          window.vizserver.app.xr.addPanelToggle({
            name: 'test-switch', label: 'Switch', value: () => window.__switched,
            toggle: () => { window.__switched = !window.__switched; },
          });
        }"""
    )
    wait_state(page, "s.xr.scenePanel.controls.some((c) => c.name === 'test-switch')")
    wait_frames(page)
    panel = state(page)["xr"]["scenePanel"]  # it grew a row: read its controls again
    assert control(panel, "test-switch")["label"] == "Switch: off"
    poke(page, panel, control(panel, "test-switch")["centre"])
    assert page.evaluate("() => window.__switched") is True
    wait_state(page, "s.xr.scenePanel.values['test-switch'] === true")

    # the object row: choose the box (no fields), and the field rows follow it
    page.evaluate("() => { window.__xrDevice.primaryInputMode = 'controller'; }")
    (box,) = [c for c in panel["controls"] if c["name"].startswith("object:") and c["label"] == "box"]
    ray_press(page, panel, box["name"])
    wait_state(page, "s.xr.scenePanel.values.object === 'box'")
    assert page.evaluate("() => document.querySelector('.object-row.selected').dataset.objectName") == "box"
    wait_state(page, "!s.xr.scenePanel.controls.some((c) => c.name.startsWith('field:') && c.name !== 'field:none')")
    assert state(page)["objects"][0]["field"] == "temperature"  # the wave keeps what it shows
