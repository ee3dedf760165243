"""Sessions saved in Redis (``serve --redis``): the scale-out twin of the SQLite :class:`SessionSaver`.

Each session is the snapshot JSON of :mod:`vizserver.sessions.snapshot` (tokens as SHA-256 hashes) at
``vz:session:{sid}``, and its id is in the set ``vz:sessions`` (docs/architecture.md "Scale-out").
:class:`RedisSessionSaver` has the SQLite saver's interface and timing: a session that keeps changing
is written at most once a ``SAVE_INTERVAL_S``; the snapshot is captured on the loop, encoded in the
saver's one thread, and written (``SET`` + ``SADD``, or ``DEL`` + ``SREM``) in one ``MULTI``.

While Redis is down nothing is lost that matters: a session that changed, or whose write failed, is
remembered by id and saved again, as it is then, when :class:`~vizserver.scale.redis_link.RedisLink`
sees Redis come back (``on_up``); a session that ended meanwhile is deleted then. A write that a
reachable Redis refuses (out of memory under ``noeviction``) is tried again an interval later. What
is saved is always the latest state, so a retry never writes an older snapshot over a newer one.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from redis.exceptions import ResponseError

from vizserver.scale.redis_link import REDIS_ERRORS, RedisLink, safe_url
from vizserver.server.store import SAVE_INTERVAL_S, Capture, CoalescedSaves, SavedRow, StoreError
from vizserver.sessions.snapshot import EncodeCache, SessionSnapshot, encode

log = logging.getLogger("vizserver.store")

SESSIONS_KEY = "vz:sessions"
"""The set of saved session ids."""

def session_key(session_id: str) -> str:
    """Where a session's snapshot JSON is kept."""
    return f"vz:session:{session_id}"


