"""WebSocket <-> protocol: the only place that reads from and writes to a client's socket.

One connection: accept, check the session and token (else close 4004), wait for ``hello`` (else
4001; wrong version: ``error`` + 4002), join the session's hub, then run two loops until either
ends: the reader decodes control messages into session events and binary presence messages into
the hub's presence board (bad ones get ``error``; too many close 4003), the writer drains the
client's outbox and presence batches. A send that cannot complete within the stall
timeout (the client stopped reading) drops the client with 4008; so does an overflowing control
queue. The server's memory per client is the outbox's bound plus the transport's write buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.websockets import WebSocket, WebSocketDisconnect

from vizserver.protocol.messages import (
    CloseCode,
    Hello,
)
from vizserver.sessions.session import Refused
from vizserver.streaming.hub import ClientHub, ClientLink
from vizserver.transports.client_input import ClientInput, HelloRefused, check_first_message

log = logging.getLogger("vizserver.ws")

HELLO_TIMEOUT_S = 10.0
"""A connection that has not said ``hello`` within this long is closed with 4001."""

CLOSE_TIMEOUT_S = 1.0
"""How long a close may wait for the socket to take the close frame (a stalled client never does)."""


async def serve_websocket(ws: WebSocket, hub: ClientHub | None, token: str | None, stall_timeout_s: float) -> None:
    await ws.accept()
    if hub is None or token is None or not hub.knows(token):
        await _close(ws, int(CloseCode.UNKNOWN_SESSION), "unknown session or bad token")
        return
    hello = await _hello(ws)
    if hello is None:
        return
    link = ClientLink()
    joined = await hub.accept(token, hello, link)
    if isinstance(joined, Refused):
        await _close(ws, joined.code, joined.reason)
        return
    client_id = joined.client_id
    reader = asyncio.create_task(_read(ws, hub, client_id, link))
    writer = asyncio.create_task(_write(ws, link, stall_timeout_s))
    try:
        done, _ = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
        if writer not in done and link.close_request is not None:  # the writer sends what is queued, then closes
            await asyncio.wait({writer}, timeout=stall_timeout_s + CLOSE_TIMEOUT_S)
    finally:
        hub.disconnect(client_id, link)
        for task in (reader, writer):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError, OSError):
                await task


async def _hello(ws: WebSocket) -> Hello | None:
    """The client's ``hello``, or None after closing the connection for what came instead."""
    try:
        message = await asyncio.wait_for(ws.receive(), HELLO_TIMEOUT_S)
    except TimeoutError:
        await _close(ws, int(CloseCode.NOT_HELLO), f"no hello within {HELLO_TIMEOUT_S:g} s")
        return None
    if message["type"] == "websocket.disconnect":
        return None
    checked = check_first_message(message.get("text"))
    if isinstance(checked, HelloRefused):
        if checked.error is not None:
            await _send_now(ws, checked.error)
        await _close(ws, checked.code, checked.reason)
        return None
    return checked


async def _read(ws: WebSocket, hub: ClientHub, client_id: str, link: ClientLink) -> None:
    messages = ClientInput(hub, client_id, link)
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if not messages.take(text if text is not None else message.get("bytes")):
            return


async def _write(ws: WebSocket, link: ClientLink, stall_timeout_s: float) -> None:
    """Drain the outbox; close when asked (after what was queued, except for 4008) or when stalled."""
    while True:
        await link.ready.wait()
        link.ready.clear()
        request = link.close_request
        if request is not None and request[0] == CloseCode.TOO_SLOW:
            await _close(ws, *request)
            return
        while (item := link.pop()) is not None:
            try:
                await asyncio.wait_for(_send_now(ws, item), stall_timeout_s)
            except TimeoutError:
                log.warning("client stopped reading for %.1f s: dropped", stall_timeout_s)
                await _close(ws, int(CloseCode.TOO_SLOW), "client too slow")
                return
        if link.close_request is not None:
            await _close(ws, *link.close_request)
            return


async def _send_now(ws: WebSocket, item: str | bytes) -> None:
    if isinstance(item, str):
        await ws.send_text(item)
    else:
        await ws.send_bytes(item)


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    """Close with ``code``; a client that does not take the close frame in time is left to the transport."""
    with contextlib.suppress(TimeoutError, RuntimeError, OSError, WebSocketDisconnect):
        await asyncio.wait_for(ws.close(code, reason[:120]), CLOSE_TIMEOUT_S)
