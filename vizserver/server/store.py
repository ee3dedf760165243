"""Where sessions are saved: an SQLite file (stdlib ``sqlite3``, WAL), one row per session, written off the loop.

:class:`SessionStore` is the file: table ``sessions(id, updated_at, json)`` (the JSON of
:mod:`vizserver.sessions.snapshot`) and ``meta(key, value)`` with the file's ``schema_version``.
One server uses a store file at a time (an exclusive ``flock`` on ``<file>.lock``); a second one is
told so and keeps its sessions in memory. A file that is not an SQLite database, or was written by a
newer vizserver, raises :class:`StoreError` and is left untouched.

:class:`SessionSaver` decides when to write: a session that changed is saved at most once a
``SAVE_INTERVAL_S`` (changes in between are coalesced), every session once more on shutdown; a
session that ended or was forgotten has its row deleted. The snapshot is taken on the event loop
(cheap copies) and encoded and written in the saver's one thread, in order.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from vizserver.errors import VizServerError
from vizserver.sessions.snapshot import EncodeCache, SessionSnapshot, encode

log = logging.getLogger("vizserver.store")

STORE_SCHEMA_VERSION = 1
"""The layout of the tables; a file with a higher one was written by a newer vizserver and is not touched."""

SAVE_INTERVAL_S = 1.0
"""A session that keeps changing is written at most this often."""

PRIVATE_FILE_MODE = 0o600
"""A new store file is readable by its owner only: it holds names and annotations (tokens only as hashes)."""

BUSY_TIMEOUT_S = 5.0
"""How long a write waits for a lock held by a reader of the file (e.g. ``sqlite3`` in a shell)."""


class StoreError(VizServerError):
    """The session store cannot be used; the message names the file and why."""


@dataclass(frozen=True, slots=True)
class SavedRow:
    session_id: str
    updated_at: float
    text: str


class SessionStore:
    """One open store file. Not thread-safe: :class:`SessionSaver` calls it from its one thread only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._lock = _exclusive_lock(path.with_name(path.name + ".lock"))
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE_FILE_MODE))  # SQLite gives its -wal the same
        except OSError as exc:
            raise StoreError(f"session store {path}: cannot create it, its folder or its lock file "
                             f"({exc.strerror})") from None
        if self._lock is None:
            raise StoreError(f"session store {path}: in use by another vizserver (give this one --store PATH "
                             "or --no-store)")
        try:
            self._db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            self._release()
            raise StoreError(f"session store {path}: cannot open it ({exc})") from None
        try:
            self._prepare()
        except sqlite3.Error as exc:
            self.close()
            raise StoreError(f"session store {path}: {exc} (not a vizserver session store; move it away, or "
                             "give --store PATH)") from None
        except StoreError:
            self.close()
            raise

    def _prepare(self) -> None:
        db = self._db
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "meta" not in tables:
            raise sqlite3.DatabaseError("an SQLite file of something else (no meta table)")
        if "meta" in tables:
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = int(row[0]) if row is not None and str(row[0]).isdigit() else None
            if version is None:
                raise sqlite3.DatabaseError("its meta table has no schema_version")
            if version > STORE_SCHEMA_VERSION:
                raise StoreError(f"session store {self.path}: written by a newer vizserver (store schema "
                                 f"{version}; this one reads {STORE_SCHEMA_VERSION}); it is left as it is "
                                 "(upgrade, or give --store PATH)")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")  # WAL: a crash of the server loses nothing; no fsync per save
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, updated_at REAL NOT NULL, "
                   "json TEXT NOT NULL)")
        db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(STORE_SCHEMA_VERSION),))

    def rows(self) -> list[SavedRow]:
        return [SavedRow(str(i), float(t), str(j))
                for i, t, j in self._db.execute("SELECT id, updated_at, json FROM sessions ORDER BY updated_at")]

    def write(self, saved: Iterable[SavedRow], deleted: Iterable[str]) -> None:
        """Save and delete rows in one transaction."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?)",
                           [(r.session_id, r.updated_at, r.text) for r in saved])
            db.executemany("DELETE FROM sessions WHERE id = ?", [(i,) for i in deleted])
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def _exclusive_lock(path: Path) -> IO[bytes] | None:
    """The open lock file, locked for this process; ``None`` when another process holds it."""
    handle = open(path, "ab")  # noqa: SIM115 - held open for the store's life
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock, one server per store is the user's care
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


Capture = Callable[[str], SessionSnapshot | None]
"""The snapshot of a session by id, taken now; ``None`` when it ended or is gone (its row is deleted)."""


class CoalescedSaves:
    """What every saver shares: sessions reported changed are written at most once a ``interval_s``, changes
    in between coalesced; a subclass writes them in :meth:`_flush` (which calls :meth:`_captured`)."""

    def __init__(self, capture: Capture, interval_s: float) -> None:
        self._capture = capture
        self.interval_s = interval_s
        self._dirty: set[str] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._last_flush = -float("inf")
        self._closed = False
        self._idle = asyncio.Event()
        self._idle.set()

    def changed(self, session_id: str) -> None:
        """Session ``session_id`` changed (or ended, or was forgotten): save it soon."""
        if self._closed:
            return  # shutting down: the last save has been taken
        self._dirty.add(session_id)
        self._idle.clear()
        if self._timer is None:
            loop = asyncio.get_running_loop()
            delay = max(0.0, self._last_flush + self.interval_s - loop.time())
            self._timer = loop.call_later(delay, self._flush)

    def _flush(self) -> None:
        raise NotImplementedError

    def _captured(self, session_ids: Iterable[str]) -> tuple[list[SessionSnapshot], list[str]]:
        """The snapshots of the sessions still there, and the ids of those gone (their rows are deleted)."""
        snapshots: list[SessionSnapshot] = []
        gone: list[str] = []
        for session_id in sorted(session_ids):
            snapshot = self._capture(session_id)
            if snapshot is None:
                gone.append(session_id)
            else:
                snapshots.append(snapshot)
        return snapshots, gone


class SessionSaver(CoalescedSaves):
    """Saves sessions to a :class:`SessionStore` in the background; open it with :meth:`open`."""

    def __init__(self, executor: ThreadPoolExecutor, store: SessionStore, capture: Capture,
                 interval_s: float = SAVE_INTERVAL_S) -> None:
        super().__init__(capture, interval_s)
        self._executor = executor
        self._store = store
        self._writes: set[asyncio.Future[None]] = set()
        self._failing = False
        self.writes = 0
        """Transactions written so far (each saves every session that changed since the one before)."""
        self._cache = EncodeCache()
        """The saver thread's: each session's annotations JSON while unchanged."""

    @property
    def path(self) -> Path:
        return self._store.path

    @classmethod
    async def open(cls, path: Path, capture: Capture, interval_s: float = SAVE_INTERVAL_S) -> SessionSaver:
        """The saver of the store at ``path``; :class:`StoreError` when it cannot be used."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="session-store")
        try:
            store = await asyncio.get_running_loop().run_in_executor(executor, SessionStore, path)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(executor, store, capture, interval_s)

    async def rows(self) -> list[SavedRow]:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._store.rows)

    async def delete(self, session_ids: Iterable[str]) -> None:
        ids = list(session_ids)
        await asyncio.get_running_loop().run_in_executor(self._executor, self._store.write, [], ids)

    def forget(self, session_id: str) -> None:
        """Drop what is pending for ``session_id``; its row stays as it was last written."""
        self._dirty.discard(session_id)

    def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = None
        self._last_flush = loop.time()
        ids, self._dirty = self._dirty, set()
        snapshots, gone = self._captured(ids)
        write = asyncio.ensure_future(loop.run_in_executor(self._executor, self._write, snapshots, gone, loop))
        self._writes.add(write)
        write.add_done_callback(self._written)

    def _retry(self, session_ids: list[str]) -> None:
        for session_id in session_ids:
            self.changed(session_id)

    def _written(self, write: asyncio.Future[None]) -> None:
        self._writes.discard(write)
        if not self._writes and self._timer is None:
            self._idle.set()

    async def idle(self) -> None:
        """Wait until every change reported so far is written."""
        await self._idle.wait()

    def _write(self, snapshots: list[SessionSnapshot], gone: list[str], loop: asyncio.AbstractEventLoop) -> None:
        """In the saver's thread: a failure (disk full, file removed) is logged once and tried again an
        interval later; the server goes on."""
        try:
            for session_id in gone:
                self._cache.forget(session_id)
            self._store.write([SavedRow(s.id, s.saved, encode(s, self._cache)) for s in snapshots], gone)
            self.writes += 1
        except (sqlite3.Error, OSError, ValueError, TypeError) as exc:
            if not self._failing:
                log.error("session store %s: could not save %d session(s): %s", self._store.path,
                          len(snapshots), exc)
            self._failing = True
            if not self._closed:
                loop.call_soon_threadsafe(self._retry, [s.id for s in snapshots] + gone)
            return
        if self._failing:
            log.info("session store %s: saving again", self._store.path)
        self._failing = False

    async def close(self, session_ids: Iterable[str]) -> None:
        """Save ``session_ids`` (and anything pending) now, wait for every write, and close the file."""
        if self._timer is not None:
            self._timer.cancel()
        self._closed = True
        self._dirty.update(session_ids)
        self._flush()
        await asyncio.gather(*self._writes)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._store.close)
        self._executor.shutdown(wait=True)
