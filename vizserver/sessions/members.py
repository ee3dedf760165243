"""The people of one session: tokens, public ids, names, colours, roles, the presenter, the hand queue.

Pure and plain (dataclasses of strings and numbers) so it can be saved and restored as it is. A
member's ``token`` is its secret (it authenticates WebSocket and HTTP calls); its ``id`` is public
(``m1``, ``m2``, ...) and is what other members see and name in requests. Removing a member
forgets its token, which revokes it.

There is one host (the session's creator) and at most one presenter: giving someone the presenter
role puts the previous presenter back in the role it had before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field, replace

from vizserver.sessions.roles import Role

PALETTE = (
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45",
    "#469990", "#dcbeff", "#9a6324", "#800000", "#aaffc3", "#808000", "#000075", "#ffd8b1",
)
"""Member colours (distinct at a glance); a newcomer gets the first one no current member has."""


TOKEN_HASH_PREFIX = "sha256:"
"""A member restored from a saved session is keyed by ``sha256:<hex digest of its token>`` (the store keeps
no tokens) until its holder presents the token (:meth:`Roster.by_token`). Tokens never contain ``:``."""


def token_digest(token: str) -> str:
    """The hex SHA-256 of a token: what a saved session keeps instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


class RosterError(ValueError):
    """A request names no member, or asks for something the roster rules out; the message says which."""


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    token: str
    role: Role
    name: str
    color: str
    created: float
    role_before_presenter: Role | None = None
    """The role to go back to when the presenter role is handed on or returned."""


@dataclass(slots=True)
class Roster:
    """Members by token, the hand queue (member ids, first raised first) and the next id number."""

    members: dict[str, Member] = field(default_factory=dict)
    hands: list[str] = field(default_factory=list)
    next_number: int = 1

    def __len__(self) -> int:
        return len(self.members)

    def __iter__(self) -> Iterator[Member]:
        return iter(list(self.members.values()))

    def add(self, token: str, role: Role, name: str, now: float, limit: int, busy: Collection[str]) -> Member:
        """A new member; past ``limit`` members the oldest non-host whose token is not in ``busy`` is forgotten."""
        if len(self.members) >= limit:
            idle = [m for m in self.members.values() if m.token not in busy and m.role != "host"]
            if idle:
                self.remove(min(idle, key=lambda m: m.created).id)
        used = {m.color for m in self.members.values()}
        color = next((c for c in PALETTE if c not in used), PALETTE[self.next_number % len(PALETTE)])
        member = Member(f"m{self.next_number}", token, role, name, color, now)
        self.next_number += 1
        self.members[token] = member
        return member

    def by_token(self, token: str | None) -> Member | None:
        if not token or token.startswith(TOKEN_HASH_PREFIX):
            return None
        member = self.members.get(token)
        return member if member is not None else self._reclaim(token)

    def _reclaim(self, token: str) -> Member | None:
        """A restored member whose holder presents its token: keyed by the token again, in its place in the order."""
        key = TOKEN_HASH_PREFIX + token_digest(token)
        saved = self.members.get(key)
        if saved is None:
            return None
        member = replace(saved, token=token)
        self.members = {token if k == key else k: member if k == key else m for k, m in self.members.items()}
        return member

    def by_id(self, member_id: str) -> Member:
        for member in self.members.values():
            if member.id == member_id:
                return member
        raise RosterError(f"no member {member_id!r} in this session")

    @property
    def presenter(self) -> Member | None:
        return next((m for m in self.members.values() if m.role == "presenter"), None)

    def set_role(self, member_id: str, role: Role) -> None:
        """``member_id`` takes ``role``; the host's role never changes and nobody else becomes host."""
        member = self.by_id(member_id)
        if member.role == "host":
            raise RosterError("the host's role cannot change")
        if role == "host":
            raise RosterError("a session has one host")
        if role == "presenter":
            if member.role == "presenter":
                return
            self.return_presenter()
            self._put(replace(member, role="presenter", role_before_presenter=member.role))
            self.lower_hand(member_id)  # a presenter does not queue to speak
            return
        self._put(replace(member, role=role, role_before_presenter=None))
        if role == "observer":
            self.lower_hand(member_id)

    def return_presenter(self) -> Member | None:
        """The presenter goes back to its earlier role (the host presents again); the one it was, if any."""
        current = self.presenter
        if current is not None:
            self._put(replace(current, role=current.role_before_presenter or "participant",
                              role_before_presenter=None))
        return current

    def remove(self, member_id: str) -> Member:
        """Forget a member and so revoke its token; the host cannot be removed."""
        member = self.by_id(member_id)
        if member.role == "host":
            raise RosterError("the host cannot be removed")
        del self.members[member.token]
        self.lower_hand(member_id)
        return member

    def revoke_all(self) -> None:
        self.members.clear()
        self.hands.clear()

    def raise_hand(self, member_id: str) -> bool:
        """Queue ``member_id``'s hand; false when it was already raised."""
        self.by_id(member_id)
        if member_id in self.hands:
            return False
        self.hands.append(member_id)
        return True

    def lower_hand(self, member_id: str) -> bool:
        """False when it was not raised."""
        if member_id not in self.hands:
            return False
        self.hands.remove(member_id)
        return True

    def _put(self, member: Member) -> None:
        self.members[member.token] = member
