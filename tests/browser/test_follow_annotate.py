"""Follow me, annotations and the guided tour across pages of one session (headless Chromium, a real server)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fixtures.browser import (
    ensure_client_built,
    iwer_init_script,
    join_url,
    session_url,
    state,
    wait_ready,
    wait_state,
)
from fixtures.server import LiveServer, post_json, start_process_server, write_scene
from playwright.sync_api import Page

pytestmark = pytest.mark.browser

CAMERA_TOLERANCE = 0.02
"""How close (scene units; the scene is about 1.5 across, the camera about 4 away) a follower's camera must come
to the leader's: float16 presence keeps ~0.002 there, and the glide closes in exponentially."""


def camera(page: Page) -> list[float]:
    return list(page.evaluate("() => window.vizserver.app.viewer.camera.position.toArray()"))


def distance_to(point: list[float]) -> str:
    """JS: the page's camera's distance to ``point``."""
    return (f"Math.hypot(...window.vizserver.app.viewer.camera.position.toArray().map((v, i) => v - "
            f"{json.dumps(point)}[i]))")


def drag(page: Page, dx: float, dy: float) -> None:
    """Drag across the middle of the view (an orbit when the controls are on)."""
    box = page.locator("#viewport-canvas").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y + dy, steps=8)
    page.mouse.up()


def make_presenter(host: Page, member: str) -> None:
    """The host hands the presenter role over through its own socket (as its members panel does)."""
    host.evaluate(f"() => window.vizserver.app.connection.send({{type: 'set_role', member: {json.dumps(member)}, "
                  "role: 'presenter'})")


def settled(page: Page) -> list[float]:
    """Wait until ``page``'s presence has told the others where its camera is now (damping is off: a drag ends
    where the mouse stops)."""
    page.wait_for_function(
        """() => {
          const p = window.vizserver.app.viewer.camera.position.toArray();
          const head = window.vizserver.state().presence.self.head;
          return Math.hypot(...p.map((v, i) => v - head[i])) < 0.005;
        }""",
        timeout=10_000,
    )
    return camera(page)


def camera_reaches(follower: Page, leader: Page) -> None:
    """Wait until ``follower``'s camera is where ``leader``'s camera came to rest."""
    head = settled(leader)
    follower.wait_for_function(f"() => {distance_to(head)} < {CAMERA_TOLERANCE}", timeout=10_000)


@pytest.fixture
def host_and_guest(
    browser_server: LiveServer, new_session: Callable[[], dict[str, Any]], open_page: Callable[..., Page]
) -> tuple[Page, Page]:
    """Page ``host`` made the session; page ``guest`` joined it by the invite link (a participant)."""
    session = new_session()
    host = open_page(session_url(browser_server, session))
    guest = open_page(join_url(browser_server, session))
    for page in (host, guest):
        wait_ready(page)
        wait_state(page, "s.presence.self !== null && s.presence.self.sent > 0")
        page.evaluate("() => { window.vizserver.app.viewer.controls.enableDamping = false; }")  # drags end at once
    return host, guest


def test_the_presenter_leads_and_locks_the_followers_camera_then_releases_it(host_and_guest: tuple[Page, Page]) -> None:
    host, guest = host_and_guest
    assert guest.locator("#follow-section").is_hidden(), "a participant was offered the follow controls"
    make_presenter(host, guest.evaluate("() => window.vizserver.app.avatars.selfMember"))
    guest.locator("#follow-section").wait_for(state="visible")
    drag(guest, 220, 60)  # the presenter looks from somewhere else
    guest.click("#follow-lock")
    wait_state(host, "s.follow.following && s.follow.lock && !s.follow.controls")
    assert "Following" in host.inner_text("#follow-banner") and host.locator("#follow-toggle").is_hidden()
    camera_reaches(host, guest)
    assert "follows you" in guest.inner_text("#follow-status")

    drag(guest, -300, -40)  # the presenter orbits: the follower goes along
    camera_reaches(host, guest)
    locked_at = camera(host)
    drag(host, 250, 0)  # a locked follower cannot orbit away
    camera_reaches(host, guest)
    assert math.dist(camera(host), locked_at) < CAMERA_TOLERANCE

    guest.click("#follow-release")
    wait_state(host, "!s.follow.following && s.follow.controls && s.follow.banner === null")
    released_at = camera(host)
    assert math.dist(released_at, locked_at) < CAMERA_TOLERANCE, "the release moved the view"
    drag(host, 250, 0)
    host.wait_for_function(f"() => {distance_to(released_at)} > 0.5")


