"""The host's join link (GET /api/sessions/{id}/join-link) on a real server: the join code, the page link
and its QR code, for the host only; the link and the code each let a newcomer join with a token of its own."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import numpy as np
import numpy.typing as npt
import pytest
import segno
from fixtures.server import LiveServer, http, post_json, settings_for, start_thread_server, write_scene

from vizserver.server.settings import JOIN_CODE_TTL_S


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("join-link")
    live = start_thread_server(settings_for(write_scene(root), root / "cache"))
    yield live
    live.stop()


def qr_modules(svg: str) -> npt.NDArray[np.bool_]:
    """The dark modules an SVG of segno's draws (a path of ``M x y``, ``m dx dy`` and ``h n`` runs on
    half-integer rows), as a boolean matrix without the quiet zone."""
    size = int(re.search(r'viewBox="0 0 (\d+) \d+"', svg).group(1))  # type: ignore[union-attr]
    scale = int(re.search(r"scale\((\d+)\)", svg).group(1))  # type: ignore[union-attr]
    path = re.search(r'class="qrline"[^>]* d="([^"]+)"', svg).group(1)  # type: ignore[union-attr]
    grid = np.zeros((size // scale, size // scale), dtype=bool)
    x = y = 0.0
    for op, args in re.findall(r"([Mmh])([-\d. ]+)", path):
        numbers = [float(a) for a in args.split()]
        if op == "M":
            x, y = numbers
        elif op == "m":
            x, y = x + numbers[0], y + numbers[1]
        else:
            grid[int(y), int(x) : int(x + numbers[0])] = True
            x += numbers[0]
    dark = np.argwhere(grid)
    (top, left), (bottom, right) = dark.min(axis=0), dark.max(axis=0)
    return grid[top : bottom + 1, left : right + 1]


def test_the_host_gets_the_join_code_a_link_and_its_qr_code(server: LiveServer) -> None:
    created = post_json(f"{server.url}/api/sessions", {}).json()
    session_id, host_token = created["session_id"], created["host_token"]
    answer = http(f"{server.url}/api/sessions/{session_id}/join-link?token={host_token}")
    assert answer.status == 200, answer.body
    card = answer.json()
    assert card["join_code"] == created["join_code"]
    assert 0 < card["code_expires_in_s"] <= JOIN_CODE_TTL_S
    link = urlsplit(card["url"])
    assert f"{link.scheme}://{link.netloc}" == server.url and link.path == "/"
    assert parse_qs(link.query) == {"session": [session_id]}, "the link must name the session, never a token"
    expected = np.asarray(segno.make(card["url"], error="m").matrix, dtype=bool)
    assert np.array_equal(qr_modules(card["qr_svg"]), expected), "the QR code does not encode the link"
    assert card["qr_svg"].startswith('<svg xmlns="http://www.w3.org/2000/svg"')  # shows in an <img>

    by_link = post_json(f"{server.url}/api/sessions/{parse_qs(link.query)['session'][0]}/join", {})
    by_code = post_json(f"{server.url}/api/sessions/{card['join_code'].lower()}/join", {})
    for joined in (by_link, by_code):
        assert joined.status == 200 and joined.json()["role"] == "participant"
        assert joined.json()["session_id"] == session_id
    assert by_link.json()["token"] != by_code.json()["token"], "two people who use the link share a token"


def test_only_the_host_gets_the_join_link(server: LiveServer) -> None:
    created = post_json(f"{server.url}/api/sessions", {}).json()
    session_id = created["session_id"]
    participant = post_json(f"{server.url}/api/sessions/{session_id}/join", {"name": "Pat"}).json()
    other = post_json(f"{server.url}/api/sessions", {}).json()
    for token in (participant["token"], other["host_token"], "forged"):
        refused = http(f"{server.url}/api/sessions/{session_id}/join-link?token={token}")
        assert refused.status == 403 and "host" in refused.json()["detail"]
    assert http(f"{server.url}/api/sessions/{session_id}/join-link").status == 403
    bearer = http(f"{server.url}/api/sessions/{session_id}/join-link",
                  headers={"Authorization": f"Bearer {created['host_token']}"})
    assert bearer.status == 200 and bearer.json()["join_code"] == created["join_code"]
    assert http(f"{server.url}/api/sessions/nosuch/join-link?token=x").status == 404
