"""``GET /api/health`` and ``GET /api/scenes``: what a monitor and the scene picker ask."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request

from vizserver import __version__
from vizserver.scenes.listing import list_scenes
from vizserver.server.metrics import redis_figures
from vizserver.server.rtc import rtc_of
from vizserver.server.runtime import runtime_of

router = APIRouter(prefix="/api", tags=["server"])


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    """Liveness plus the number of sessions and connected clients; with ``--redis``, Redis's state.

    ``status`` is ``degraded`` while Redis is unreachable: the process still serves its own clients (HTTP 200),
    but fan-out to other processes and saving sessions wait for Redis.
    """
    runtime = runtime_of(request)
    body: dict[str, Any] = {
        "status": "ok",
        "version": __version__,
        "sessions": len(runtime.registry),
        "clients": len(runtime.outboxes()),
        "webrtc": _webrtc(request),
    }
    figures = redis_figures(runtime)
    if runtime.redis is not None and figures is not None:
        body["redis"] = {**runtime.redis.health(), "unsaved_sessions": figures.unsaved_sessions}
        if not figures.up:
            body["status"] = "degraded"
    return body


def _webrtc(request: Request) -> dict[str, Any]:
    peers = rtc_of(request)
    return {"enabled": peers is not None, "peers": len(peers) if peers is not None else 0}


@router.get("/scenes")
async def scenes(request: Request) -> dict[str, Any]:
    """Scene files in the served scene's folder (by name, with titles); ``served`` marks the one being served."""
    served = runtime_of(request).settings.scene
    entries = await asyncio.to_thread(list_scenes, served)
    return {
        "served": served.stem,
        "scenes": [
            {"name": e.name, "title": e.title, "served": e.served, **({"error": e.error} if e.error else {})}
            for e in entries
        ],
    }
