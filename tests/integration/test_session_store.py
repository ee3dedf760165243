"""The session store on a real SQLite file: saves coalesced in the background, ended sessions deleted, one
server per file, WAL mode."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fixtures.sessions import make_registry, series_object

from vizserver.scenes.objects import BuiltScene
from vizserver.server.store import SessionSaver, SessionStore, StoreError
from vizserver.sessions.registry import SessionRegistry
from vizserver.sessions.snapshot import SessionSnapshot, capture, decode

SCENE = BuiltScene("One object", (series_object(0),))
CHANGES = 200


def _capturer(registry: SessionRegistry) -> Callable[[str], SessionSnapshot | None]:
    def snapshot(session_id: str) -> SessionSnapshot | None:
        session = registry.get(session_id)
        if session is None:
            return None
        return capture(session, scene_path="/scene.yaml", default=False, now=time.monotonic(), wall=time.time())
    return snapshot


def test_many_changes_are_saved_in_few_writes_and_an_ended_session_is_deleted(tmp_path: Path) -> None:
    registry = make_registry()
    session = registry.create(SCENE, time.monotonic()).session
    path = tmp_path / "store.sqlite"

    async def scenario() -> None:
        saver = await SessionSaver.open(path, _capturer(registry), interval_s=0.5)
        for i in range(CHANGES):  # a burst of changes, as a drag or a class joining makes
            session.add_member(f"token{i}", "participant", f"student {i}", time.monotonic())
            saver.changed(session.id)
        await saver.idle()
        assert saver.writes <= 2  # the first change at once, the rest together one interval later
        saved = decode((await saver.rows())[0].text)
        assert len(saved.members) == CHANGES + 1 and saved.next_number == CHANGES + 2
        session.ended = True  # as end_session leaves it
        saver.changed(session.id)
        await saver.idle()
        assert await saver.rows() == []
        await saver.close([])

    asyncio.run(scenario())
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    assert path.stat().st_mode & 0o777 == 0o600  # names and annotations are the owner's to read


def test_shutdown_saves_every_session_given(tmp_path: Path) -> None:
    registry = make_registry()
    sessions = [registry.create(SCENE, time.monotonic()).session for _ in range(3)]
    path = tmp_path / "store.sqlite"

    async def scenario() -> None:
        saver = await SessionSaver.open(path, _capturer(registry))
        await saver.close([s.id for s in sessions])

    asyncio.run(scenario())
    db = sqlite3.connect(path)
    assert sorted(row[0] for row in db.execute("SELECT id FROM sessions")) == sorted(s.id for s in sessions)
    db.close()


def test_a_store_file_serves_one_server_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    first = SessionStore(path)
    try:
        with pytest.raises(StoreError, match="in use by another vizserver"):
            SessionStore(path)
    finally:
        first.close()
    SessionStore(path).close()  # free again once the first has closed it


def test_a_store_in_a_folder_that_cannot_be_made_is_refused_with_its_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match=r"session store .*file/s\.sqlite: cannot create it, its folder"):
        SessionStore(blocker / "s.sqlite")
