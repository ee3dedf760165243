"""The desktop viewer's transport in headless Chromium against a real server: WebRTC data channels when the
server offers them, the WebSocket when it does not, when the page says ``?rtc=0``, or when the WebRTC link
is lost mid-session (the page reconnects over the WebSocket as the same client).

Servers: ``vizserver serve`` subprocesses on the browser tests' scene (``wave``, a 5-step series with the
field ``pressure`` shown; ``box``, a static cube), one with WebRTC restricted to 127.0.0.1 host candidates,
one with WebRTC turned off. Chromium runs with loopback ICE allowed, as every test browser
(fixtures.browser.CHROMIUM_ARGS).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.browser import (
    RTC_SERVER_ENV,
    VIEWPORT,
    canvas_pixels,
    changed_fraction,
    ensure_client_built,
    session_url,
    state,
    wait_ready,
    wait_state,
)
from fixtures.server import LiveServer, post_json, start_process_server, write_scene
from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

CHANGED = 0.01
"""A change a person notices: at least 1 % of the view's pixels differ."""


def serve(folder: Path, env: dict[str, str]) -> LiveServer:
    ensure_client_built()
    scene = write_scene(folder, title="WebRTC test")
    return start_process_server(scene, {"VIZSERVER_CACHE_DIR": str(folder / "cache"), **env})


@pytest.fixture(scope="module")
def rtc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = serve(tmp_path_factory.mktemp("rtc-scene"), RTC_SERVER_ENV)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def no_rtc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = serve(tmp_path_factory.mktemp("no-rtc-scene"), {**RTC_SERVER_ENV, "VIZSERVER_WEBRTC": "0"})
    yield server
    server.stop()


def host_page(server: LiveServer, open_page: Callable[..., Page], query: str = "") -> Page:
    session = post_json(f"{server.url}/api/sessions", {}).json()
    page = open_page(session_url(server, session) + query)
    wait_ready(page)
    wait_state(page, "s.connection === 'open' && s.transport.transport !== null")
    wait_state(page, "s.objects[0].liveField === 'pressure'")
    return page


def only_wave(page: Page) -> None:
    page.uncheck(".object-row[data-object-name='box'] .object-visible")
    page.click("#fit-button")
    wait_state(page, "!s.objects[1].visible")


def received(page: Page, transport: str) -> int:
    return int(state(page)["transport"]["received"][transport])


def show_last_step(page: Page) -> None:
    page.focus("#time-slider")
    page.keyboard.press("End")
    wait_state(page, "s.playback.step === 4 && s.objects[0].frameStep === 4")


def test_field_frames_arrive_on_the_data_channel(rtc_server: LiveServer, open_page: Callable[..., Page]) -> None:
    page = host_page(rtc_server, open_page)
    transport: dict[str, Any] = state(page)["transport"]
    assert transport["transport"] == "webrtc", transport
    assert transport["rtcOff"] is None and transport["fallbacks"] == 0
    assert page.inner_text("#status").startswith("Connected · WebRTC")
    assert page.get_attribute("#status", "data-transport") == "webrtc"
    only_wave(page)
    before = received(page, "webrtc")
    first = canvas_pixels(page)
    show_last_step(page)
    assert received(page, "webrtc") > before, "the new step's frame did not come over the data channel"
    assert changed_fraction(first, canvas_pixels(page)) > CHANGED, "the mesh's colours did not follow the step"
    assert received(page, "websocket") == 0
    assert state(page)["frameErrors"] == 0


def test_page_with_rtc_0_uses_the_websocket(rtc_server: LiveServer, open_page: Callable[..., Page]) -> None:
    page = host_page(rtc_server, open_page, "&rtc=0")
    transport = state(page)["transport"]
    assert transport["transport"] == "websocket"
    assert "?rtc=0" in transport["rtcOff"]
    assert page.inner_text("#status").startswith("Connected · WebSocket")
    only_wave(page)
    before = received(page, "websocket")
    first = canvas_pixels(page)
    show_last_step(page)
    assert received(page, "websocket") > before
    assert changed_fraction(first, canvas_pixels(page)) > CHANGED
    assert received(page, "webrtc") == 0


