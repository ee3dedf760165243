"""Uploads into a session another server process owns, and the assets they make (``serve --redis``).

An upload that reaches an edge is checked by the session's owner (``upload_check``: the token's member and
its role under the session's policy, as the route checks them there), converted on the edge (it has the
bytes, and conversion load spreads over the processes), then handed over: each GLB the new objects name goes
into Redis as ``vz:asset:{sha256}`` (at most ``ServerSettings.max_shared_asset_bytes`` each, 64 MiB by default; expiring
:data:`SHARED_ASSET_TTL_S` after it was last written or read), and the owner adds the objects to the session
(``upload_done``), so every client on every process gets the new scene. Progress reaches the owner as
``upload_status`` calls that want no reply; they leave on the edge's one ordered publisher, so they arrive in
order around ``upload_done``. ``GET /assets/{hash}.glb`` on a process whose cache lacks an asset reads it
from Redis (:func:`fetch_asset`), checks its hash and keeps a copy in its own cache.

Time series are not handed over: their steps are read, while they play, from the uploaded file on the disk
of the process that converted them, which the owner cannot reach.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from vizserver.errors import VizServerError
from vizserver.protocol.messages import UploadStatus
from vizserver.scale.bus_wire import Kind, encode_message
from vizserver.scale.cluster import in_channel
from vizserver.scale.redis_link import REDIS_ERRORS
from vizserver.scenes.cache import AssetStore, sha256_hex
from vizserver.scenes.objects import StreamObject, object_from_json, object_to_json
from vizserver.server.settings import MAX_SHARED_ASSET_BYTES
from vizserver.sessions.roles import UPLOAD, allows
from vizserver.streaming.hub import SessionHub

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from vizserver.scale.scale_out import ScaleOut

log = logging.getLogger("vizserver.scale")

SHARED_ASSET_TTL_S = 7 * 24 * 3600
"""A shared asset expires this long after it was last written or read from Redis (each process that read it
keeps its own copy on disk; a session restored after a week with an asset no process has shows it missing)."""
UPLOAD_OPS = ("upload_check", "upload_status", "upload_done")
"""The calls an edge makes to a session's owner for an upload (:func:`answer_upload_call`)."""


class SharedAssetTooLargeError(VizServerError):
    """A converted asset is over the cap on shared assets: it is not put into Redis."""


def asset_key(digest: str) -> str:
    return f"vz:asset:{digest}"


async def share_assets(client: Redis, store: AssetStore, digests: tuple[str, ...], name: str,
                       cap: int = MAX_SHARED_ASSET_BYTES) -> None:
    """Put the GLBs ``digests`` from ``store`` into Redis; none when one is over ``cap`` (raised, naming it)."""
    paths = [store.glb_path(d) for d in digests]
    missing = [d for d, p in zip(digests, paths, strict=True) if p is None]
    if missing:
        raise VizServerError(f"{name}: converted asset {missing[0]} is missing from this server's cache")
    sizes = [p.stat().st_size for p in paths if p is not None]
    if max(sizes, default=0) > cap:
        raise SharedAssetTooLargeError(
            f"{name}: its converted geometry is {max(sizes):,} bytes, over the {cap:,} bytes an upload may pass "
            "to the session's server process (upload a smaller or decimated file)")
    for digest, path in zip(digests, paths, strict=True):
        assert path is not None
        data = await asyncio.to_thread(path.read_bytes)
        await client.set(asset_key(digest), data, ex=SHARED_ASSET_TTL_S)


async def fetch_asset(client: Redis, store: AssetStore, digest: str, cap: int = MAX_SHARED_ASSET_BYTES) -> Path | None:
    """Asset ``digest`` from Redis into ``store`` (its expiry renewed); its path, or None when Redis lacks it,
    holds something else under its name, or cannot be reached."""
    try:
        data = await client.getex(asset_key(digest), ex=SHARED_ASSET_TTL_S)
    except REDIS_ERRORS as exc:
        log.warning("asset %s: not in this server's cache, and Redis did not answer (%s)", digest, exc)
        return None
    if not isinstance(data, bytes) or len(data) > cap:
        return None
    if sha256_hex(data) != digest:
        log.warning("asset %s: Redis holds other bytes under its name; not served", digest)
        return None
    await asyncio.to_thread(store.put_glb, data)
    return store.glb_path(digest)


def answer_upload_call(hub: SessionHub, op: str, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The owner's side of an edge's upload: what the upload route would answer here, as (status, body)."""
    if op == "upload_check":
        token = args.get("token")
        member = hub.session.member(token) if isinstance(token, str) else None
        if member is None:
            return 403, {"detail": "bad token for this session"}
        if not allows(UPLOAD, member.role, hub.session.policy):
            return 403, {"detail": f"upload: not allowed for a {member.role}; {UPLOAD.describe()}"}
        return 200, {"role": member.role}
    if op == "upload_status":
        try:
            hub.upload_status(UploadStatus.model_validate(args.get("status")))
        except ValidationError as exc:
            return 400, {"detail": f"upload_status: {exc.errors()[0]['msg']}"}
        return 200, {}
    if op == "upload_done":
        raw = args.get("objects")
        try:
            objects = tuple(object_from_json(o) for o in raw) if isinstance(raw, list) else ()
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            return 400, {"detail": f"upload_done: objects not understood ({exc!r})"}
        if not objects:
            return 400, {"detail": "upload_done: no objects"}
        hub.add_objects(objects)
        return 200, {"objects": len(objects)}
    return 400, {"detail": f"unknown call {op!r}"}


class EdgeUploadTarget:
    """An upload converted on this process (an edge) for a session another process owns."""

    def __init__(self, scale: ScaleOut, store: AssetStore, session_id: str, cap: int) -> None:
        self.scale = scale
        self.store = store
        self.session_id = session_id
        self.cap = cap
        """The largest GLB put into Redis (``ServerSettings.max_shared_asset_bytes``)."""

    async def check(self, token: str | None) -> tuple[int, str]:
        """Whether the owner lets ``token``'s member upload: (200, role) or (HTTP status, why not)."""
        status, body = await self.scale.call(self.session_id, "upload_check", {"token": token})
        if status == 200:
            return 200, str(body.get("role", ""))
        return status, str(body.get("detail", "the session's server refused the upload"))

    def upload_status(self, status: UploadStatus) -> None:
        node = self.scale.node
        head = {"op": "upload_status", "args": {"status": status.model_dump(mode="json")},
                "edge": node.server_id, "req": 0, "noreply": True}
        node.publish(in_channel(self.session_id), encode_message(Kind.CALL, head))

    async def hand_over(self, objects: tuple[StreamObject, ...]) -> str | None:
        names = ", ".join(o.name for o in objects if o.series is not None)
        if names:
            return (f"{names}: a time series cannot be added through a server process that does not own the "
                    "session (its steps are read from the uploaded file on this process's disk); upload it "
                    "while connected to the session's own server")
        digests = tuple(dict.fromkeys(h for o in objects for h in (o.asset, *o.lods)))
        name = objects[0].name if objects else "upload"
        try:
            await share_assets(self.scale.redis.client, self.store, digests, name, self.cap)
        except VizServerError as exc:
            return str(exc)
        except REDIS_ERRORS as exc:
            self.scale.redis.failed(exc)
            return f"{name}: could not pass its geometry to the session's server (Redis: {exc})"
        status, body = await self.scale.call(self.session_id, "upload_done",
                                             {"objects": [object_to_json(o) for o in objects]})
        if status != 200:
            return f"{name}: the session's server did not add it ({body.get('detail', status)})"
        return None