def test_an_unlocked_follower_stops_following_and_follows_again(host_and_guest: tuple[Page, Page]) -> None:
    host, guest = host_and_guest
    drag(host, -200, 30)
    host.click("#follow-bring")  # the host leads too (it has the presenter's rights)
    wait_state(guest, "s.follow.following && !s.follow.lock && s.follow.controls")
    assert guest.inner_text("#follow-toggle") == "Stop following"
    camera_reaches(guest, host)
    box = guest.locator("#viewport-canvas").bounding_box()
    assert box is not None
    guest.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # a probe click is not an orbit
    guest.locator("#probe-label").wait_for(state="visible")
    assert state(guest)["follow"]["following"], "a click stopped following"
    guest.click("#follow-toggle")
    wait_state(guest, "!s.follow.following && s.follow.stopped")
    assert "is leading" in guest.inner_text("#follow-banner")
    drag(host, 300, 0)
    host_head = state(host)["presence"]["self"]["head"]
    assert math.dist(camera(guest), host_head) > 0.5, "a follower that stopped still follows"
    guest.click("#follow-toggle")
    camera_reaches(guest, host)
    drag(guest, 200, 0)  # orbiting away stops following too
    wait_state(guest, "!s.follow.following && s.follow.stopped")


def test_an_annotation_made_in_one_page_appears_in_the_others_and_the_host_deletes_it(
    browser_server: LiveServer, new_session: Callable[[], dict[str, Any]], open_page: Callable[..., Page]
) -> None:
    session = new_session()
    host = open_page(session_url(browser_server, session))
    author = open_page(join_url(browser_server, session))
    other = open_page(join_url(browser_server, session))
    for page in (host, author, other):
        wait_ready(page)
    author.click("#annotate-pin")
    box = author.locator("#viewport-canvas").bounding_box()
    assert box is not None
    author.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # the model is in the middle
    author.locator("#pin-prompt").wait_for(state="visible")
    author.fill("#pin-text", "Scar border here")
    author.press("#pin-text", "Enter")
    for page in (host, author, other):
        wait_state(page, "s.annotations.items.some(a => a.kind === 'pin' && a.text === 'Scar border here'"
                         " && a.visible)")
        assert page.locator(".annotation-row", has_text="Scar border here").count() == 1
    pin = state(other)["annotations"]["items"][0]
    assert pin == state(host)["annotations"]["items"][0], "the pages draw the pin in different places"
    assert other.locator(f"#annotation-delete-{pin['id']}").count() == 0, "a third member may delete the author's pin"
    assert author.locator(f"#annotation-delete-{pin['id']}").count() == 1

    author.click("#annotate-draw")
    before = camera(author)
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    author.mouse.move(x - 40, y)
    author.mouse.down()
    author.mouse.move(x + 40, y + 20, steps=10)
    author.mouse.up()
    assert math.dist(camera(author), before) < 1e-9, "drawing orbited the camera"
    for page in (host, other):
        wait_state(page, "s.annotations.items.some(a => a.kind === 'stroke' && a.points >= 2)")

    export = author.request.get(author.eval_on_selector("#annotation-export", "(a) => a.href"))
    assert export.status == 200
    kinds = [a["kind"] for a in export.json()["annotations"]]
    assert kinds == ["pin", "stroke"]

    host.click(f"#annotation-delete-{pin['id']}")
    for page in (host, author, other):
        wait_state(page, f"!s.annotations.items.some(a => a.id === {pin['id']}) && s.annotations.items.length === 1")
        assert page.locator(".annotation-row", has_text="Scar border here").count() == 0


TOUR = """\
tour:
  title: Around the box
  steps:
    - title: Overview
      text: The whole scene.
      camera: {position: [0.5, -4.0, 1.5], target: [0.5, 0.5, 0.5]}
    - title: The box alone
      text: Only the box, cut along x.
      camera: {position: [3.0, 0.2, 0.5], target: [0.0, 0.0, 0.0]}
      visible: [box]
      clip: {axis: x, position: 0.3}
    - title: The last step
      text: The series at its end.
      time_step: 4
"""


