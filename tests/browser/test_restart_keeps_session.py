"""A server restart keeps the session: an open page reconnects to the new server on the same port, as the
same member with the same role, and its pin is still there; a page opened after the restart sees it too."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

from fixtures.browser import ensure_client_built, state, wait_ready, wait_state
from fixtures.server import post_json, start_process_server, write_scene
from playwright.sync_api import Page

RECONNECT_WAIT_MS = 60_000
"""The page retries with backoff (0.5 s doubling to 15 s) while the server is down, then it has to load again."""

PIN = {"type": "annotation_add", "kind": "pin", "object": 1, "point": [0.5, 0.5, 0.5], "text": "kept across a restart"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_open_page_comes_back_as_the_same_member_with_its_pin(
    open_page: Callable[..., Page], tmp_path: Path
) -> None:
    ensure_client_built()
    scene = write_scene(tmp_path, title="Restart")
    env = {"VIZSERVER_CACHE_DIR": str(tmp_path / "cache")}
    port = ("--port", str(_free_port()))  # the page reconnects to the address it was loaded from
    first = start_process_server(scene, env, port)
    try:
        created = post_json(f"{first.url}/api/sessions", {}).json()
        invited = post_json(f"{first.url}/api/sessions/{created['session_id']}/invite?token={created['host_token']}",
                            {"role": "observer", "name": "Watcher"}).json()
        host = open_page(f"{first.url}/?session={created['session_id']}&token={created['host_token']}")
        wait_ready(host)
        host.evaluate(f"() => window.vizserver.app.connection.send({json.dumps(PIN)})")
        wait_state(host, "s.annotations.items.length === 1")
        before = state(host)
    finally:
        first.stop()
    wait_state(host, "s.connection !== 'open'")

    second = start_process_server(scene, env, port)
    try:
        assert second.url == first.url
        wait_state(host, f"s.connection === 'open' && s.welcomes > {before['welcomes']}", timeout=RECONNECT_WAIT_MS)
        wait_state(host, "s.annotations.items.length === 1")
        after = state(host)
        assert after["sessionId"] == before["sessionId"]
        assert (after["people"]["self"], after["role"]) == (before["people"]["self"], "host")
        assert after["clientId"] != before["clientId"]  # connections are not saved; the member is
        assert [i["text"] for i in after["annotations"]["items"]] == [PIN["text"]]

        watcher = open_page(invited["url"].replace(first.url, second.url))
        wait_ready(watcher)
        wait_state(watcher, "s.annotations.items.length === 1")
        seen = state(watcher)
        assert seen["role"] == "observer" and seen["people"]["self"] == invited["member"]
        assert seen["annotations"]["items"][0]["text"] == PIN["text"]
    finally:
        second.stop()
