"""What the runtime needs of a session saver, whichever store is behind it.

:class:`~vizserver.server.store.SessionSaver` (an SQLite file, the default) and
:class:`~vizserver.scale.redis_store.RedisSessionSaver` (``--redis``) both satisfy :class:`SessionSaving`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from vizserver.server.store import SavedRow


class SessionSaving(Protocol):
    writes: int
    """Writes done so far (each saves every session that changed since the one before)."""

    async def rows(self) -> list[SavedRow]:
        """Every saved session, oldest first."""
        ...

    async def delete(self, session_ids: Iterable[str]) -> None: ...

    def changed(self, session_id: str) -> None:
        """Session ``session_id`` changed (or ended, or was forgotten): save it soon, coalesced."""
        ...

    def forget(self, session_id: str) -> None:
        """Drop what is pending for ``session_id`` without deleting its saved row (another process owns it now)."""
        ...

    async def idle(self) -> None:
        """Wait until every change reported so far is written."""
        ...

    async def close(self, session_ids: Iterable[str]) -> None:
        """Save ``session_ids`` (and anything pending) now, then let go of the store."""
        ...