@pytest.fixture(scope="module")
def tour_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`vizserver serve` on the browser scene (a series ``wave`` and a ``box``) with a three-step tour."""
    ensure_client_built()
    folder = tmp_path_factory.mktemp("tour-scene")
    scene = write_scene(folder, title="Tour test")
    scene.write_text(scene.read_text() + TOUR)
    server = start_process_server(scene, {"VIZSERVER_CACHE_DIR": str(folder / "cache")})
    yield server
    server.stop()


def camera_at(page: Page, where: list[float]) -> None:
    page.wait_for_function(f"() => {distance_to(where)} < 1e-3", timeout=10_000)


def test_the_presenter_steps_the_tour_and_the_other_page_shows_each_step(
    tour_server: LiveServer, open_page: Callable[..., Page]
) -> None:
    answer = post_json(f"{tour_server.url}/api/sessions", {})
    assert answer.status == 201, answer.body
    session = answer.json()
    host = open_page(session_url(tour_server, session))
    guest = open_page(join_url(tour_server, session))
    for page in (host, guest):
        wait_ready(page)
        wait_state(page, "s.tour !== null && s.tour.mode === 'off'")
    assert guest.locator("#tour-mode").is_disabled() and not host.locator("#tour-mode").is_disabled()
    assert guest.locator(".tour-step").all_inner_texts() == ["Overview", "The box alone", "The last step"]

    host.select_option("#tour-mode", "guided")
    for page in (host, guest):
        wait_state(page, "s.tour.mode === 'guided' && s.tour.step === 0 && s.tour.caption === 'The whole scene.'")
        camera_at(page, [0.5, -4.0, 1.5])
    assert guest.locator("#tour-next").is_disabled(), "a participant may step a guided tour"
    assert "Overview" in guest.inner_text("#tour-caption")

    host.click("#tour-next")
    wait_state(guest, "s.tour.step === 1 && s.tour.caption === 'Only the box, cut along x.'")
    camera_at(guest, [3.0, 0.2, 0.5])
    shown = {o["name"]: o["visible"] for o in state(guest)["objects"]}
    assert shown == {"wave": False, "box": True}
    assert state(guest)["clipping"] and guest.is_checked("#clip-enabled")
    assert guest.locator(".tour-step[aria-current='step']").inner_text() == "The box alone"

    host.click("#tour-next")
    wait_state(guest, "s.tour.step === 2 && s.playback.step === 4")  # the step's time is the session's
    shown = {o["name"]: o["visible"] for o in state(guest)["objects"]}
    assert shown == {"wave": True, "box": True} and not state(guest)["clipping"]

    host.select_option("#tour-mode", "self_paced")
    wait_state(guest, "s.tour.mode === 'self_paced'")
    guest.click("#tour-prev")  # alone now: only the guest's own step moves
    wait_state(guest, "s.tour.step === 1")
    member = guest.evaluate("() => window.vizserver.app.avatars.selfMember")
    wait_state(host, f"s.tour.progress !== null && s.tour.progress[{json.dumps(member)}] === 1")
    assert state(host)["tour"]["step"] == 2
    assert host.locator("#tour-progress").inner_text().count("step") >= 1


LEADER_EYE_IN_HEADSET = """() => {
  const app = window.vizserver.app;
  const peer = [...app.avatars.peers.values()].find((p) => p.clientId === app.follow.lead.client);
  const content = app.viewer.content;
  const eye = app.follow.anchor.clone().fromArray(peer.shown.head).applyMatrix4(content.matrixWorld);
  const up = app.follow.anchor.clone().set(0, 0, 1).transformDirection(content.matrixWorld);
  return { gap: eye.distanceTo(app.follow.anchor), up: up.toArray(), position: content.position.toArray() };
}"""


def test_a_headset_follower_is_moved_by_its_content_never_turned(
    browser_server: LiveServer, new_session: Callable[[], dict[str, Any]], open_page: Callable[..., Page]
) -> None:
    """The host leads with its desktop camera; the headset's content is placed so the host's eye sits where the
    headset's head was (the anchor), upright; the host orbits and the content follows; a release leaves it."""
    session = new_session()
    host = open_page(session_url(browser_server, session))
    headset = open_page(join_url(browser_server, session), init_script=iwer_init_script())
    for page in (host, headset):
        wait_ready(page)
    host.evaluate("() => { window.vizserver.app.viewer.controls.enableDamping = false; }")
    headset.click("#xr-vr-button")
    wait_state(headset, "s.xr.presenting && s.xr.frames > 3")
    head_before = headset.evaluate("() => window.vizserver.app.viewer.camera.quaternion.toArray()")
    host.click("#follow-lock")
    wait_state(headset, "s.follow.following && s.follow.lock")
    headset.wait_for_function(f"() => ({LEADER_EYE_IN_HEADSET})().gap < 1e-4", timeout=10_000)
    first = headset.evaluate(LEADER_EYE_IN_HEADSET)
    assert math.dist(first["up"], [0, 1, 0]) < 1e-6, "the content was tilted: only turns about the vertical"

    drag(host, 250, 0)
    settled(host)
    headset.wait_for_function(
        f"() => {{ const now = ({LEADER_EYE_IN_HEADSET})(); return now.gap < 1e-4 && "
        f"Math.hypot(...now.position.map((v, i) => v - {json.dumps(first['position'])}[i])) > 0.01; }}",
        timeout=10_000,
    )
    head_after = headset.evaluate("() => window.vizserver.app.viewer.camera.quaternion.toArray()")
    assert math.dist(head_before, head_after) < 1e-6, "following turned the headset user's head"

    host.click("#follow-release")
    wait_state(headset, "!s.follow.following && s.follow.leader === null")
    placed = state(headset)["xr"]["position"]
    drag(host, -250, 0)
    settled(host)
    assert math.dist(state(headset)["xr"]["position"], placed) < 1e-9, "a released headset still follows"


