"""An open page whose server process is killed (-9) comes back through another process of the cluster
(``welcome.servers``, webxr_client/src/ServerList.js) as the same member with the same role."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fixtures.browser import ensure_client_built, state, wait_ready, wait_state
from fixtures.cluster import Cluster, cluster_factory, create_session
from fixtures.server import write_scene
from playwright.sync_api import Page

__all__ = ["cluster_factory"]  # the fixture is used by name

FAILOVER_WAIT_MS = 60_000
"""The page retries the dead server once (0.5 s back-off), then the next one (1 s); the session's owner lives."""


def test_a_page_on_a_killed_process_resumes_on_another(
    open_page: Callable[..., Page], cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    ensure_client_built()
    cluster = cluster_factory(write_scene(tmp_path / "scene", title="Failover"), size=2)
    owner, edge = cluster.servers
    created = create_session(owner.url)
    page = open_page(f"{edge.url}/?session={created['session_id']}&token={created['host_token']}&rtc=0")
    wait_ready(page)
    before = state(page)
    assert before["role"] == "host" and before["people"]["self"]
    assert page.evaluate("window.vizserver.app.connection.servers.urls.length") == 2

    cluster.kill(edge.index)
    wait_state(page, f"s.connection === 'open' && s.welcomes > {before['welcomes']}", timeout=FAILOVER_WAIT_MS)
    after = state(page)
    assert after["sessionId"] == created["session_id"]
    assert (after["people"]["self"], after["role"]) == (before["people"]["self"], "host")
    socket_url = page.evaluate("window.vizserver.app.connection.url")
    assert socket_url.startswith(owner.ws_url + "/ws/"), socket_url
