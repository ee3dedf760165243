"""WebRTC signaling: ``GET /api/rtc/config`` and ``POST /api/rtc/offer`` (docs/protocol.md "WebRTC").

The offer carries the same session token the WebSocket takes and is checked the same way (404 for an
unknown session or a bad token); the peer then speaks the WebSocket's protocol on its data channels
(:mod:`vizserver.transports.webrtc`).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vizserver.server.runtime import ServerRuntime, runtime_of
from vizserver.server.settings import MAX_RTC_PEERS, ServerSettings
from vizserver.streaming.hub import SessionHub
from vizserver.transports.rtc_config import parse_host_addresses, parse_ice_servers, use_host_addresses
from vizserver.transports.webrtc import RtcOfferError, RtcPeers, VideoFactory, VideoView

router = APIRouter(prefix="/api/rtc", tags=["webrtc"])

MAX_OFFER_BYTES = 64 << 10
"""Largest SDP taken (a browser's offer with data channels and video is 3-8 KB)."""

MAX_OFFER_BODY_BYTES = MAX_OFFER_BYTES + 1024
"""The offer's JSON body: the SDP plus the session id, token and flags."""


class Offer(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    session_id: str = Field(max_length=64)
    token: str = Field(max_length=128)
    sdp: str = Field(max_length=MAX_OFFER_BYTES)
    type: Literal["offer"]
    video: bool = False


def make_peers(runtime: ServerRuntime) -> RtcPeers | None:
    """The server's WebRTC peers as its settings ask (None: WebRTC off); ``RtcConfigError`` for a bad setting."""
    settings = runtime.settings
    if not settings.webrtc:
        return None
    ice_servers = parse_ice_servers(settings.ice_servers)
    use_host_addresses(parse_host_addresses(settings.rtc_host_addresses))
    return RtcPeers(ice_servers, settings.stall_timeout_s, settings.max_rtc_peers_per_member, MAX_RTC_PEERS,
                    video_factory=_video_factory(runtime))


def _video_factory(runtime: ServerRuntime) -> VideoFactory:
    def make(hub: SessionHub, client_id: str) -> VideoView:
        from vizserver.transports.video import make_video_view  # VTK and PyAV: loaded on the first video peer

        return make_video_view(hub, client_id, asset_path=runtime.store.glb_path,
                               scene_path=runtime.scene_paths.get(hub.session.id))

    return make


def check_rtc_settings(settings: ServerSettings) -> None:
    """``RtcConfigError`` naming the WebRTC setting that cannot be used (the CLI says it before starting)."""
    if settings.webrtc:
        parse_ice_servers(settings.ice_servers)
        parse_host_addresses(settings.rtc_host_addresses)


def rtc_of(request: Request) -> RtcPeers | None:
    """The server's WebRTC peers, or None when WebRTC is off."""
    peers: RtcPeers | None = request.app.state.rtc
    return peers


@router.get("/config")
async def config(request: Request) -> dict[str, Any]:
    """Whether WebRTC is on, and the STUN/TURN servers the browser's ``RTCPeerConnection`` should use."""
    peers = rtc_of(request)
    return {
        "enabled": peers is not None,
        "ice_servers": [s.as_json() for s in peers.ice_servers] if peers is not None else [],
    }


@router.post("/offer")
async def offer(request: Request) -> dict[str, Any]:
    """Answer a browser's SDP offer: ``{type: "answer", sdp, peer_id}``."""
    peers = rtc_of(request)
    if peers is None:
        raise HTTPException(503, "WebRTC is off on this server (vizserver serve --no-webrtc); use the WebSocket")
    body = await _offer_body(request)
    hub = await runtime_of(request).find_hub(body.session_id)
    try:
        answer = await peers.offer(hub, body.token, body.sdp, body.video)
    except RtcOfferError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    return {"type": answer.type, "sdp": answer.sdp, "peer_id": answer.peer_id}


async def _offer_body(request: Request) -> Offer:
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_OFFER_BODY_BYTES:
            raise HTTPException(400, f"offer body over {MAX_OFFER_BODY_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HTTPException(400, f"offer body is not JSON: {exc}") from exc
    try:
        return Offer.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise HTTPException(400, f"offer: {where}: {first['msg']} ({exc.error_count()} problem(s))") from exc
