"""What a client sends, whatever carries it (WebSocket or WebRTC data channels): the first message must be a
good ``hello``; every later one goes to the session's hub, and a bad one gets an ``error`` (too many in a
window close the connection with 4003). Pure apart from the hub and the client's outbox it is given."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

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
from vizserver.streaming.hub import ClientHub, ClientLink
from vizserver.transports.bad_messages import BadMessageWindow

NOT_HELLO = "first message was not hello"


@dataclass(frozen=True, slots=True)
class HelloRefused:
    """Why the first message is not taken: the close code and reason, and an ``error`` to send before closing."""

    code: int
    reason: str
    error: str | None = None


def check_first_message(first: str | bytes | None) -> Hello | HelloRefused:
    """The client's ``hello`` when ``first`` is a good one (text), else how to refuse it."""
    if not isinstance(first, str):
        return HelloRefused(int(CloseCode.NOT_HELLO), NOT_HELLO)
    try:
        decoded = decode_client_message(first)
        if not isinstance(decoded, Hello):
            return HelloRefused(int(CloseCode.NOT_HELLO), NOT_HELLO)
        check_hello(decoded)
    except ProtocolError as exc:
        error = encode_server_message(ErrorMessage.of(exc))
        if exc.code == "unsupported_protocol":
            return HelloRefused(int(CloseCode.UNSUPPORTED_PROTOCOL), str(exc), error)
        return HelloRefused(int(CloseCode.NOT_HELLO), NOT_HELLO, error)
    return decoded


class ClientInput:
    """One connection's messages after its ``hello``. ``divert``: a text the transport handles itself (True)
    before the session sees it (the video view's ``view_camera``); it may raise :class:`ProtocolError`."""

    def __init__(self, hub: ClientHub, client_id: str, link: ClientLink,
                 divert: Callable[[str], bool] | None = None) -> None:
        self._hub = hub
        self._client_id = client_id
        self._link = link
        self._divert = divert
        self._strikes = BadMessageWindow()

    def take(self, data: str | bytes | None) -> bool:
        """Hand one message on; False once the connection is to close (too many bad messages)."""
        try:
            if isinstance(data, str):
                if self._divert is None or not self._divert(data):
                    self._hub.receive(self._client_id, decode_client_message(data))
            else:
                if data is None or not is_presence(data):
                    raise unexpected_binary(len(data or b""))
                self._hub.receive_presence(self._client_id, data)
        except ProtocolError as exc:
            self._answer(exc)
            if self._strikes.record(time.monotonic()):
                self._link.request_close(int(CloseCode.TOO_MANY_BAD_MESSAGES), "too many bad messages")
                return False
        return True

    def _answer(self, exc: ProtocolError) -> None:
        try:
            self._link.outbox.put_control(encode_server_message(ErrorMessage.of(exc)))
        except OutboxOverflow:
            self._link.request_close(int(CloseCode.TOO_SLOW), "client too slow")
