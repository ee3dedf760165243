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
from vizserver.scale.rpc import member_fields
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
    return _answer_of(request, member_fields(session, member))


def _answer_of(request: Request, fields: dict[str, Any]) -> dict[str, Any]:
    """A member's answer from its fields (:func:`~vizserver.scale.rpc.member_fields`, here or on the owner)."""
    session_id, token = fields["session_id"], fields["token"]
    return {
        **fields,
        "url": f"{request.base_url}?{urlencode({'session': session_id, 'token': token})}",
        "websocket": f"/ws/{session_id}?{urlencode({'token': token})}",
    }


async def _forward(request: Request, session_id: str, op: str, args: dict[str, Any]) -> dict[str, Any] | None:
    """With ``--redis``, when another server process owns ``session_id``: its owner's answer to ``op``
    (an error as HTTPException); None when this process serves it (it may have just taken it over) or none does."""
    runtime = runtime_of(request)
    if runtime.scale is None or await runtime.find_hub(session_id) is None or session_id in runtime.hubs:
        return None
    address = request.client.host if request.client is not None else None
    status, body = await runtime.scale.call(session_id, op, {**args, "address": address})
    if status != 200:
        raise HTTPException(status, str(body.get("detail", "the session's server refused")))
    return body


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
    if runtime.scale is not None:
        await runtime.scale.owning(created.session.id)
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
    if session is None and runtime.scale is not None:  # another process's session (docs/architecture.md)
        by_code = await runtime.scale.session_of_code(code) if code else None
        target = by_code or await runtime.scale.session_of_code(session_id) or session_id
        forwarded = await _forward(request, target, "join", {"name": body.name if body else None})
        if forwarded is not None:
            return _answer_of(request, forwarded)
        session = runtime.registry.find(target, now)
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
    wanted = body or Invite()
    forwarded = await _forward(request, session_id, "invite",
                               {"token": _token(request, token), "role": wanted.role, "name": wanted.name})
    if forwarded is not None:
        return _answer_of(request, forwarded)
    session = _hosted(request, session_id, token, "invite")
    invited = _join(request, session, wanted.name or wanted.role, time.monotonic(), wanted.role)
    return _member_answer(request, session, invited)


@router.get("/api/sessions/{session_id}/join-link")
async def join_link(request: Request, session_id: str, token: str | None = None) -> dict[str, Any]:
    """What the host hands out to a room: the join code, the page link that joins, and that link as a QR code.

    The link names the session, not a token, so everyone who opens it (or scans the QR code) joins
    as a participant with a token of their own.
    """
    url = f"{request.base_url}?{urlencode({'session': session_id})}"
    forwarded = await _forward(request, session_id, "join_link", {"token": _token(request, token)})
    if forwarded is not None:
        return {"session_id": session_id, "join_code": forwarded.get("join_code"),
                "code_expires_in_s": forwarded.get("code_expires_in_s"), "url": url, "qr_svg": _qr_svg(url)}
    session = _hosted(request, session_id, token, "ask for the join link")
    now = time.monotonic()
    expires_in = JOIN_CODE_TTL_S - (now - session.created)
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
    forwarded = await _forward(request, session_id, "annotations", {"token": _token(request, token)})
    if forwarded is not None:
        return Response(str(forwarded.get("json", "")), media_type="application/json")
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
    forwarded = await _forward(request, runtime.default_session_id, "join", {"name": None})
    if forwarded is not None:
        return _answer_of(request, forwarded)
    session = _default(runtime)
    member = _join(request, session, "participant", time.monotonic())
    return _member_answer(request, session, member)


def _join(request: Request, session: Session, name: str, now: float, role: Role = "participant") -> Member:
    address = request.client.host if request.client is not None else None
    runtime = runtime_of(request)
    try:
        member = runtime.registry.join(session, name, now, role, address)
    except LimitExceededError as exc:
        raise HTTPException(429, str(exc)) from exc
    runtime.saved_soon(session.id)  # a new member is kept even if they never connect before a restart
    return member


def _default(runtime: ServerRuntime) -> Session:
    session = runtime.registry.get(runtime.default_session_id)
    if session is None:  # pragma: no cover - the default session lives as long as the server
        raise HTTPException(503, "the server is still starting")
    return session


@router.websocket("/ws/{session_id}")
async def websocket(ws: WebSocket, session_id: str, token: str | None = None) -> None:
    """Protocol v1 (docs/protocol.md)."""
    runtime = runtime_of(ws)
    await serve_websocket(ws, await runtime.find_hub(session_id), token, runtime.settings.stall_timeout_s)


@router.websocket("/ws/twin/{session_id}")
async def twin_worker(ws: WebSocket, session_id: str, token: str | None = None) -> None:
    """A ``vizserver twin-worker`` serving the session's remote twin (docs/twins.md); the host's token only."""
    await runtime_of(ws).serve_remote_twin(ws, session_id, token)
