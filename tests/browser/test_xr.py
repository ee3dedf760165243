"""The immersive (WebXR) view in headless Chromium: the Enter VR / Enter AR buttons say why XR is
unavailable, and with iwer emulating a Meta Quest 3 (tests/fixtures/browser.py) the app enters
immersive-vr, places the scene in front of the user, and a controller's trigger on the heart paces a
running cardiac twin (the same twin_action a desktop click sends) or probes the value there.

http://127.0.0.1 is a secure context, so the emulated runtime works over plain http here; the
insecure case reaches the same server under another host name (Chromium maps it to 127.0.0.1).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import pyvista as pv
from fixtures.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    VIEWPORT,
    WAIT_MS,
    canvas_pixels,
    drawn_fraction,
    iwer_init_script,
    state,
    wait_ready,
    wait_state,
)
from fixtures.server import LiveServer
from playwright.sync_api import Browser, Page

from vizserver.anatomy.lv import lv_surface

pytestmark = pytest.mark.browser

NO_WEBXR = "This browser has no WebXR"
TWIN_START_MS = 120_000
"""The twin's worker builds its mesh and operators (and compiles its kernel) before it runs."""

RECORD_SENT = """
window.__sent = [];
for (const Link of [WebSocket, RTCDataChannel]) { // the page's messages go on either (docs/protocol.md "WebRTC")
  const send = Link.prototype.send;
  Link.prototype.send = function (data) {
    if (typeof data === 'string') window.__sent.push(JSON.parse(data));
    return send.call(this, data);
  };
}
"""
INSECURE = "WebXR needs a secure page: open the https:// link (vizserver serve --https)"


def xr_reasons(page: Page) -> dict[str, Any]:
    wait_state(page, "s.xr.support !== null")
    return dict(state(page)["xr"]["support"])


def test_without_webxr_the_buttons_are_disabled_and_say_why(
    browser_server: LiveServer, open_page: Callable[..., Page]
) -> None:
    page = open_page(browser_server.url + "/", init_script="delete Navigator.prototype.xr;")
    wait_ready(page)
    assert xr_reasons(page) == {"immersive-vr": NO_WEBXR, "immersive-ar": NO_WEBXR}
    for button in ("#xr-vr-button", "#xr-ar-button"):
        assert page.is_disabled(button)
        assert page.get_attribute(button, "title") == NO_WEBXR
    assert page.inner_text("#xr-note") == NO_WEBXR


def test_chromium_without_a_headset_says_no_headset_found(
    browser_server: LiveServer, open_page: Callable[..., Page]
) -> None:
    page = open_page(browser_server.url + "/")
    wait_ready(page)
    reasons = xr_reasons(page)
    assert reasons["immersive-vr"] == "No VR headset found", reasons
    assert page.is_disabled("#xr-vr-button")
    assert "No VR headset found" in page.inner_text("#xr-note")


def test_an_insecure_page_points_to_the_https_link(browser_server: LiveServer, browser: Browser) -> None:
    port = browser_server.url.rsplit(":", 1)[1]
    args = [*CHROMIUM_ARGS, "--host-resolver-rules=MAP vizserver.test 127.0.0.1"]
    chromium = browser.browser_type.launch(executable_path=str(CHROMIUM), headless=True, args=args)
    try:
        page = chromium.new_context(viewport=VIEWPORT).new_page()
        page.goto(f"http://vizserver.test:{port}/")
        assert page.evaluate("() => window.isSecureContext") is False
        wait_ready(page)
        assert xr_reasons(page) == {"immersive-vr": INSECURE, "immersive-ar": INSECURE}
        assert page.is_disabled("#xr-vr-button")
        assert page.inner_text("#xr-note") == INSECURE
    finally:
        chromium.close()


def scene_diagonal(page: Page) -> float:
    """Length of the diagonal of the union of the objects' boxes (scene coordinates, m)."""
    corners = page.evaluate(
        "() => [...window.vizserver.app.views.values()].map((v) => [v.bounds.min.toArray(), v.bounds.max.toArray()])"
    )
    box = np.asarray(corners, dtype=np.float64)
    return float(np.linalg.norm(box[:, 1].max(axis=0) - box[:, 0].min(axis=0)))


