"""``POST /api/uploads?session=ID&token=T``: a file into a session's scene.

The multipart body streams to a server-named file under the cache's ``uploads/`` folder and is
refused with 413 the moment it passes ``max_upload_bytes`` (or at once when Content-Length says
so). What is known at once is answered at once (400, 403, 404, 413); then the answer is 202 with
the ``upload_id``, and the conversion's progress and outcome reach everyone in the session as
``upload`` messages (and a new ``scene`` when it worked). With ``--redis``, an upload into a session
another process owns is converted here and handed to the owner (``scale/shared_assets.py``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from vizserver.protocol.messages import UploadStatus
from vizserver.scale.shared_assets import EdgeUploadTarget
from vizserver.server.runtime import runtime_of
from vizserver.server.settings import UPLOAD_FORM_OVERHEAD_BYTES
from vizserver.sessions.roles import UPLOAD, allows
from vizserver.uploads.intake import BadUpload, UploadIntake, UploadTooLarge, boundary_of, display_name, safe_suffix
from vizserver.uploads.target import HubTarget, UploadTarget

router = APIRouter(tags=["uploads"])


def _declared_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise HTTPException(400, "Content-Length is not a number") from None


@router.post("/api/uploads", status_code=202, response_model=None)
async def upload(request: Request, session: str, token: str | None = None) -> JSONResponse:
    """Multipart/form-data with a ``file`` field. 202 ``{upload_id, name}``; progress follows on the socket."""
    runtime = runtime_of(request)
    bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip() or None
    target = await _target(request, session, token or bearer)
    limit = runtime.settings.max_upload_bytes
    declared = _declared_length(request)
    if declared is not None and declared > limit + UPLOAD_FORM_OVERHEAD_BYTES:
        runtime.counters.upload("refused")
        raise HTTPException(413, f"upload of {declared:,} bytes is over the limit of {limit:,} bytes")
    try:
        boundary = boundary_of(request.headers.get("content-type"))
    except BadUpload as exc:
        raise HTTPException(400, str(exc)) from exc
    upload_id, partial = runtime.new_upload_path(".part")
    try:
        received = await _receive(request, boundary, partial, limit)
    except UploadTooLarge as exc:
        runtime.counters.upload("refused")
        raise HTTPException(413, str(exc)) from exc
    except BadUpload as exc:
        raise HTTPException(400, str(exc)) from exc
    name = display_name(received)
    stored = partial.with_name(f"{upload_id}{safe_suffix(received)}")
    partial.rename(stored)
    target.upload_status(UploadStatus(upload_id=upload_id, name=name, stage="received", fraction=1.0))
    runtime.spawn(runtime.convert_upload(target, upload_id, stored, name))
    return JSONResponse({"upload_id": upload_id, "name": name, "stage": "received"}, status_code=202)


async def _target(request: Request, session_id: str, token: str | None) -> UploadTarget:
    """Where the upload goes once the member may make it: this process's hub, or (``--redis``) the owner of a
    session another process serves, which checks the token and role (docs/architecture.md "Scale-out")."""
    runtime = runtime_of(request)
    hub = runtime.hubs.get(session_id)
    if hub is None and runtime.scale is not None and await runtime.find_hub(session_id) is not None:
        hub = runtime.hubs.get(session_id)  # None: another process owns it (or this one just took it over)
        if hub is None:
            edge = EdgeUploadTarget(runtime.scale, runtime.store, session_id, runtime.settings.max_shared_asset_bytes)
            status, detail = await edge.check(token)
            if status != 200:
                raise HTTPException(status, detail)
            return edge
    if hub is None:
        raise HTTPException(404, "no such session")
    member = hub.session.member(token)
    if member is None:
        raise HTTPException(403, "bad token for this session")
    if not allows(UPLOAD, member.role, hub.session.policy):
        raise HTTPException(403, f"upload: not allowed for a {member.role}; {UPLOAD.describe()}")
    return HubTarget(hub)


async def _receive(request: Request, boundary: bytes, path: Path, limit: int) -> str:
    """Stream the body into ``path``; returns the client's file name. Removes ``path`` on any failure."""
    try:
        with path.open("wb") as out:
            intake = UploadIntake(boundary, out, limit)
            async for chunk in request.stream():
                intake.feed(chunk)
            return intake.finish().filename
    except BaseException:
        path.unlink(missing_ok=True)
        raise

