"""Every session of one server, found by id or by join code; issues tokens. Pure (no I/O, no clock).

Ids and tokens are random and unguessable (``secrets``); join codes are short (6 characters from an
alphabet without look-alikes) for reading aloud in a room, and expire after ``JOIN_CODE_TTL_S``.
A token belongs to one session (it is looked up in that session's roster only) and carries one
role. Joins are rate-limited per session and per client address, so a flood of joins cannot fill a
session's roster or push its members' tokens out. An ended session is gone for every lookup.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from vizserver.errors import InputError, LimitExceededError
from vizserver.scenes.objects import BuiltScene
from vizserver.server.settings import JOIN_CODE_TTL_S, MAX_SESSIONS, SESSION_IDLE_TTL_S
from vizserver.sessions.ratelimit import RateLimiter
from vizserver.sessions.session import Member, Role, Session

JOIN_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
JOIN_CODE_LENGTH = 6
TOKEN_BYTES = 24
SESSION_ID_BYTES = 12
MAX_MEMBER_NAME_CHARS = 64

JOIN_RATE_PER_S = 4.0
"""Joins one session takes a second on average (a class joining at once uses the burst)."""
JOIN_BURST = 80
"""Joins one session takes at once after a quiet spell (more than a full session of 64)."""
JOIN_RATE_PER_ADDRESS_PER_S = 4.0
"""Joins (to any session) from one client address a second on average."""
JOIN_BURST_PER_ADDRESS = 80
"""A classroom behind one NAT address joins at once within this."""


def _join_code() -> str:
    return "".join(secrets.choice(JOIN_CODE_ALPHABET) for _ in range(JOIN_CODE_LENGTH))


@dataclass(frozen=True, slots=True)
class Created:
    session: Session
    host: Member


class SessionRegistry:
    """Sessions by id. ``new_secret(nbytes)`` and ``new_code()`` are injectable for tests."""

    def __init__(
        self,
        new_secret: Callable[[int], str] = secrets.token_urlsafe,
        new_code: Callable[[], str] = _join_code,
    ) -> None:
        self._sessions: dict[str, Session] = {}
        self._new_secret = new_secret
        self._new_code = new_code
        self._session_joins = RateLimiter(JOIN_RATE_PER_S, JOIN_BURST)
        self._address_joins = RateLimiter(JOIN_RATE_PER_ADDRESS_PER_S, JOIN_BURST_PER_ADDRESS)
        self._active_at: dict[str, float] = {}
        """Restored sessions: when someone was last connected before the restart (idle time counts from there)."""

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))

    def create(self, scene: BuiltScene, now: float, open_to_all: bool = False) -> Created:
        """A new session on ``scene`` with a host token; :class:`LimitExceededError` past ``MAX_SESSIONS``.

        ``open_to_all``: participants get the presenter's rights (the server's default session).
        """
        if len(self._sessions) >= MAX_SESSIONS:
            raise LimitExceededError(f"this server already holds {MAX_SESSIONS} sessions (MAX_SESSIONS)")
        session_id = self._new_secret(SESSION_ID_BYTES)
        codes = {s.join_code for s in self._sessions.values()}
        code = self._new_code()
        while code in codes:
            code = self._new_code()
        session = Session.of_scene(session_id, code, scene, now)
        session.open = open_to_all
        self._sessions[session_id] = session
        host = session.add_member(self._new_secret(TOKEN_BYTES), "host", "host", now)
        return Created(session, host)

    def adopt(self, session: Session, active_at: float) -> None:
        """Hold a restored session under its saved id and join code; nobody has been connected since ``active_at``.

        :class:`InputError` when its id or join code is taken, :class:`LimitExceededError` past ``MAX_SESSIONS``.
        """
        if len(self._sessions) >= MAX_SESSIONS:
            raise LimitExceededError(f"this server already holds {MAX_SESSIONS} sessions (MAX_SESSIONS)")
        if session.id in self._sessions or any(s.join_code == session.join_code for s in self._sessions.values()):
            raise InputError(f"session {session.id}: its id or join code {session.join_code} is already in use")
        self._sessions[session.id] = session
        self._active_at[session.id] = active_at

    def forget(self, session_id: str) -> None:
        """Let go of a session another server process serves now (``--redis``); its saved state is not touched."""
        self._sessions.pop(session_id, None)
        self._active_at.pop(session_id, None)

    def active_at(self, session_id: str) -> float | None:
        """For a restored session: when someone was last connected before the restart."""
        return self._active_at.get(session_id)

    def prune(self, now: float, keep: str) -> list[str]:
        """Forget sessions (except ``keep``) nobody has been connected to for ``SESSION_IDLE_TTL_S``; their ids."""
        gone = []
        for session in list(self._sessions.values()):
            idle = session.idle_since()
            if idle is not None:
                idle = max(idle, self._active_at.get(session.id, idle))
            if session.id != keep and (session.ended or (idle is not None and now - idle > SESSION_IDLE_TTL_S)):
                del self._sessions[session.id]
                self._active_at.pop(session.id, None)
                gone.append(session.id)
        return gone

    def get(self, session_id: str) -> Session | None:
        session = self._sessions.get(session_id)
        return None if session is None or session.ended else session

    def find(self, id_or_code: str, now: float) -> Session | None:
        """The session with this id, or with this (unexpired, case-insensitive) join code."""
        session = self.get(id_or_code)
        if session is not None:
            return session
        code = id_or_code.upper()
        for s in self._sessions.values():
            if s.join_code == code and now - s.created <= JOIN_CODE_TTL_S and not s.ended:
                return s
        return None

    def join(
        self, session: Session, name: str, now: float, role: Role = "participant", address: str | None = None
    ) -> Member:
        """A new token of ``role`` for ``session``; ``name`` is cut to ``MAX_MEMBER_NAME_CHARS`` printable characters.

        :class:`LimitExceededError` past the join rate of the session or of the client ``address``.
        """
        if address is not None and not self._address_joins.take(address, now):
            raise LimitExceededError(f"too many joins from {address} (over {JOIN_RATE_PER_ADDRESS_PER_S:g} a second); "
                                     "wait a moment")
        if not self._session_joins.take(session.id, now):
            raise LimitExceededError(f"too many joins to this session (over {JOIN_RATE_PER_S:g} a second); "
                                     "wait a moment")
        clean = "".join(ch for ch in name if ch.isprintable())[:MAX_MEMBER_NAME_CHARS] or role
        return session.add_member(self._new_secret(TOKEN_BYTES), role, clean, now)