def set_button(page: Page, hand: str, button: str, value: int) -> None:
    """Set a button of an emulated controller and let a few XR frames see it."""
    frames = state(page)["xr"]["frames"]
    page.evaluate(f"() => window.__xrDevice.controllers.{hand}.updateButtonValue('{button}', {value})")
    wait_state(page, f"s.xr.frames > {frames + 2}")


def press(page: Page, hand: str, button: str) -> None:
    """Press and release a button of an emulated controller, each held for a few XR frames."""
    for value in (1, 0):
        set_button(page, hand, button, value)


def test_enter_vr_places_the_scene_in_front_and_exit_restores_the_desktop_view(
    browser_server: LiveServer, open_page: Callable[..., Page]
) -> None:
    page = open_page(browser_server.url + "/", init_script=iwer_init_script())
    wait_ready(page)
    assert xr_reasons(page) == {"immersive-vr": None, "immersive-ar": None}
    assert page.inner_text("#xr-note") == ""
    page.click("#xr-size-button")  # chosen on the desktop, before entering
    wait_state(page, "s.xr.size === 'life'")
    assert page.inner_text("#xr-size-button") == "Life size"
    page.click("#xr-size-button")
    wait_state(page, "s.xr.size === 'table'")
    camera = "() => window.vizserver.app.viewer.camera.position.toArray()"
    desktop = page.evaluate(camera)

    page.click("#xr-vr-button")
    wait_state(page, "s.xr.presenting && s.xr.frames > 3")
    xr = state(page)["xr"]
    assert xr["mode"] == "immersive-vr"
    assert page.inner_text("#xr-vr-button") == "Exit VR" and page.is_disabled("#xr-ar-button")
    np.testing.assert_allclose(xr["centre"], [0, 1.2, -0.6], atol=1e-6)  # 1.2 m high, 0.6 m ahead
    diagonal = scene_diagonal(page)
    assert xr["scale"] * diagonal == pytest.approx(0.4, rel=1e-4)  # table size: the bounding sphere is 40 cm across
    assert page.evaluate("() => window.vizserver.app.viewer.renderer.xr.getFoveation()") == 1

    press(page, "right", "a-button")  # A toggles life size in the headset
    wait_state(page, "s.xr.size === 'life' && s.xr.scale === 1")
    assert state(page)["xr"]["centre"][2] == pytest.approx(-max(0.6, diagonal / 2 + 0.4))

    page.evaluate("() => window.__xrDevice.activeSession.end()")  # the headset's menu ends the session
    wait_state(page, "!s.xr.presenting && s.xr.mode === null")
    np.testing.assert_allclose(page.evaluate(camera), desktop, atol=1e-9)
    assert state(page)["xr"]["scale"] == 1
    assert page.inner_text("#xr-vr-button") == "Enter VR" and not page.is_disabled("#xr-ar-button")
    assert page.evaluate("() => document.getElementById('viewport-canvas').parentElement.id") == "viewport"
    frames = state(page)["frames"]
    page.click("#fit-button")  # the desktop view draws again
    wait_state(page, f"s.frames > {frames}")
    assert drawn_fraction(canvas_pixels(page)) > 0.01


def test_enter_ar_shows_the_scene_over_passthrough_and_exit_restores_the_background(
    browser_server: LiveServer, open_page: Callable[..., Page]
) -> None:
    page = open_page(browser_server.url + "/", init_script=iwer_init_script())
    wait_ready(page)
    clear_alpha = "() => window.vizserver.app.viewer.renderer.getClearAlpha()"
    page.click("#xr-ar-button")
    wait_state(page, "s.xr.presenting && s.xr.frames > 3")
    assert state(page)["xr"]["mode"] == "immersive-ar"
    assert page.evaluate(clear_alpha) == 0  # the room shows where there is no model
    page.evaluate("() => window.__xrDevice.activeSession.end()")
    wait_state(page, "!s.xr.presenting")
    assert page.evaluate(clear_alpha) == 1


