"""Presence in two pages of one session: each sees the other's avatar where the other's camera is."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from fixtures.browser import iwer_init_script, join_url, session_url, state, wait_ready, wait_state
from fixtures.server import LiveServer
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = pytest.mark.browser

TOLERANCE = 0.01
"""How close (scene units; the scene is about 1.5 across, the camera about 4 away) B's avatar of A must
come to A's camera: float16 keeps ~0.002 at that distance."""


def head_of_peer(page: Page, client_id: str) -> list[float] | None:
    for peer in state(page)["presence"]["peers"]:
        if peer["clientId"] == client_id and peer["visible"]:
            return list(peer["head"])
    return None


def avatar_reaches(viewer: Page, client_id: str, where: list[float], timeout: int) -> bool:
    """Whether ``viewer``'s avatar of ``client_id`` comes within TOLERANCE of ``where`` within ``timeout`` ms."""
    condition = (
        f"s.presence.peers.some(p => p.clientId === {json.dumps(client_id)} && p.visible && "
        f"Math.hypot(...p.head.map((v, i) => v - {json.dumps(where)}[i])) < {TOLERANCE})"
    )
    try:
        wait_state(viewer, condition, timeout=timeout)
    except PlaywrightTimeout:
        return False
    return True


def settled_avatar(mover: Page, viewer: Page) -> tuple[list[float], list[float]]:
    """Wait until ``viewer`` draws ``mover``'s avatar at the head ``mover`` last sent (the orbit's damping may
    still be moving it): (mover's head, viewer's avatar head)."""
    mover_id = state(mover)["clientId"]
    for _ in range(30):
        sent = state(mover)["presence"]["self"]["head"]
        if avatar_reaches(viewer, mover_id, sent, timeout=2000) and state(mover)["presence"]["self"]["head"] == sent:
            drawn = head_of_peer(viewer, mover_id)
            assert drawn is not None
            return sent, drawn
    raise AssertionError(f"the avatar never settled on the mover's camera: {state(viewer)['presence']}")


def test_orbiting_in_one_page_moves_its_avatar_in_the_other(
    browser_server: LiveServer, new_session: Callable[[], dict[str, Any]], open_page: Callable[..., Page]
) -> None:
    session = new_session()
    a = open_page(session_url(browser_server, session))
    b = open_page(join_url(browser_server, session))
    for page in (a, b):
        wait_ready(page)
        wait_state(page, "s.presence.self !== null && s.presence.self.sent > 0")
    a_id, b_id = state(a)["clientId"], state(b)["clientId"]
    before, drawn = settled_avatar(a, b)
    assert math.dist(before, drawn) < TOLERANCE
    peer = next(p for p in state(b)["presence"]["peers"] if p["clientId"] == a_id)
    assert peer["name"] and peer["color"].startswith("#") and not peer["xr"] and peer["hands"] == 0
    assert peer["near"], "both pages fitted the same view: A's head is at B's eye and is not drawn there"
    assert [p["clientId"] for p in state(a)["presence"]["peers"]] == [b_id]  # A sees B, not itself

    box = a.locator("#viewport-canvas").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    a.mouse.move(x, y)
    a.mouse.down()
    a.mouse.move(x + 250, y + 40, steps=10)  # orbit: the camera swings round the model
    a.mouse.up()
    after, drawn = settled_avatar(a, b)
    assert math.dist(before, after) > 1.0, "the drag did not orbit A's camera"
    assert math.dist(after, drawn) < TOLERANCE
    assert not next(p for p in state(b)["presence"]["peers"] if p["clientId"] == a_id)["near"]

    a.close()
    wait_state(b, f"!s.presence.peers.some(p => p.clientId === {json.dumps(a_id)})")
    assert head_of_peer(b, a_id) is None


def test_the_mouse_over_the_model_is_a_pointer_the_other_page_draws(
    browser_server: LiveServer, new_session: Callable[[], dict[str, Any]], open_page: Callable[..., Page]
) -> None:
    session = new_session()
    a = open_page(session_url(browser_server, session))
    b = open_page(join_url(browser_server, session))
    for page in (a, b):
        wait_ready(page)
    a_id = state(a)["clientId"]
    box = a.locator("#viewport-canvas").bounding_box()
    assert box is not None
    a.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # the model is in the middle
    wait_state(a, "s.presence.self !== null && s.presence.self.pointer")
    wait_state(b, f"s.presence.peers.some(p => p.clientId === {json.dumps(a_id)} && p.pointer)")
    a.mouse.move(box["x"] + 5, box["y"] + 5)  # empty space: no pointer
    wait_state(b, f"s.presence.peers.some(p => p.clientId === {json.dumps(a_id)} && p.visible && !p.pointer)")


def test_a_headset_users_head_hands_and_pointer_reach_the_desktop_page(
    browser_server: LiveServer, new_session: Callable[[], dict[str, Any]], open_page: Callable[..., Page]
) -> None:
    session = new_session()
    headset = open_page(session_url(browser_server, session), init_script=iwer_init_script())
    desk = open_page(join_url(browser_server, session))
    for page in (headset, desk):
        wait_ready(page)
    headset_id = state(headset)["clientId"]
    headset.click("#xr-vr-button")
    wait_state(headset, "s.xr.presenting && s.xr.frames > 3")
    wait_state(desk, f"s.presence.peers.some(p => p.clientId === {json.dumps(headset_id)} && p.xr && p.hands === 2)")
    headset.evaluate("() => window.__xrDevice.position.set(0.3, 1.7, 0.2)")
    sent, drawn = settled_avatar(headset, desk)
    assert math.dist(sent, drawn) < TOLERANCE
    # what was sent is the head in the content's coordinates: the same place relative to the model
    # whatever the headset's placement and scale of it
    expected = headset.evaluate(
        """() => {
          const { camera, content } = window.vizserver.app.viewer;
          const toContent = content.matrixWorld.clone().invert();
          return camera.getWorldPosition(camera.position.clone()).applyMatrix4(toContent).toArray();
        }"""
    )
    assert math.dist(sent, expected) < TOLERANCE * 5, (sent, expected)
    centre = state(headset)["xr"]["centre"]
    headset.evaluate(
        f"""() => {{
          const c = window.__xrDevice.controllers.right;
          c.position.set({centre[0]}, {centre[1]}, {centre[2] + 0.35});
          c.quaternion.set(0, 0, 0, 1);
        }}"""
    )
    wait_state(headset, "s.xr.hovered.some(name => name !== null)")
    wait_state(desk, f"s.presence.peers.some(p => p.clientId === {json.dumps(headset_id)} && p.pointer)")
