"""Session routes: create, join, invite, the host's join link, the default session, and the WebSocket
each client streams over.

Joins are rate-limited per session and per client address (429 with the reason); an invite is a
token of a chosen role that only the session's host may ask for.
"""

from __future__ import annotations

import io
import time
from typing import Any, Literal
from urllib.parse import urlencode

import segno
from fastapi import APIRouter, HTTPException, Request, Response, WebSocket
from pydantic import BaseModel, ConfigDict, Field

from vizserver.errors import LimitExceededError, VizServerError
from vizserver.scenes.listing import find_scene
from vizserver.server.runtime import ServerRuntime, runtime_of
from vizserver.server.settings import JOIN_CODE_TTL_S
from vizserver.sessions.registry import MAX_MEMBER_NAME_CHARS
from vizserver.sessions.roles import Role
from vizserver.sessions.session import Member, Session
from vizserver.transports.websocket import serve_websocket

router = APIRouter(tags=["sessions"])


class CreateSession(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scene: str | None = Field(default=None, max_length=128, description="A scene name from GET /api/scenes")


class JoinSession(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=MAX_MEMBER_NAME_CHARS)
    join_code: str | None = Field(default=None, max_length=16)
    code: str | None = Field(default=None, max_length=16, description="Same as join_code")


class Invite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["participant", "observer"] = Field(
        default="participant", description="The presenter role is handed over in the session (set_role)"
    )
    name: str | None = Field(default=None, max_length=MAX_MEMBER_NAME_CHARS)


def _page_url(request: Request, session: Session, token: str) -> str:
    return f"{request.base_url}?{urlencode({'session': session.id, 'token': token})}"


def _member_answer(request: Request, session: Session, member: Member) -> dict[str, Any]:
    return {
        "session_id": session.id,
        "token": member.token,
        "role": member.role,
        "name": member.name,
        "member": member.id,
        "color": member.color,
        "url": _page_url(request, session, member.token),
        "websocket": f"/ws/{session.id}?{urlencode({'token': member.token})}",
    }


@router.post("/api/sessions", status_code=201)
async def create_session(request: Request, body: CreateSession | None = None) -> dict[str, Any]:
    """A new session on the served scene, or on another scene file of its folder; returns the host's token."""
    runtime = runtime_of(request)
    path = runtime.settings.scene
    if body is not None and body.scene is not None:
        found = find_scene(path, body.scene)
        if found is None:
            raise HTTPException(404, f"no scene named {body.scene!r} (see GET /api/scenes)")
        path = found
    try:
        scene = await runtime.scene(path)
    except VizServerError as exc:  # a scene file of the folder that does not build: say why
        raise HTTPException(422, str(exc)) from exc
    try:
        created = runtime.create_session(scene, runtime.twins.get(path), path)
    except LimitExceededError as exc:
        raise HTTPException(429, str(exc)) from exc
    return {
        "session_id": created.session.id,
        "join_code": created.session.join_code,
        "host_token": created.host.token,
        "url": _page_url(request, created.session, created.host.token),
    }


@router.post("/api/sessions/{session_id}/join")
async def join_session(request: Request, session_id: str, body: JoinSession | None = None) -> dict[str, Any]:
    """A participant token for the session with this id (or join code in the path or the body)."""
    runtime = runtime_of(request)
    now = time.monotonic()
    session = runtime.registry.find(session_id, now)
    code = body.join_code or body.code if body is not None else None
    if session is None and code:
        session = runtime.registry.find(code, now)
    if session is None:
        raise HTTPException(404, "no such session, or the join code has expired")
    member = _join(request, session, (body.name if body else None) or "participant", now)
    return _member_answer(request, session, member)


@router.post("/api/sessions/{session_id}/invite")
async def invite(
    request: Request,
    session_id: str,
    body: Invite | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """A token (and page link) of ``role`` for one more person; the host's token only (``?token=`` or Bearer)."""
    session = _hosted(request, session_id, token, "invite")
    wanted = body or Invite()
    invited = _join(request, session, wanted.name or wanted.role, time.monotonic(), wanted.role)
    return _member_answer(request, session, invited)


@router.get("/api/sessions/{session_id}/join-link")
async def join_link(request: Request, session_id: str, token: str | None = None) -> dict[str, Any]:
    """What the host hands out to a room: the join code, the page link that joins, and that link as a QR code.

    The link names the session, not a token, so everyone who opens it (or scans the QR code) joins
    as a participant with a token of their own.
    """
    session = _hosted(request, session_id, token, "ask for the join link")
    now = time.monotonic()
    expires_in = JOIN_CODE_TTL_S - (now - session.created)
    url = f"{request.base_url}?{urlencode({'session': session.id})}"
    return {
        "session_id": session.id,
        "join_code": session.join_code if expires_in > 0 else None,
        "code_expires_in_s": max(0.0, round(expires_in)),
        "url": url,
        "qr_svg": _qr_svg(url),
    }


def _hosted(request: Request, session_id: str, token: str | None, action: str) -> Session:
    """The session, when ``token`` (or the Bearer header) is its host's: else 404 / 403 saying who may ``action``."""
    session = runtime_of(request).registry.get(session_id)
    if session is None:
        raise HTTPException(404, "no such session")
    member = session.member(_token(request, token))
    if member is None or member.role != "host":
        raise HTTPException(403, f"only the session's host may {action} (give the host token)")
    return session


def _qr_svg(text: str) -> str:
    """``text`` as a QR code, a standalone SVG document (black on white, any size: it has a viewBox only)."""
    out = io.BytesIO()
    segno.make(text, error="m").save(
        out, kind="svg", xmldecl=False, svgns=True, scale=4, dark="#000", light="#fff", omitsize=True, nl=False
    )
    return out.getvalue().decode()


@router.get("/api/sessions/{session_id}/annotations")
async def export_annotations(request: Request, session_id: str, token: str | None = None) -> Response:
    """The session's annotations as the JSON export (docs/protocol.md "Annotations and tours"); any member's token."""
    session = runtime_of(request).registry.get(session_id)
    if session is None:
        raise HTTPException(404, "no such session")
    if session.member(_token(request, token)) is None:
        raise HTTPException(403, "give the token of one of the session's members (?token= or Bearer)")
    return Response(session.annotations.to_json(), media_type="application/json")


def _token(request: Request, token: str | None) -> str | None:
    """The ``?token=`` query parameter, else the ``Authorization: Bearer`` header's token."""
    return token or request.headers.get("authorization", "").removeprefix("Bearer ").strip() or None


@router.get("/api/sessions/default")
async def default_session(request: Request) -> dict[str, Any]:
    """A new participant token for the session the server opened on its scene at start."""
    runtime = runtime_of(request)
    session = _default(runtime)
    member = _join(request, session, "participant", time.monotonic())
    return _member_answer(request, session, member)


def _join(request: Request, session: Session, name: str, now: float, role: Role = "participant") -> Member:
    address = request.client.host if request.client is not None else None
    try:
        return runtime_of(request).registry.join(session, name, now, role, address)
    except LimitExceededError as exc:
        raise HTTPException(429, str(exc)) from exc


def _default(runtime: ServerRuntime) -> Session:
    session = runtime.registry.get(runtime.default_session_id)
    if session is None:  # pragma: no cover - the default session lives as long as the server
        raise HTTPException(503, "the server is still starting")
    return session


@router.websocket("/ws/{session_id}")
async def websocket(ws: WebSocket, session_id: str, token: str | None = None) -> None:
    """Protocol v1 (docs/protocol.md)."""
    runtime = runtime_of(ws)
    await serve_websocket(ws, runtime.hubs.get(session_id), token, runtime.settings.stall_timeout_s)


@router.websocket("/ws/twin/{session_id}")
async def twin_worker(ws: WebSocket, session_id: str, token: str | None = None) -> None:
    """A ``vizserver twin-worker`` serving the session's remote twin (docs/twins.md); the host's token only."""
    await runtime_of(ws).serve_remote_twin(ws, session_id, token)