def test_a_refused_session_says_why_and_the_desktop_view_stays(
    browser_server: LiveServer, open_page: Callable[..., Page]
) -> None:
    refuse = (
        "navigator.xr.requestSession = () => Promise.reject(new DOMException('the user declined', 'NotAllowedError'));"
    )
    page = open_page(browser_server.url + "/", init_script=iwer_init_script() + refuse)
    wait_ready(page)
    page.click("#xr-vr-button")
    page.wait_for_function("() => document.querySelector('#xr-note').textContent.startsWith('Could not')")
    assert page.inner_text("#xr-note") == "Could not start VR: the user declined"
    xr = state(page)["xr"]
    assert not xr["presenting"] and xr["mode"] is None and xr["scale"] == 1
    assert page.inner_text("#xr-vr-button") == "Enter VR" and not page.is_disabled("#xr-vr-button")




def distance_to_ventricle(point: npt.ArrayLike) -> float:
    """Distance (mm) from ``point`` (the ventricle's own coordinates) to its surface."""
    mesh = lv_surface(24)
    faces = np.hstack([np.full((len(mesh.triangles), 1), 3), mesh.triangles]).ravel()
    surface = pv.PolyData(np.asarray(mesh.vertices, dtype=np.float64), faces)
    _, closest = surface.find_closest_cell(np.asarray(point, dtype=np.float64), return_closest_point=True)
    return float(np.linalg.norm(np.asarray(closest) - np.asarray(point)))


def aim_right_controller(page: Page, at: list[float], back_m: float) -> None:
    """Hold the right controller ``back_m`` behind ``at`` (XR space), pointing straight at it (-z)."""
    x, y, z = at
    page.evaluate(
        f"""() => {{
          const c = window.__xrDevice.controllers.right;
          c.position.set({x}, {y}, {z + back_m});
          c.quaternion.set(0, 0, 0, 1);
        }}"""
    )


def test_the_trigger_on_the_heart_paces_the_twin_there_or_probes_it(
    twin_server: LiveServer, open_page: Callable[..., Page]
) -> None:
    page = open_page(f"{twin_server.url}/", init_script=RECORD_SENT + iwer_init_script())
    wait_ready(page)
    wait_state(page, "s.twin && s.twin.state === 'running' && s.objects[0].liveField === 'vm'", timeout=TWIN_START_MS)
    page.click("#twin-tools button[data-action='pace here']")
    page.click("#xr-vr-button")
    wait_state(page, "s.xr.presenting && s.xr.frames > 3")
    aim_right_controller(page, state(page)["xr"]["centre"], 0.35)
    wait_state(page, "s.xr.hovered.includes('ventricle')")  # the ray stops on the heart: highlight and reticle
    assert page.evaluate("() => window.vizserver.app.viewer.content.getObjectByName('xr-hover-highlight').visible")

    press(page, "right", "trigger")
    wait_state(page, "s.twin.markers === 1 && s.twin.lastLatencyMs !== null", timeout=WAIT_MS)
    (action,) = [m for m in page.evaluate("() => window.__sent") if m["type"] == "twin_action"]
    assert action["action"] == "pace here"
    # the same message a desktop click sends: the point on the surface, in the ventricle's own millimetres
    assert distance_to_ventricle(action["point"]) < 0.05, action["point"]
    assert state(page)["xr"]["probe"] is None  # a tool trigger is not a probe

    page.keyboard.press("Escape")  # no tool: the trigger probes
    wait_state(page, "s.twin.tool === null")
    press(page, "right", "trigger")
    wait_state(page, "s.xr.probe !== null && s.twin.probeSamples >= 2")
    xr = state(page)["xr"]
    assert xr["probe"].startswith("vm = ") and xr["probe"].endswith("mV"), xr["probe"]
    assert xr["selects"] == 2
    assert len([m for m in page.evaluate("() => window.__sent") if m["type"] == "twin_action"]) == 1