class RedisSessionSaver(CoalescedSaves):
    """Saves sessions to Redis through ``link`` in the background; satisfies
    :class:`~vizserver.server.saving.SessionSaving`. Make it on the event loop that runs ``link``."""

    def __init__(self, link: RedisLink, capture: Capture, interval_s: float = SAVE_INTERVAL_S) -> None:
        super().__init__(capture, interval_s)
        self._link = link
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="session-encode")
        self._cache = EncodeCache()
        """The encoding thread's: each session's annotations JSON while unchanged."""
        self._waiting: set[str] = set()
        """Sessions to save (or delete) once Redis is back: changed while it was down, or their write failed."""
        self._writes: set[asyncio.Task[None]] = set()
        self._order = asyncio.Lock()
        """Writes go to Redis in the order their snapshots were taken."""
        self._failing = False
        self.writes = 0
        """``MULTI`` transactions written (each saves every session that changed since the one before)."""
        self.write_failures = 0
        """Writes that Redis did not take (down, slow, or refused); their sessions were kept for a retry."""
        link.on_up.append(self._retry_waiting)

    @property
    def where(self) -> str:
        return f"Redis at {safe_url(self._link.url)}"

    @property
    def unsaved(self) -> int:
        """Sessions whose latest change is not in Redis yet (waiting for it to come back, or for the interval)."""
        return len(self._dirty | self._waiting)

    async def rows(self) -> list[SavedRow]:
        """Every saved session, oldest first. While Redis is unreachable: none, said in the log (they stay in
        Redis; with scale-out a session is restored when first asked for, by the process that takes it over)."""
        client = self._link.client
        try:
            ids = sorted(_text(i) for i in await client.smembers(SESSIONS_KEY))
            texts = await client.mget([session_key(i) for i in ids]) if ids else []
        except ResponseError as exc:
            raise StoreError(f"sessions in {self.where}: {exc} (is {SESSIONS_KEY} some other program's key?)") \
                from None
        except REDIS_ERRORS as exc:
            self._link.failed(exc)
            log.error("session store %s: saved sessions cannot be read now (%s: %s); none restored at start, "
                      "they stay in Redis", self.where, type(exc).__name__, exc)
            return []
        found = [(i, _text(t)) for i, t in zip(ids, texts, strict=True) if t is not None]
        rows = await asyncio.get_running_loop().run_in_executor(self._executor, _rows, found)
        return sorted(rows, key=lambda r: r.updated_at)

    async def delete(self, session_ids: Iterable[str]) -> None:
        """Delete these sessions now; while Redis is down, once it is back."""
        ids = list(session_ids)
        if not ids:
            return
        async with self._order:
            await self._send([], ids)

    def forget(self, session_id: str) -> None:
        """Drop what is pending for ``session_id`` without deleting ``vz:session:{sid}``: another process took the
        session over, and a save from here would find it gone and delete the snapshot the new owner restored."""
        self._dirty.discard(session_id)
        self._waiting.discard(session_id)

    async def idle(self) -> None:
        """Wait until every change reported so far is in Redis (while Redis is down: until it is back)."""
        await self._idle.wait()

    async def close(self, session_ids: Iterable[str]) -> None:
        """Save ``session_ids`` (and anything pending) now, wait for the write, and stop; what Redis does not
        take now (it is down) is logged as lost to this process (another process may hold a newer copy)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._closed = True
        if self._retry_waiting in self._link.on_up:
            self._link.on_up.remove(self._retry_waiting)
        self._dirty.update(session_ids)
        self._dirty |= self._waiting
        self._waiting.clear()
        self._flush()
        await asyncio.gather(*self._writes)
        if self._waiting:
            log.error("session store %s: %d session(s) not saved at shutdown: Redis did not answer", self.where,
                      len(self._waiting))
        self._executor.shutdown(wait=True)

    def _flush(self) -> None:
        self._timer = None
        if not self._link.up and not self._closed:
            self._waiting |= self._dirty  # no write can succeed now; Redis coming back saves them (on_up)
            self._dirty = set()
            self._settle()
            return
        loop = asyncio.get_running_loop()
        self._last_flush = loop.time()
        ids, self._dirty = self._dirty, set()
        snapshots, gone = self._captured(ids)
        write = loop.create_task(self._write(snapshots, gone), name="session save")
        self._writes.add(write)
        write.add_done_callback(self._written)

    async def _write(self, snapshots: list[SessionSnapshot], gone: list[str]) -> None:
        async with self._order:
            loop = asyncio.get_running_loop()
            try:
                texts = await loop.run_in_executor(self._executor, self._encode, snapshots, gone)
            except (ValueError, TypeError) as exc:  # a value JSON cannot hold: a bug, said, never retried
                log.error("session store %s: could not encode %d session(s): %s", self.where, len(snapshots), exc)
                return
            await self._send(texts, gone)

    def _encode(self, snapshots: list[SessionSnapshot], gone: list[str]) -> list[tuple[str, str]]:
        """In the saver's thread: JSON encoding and token hashing are the slow part of a save."""
        for session_id in gone:
            self._cache.forget(session_id)
        return [(s.id, encode(s, self._cache)) for s in snapshots]

    async def _send(self, texts: list[tuple[str, str]], gone: list[str]) -> None:
        """One ``MULTI``: save ``texts``, delete ``gone``; a failure keeps every id for a retry when Redis is back."""
        try:
            async with self._link.client.pipeline(transaction=True) as pipe:
                for session_id, text in texts:
                    pipe.set(session_key(session_id), text)
                if texts:
                    pipe.sadd(SESSIONS_KEY, *(i for i, _ in texts))
                if gone:
                    pipe.delete(*(session_key(i) for i in gone))
                    pipe.srem(SESSIONS_KEY, *gone)
                await pipe.execute()
        except REDIS_ERRORS as exc:
            self.write_failures += 1
            if not self._failing:
                log.error("session store %s: could not save %d session(s) (saved when Redis answers again): %s",
                          self.where, len(texts) + len(gone), exc)
            self._failing = True
            self._waiting.update(i for i, _ in texts)
            self._waiting.update(gone)
            if isinstance(exc, ResponseError):  # Redis answers but refuses (out of memory): try again later
                asyncio.get_running_loop().call_later(self.interval_s, self._retry_waiting)
            else:  # down or slow: Redis answering again (on_up) saves them
                self._link.failed(exc)
            return
        self.writes += 1
        if self._failing:
            log.info("session store %s: saving again", self.where)
        self._failing = False

    def _retry_waiting(self) -> None:
        if self._closed:
            return
        waiting, self._waiting = self._waiting, set()
        for session_id in waiting:
            self.changed(session_id)

    def _written(self, write: asyncio.Task[None]) -> None:
        self._writes.discard(write)
        self._settle()

    def _settle(self) -> None:
        if not self._writes and self._timer is None and not self._dirty and not self._waiting:
            self._idle.set()


def _text(value: bytes | str) -> str:
    """A Redis reply as text (the client gives bytes; a snapshot that is not UTF-8 fails to decode later)."""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _rows(found: list[tuple[str, str]]) -> list[SavedRow]:
    """Rows of the saved texts, each dated by its snapshot's ``saved`` time (0 when unreadable: decoding
    it later names the problem)."""
    return [SavedRow(session_id, _saved_at(text), text) for session_id, text in found]


def _saved_at(text: str) -> float:
    try:
        doc = json.loads(text)
    except ValueError:
        return 0.0
    saved = doc.get("saved") if isinstance(doc, dict) else None
    return float(saved) if isinstance(saved, int | float) and not isinstance(saved, bool) else 0.0
