"""The People section in headless Chromium: a host page and the pages of the people it invites, in one
strict session (made by POST /api/sessions) on a real server.

The host sees who joins, raised hands in queue order, and uses the controls only it has (make presenter,
take the role back, steering, remove, end); the others' controls follow their role live, disabled with
the reason; removal and the end of the session leave a full-page message and no reconnect loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fixtures.browser import join_url, session_url, state, wait_ready, wait_state
from fixtures.server import LiveServer, post_json
from playwright.sync_api import Page

pytestmark = pytest.mark.browser

RECORD_STATUS = (
    "() => { window.statuses = []; new MutationObserver(() => window.statuses.push("
    "document.getElementById('status').dataset.state)).observe(document.getElementById('status'),"
    " {attributes: true}); }"
)
"""Keep every connection state the page's badge shows from now on (``window.statuses``)."""


def row(page: Page, member: str, action: str | None = None) -> Any:
    """``member``'s row in the People list (or one of its controls, by data-action)."""
    found = page.locator(f".member-row[data-member='{member}']")
    return found.locator(f"[data-action='{action}']") if action else found


def self_id(page: Page) -> str:
    """The page's member id, once its own row is listed (``welcome`` and then ``members`` have come)."""
    wait_state(page, "s.people.self !== null && s.people.members.some((m) => m.id === s.people.self)")
    return str(state(page)["people"]["self"])


def open_session(
    server: LiveServer, new_session: Callable[[], dict[str, Any]], open_page: Callable[..., Page]
) -> tuple[dict[str, Any], Page, Page]:
    """A new session: the host's page and a participant's page (joined by the invite link), both drawn."""
    session = new_session()
    host = open_page(session_url(server, session))
    participant = open_page(join_url(server, session))
    for page in (host, participant):
        wait_ready(page)
    return session, host, participant


def test_the_host_sees_a_participant_join_raise_a_hand_and_become_presenter(
    browser_server: LiveServer, new_session: Callable[[], dict[str, Any]], open_page: Callable[..., Page]
) -> None:
    session, host, participant = open_session(browser_server, new_session, open_page)
    pat = self_id(participant)
    wait_state(host, f"s.people.members.some((m) => m.id === '{pat}' && m.connected && m.role === 'participant')")
    assert row(host, pat).locator(".member-role").text_content() == "participant"
    assert row(host, self_id(host)).locator(".member-you").is_visible(), "the host's own row is not marked"
    assert row(participant, pat).locator(".member-you").is_visible()
    assert state(host)["role"] == "host" and state(participant)["role"] == "participant"

    # the invite card: the join code to read aloud, the link that joins, its QR code
    wait_state(host, "s.people.invite && s.people.invite.qr")
    assert host.inner_text("#join-code") == session["join_code"]
    assert f"session={session['session_id']}" in host.input_value("#join-link")
    assert "token=" not in host.input_value("#join-link")
    assert participant.locator("#invite-card").is_hidden() and participant.locator("#host-controls").is_hidden()

    # a participant in a strict session does not drive time: off, with the reason as tooltip and note
    play = participant.locator("#play-button")
    assert play.is_disabled()
    assert "host or the presenter drives time" in (play.get_attribute("title") or "")
    assert participant.locator("#time-denied").is_visible()
    assert host.locator("#play-button").is_enabled()

    # hand raised: the host sees it in the queue and lowers it
    participant.click("#hand-button")
    wait_state(host, f"s.people.hands.length === 1 && s.people.hands[0] === '{pat}'")
    assert row(host, pat).locator(".member-hand").inner_text() == "✋ 1"
    assert host.locator("#hand-queue").is_visible()
    wait_state(participant, "s.handRaised")
    assert participant.inner_text("#hand-button") == "Lower hand"
    row(host, pat, "lower-hand").click()
    wait_state(participant, "!s.handRaised")
    wait_state(host, "s.people.hands.length === 0")
    assert participant.inner_text("#hand-button") == "Raise hand"
    assert row(host, pat).locator(".member-hand").is_hidden()

    # steering for participants: the host's toggle turns the participant's twin controls on and off
    assert state(participant)["denied"]["twin"] is not None
    host.check("#steering-toggle")
    wait_state(participant, "s.people.steering && s.denied.twin === null")
    host.uncheck("#steering-toggle")
    wait_state(participant, "!s.people.steering && s.denied.twin !== null")

    # presenter: the participant's time controls come on and it plays for everyone
    row(host, pat, "make-presenter").click()
    wait_state(participant, "s.role === 'presenter' && s.denied.time === null")
    wait_state(host, f"s.people.members.some((m) => m.id === '{pat}' && m.role === 'presenter')")
    assert row(host, pat).locator(".member-role").text_content() == "presenter"
    assert participant.locator("#time-denied").is_hidden()
    participant.click("#play-button")
    wait_state(host, "s.playback.playing")
    participant.click("#play-button")
    wait_state(host, "!s.playback.playing")

    # the host takes the role back: the controls go off again
    row(host, pat, "take-back").click()
    wait_state(participant, "s.role === 'participant' && s.denied.time !== null")
    assert participant.locator("#play-button").is_disabled()


def test_a_removed_observer_is_told_so_and_the_end_of_the_session_reaches_everyone(
    browser_server: LiveServer, new_session: Callable[[], dict[str, Any]], open_page: Callable[..., Page]
) -> None:
    session, host, participant = open_session(browser_server, new_session, open_page)
    invited = post_json(
        f"{browser_server.url}/api/sessions/{session['session_id']}/invite?token={session['host_token']}",
        {"role": "observer", "name": "Olga"},
    )
    assert invited.status == 200, invited.body
    observer = open_page(invited.json()["url"])
    wait_ready(observer)
    olga = self_id(observer)
    assert state(observer)["role"] == "observer"
    assert observer.locator("#hand-button").is_hidden(), "an observer may not raise a hand"
    assert "Observers watch" in (observer.get_attribute("#play-button", "title") or "")
    assert observer.locator("#play-button").is_disabled()

    wait_state(host, f"s.people.members.some((m) => m.id === '{olga}' && m.name === 'Olga' && m.connected)")
    observer.evaluate(RECORD_STATUS)
    row(host, olga, "remove").click()
    assert row(host, olga).locator(".confirm-ask").inner_text().startswith("Remove Olga?")
    row(host, olga, "remove-yes").click()

    wait_state(observer, "s.ended !== null && s.ended.code === 4011 && s.connection === 'closed'")
    assert observer.locator("#session-ended").is_visible()
    assert observer.inner_text("#session-ended h1") == "You were removed"
    assert "reconnecting" not in observer.evaluate("() => window.statuses"), "the removed page tried again"
    assert observer.evaluate("() => window.vizserver.app.connection.stopped")
    assert state(observer)["welcomes"] == 1
    wait_state(host, f"!s.people.members.some((m) => m.id === '{olga}')")

    for page in (host, participant):
        page.evaluate(RECORD_STATUS)
        assert page.locator("#session-ended").is_hidden()
    assert participant.locator("#end-session").is_hidden()
    host.click("#end-session")
    host.click("[data-action='end-session-yes']")
    for page in (host, participant):
        wait_state(page, "s.ended !== null && s.ended.code === 4010 && s.connection === 'closed'")
        assert page.inner_text("#session-ended h1") == "The host ended the session"
        assert "reconnecting" not in page.evaluate("() => window.statuses")
        assert state(page)["welcomes"] == 1