def test_a_hand_pinch_on_a_surface_probes_it(browser_server: LiveServer, open_page: Callable[..., Page]) -> None:
    page = open_page(browser_server.url + "/", init_script=iwer_init_script())
    wait_ready(page)
    page.click("#xr-vr-button")
    wait_state(page, "s.xr.presenting && s.xr.frames > 3")
    x, y, z = state(page)["xr"]["centre"]
    page.evaluate(
        f"""() => {{
          const device = window.__xrDevice;
          device.primaryInputMode = 'hand';
          device.hands.right.position.set({x}, {y}, {z + 0.35});
          device.hands.right.quaternion.set(0, 0, 0, 1);
        }}"""
    )
    wait_state(page, "s.xr.hovered.some((name) => name !== null)")
    for value in (1, 0):
        frames = state(page)["xr"]["frames"]
        page.evaluate(f"() => window.__xrDevice.hands.right.updatePinchValue({value})")
        wait_state(page, f"s.xr.frames > {frames + 2}")
    wait_state(page, "s.xr.probe !== null")
    xr = state(page)["xr"]
    assert xr["selects"] == 1
    assert xr["probe"] == page.text_content("#probe-label")  # the value the desktop label shows, in the headset
    assert " = " in xr["probe"] or "no field shown" in xr["probe"], xr["probe"]


OVERLAY_TEXT = re.compile(r"^\d+\.\d\d ms mean\s+\d+\.\d\d ms p95\s+[1-9]\d* calls\s+[\d.]+[kM]? tris$")


def test_the_debug_overlay_shows_frame_times_on_the_desktop_and_in_the_headset(
    browser_server: LiveServer, open_page: Callable[..., Page]
) -> None:
    page = open_page(browser_server.url + "/?debug=1", init_script=iwer_init_script())
    wait_ready(page)
    wait_state(page, "s.frame.triangles > 0 && / [1-9]\\d* calls/.test(s.frame.overlay)")
    assert page.is_visible("#frame-overlay")
    assert OVERLAY_TEXT.match(page.inner_text("#frame-overlay")), page.inner_text("#frame-overlay")
    desktop = state(page)["frame"]
    assert desktop["frames"] >= 1 and desktop["calls"] >= 1 and desktop["triangles"] > 0 and not desktop["xr"]
    assert 0 < desktop["meanMs"] <= desktop["p95Ms"] or desktop["frames"] == 1
    page.keyboard.press("`")  # the key turns debug mode off and on
    wait_state(page, "s.frame.overlay === null")
    assert page.is_hidden("#frame-overlay")
    page.keyboard.press("`")
    wait_state(page, "s.frame.overlay !== null")

    page.click("#xr-vr-button")
    wait_state(page, "s.xr.presenting && s.frame.xr && s.frame.frames > 10 && s.frame.xrLabel")
    xr = state(page)["frame"]
    assert xr["calls"] >= 2 * desktop["calls"]  # both eyes
    assert xr["triangles"] >= 2 * desktop["triangles"]
    assert 0 < xr["meanMs"] <= xr["p95Ms"]
    label = page.evaluate(
        """() => {
          const viewer = window.vizserver.app.viewer;
          const sprite = viewer.scene.getObjectByName('xr-frame-overlay');
          const head = viewer.renderer.xr.getCamera().getWorldPosition(sprite.position.clone());
          return { visible: sprite.visible, distance: sprite.position.distanceTo(head),
                   drawn: sprite.material.map.version > 0 };
        }"""
    )
    assert label["visible"] and label["drawn"]
    assert 0.5 < label["distance"] < 0.8  # floating in front of the head, readable
    assert OVERLAY_TEXT.match(xr["overlay"]), xr["overlay"]


def aim_right_controller_at_panel(page: Page, point: list[float], panel: dict[str, Any]) -> None:
    """Hold the right controller 30 cm in front of ``point`` on the headset's twin panel, pointing into it."""
    x, y, z = np.asarray(point) + 0.3 * np.asarray(panel["normal"])
    qx, qy, qz, qw = panel["quaternion"]  # the panel faces +z; a controller points along its -z
    page.evaluate(
        f"""() => {{
          const c = window.__xrDevice.controllers.right;
          c.position.set({x}, {y}, {z});
          c.quaternion.set({qx}, {qy}, {qz}, {qw});
        }}"""
    )


def wait_frames(page: Page, count: int = 3) -> None:
    frames = state(page)["xr"]["frames"]
    wait_state(page, f"s.xr.frames > {frames + count}")


