"""``GET /metrics``: Prometheus text exposition of the server's counters."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from vizserver.server.runtime import runtime_of
from vizserver.streaming.metrics import exposition

router = APIRouter(tags=["server"])

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request) -> PlainTextResponse:
    runtime = runtime_of(request)
    text = exposition(runtime.counters, len(runtime.registry), runtime.outboxes())
    return PlainTextResponse(text, media_type=PROMETHEUS_TEXT)
