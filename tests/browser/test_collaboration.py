"""Two pages in one session, uploads through the page, and the connection surviving a dropped link."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import pyvista as pv
from fixtures.browser import canvas_pixels, changed_fraction, join_url, session_url, state, wait_ready, wait_state
from fixtures.server import LiveServer
from playwright.sync_api import Page

from vizserver.server.settings import LOD_MIN_TRIANGLES

pytestmark = pytest.mark.browser

OpenPair = Callable[[], tuple[Page, Page]]


@pytest.fixture
def pair(
    browser_server: LiveServer, new_session: Callable[[], dict[str, Any]], open_page: Callable[..., Page]
) -> OpenPair:
    """Page A opens a new session as its host; page B joins it through the invite link."""

    def open_() -> tuple[Page, Page]:
        session = new_session()
        a = open_page(session_url(browser_server, session))
        b = open_page(join_url(browser_server, session))
        for page in (a, b):
            wait_ready(page)
            wait_state(page, "s.objects[0].liveField === 'pressure'")
        assert state(a)["sessionId"] == state(b)["sessionId"] == session["session_id"]
        assert state(a)["clientId"] != state(b)["clientId"]
        return a, b

    return open_


def test_upload_in_one_page_appears_in_the_other(pair: OpenPair, tmp_path: Path) -> None:
    a, b = pair()
    before = canvas_pixels(b)
    sphere = tmp_path / "sphere.stl"
    pv.Sphere(radius=1.5, center=(0.25, 0.25, 0.25)).save(sphere)  # encloses the scene: it must show
    a.set_input_files("#upload-input", str(sphere))
    a.locator(".upload-row[data-stage='done']").wait_for(timeout=60_000)
    for page in (a, b):
        wait_state(page, "s.objects.length === 3 && s.objects[2].level === 'full'", timeout=60_000)
        row = page.locator(".object-row", has_text="sphere")
        assert row.count() == 1
    assert b.locator(".upload-row[data-stage='done']").count() == 1, "B did not hear of the upload"
    assert changed_fraction(before, canvas_pixels(b)) > 0.05, "the uploaded mesh does not show in page B"


def drop_file(page: Page, name: str, data: bytes) -> None:
    """Drag a file over the view (the drop overlay must show) and drop it, as a person would."""
    page.evaluate(
        """([name, b64]) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          window.dropped = new DataTransfer();
          window.dropped.items.add(new File([bytes], name));
          const init = { bubbles: true, cancelable: true, dataTransfer: window.dropped };
          const view = document.getElementById('viewport');
          view.dispatchEvent(new DragEvent('dragenter', init));
          view.dispatchEvent(new DragEvent('dragover', init));
        }""",
        [name, base64.b64encode(data).decode()],
    )
    page.locator("#drop-overlay").wait_for(state="visible")
    page.evaluate(
        """() => document.getElementById('viewport').dispatchEvent(
          new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: window.dropped }))"""
    )
    page.locator("#drop-overlay").wait_for(state="hidden")


def test_bad_upload_shows_the_error_and_changes_nothing(pair: OpenPair) -> None:
    a, b = pair()
    drop_file(a, "broken.stl", b"solid broken\n  facet normal this is not a number\nendsolid\n")
    failed = a.locator(".upload-row.failed")
    failed.wait_for(timeout=60_000)
    assert "broken.stl" in failed.inner_text()
    assert failed.locator(".upload-status").evaluate("(e) => getComputedStyle(e).color") != "rgb(154, 161, 177)"
    b.locator(".upload-row.failed").wait_for(timeout=30_000)
    for page in (a, b):
        assert [o["name"] for o in state(page)["objects"]] == ["wave", "box"]


def test_the_host_drives_playback_for_everyone_and_a_participant_is_told_it_may_not(pair: OpenPair) -> None:
    """A's session is strict (made by POST /api/sessions): its host drives the shared playback; B joined
    by the invite link as a participant, so its play button is off with the reason, and a play it sends
    anyway is refused by the server with a message and changes nothing."""
    a, b = pair()
    a.focus("#time-slider")
    a.keyboard.press("End")
    wait_state(b, "s.playback.step === 4 && s.objects[0].frameStep === 4")
    assert b.input_value("#time-slider") == "4"
    assert b.locator("#play-button").is_disabled()
    assert "host or the presenter drives time" in (b.get_attribute("#play-button", "title") or "")
    b.evaluate("() => window.vizserver.app.connection.send({ type: 'playback', playing: true })")
    message = b.locator("#panel-message")
    message.wait_for(state="visible")
    assert "not allowed for a participant" in message.inner_text()
    assert not state(a)["playback"]["playing"]
    a.click("#play-button")
    wait_state(b, "s.playback.playing")
    assert b.get_attribute("#play-button", "data-playing") == "true"
    a.click("#play-button")
    wait_state(b, "!s.playback.playing")


def test_reconnects_and_resumes_after_the_link_drops(
    browser_server: LiveServer, new_session: Callable[[], dict[str, Any]], open_page: Callable[..., Page]
) -> None:
    page = open_page(session_url(browser_server, new_session()))
    wait_ready(page)
    first = state(page)
    page.evaluate(
        "() => { window.badges = []; new MutationObserver(() => window.badges.push("
        "document.getElementById('status').dataset.state)).observe(document.getElementById('status'),"
        " {attributes: true}); window.vizserver.app.connection.drop(); }"
    )
    wait_state(page, "s.welcomes === 2 && s.connection === 'open'")
    badges = page.evaluate("() => window.badges")
    assert "reconnecting" in badges, badges
    after = state(page)
    assert after["resumed"] and after["clientId"] == first["clientId"], "the reconnect did not resume the identity"
    assert page.inner_text("#status").startswith("Connected")
    page.focus("#time-slider")
    page.keyboard.press("End")
    wait_state(page, "s.objects[0].frameStep === 4")


def test_big_upload_shows_its_coarse_level_first(
    browser_server: LiveServer,
    new_session: Callable[[], dict[str, Any]],
    open_page: Callable[..., Page],
    tmp_path: Path,
) -> None:
    """A mesh over the LOD threshold gets coarser levels; the page draws the coarsest before the full one."""
    page = open_page(session_url(browser_server, new_session()))
    wait_ready(page)
    page.evaluate(
        "() => { window.assetRequests = []; new PerformanceObserver((list) => { for (const e of list.getEntries())"
        " if (e.name.includes('/assets/')) window.assetRequests.push(new URL(e.name).pathname); })"
        ".observe({ type: 'resource', buffered: false }); }"
    )
    big = tmp_path / "big_sphere.stl"
    sphere = pv.Sphere(radius=0.6, center=(0.5, 0.5, 0.5), theta_resolution=400, phi_resolution=300)
    assert sphere.n_cells > LOD_MIN_TRIANGLES
    sphere.save(big)
    page.set_input_files("#upload-input", str(big))
    wait_state(page, "s.objects.length === 3 && s.objects[2].level === 'full'", timeout=120_000)
    obj = state(page)["objects"][2]
    assert obj["lods"], "the server listed no coarser level for a mesh over the threshold"
    assert obj["levels"] == ["lod", "full"]
    page.wait_for_function(f"() => window.assetRequests.includes({obj['asset']!r})")
    requests = page.evaluate("() => window.assetRequests")
    assert requests.index(obj["lods"][0]) < requests.index(obj["asset"]), requests