def test_the_headset_panel_drags_a_twin_parameter_and_picks_a_tool(
    twin_server: LiveServer, open_page: Callable[..., Page]
) -> None:
    page = open_page(f"{twin_server.url}/", init_script=RECORD_SENT + iwer_init_script())
    wait_ready(page)
    wait_state(page, "s.twin && s.twin.state === 'running' && s.objects[0].liveField === 'vm'", timeout=TWIN_START_MS)
    page.click("#xr-vr-button")
    wait_state(page, "s.xr.presenting && s.xr.panel.visible && s.xr.panel.controls.length > 2")
    panel = state(page)["xr"]["panel"]
    controls = {c["name"]: c for c in panel["controls"]}
    assert {"play", "reset", "cycle_length", "stim_amplitude", "pace here"} <= controls.keys(), controls.keys()
    # to the left of the model, facing the user (its normal points back towards the origin)
    centre = np.asarray(state(page)["xr"]["centre"])
    assert panel["position"][0] < centre[0] - 0.1
    assert np.dot(panel["normal"], -np.asarray(panel["position"])) > 0
    assert state(page)["xr"]["panel"]["values"]["stim_amplitude"] == 20  # the twin's value

    # press on the slider near its left end, drag to three quarters (0 to 100: 75), let go
    slider = controls["stim_amplitude"]
    left, right = np.asarray(slider["left"]), np.asarray(slider["right"])
    aim_right_controller_at_panel(page, list(left + 0.1 * (right - left)), panel)
    wait_state(page, "s.xr.panel.hovered.includes('stim_amplitude')")
    page.evaluate("() => window.__xrDevice.controllers.right.updateButtonValue('trigger', 1)")
    wait_frames(page)
    for fraction in (0.3, 0.5, 0.75):
        aim_right_controller_at_panel(page, list(left + fraction * (right - left)), panel)
        wait_frames(page)
    page.evaluate("() => window.__xrDevice.controllers.right.updateButtonValue('trigger', 0)")
    wait_state(page, "s.twin.params.stim_amplitude === 75", timeout=WAIT_MS)  # the server's broadcast
    wait_state(page, "s.xr.panel.values.stim_amplitude === 75")
    sent = [m for m in page.evaluate("() => window.__sent") if m["type"] == "twin_params"]
    assert sent and all(list(m["values"]) == ["stim_amplitude"] for m in sent), sent
    assert sent[-1]["values"]["stim_amplitude"] == 75
    # the desktop control too (once its hold after the drag ends)
    page.wait_for_selector(
        "#twin-params [data-name='stim_amplitude'][data-value='75']", state="attached", timeout=WAIT_MS
    )
    assert state(page)["xr"]["selects"] == 0  # the panel took the trigger: no probe behind it

    # a tool from the panel, then the trigger on the heart acts there
    aim_right_controller_at_panel(page, controls["pace here"]["centre"], panel)
    wait_state(page, "s.xr.panel.hovered.includes('pace here')")
    press(page, "right", "trigger")
    wait_state(page, "s.twin.tool === 'pace here'")
    aim_right_controller(page, state(page)["xr"]["centre"], 0.35)
    wait_state(page, "s.xr.hovered.includes('ventricle')")
    press(page, "right", "trigger")
    wait_state(page, "s.twin.markers === 1")
    (action,) = [m for m in page.evaluate("() => window.__sent") if m["type"] == "twin_action"]
    assert action["action"] == "pace here" and distance_to_ventricle(action["point"]) < 0.05, action


def hold(page: Page, hand: str, at: list[float]) -> None:
    """Hold an emulated controller at ``at`` (XR space), pointing straight ahead (-z), for a few XR frames."""
    x, y, z = at
    frames = state(page)["xr"]["frames"]
    page.evaluate(
        f"""() => {{
          const c = window.__xrDevice.controllers.{hand};
          c.position.set({x}, {y}, {z});
          c.quaternion.set(0, 0, 0, 1);
        }}"""
    )
    wait_state(page, f"s.xr.frames > {frames + 2}")


def squeeze(page: Page, hand: str, value: int) -> None:
    set_button(page, hand, "squeeze", value)


