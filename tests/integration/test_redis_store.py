"""Sessions saved in a real ``redis-server``: read back by another process's saver, coalesced, deleted when
they end, and kept through an outage (saved when Redis returns, nothing saved before lost)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import redis
from fixtures.redis_server import RedisServer
from fixtures.sessions import make_registry, series_object

from vizserver.scale.redis_link import RedisLink
from vizserver.scale.redis_store import SESSIONS_KEY, RedisSessionSaver, session_key
from vizserver.scenes.objects import BuiltScene
from vizserver.sessions.registry import SessionRegistry
from vizserver.sessions.snapshot import SessionSnapshot, capture, decode

SCENE = BuiltScene("One object", (series_object(0),))
CHANGES = 200
WAIT_S = 20.0


def _capturer(registry: SessionRegistry) -> Callable[[str], SessionSnapshot | None]:
    def snapshot(session_id: str) -> SessionSnapshot | None:
        session = registry.get(session_id)
        if session is None:
            return None
        return capture(session, scene_path="/scene.yaml", default=False, now=time.monotonic(), wall=time.time())
    return snapshot


async def _saver_on(url: str, registry: SessionRegistry, interval_s: float) -> tuple[RedisLink, RedisSessionSaver]:
    """A started link to ``url`` and a saver of ``registry``'s sessions through it (close the link after)."""
    link = RedisLink(url)
    await link.start()
    return link, RedisSessionSaver(link, _capturer(registry), interval_s=interval_s)


def _saved(server: RedisServer) -> dict[str, dict[str, object]]:
    """What Redis holds now, read by a plain client: id -> snapshot document (ids listed in ``vz:sessions``)."""
    client = redis.Redis.from_url(server.url)
    try:
        ids = sorted(i.decode() for i in client.smembers(SESSIONS_KEY))
        return {i: json.loads(client.get(session_key(i)) or b"null") for i in ids}
    finally:
        client.close()


async def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)  # polling a flag the link's watch task sets


def test_a_session_saved_by_one_saver_is_read_back_by_another_with_tokens_hashed(redis_server: RedisServer) -> None:
    registry = make_registry()
    session = registry.create(SCENE, time.monotonic()).session
    session.add_member("secret-token-of-ann", "participant", "Ann", time.monotonic())

    async def scenario() -> None:
        writer_link, reader_link = RedisLink(redis_server.url), RedisLink(redis_server.url)
        await writer_link.start()
        await reader_link.start()
        writer = RedisSessionSaver(writer_link, _capturer(registry), interval_s=0.2)
        writer.changed(session.id)
        await writer.idle()
        reader = RedisSessionSaver(reader_link, _capturer(make_registry()))  # another process's: knows nothing
        rows = await reader.rows()
        assert [r.session_id for r in rows] == [session.id]
        saved = decode(rows[0].text)
        assert saved.join_code == session.join_code
        assert [m.name for m in saved.members] == [m.name for m in session.roster]
        assert "secret-token-of-ann" not in rows[0].text  # tokens are stored as SHA-256 only
        await writer.close([])
        await reader.close([])
        await writer_link.close()
        await reader_link.close()

    asyncio.run(scenario())


def test_many_changes_are_saved_in_few_writes_and_an_ended_session_is_deleted(redis_server: RedisServer) -> None:
    registry = make_registry()
    session = registry.create(SCENE, time.monotonic()).session
    kept = registry.create(SCENE, time.monotonic()).session

    async def scenario() -> None:
        link, saver = await _saver_on(redis_server.url, registry, 0.5)
        saver.changed(kept.id)
        for i in range(CHANGES):  # a burst of changes, as a drag or a class joining makes
            session.add_member(f"token{i}", "participant", f"student {i}", time.monotonic())
            saver.changed(session.id)
        await saver.idle()
        assert saver.writes <= 2  # the first change at once, the rest together one interval later
        doc = _saved(redis_server)[session.id]
        assert len(doc["roster"]["members"]) == CHANGES + 1  # type: ignore[index]
        session.ended = True  # as end_session leaves it
        saver.changed(session.id)
        await saver.idle()
        assert list(_saved(redis_server)) == [kept.id]
        await saver.delete([kept.id])
        assert _saved(redis_server) == {}
        await saver.close([])
        await link.close()

    asyncio.run(scenario())


