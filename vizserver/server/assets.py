"""``GET /assets/{sha256}.glb``: content-addressed GLB assets, cached forever by browsers.

The name is checked to be 64 hex digits and ``.glb`` before anything touches the disk, so no part
of a client's path ever reaches it. The ETag is the hash itself (strong: the bytes never change
under a name), ``If-None-Match`` gets 304, and ``Range`` requests get 206 / 416 (Starlette's
``FileResponse``). With ``--redis``, an asset this process's cache lacks is looked for in Redis
(``vz:asset:{sha256}``, put there by the process that converted an upload) and kept here once found.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import FileResponse

from vizserver.scale.shared_assets import fetch_asset
from vizserver.scenes.cache import is_sha256
from vizserver.server.runtime import runtime_of

router = APIRouter(tags=["assets"])

IMMUTABLE = "public, max-age=31536000, immutable"
GLB_MEDIA_TYPE = "model/gltf-binary"


def _matches(if_none_match: str, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


@router.get("/assets/{filename}", response_model=None)
async def asset(request: Request, filename: str) -> Response:
    digest, dot, suffix = filename.partition(".")
    if not (dot and suffix == "glb" and is_sha256(digest)):
        raise HTTPException(404, "assets are named <sha256>.glb")
    runtime = runtime_of(request)
    path = runtime.store.glb_path(digest)
    if path is None and runtime.redis is not None:  # converted by another server process (an upload there)
        path = await fetch_asset(runtime.redis.client, runtime.store, digest, runtime.settings.max_shared_asset_bytes)
    if path is None:
        raise HTTPException(404, f"no asset {digest}")
    etag = f'"{digest}"'
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE}
    if _matches(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=GLB_MEDIA_TYPE, headers=headers)