def test_squeezing_the_heart_and_moving_the_controller_moves_the_model_by_the_same_delta(
    browser_server: LiveServer, open_page: Callable[..., Page]
) -> None:
    page = open_page(browser_server.url + "/", init_script=iwer_init_script())
    wait_ready(page)
    page.click("#xr-vr-button")
    wait_state(page, "s.xr.presenting && s.xr.frames > 3")
    x, y, z = state(page)["xr"]["centre"]
    hold(page, "right", [x, y, z + 0.35])
    wait_state(page, "s.xr.hovered.some((name) => name !== null)")
    start = np.asarray(state(page)["xr"]["position"])
    scale = state(page)["xr"]["scale"]
    squeeze(page, "right", 1)
    wait_state(page, "s.xr.grab.holding === 1")
    np.testing.assert_allclose(state(page)["xr"]["position"], start, atol=1e-5)  # no jump to the hand
    delta = np.array([0.1, 0.05, -0.15])
    hold(page, "right", [x + delta[0], y + delta[1], z + 0.35 + delta[2]])
    np.testing.assert_allclose(state(page)["xr"]["position"], start + delta, atol=1e-4)
    assert state(page)["xr"]["scale"] == pytest.approx(scale, rel=1e-5)

    squeeze(page, "right", 0)  # let go: the model stays where it was left
    wait_state(page, "s.xr.grab.holding === 0")
    hold(page, "right", [x, y, z + 0.35])
    np.testing.assert_allclose(state(page)["xr"]["position"], start + delta, atol=1e-4)
    assert state(page)["xr"]["selects"] == 0  # a squeeze is not a probe


def test_two_controllers_squeezing_and_moving_apart_scale_the_model_by_the_ratio_and_turn_it(
    browser_server: LiveServer, open_page: Callable[..., Page]
) -> None:
    page = open_page(browser_server.url + "/", init_script=iwer_init_script())
    wait_ready(page)
    page.click("#xr-vr-button")
    wait_state(page, "s.xr.presenting && s.xr.frames > 3")
    x, y, z = state(page)["xr"]["centre"]
    hold(page, "left", [x - 0.1, y, z + 0.3])
    hold(page, "right", [x + 0.1, y, z + 0.3])
    scale = state(page)["xr"]["scale"]
    squeeze(page, "left", 1)
    squeeze(page, "right", 1)
    wait_state(page, "s.xr.grab.holding === 2")
    hold(page, "left", [x - 0.25, y, z + 0.3])
    hold(page, "right", [x + 0.25, y, z + 0.3])  # 20 cm apart -> 50 cm apart
    assert state(page)["xr"]["scale"] == pytest.approx(2.5 * scale, rel=1e-4)
    turned = "() => window.vizserver.app.viewer.content.quaternion.toArray()"
    before = page.evaluate(turned)
    hold(page, "left", [x, y, z + 0.3 + 0.25])
    hold(page, "right", [x, y, z + 0.3 - 0.25])  # the line between the hands turned a quarter about the vertical
    quarter = page.evaluate(
        f"""() => {{
          const q = window.vizserver.app.viewer.content.quaternion;
          const turn = q.clone().setFromAxisAngle({{x: 0, y: 1, z: 0}}, Math.PI / 2);
          return turn.multiply(q.clone().fromArray({before})).angleTo(q);
        }}"""
    )
    assert quarter < 1e-4
    assert state(page)["xr"]["scale"] == pytest.approx(2.5 * scale, rel=1e-4)  # same distance: same scale
    squeeze(page, "left", 0)
    squeeze(page, "right", 0)
    wait_state(page, "s.xr.grab.holding === 0")
    hold(page, "right", [x, y, z + 0.3])
    assert state(page)["xr"]["scale"] == pytest.approx(2.5 * scale, rel=1e-4)  # release keeps it


TABLE_HIT = [0.2, 0.75, -0.5]
"""Where the emulated room's table is hit (local-floor space, m)."""

SYNTHETIC_TABLE = f"""
// iwer computes hit tests in a Synthetic Environment Module (@iwer/sem, not installed); this one is a
// room whose every ray meets a table top at TABLE_HIT.
window.__xrDevice.installSEM(class {{
  constructor() {{
    this.environmentCanvas = document.createElement('canvas');
    this.trackedPlanes = new Set();
    this.trackedMeshes = new Set();
  }}
  render() {{}}
  computeHitTestResults() {{
    const m = new Float32Array(16);
    m[0] = m[5] = m[10] = m[15] = 1;
    [m[12], m[13], m[14]] = {TABLE_HIT};
    return [m];
  }}
}});
"""