def test_changes_during_an_outage_are_saved_when_redis_returns_and_nothing_saved_before_is_lost(
    redis_server: RedisServer,
) -> None:
    registry = make_registry()
    changing, ending, untouched = (registry.create(SCENE, time.monotonic()).session for _ in range(3))
    changing.add_member("t-before", "participant", "before the outage", time.monotonic())

    async def scenario() -> None:
        link, saver = await _saver_on(redis_server.url, registry, 0.2)
        for s in (changing, ending, untouched):
            saver.changed(s.id)
        await saver.idle()
        assert sorted(_saved(redis_server)) == sorted(s.id for s in (changing, ending, untouched))

        await asyncio.to_thread(redis_server.stop)
        changing.add_member("t-during", "participant", "during the outage", time.monotonic())
        saver.changed(changing.id)
        ending.ended = True
        saver.changed(ending.id)
        await _until(lambda: not link.up and saver.unsaved == 2, "the saver to hold 2 sessions for later")
        changing.add_member("t-later", "participant", "later in the outage", time.monotonic())
        saver.changed(changing.id)  # the latest state is what is saved, once

        await asyncio.to_thread(redis_server.start)  # same port, same folder: the append-only file is read back
        await asyncio.wait_for(saver.idle(), WAIT_S)
        saved = _saved(redis_server)
        assert sorted(saved) == sorted([changing.id, untouched.id])  # the ended one deleted, the rest kept
        names = [m["name"] for m in saved[changing.id]["roster"]["members"]]  # type: ignore[index]
        assert names[-3:] == ["before the outage", "during the outage", "later in the outage"]
        assert saver.write_failures <= 1  # writes wait for Redis instead of failing every interval
        await saver.close([])
        await link.close()

    asyncio.run(scenario())


def test_a_write_refused_by_a_full_redis_is_tried_again_until_it_is_taken(redis_server: RedisServer) -> None:
    registry = make_registry()
    session = registry.create(SCENE, time.monotonic()).session
    admin = redis.Redis.from_url(redis_server.url)

    async def scenario() -> None:
        link, saver = await _saver_on(redis_server.url, registry, 0.1)
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", 1)  # every write is refused: OOM
        saver.changed(session.id)
        await _until(lambda: saver.write_failures >= 2, "the refused write to be tried again")
        assert link.up and _saved(redis_server) == {}  # Redis answers (not an outage); the save waits
        admin.config_set("maxmemory", 0)
        await asyncio.wait_for(saver.idle(), WAIT_S)
        assert list(_saved(redis_server)) == [session.id]
        await saver.close([])
        await link.close()

    try:
        asyncio.run(scenario())
    finally:
        admin.close()


def test_a_session_forgotten_with_a_save_pending_keeps_its_snapshot(redis_server: RedisServer) -> None:
    """An owner that lost a session's lease forgets it; the save still pending must not delete the snapshot
    the new owner restored from (the capture finds the session gone, which otherwise means "delete")."""
    registry = make_registry()
    session = registry.create(SCENE, time.monotonic()).session

    async def scenario() -> None:
        link, saver = await _saver_on(redis_server.url, registry, 0.3)
        saver.changed(session.id)
        await saver.idle()
        assert session.id in _saved(redis_server)
        saver.changed(session.id)  # a change, then the session moves away before the next write
        registry.forget(session.id)
        saver.forget(session.id)
        await saver.idle()
        assert session.id in _saved(redis_server)
        await saver.close([])
        await link.close()

    asyncio.run(scenario())
