"""Requests across processes: an edge asks a session's owner (connect, HTTP calls) and awaits the reply.

:class:`Requests` numbers this process's requests and matches each :data:`~vizserver.scale.bus_wire.REPLY`
arriving on its edge channel to the one waiting; a request that gets no reply within ``REPLY_WAIT_S``
(the owner died, Redis is down) raises :class:`NoReplyError`. :func:`answer_call` is the owner's side of the
HTTP calls an edge forwards (docs/architecture.md "Scale-out"): join, invite, the join link's code,
the annotations export; it answers with an HTTP status and a JSON body, as the route would.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

from vizserver.errors import LimitExceededError, VizServerError
from vizserver.scale.bus_wire import BusMessage, Kind, encode_message
from vizserver.scale.cluster import ClusterNode, in_channel
from vizserver.server.settings import JOIN_CODE_TTL_S
from vizserver.sessions.registry import SessionRegistry
from vizserver.sessions.roles import Role
from vizserver.sessions.session import Member, Session

REPLY_WAIT_S = 5.0
"""Longest an edge waits for the owner's reply to a connect or an HTTP call."""

CALL_OPS = ("join", "invite", "join_link", "annotations")
INVITE_ROLES: tuple[Role, ...] = ("participant", "observer")


class NoReplyError(VizServerError):
    """The owner did not answer in time (it died, or Redis is down or slow)."""


OnReply = Callable[[dict[str, Any]], None]


class Requests:
    """This process's requests waiting for a reply, by number."""

    def __init__(self, node: ClusterNode, on_late: OnReply | None = None) -> None:
        self._node = node
        self._on_late = on_late
        """Hears a reply that came after its asker gave up (a connect the owner accepted too late)."""
        self._numbers = itertools.count(1)
        self._waiting: dict[int, tuple[asyncio.Future[dict[str, Any]], OnReply | None]] = {}

    async def ask(self, session_id: str, kind: Kind, head: dict[str, Any], blobs: tuple[bytes, ...] = (),
                  on_reply: OnReply | None = None, wait_s: float = REPLY_WAIT_S) -> dict[str, Any]:
        """Send a request to the owner of ``session_id``; its reply's head. ``on_reply`` runs when the reply
        is read, before anything the owner sent after it (a connect registers its client there)."""
        number = next(self._numbers)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[number] = (future, on_reply)
        message = encode_message(kind, {**head, "edge": self._node.server_id, "req": number}, blobs)

        def sent(ok: bool) -> None:  # Redis did not take it: no reply can come, say so now
            if not ok and not future.done():
                future.set_exception(NoReplyError(f"session {session_id}: Redis is unreachable"))

        self._node.publish(in_channel(session_id), message, sent)
        try:
            return await asyncio.wait_for(future, wait_s)
        except TimeoutError:
            raise NoReplyError(f"session {session_id}: its server did not answer within {wait_s:g} s") from None
        finally:
            self._waiting.pop(number, None)

    def replied(self, message: BusMessage) -> None:
        number = message.head.get("req")
        waiting = self._waiting.pop(number, None) if isinstance(number, int) else None
        if waiting is None:  # too late: the asker gave up
            if self._on_late is not None:
                self._on_late(message.head)
            return
        future, on_reply = waiting
        if future.done():
            return
        if on_reply is not None:
            on_reply(message.head)
        future.set_result(message.head)


def reply(node: ClusterNode, edge_id: str, number: int, head: dict[str, Any]) -> None:
    node.publish(f"vz:edge:{edge_id}", encode_message(Kind.REPLY, {**head, "req": number}))


# --- the owner's side of forwarded HTTP calls ---


def member_fields(session: Session, member: Member) -> dict[str, Any]:
    return {"session_id": session.id, "token": member.token, "role": member.role, "name": member.name,
            "member": member.id, "color": member.color}


def answer_call(registry: SessionRegistry, session: Session, op: str, args: dict[str, Any],
                now: float | None = None) -> tuple[int, dict[str, Any]]:
    """What the route of ``op`` would answer on the owner: (HTTP status, body; ``detail`` on an error)."""
    now = time.monotonic() if now is None else now
    name = args.get("name")
    name = name if isinstance(name, str) else None
    token = args.get("token")
    token = token if isinstance(token, str) else None
    address = args.get("address")
    address = address if isinstance(address, str) else None
    if op == "join":
        return _join(registry, session, name or "participant", now, "participant", address)
    member = session.member(token) if token is not None else None
    if op == "annotations":
        if member is None:
            return 403, {"detail": "give the token of one of the session's members (?token= or Bearer)"}
        return 200, {"json": session.annotations.to_json()}
    if op not in ("invite", "join_link"):
        return 400, {"detail": f"unknown call {op!r}"}
    if member is None or member.role != "host":
        action = "invite" if op == "invite" else "ask for the join link"
        return 403, {"detail": f"only the session's host may {action} (give the host token)"}
    if op == "join_link":
        expires_in = JOIN_CODE_TTL_S - (now - session.created)
        return 200, {"join_code": session.join_code if expires_in > 0 else None,
                     "code_expires_in_s": max(0.0, round(expires_in))}
    role = args.get("role")
    if role not in INVITE_ROLES:
        return 422, {"detail": f"role must be one of {list(INVITE_ROLES)}"}
    assert role == "participant" or role == "observer"
    return _join(registry, session, name or role, now, role, address)


def _join(registry: SessionRegistry, session: Session, name: str, now: float, role: Role,
          address: str | None) -> tuple[int, dict[str, Any]]:
    try:
        member = registry.join(session, name, now, role, address)
    except LimitExceededError as exc:
        return 429, {"detail": str(exc)}
    return 200, member_fields(session, member)
