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
import time

from starlette.websockets import WebSocket, WebSocketDisconnect

from vizserver.protocol.messages import (
    CloseCode,
    ErrorMessage,
    Hello,
    ProtocolError,
    check_hello,
    decode_client_message,
    encode_server_message,
    unexpected_binary,
)
from vizserver.protocol.outbox import OutboxOverflow
from vizserver.protocol.presence import is_presence
from vizserver.sessions.session import Refused
from vizserver.streaming.hub import ClientHub, ClientLink
from vizserver.transports.bad_messages import BadMessageWindow

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
    text = message.get("text")
    if text is None:
        await _close(ws, int(CloseCode.NOT_HELLO), "first message was not hello")
        return None
    try:
        decoded = decode_client_message(text)
        if not isinstance(decoded, Hello):
            await _close(ws, int(CloseCode.NOT_HELLO), "first message was not hello")
            return None
        check_hello(decoded)
    except ProtocolError as exc:
        await _send_now(ws, encode_server_message(ErrorMessage.of(exc)))
        unsupported = exc.code == "unsupported_protocol"
        code = CloseCode.UNSUPPORTED_PROTOCOL if unsupported else CloseCode.NOT_HELLO
        await _close(ws, int(code), str(exc) if unsupported else "first message was not hello")
        return None
    return decoded


async def _read(ws: WebSocket, hub: ClientHub, client_id: str, link: ClientLink) -> None:
    strikes = BadMessageWindow()
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        text, data = message.get("text"), message.get("bytes")
        try:
            if text is None:
                if data is None or not is_presence(data):
                    raise unexpected_binary(len(data or b""))
                hub.receive_presence(client_id, data)
            else:
                hub.receive(client_id, decode_client_message(text))
        except ProtocolError as exc:
            _put_error(link, exc)
            if strikes.record(time.monotonic()):
                link.request_close(int(CloseCode.TOO_MANY_BAD_MESSAGES), "too many bad messages")
                return


def _put_error(link: ClientLink, exc: ProtocolError) -> None:
    try:
        link.outbox.put_control(encode_server_message(ErrorMessage.of(exc)))
    except OutboxOverflow:
        link.request_close(int(CloseCode.TOO_SLOW), "client too slow")


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
