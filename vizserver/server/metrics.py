"""``GET /metrics``: Prometheus text exposition of the server's counters."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from vizserver.scale.redis_store import RedisSessionSaver
from vizserver.server.runtime import ServerRuntime, runtime_of
from vizserver.streaming.metrics import RedisFigures, exposition

router = APIRouter(tags=["server"])

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request) -> PlainTextResponse:
    runtime = runtime_of(request)
    text = exposition(runtime.counters, len(runtime.registry), runtime.outboxes(), redis_figures(runtime))
    return PlainTextResponse(text, media_type=PROMETHEUS_TEXT)


def redis_figures(runtime: ServerRuntime) -> RedisFigures | None:
    """Redis's state and the session saves through it; ``None`` without ``--redis``."""
    if runtime.redis is None:
        return None
    saver = runtime.saver if isinstance(runtime.saver, RedisSessionSaver) else None
    return RedisFigures(
        up=runtime.redis.up,
        outages=runtime.redis.outages,
        store_writes=saver.writes if saver is not None else 0,
        store_write_failures=saver.write_failures if saver is not None else 0,
        unsaved_sessions=saver.unsaved if saver is not None else 0,
    )
