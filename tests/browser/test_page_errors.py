"""When the page cannot work it says why, visibly: no WebGL2, a bad token, an unknown session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fixtures.browser import session_url
from fixtures.server import LiveServer
from playwright.sync_api import Page

pytestmark = pytest.mark.browser

NO_WEBGL2 = """
HTMLCanvasElement.prototype.getContext = new Proxy(HTMLCanvasElement.prototype.getContext, {
  apply(target, self, args) {
    return args[0] === 'webgl2' ? null : Reflect.apply(target, self, args);
  },
});
"""


def test_missing_webgl2_shows_a_clear_message(
    browser_server: LiveServer, new_session: Callable[[], dict[str, Any]], open_page: Callable[..., Page]
) -> None:
    page = open_page(session_url(browser_server, new_session()), init_script=NO_WEBGL2)
    message = page.locator("#webgl-message")
    message.wait_for(state="visible")
    assert "This viewer needs WebGL2; your browser or GPU does not provide it" in message.inner_text()
    assert page.evaluate("() => document.body.dataset.state") == "no-webgl2"
    assert page.locator("#viewport-canvas").count() == 0
    assert page.evaluate("() => window.vizserver.webgl2") is False


def test_bad_token_is_reported_and_not_retried(
    browser_server: LiveServer, new_session: Callable[[], dict[str, Any]], open_page: Callable[..., Page]
) -> None:
    session = new_session()
    page = open_page(f"{browser_server.url}/?session={session['session_id']}&token=not-a-token")
    page.wait_for_function("() => document.getElementById('status').dataset.state === 'closed'")
    assert "invalid token" in page.inner_text("#status")
    assert "invalid token" in page.inner_text("#panel-message")
    assert page.evaluate("() => window.vizserver.state().welcomes") == 0


def test_unknown_session_is_reported(browser_server: LiveServer, open_page: Callable[..., Page]) -> None:
    page = open_page(f"{browser_server.url}/?session=no-such-session")
    page.wait_for_function("() => document.body.dataset.state === 'error'")
    message = page.inner_text("#panel-message")
    assert message.startswith("Cannot join a session") and "no such session" in message, message
