"""Follow me over real sockets: the presenter leads, every client hears who leads (a late joiner too), a
participant's follow is refused with its reason, and the lead ends when the leading connection leaves."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from fixtures.server import Client, LiveServer, post_json, settings_for, start_thread_server, write_scene


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("follow")
    live = start_thread_server(settings_for(write_scene(root), root / "cache"))
    yield live
    live.stop()


def new_session(server: LiveServer) -> tuple[str, str]:
    created = post_json(f"{server.url}/api/sessions", {})
    assert created.status == 201, created.body
    return created.json()["session_id"], created.json()["host_token"]


def join(server: LiveServer, session_id: str, name: str) -> dict[str, Any]:
    answer = post_json(f"{server.url}/api/sessions/{session_id}/join", {"name": name})
    assert answer.status == 200, answer.body
    return dict(answer.json())


async def connect(server: LiveServer, session_id: str, token: str) -> tuple[Client, dict[str, Any]]:
    client = await Client.open(f"{server.ws_url}/ws/{session_id}?token={token}")
    welcome = await client.message("welcome")
    await client.message("playback")
    return client, welcome


def test_the_presenter_leads_everyone_and_the_lead_ends_when_it_leaves(server: LiveServer) -> None:
    async def run() -> None:
        session_id, host_token = new_session(server)
        ana, bo = join(server, session_id, "Ana"), join(server, session_id, "Bo")
        host, _ = await connect(server, session_id, host_token)
        presenter, welcome = await connect(server, session_id, ana["token"])
        follower, _ = await connect(server, session_id, bo["token"])
        await follower.send({"type": "follow", "on": True})
        refused = await follower.message("error", code="forbidden")
        assert "follow: not allowed for a participant" in refused["message"]

        await host.send({"type": "set_role", "member": ana["member"], "role": "presenter"})
        await presenter.send({"type": "follow", "on": True, "lock": True})
        lead = {"leader": ana["member"], "client": welcome["client_id"], "lock": True}
        for client in (host, presenter, follower):
            assert await client.message("follow", **lead)

        late, _ = await connect(server, session_id, join(server, session_id, "Cy")["token"])
        assert await late.message("follow", **lead)  # a joiner hears who leads

        await presenter.close()
        for client in (host, follower, late):
            assert await client.message("follow", leader=None, client=None, lock=False)
        for client in (host, follower, late):
            await client.close()

    asyncio.run(run())