def test_immersive_ar_places_the_model_on_the_hit_test_pose(
    browser_server: LiveServer, open_page: Callable[..., Page]
) -> None:
    page = open_page(browser_server.url + "/", init_script=iwer_init_script() + SYNTHETIC_TABLE)
    wait_ready(page)
    page.click("#xr-ar-button")
    wait_state(page, "s.xr.presenting && s.xr.hitTest.placing")
    reticle = "() => window.vizserver.app.viewer.scene.getObjectByName('xr-hit-reticle')"
    page.wait_for_function(f"() => ({reticle})().visible", timeout=WAIT_MS)
    np.testing.assert_allclose(
        page.evaluate(f"() => ({reticle})().matrix.elements.slice(12, 15)"), TABLE_HIT, atol=1e-6
    )
    press(page, "right", "trigger")
    wait_state(page, "!s.xr.hitTest.placing && s.xr.hitTest.surface !== null")
    xr = state(page)["xr"]
    np.testing.assert_allclose(xr["hitTest"]["surface"], TABLE_HIT, atol=1e-6)
    assert xr["selects"] == 0  # the placing trigger probes nothing
    assert xr["scale"] * scene_diagonal(page) == pytest.approx(0.4, rel=1e-4)  # table size
    centre = page.evaluate(
        """() => {
          const app = window.vizserver.app;
          const box = new app.viewer.content.position.constructor();
          const boxes = [...app.views.values()].map((v) => v.bounds);
          const union = boxes[0].clone();
          for (const b of boxes) union.union(b);
          return union.getCenter(box).applyMatrix4(app.viewer.content.matrixWorld).toArray();
        }"""
    )
    np.testing.assert_allclose(centre, [TABLE_HIT[0], TABLE_HIT[1] + 0.2, TABLE_HIT[2]], atol=1e-4)  # resting on it
    assert not page.evaluate(f"() => ({reticle})().visible")


def test_immersive_ar_without_hit_test_keeps_the_model_in_front(
    browser_server: LiveServer, open_page: Callable[..., Page]
) -> None:
    page = open_page(browser_server.url + "/", init_script=iwer_init_script())  # no environment: no hit test
    wait_ready(page)
    page.click("#xr-ar-button")
    wait_state(page, "s.xr.presenting && s.xr.frames > 3")
    xr = state(page)["xr"]
    assert xr["hitTest"] == {"available": False, "placing": False, "surface": None}
    np.testing.assert_allclose(xr["centre"], [0, 1.2, -0.6], atol=1e-6)
    x, y, z = xr["centre"]
    aim_right_controller(page, [x, y, z], 0.35)
    wait_state(page, "s.xr.hovered.some((name) => name !== null)")
    press(page, "right", "trigger")
    wait_state(page, "s.xr.selects === 1")  # the trigger probes at once


def test_a_hand_pinch_and_drag_on_the_heart_moves_the_model_without_probing(
    browser_server: LiveServer, open_page: Callable[..., Page]
) -> None:
    page = open_page(browser_server.url + "/", init_script=iwer_init_script())
    wait_ready(page)
    page.click("#xr-vr-button")
    wait_state(page, "s.xr.presenting && s.xr.frames > 3")
    x, y, z = state(page)["xr"]["centre"]
    move_hand = """([x, y, z]) => {
      const device = window.__xrDevice;
      device.primaryInputMode = 'hand';
      device.hands.right.position.set(x, y, z);
      device.hands.right.quaternion.set(0, 0, 0, 1);
    }"""
    page.evaluate(move_hand, [x, y, z + 0.35])
    wait_state(page, "s.xr.hovered.some((name) => name !== null)")
    start = np.asarray(state(page)["xr"]["position"])
    pinch = "(value) => window.__xrDevice.hands.right.updatePinchValue(value)"
    page.evaluate(pinch, 1)
    wait_state(page, "s.xr.grab.holding === 1")
    frames = state(page)["xr"]["frames"]
    page.evaluate(move_hand, [x - 0.1, y + 0.1, z + 0.35])
    wait_state(page, f"s.xr.frames > {frames + 2}")
    page.evaluate(pinch, 0)
    wait_state(page, "s.xr.grab.holding === 0")
    np.testing.assert_allclose(state(page)["xr"]["position"], start + np.array([-0.1, 0.1, 0]), atol=1e-4)
    assert state(page)["xr"]["selects"] == 0 and state(page)["xr"]["probe"] is None  # a drag is not a select