def xr_frames(page: Page, count: int = 3) -> None:
    frames = state(page)["xr"]["frames"]
    wait_state(page, f"s.xr.frames > {frames + count}")


def test_a_trigger_held_with_the_draw_tool_draws_a_stroke_in_the_air_that_a_desktop_page_sees(
    browser_server: LiveServer, new_session: Callable[[], dict[str, Any]], open_page: Callable[..., Page]
) -> None:
    session = new_session()
    headset = open_page(session_url(browser_server, session), init_script=iwer_init_script())
    desk = open_page(join_url(browser_server, session))
    for page in (headset, desk):
        wait_ready(page)
    headset.click("#annotate-draw")
    headset.click("#xr-vr-button")
    wait_state(headset, "s.xr.presenting && s.xr.frames > 3")
    centre = state(headset)["xr"]["centre"]
    path = [[centre[0] - 0.1 + 0.05 * i, centre[1] + 0.02 * i, centre[2] + 0.15] for i in range(5)]
    move = "(p) => window.__xrDevice.controllers.right.position.set(p[0], p[1], p[2])"
    headset.evaluate(move, path[0])
    xr_frames(headset)
    headset.evaluate("() => window.__xrDevice.controllers.right.updateButtonValue('trigger', 1)")
    xr_frames(headset)
    for point in path[1:]:
        headset.evaluate(move, point)
        xr_frames(headset)
    headset.evaluate("() => window.__xrDevice.controllers.right.updateButtonValue('trigger', 0)")
    wait_state(desk, "s.annotations.items.some(a => a.kind === 'stroke' && a.points >= 5)")
    # the stroke is where the controller went, in the content's coordinates
    expected = headset.evaluate(
        "(p) => { const v = window.vizserver.app.follow.target.clone().fromArray(p);"
        " return window.vizserver.app.viewer.content.worldToLocal(v).toArray(); }",
        path[-1],
    )
    export = desk.request.get(desk.eval_on_selector("#annotation-export", "(a) => a.href")).json()
    stroke = export["annotations"][0]
    assert stroke["kind"] == "stroke" and math.dist(stroke["points"][-1], expected) < 1e-3, (stroke["points"], expected)


def test_a_tour_step_in_the_headset_moves_the_content_to_the_steps_view(
    tour_server: LiveServer, open_page: Callable[..., Page]
) -> None:
    answer = post_json(f"{tour_server.url}/api/sessions", {})
    assert answer.status == 201, answer.body
    headset = open_page(session_url(tour_server, answer.json()), init_script=iwer_init_script())
    wait_ready(headset)
    wait_state(headset, "s.tour !== null")
    headset.click("#xr-vr-button")
    wait_state(headset, "s.xr.presenting && s.xr.frames > 3")
    head = headset.evaluate("() => window.vizserver.app.viewer.camera.quaternion.toArray()")
    headset.select_option("#tour-mode", "guided")
    wait_state(headset, "s.tour.step === 0")
    eye = headset.evaluate(
        """() => { const { camera, content } = window.vizserver.app.viewer;
          const eye = camera.position.clone().set(0.5, -4.0, 1.5).applyMatrix4(content.matrixWorld);
          return eye.distanceTo(camera.getWorldPosition(camera.position.clone())); }"""
    )
    assert eye < 0.01, f"the step's eye is {eye} m from the head"
    after = headset.evaluate("() => window.vizserver.app.viewer.camera.quaternion.toArray()")
    assert math.dist(head, after) < 1e-6, "the step turned the head"