def test_server_without_webrtc_is_served_over_the_websocket(
    no_rtc_server: LiveServer, open_page: Callable[..., Page]
) -> None:
    page = host_page(no_rtc_server, open_page)
    transport = state(page)["transport"]
    assert transport["transport"] == "websocket"
    assert transport["rtcOff"] == "the server has WebRTC turned off"
    assert transport["fallbacks"] == 0, "nothing was tried, so nothing failed"
    assert page.inner_text("#status").startswith("Connected · WebSocket")
    before = received(page, "websocket")
    show_last_step(page)
    assert received(page, "websocket") > before
    assert state(page)["welcomes"] == 1, "the page connected once, without a visible retry"


def test_lost_webrtc_link_resumes_over_the_websocket(rtc_server: LiveServer, open_page: Callable[..., Page]) -> None:
    page = host_page(rtc_server, open_page)
    before = state(page)
    assert before["transport"]["transport"] == "webrtc"
    # The fields channel closing is what a dying peer connection looks like from the page.
    page.evaluate("() => window.vizserver.app.transports.socket.inner.fields.close()")
    wait_state(page, "s.connection === 'open' && s.transport.transport === 'websocket'")
    after = state(page)
    assert after["resumed"] is True and after["clientId"] == before["clientId"], "not resumed as the same client"
    assert after["transport"]["fallbacks"] == 1
    assert "fields channel closed" in after["transport"]["lastFallback"]
    assert page.inner_text("#status").startswith("Connected · WebSocket")
    frames = received(page, "websocket")
    show_last_step(page)
    assert received(page, "websocket") > frames, "no frames over the WebSocket after the fallback"


@pytest.mark.parametrize(
    ("offer", "why"),
    [("refused", "WebRTC offer failed"), ("unanswered", "WebRTC did not connect within 6 s")],
)
def test_webrtc_that_cannot_connect_falls_back_within_the_first_attempt(
    rtc_server: LiveServer, browser: Browser, offer: str, why: str
) -> None:
    """The offer fails on the network, or never gets an answer: the page opens the WebSocket in the same attempt."""
    session = post_json(f"{rtc_server.url}/api/sessions", {}).json()
    context = browser.new_context(viewport=VIEWPORT)
    errors: list[str] = []
    try:
        if offer == "refused":
            context.route("**/api/rtc/offer", lambda route: route.abort("connectionrefused"))
        else:
            context.route("**/api/rtc/offer", lambda route: None)  # the request stays pending
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(session_url(rtc_server, session))
        wait_ready(page)
        wait_state(page, "s.connection === 'open' && s.objects[0].liveField === 'pressure'")
        s = state(page)
        assert s["transport"]["transport"] == "websocket"
        assert s["transport"]["fallbacks"] == 1
        assert s["transport"]["lastFallback"].startswith(why), s["transport"]
        assert s["welcomes"] == 1, "the user saw a second connection"
        assert page.inner_text("#status").startswith("Connected · WebSocket")
        assert received(page, "websocket") > 0
    finally:
        context.close()
    assert not errors, errors


def test_session_ended_over_webrtc_closes_for_good(rtc_server: LiveServer, open_page: Callable[..., Page]) -> None:
    """The server's ``rtc_close`` 4010 ends the page's connection as the WebSocket's close code would."""
    page = host_page(rtc_server, open_page)
    assert state(page)["transport"]["transport"] == "webrtc"
    page.click("#end-session")
    page.click("[data-action='end-session-yes']")
    wait_state(page, "s.ended !== null && s.ended.code === 4010 && s.connection === 'closed'")
    assert page.inner_text("#session-ended h1") == "The host ended the session"
    s = state(page)
    assert s["transport"]["fallbacks"] == 0, "a close the server asked for is not a lost link"
    assert s["welcomes"] == 1, "the page reconnected after the session ended"