RIGHT_TIP = """() => {
  const xr = window.vizserver.app.viewer.renderer.xr;
  const hand = window.__xrDevice.hands.right.position;
  const tips = [0, 1].map((i) => xr.getHand(i)).filter((h) => h.visible && h.joints['index-finger-tip']?.visible)
    .map((h) => h.joints['index-finger-tip'].getWorldPosition(h.position.clone()));
  tips.sort((a, b) => a.distanceTo(hand) - b.distanceTo(hand));
  return tips.length ? [tips[0].toArray(), [hand.x, hand.y, hand.z]] : null;
}"""


def put_right_fingertip(page: Page, at: npt.ArrayLike, panel: dict[str, Any]) -> None:
    """Move the emulated right hand (turned like the panel) so its index fingertip is at ``at`` (XR space)."""
    qx, qy, qz, qw = panel["quaternion"]
    page.evaluate(f"() => window.__xrDevice.hands.right.quaternion.set({qx}, {qy}, {qz}, {qw})")
    wait_frames(page)
    tip, hand = page.evaluate(RIGHT_TIP)
    x, y, z = np.asarray(at) - (np.asarray(tip) - np.asarray(hand))
    page.evaluate(f"() => window.__xrDevice.hands.right.position.set({x}, {y}, {z})")
    wait_frames(page)


def test_a_finger_poke_on_the_headset_panel_picks_a_tool_and_sets_a_slider(
    twin_server: LiveServer, open_page: Callable[..., Page]
) -> None:
    page = open_page(f"{twin_server.url}/", init_script=RECORD_SENT + iwer_init_script())
    wait_ready(page)
    wait_state(page, "s.twin && s.twin.state === 'running'", timeout=TWIN_START_MS)
    page.click("#xr-vr-button")
    wait_state(page, "s.xr.presenting && s.xr.panel.visible && s.xr.panel.controls.length > 2")
    page.evaluate("() => { window.__xrDevice.primaryInputMode = 'hand'; }")
    panel = state(page)["xr"]["panel"]
    controls = {c["name"]: c for c in panel["controls"]}
    normal = np.asarray(panel["normal"])
    tool = np.asarray(controls["place scar"]["centre"])
    put_right_fingertip(page, tool + 0.05 * normal, panel)  # in front: highlights, does not press
    wait_state(page, "s.xr.panel.touched.includes('place scar')")
    assert state(page)["twin"]["tool"] is None and state(page)["xr"]["panel"]["pokes"] == 0
    put_right_fingertip(page, tool - 0.003 * normal, panel)  # touch
    wait_state(page, "s.twin.tool === 'place scar'")
    put_right_fingertip(page, tool + 0.1 * normal, panel)  # back off

    slider = controls["stim_amplitude"]
    left, right = np.asarray(slider["left"]), np.asarray(slider["right"])
    put_right_fingertip(page, left + 0.5 * (right - left) + 0.05 * normal, panel)
    put_right_fingertip(page, left + 0.5 * (right - left) - 0.003 * normal, panel)
    put_right_fingertip(page, left + 0.5 * (right - left) + 0.1 * normal, panel)
    wait_state(page, "s.twin.params.stim_amplitude === 50", timeout=WAIT_MS)
    assert state(page)["xr"]["panel"]["pokes"] == 2
    sent = [m for m in page.evaluate("() => window.__sent") if m["type"] == "twin_params"]
    assert sent[-1]["values"] == {"stim_amplitude": 50}, sent

    # the model moved (a grab, an AR placement): the panel stays beside it
    x0 = state(page)["xr"]["panel"]["position"][0]
    page.evaluate("() => { window.vizserver.app.viewer.content.position.x += 0.2; }")
    wait_state(page, f"Math.abs(s.xr.panel.position[0] - {x0 + 0.2}) < 1e-6")
