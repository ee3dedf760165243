"""Protocol v1, sans-I/O (docs/protocol.md): JSON control messages, binary field frames, the per-client outbox.

Nothing here touches a socket, a clock or an event loop: transports feed text and bytes in and
send what comes out.

- ``messages``: pydantic models of the control messages, their codec, ``ProtocolError``.
- ``frames``: the 48-byte frame header and the frame decoder (float32, u16/u8, delta, zstd).
- ``field_encoder``: one stream's encoder; each frame encoded once, as a keyframe and a delta.
- ``outbox``: one client's bounded, latest-wins queue that picks keyframe or delta per client.
"""

from __future__ import annotations

from vizserver.protocol.field_encoder import FieldEncoder, FramePair
from vizserver.protocol.frames import DecodedFrame, Encoding, FrameHeader, decode_frame
from vizserver.protocol.messages import (
    PROTOCOL_VERSION,
    ClientMessage,
    CloseCode,
    ErrorCode,
    ProtocolError,
    ServerMessage,
    check_hello,
    decode_client_message,
    decode_server_message,
    encode_client_message,
    encode_server_message,
)
from vizserver.protocol.outbox import Outbox, OutboxOverflow

__all__ = [
    "PROTOCOL_VERSION",
    "ClientMessage",
    "CloseCode",
    "DecodedFrame",
    "Encoding",
    "ErrorCode",
    "FieldEncoder",
    "FrameHeader",
    "FramePair",
    "Outbox",
    "OutboxOverflow",
    "ProtocolError",
    "ServerMessage",
    "check_hello",
    "decode_client_message",
    "decode_frame",
    "decode_server_message",
    "encode_client_message",
    "encode_server_message",
]
