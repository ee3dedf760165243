"""Messages split to fit a WebRTC data channel's maximum message size (docs/protocol.md "WebRTC").

A data channel peer states the largest message it takes (``a=max-message-size``, 256 KiB in
Chromium); a field frame may be up to 64 MiB and a ``scene`` message can pass 256 KiB. The server
sends such a message as pieces, each a binary data channel message: a 16-byte header, then the
next slice of the message's bytes.

| offset | type | meaning |
|---|---|---|
| 0 | 4 bytes | magic ``VZC1`` |
| 4 | u32 | message id (per channel, increasing by one per split message) |
| 8 | u16 | piece index, 0 .. count - 1 |
| 10 | u16 | count (2 .. 65535) |
| 12 | u8 | flags: 0x01 the message is text (UTF-8), else binary |
| 13 | 3 bytes | reserved, 0 |

Pure: no asyncio, no sockets.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from dataclasses import dataclass, field

from vizserver.protocol.message_base import ErrorCode, ProtocolError

FRAGMENT_MAGIC = b"VZC1"
FRAGMENT_HEADER = struct.Struct("<4sIHHB3x")
TEXT_FLAG = 0x01
MAX_PIECES = 0xFFFF

MAX_PARTIAL_MESSAGES = 8
"""Split messages a :class:`Reassembler` holds unfinished at once; a ninth drops the oldest (its pieces were lost)."""


def is_fragment(data: bytes) -> bool:
    return data[:4] == FRAGMENT_MAGIC


def split_message(message: str | bytes, message_id: int, max_bytes: int) -> list[bytes]:
    """``message`` as pieces of at most ``max_bytes`` each (header included); ``ValueError`` if that needs
    more than 65535 pieces, or just one (a message that fits is sent whole, unsplit)."""
    text = isinstance(message, str)
    data = message.encode("utf-8") if isinstance(message, str) else message
    room = max_bytes - FRAGMENT_HEADER.size
    if room <= 0:
        raise ValueError(f"a piece of {max_bytes} bytes has no room after its {FRAGMENT_HEADER.size}-byte header")
    count = -(-len(data) // room)
    if count < 2:
        raise ValueError(f"{len(data)} bytes fit in one message of {max_bytes} bytes: send it whole")
    if count > MAX_PIECES:
        raise ValueError(f"{len(data)} bytes need {count} pieces of {max_bytes} bytes (at most {MAX_PIECES})")
    flags = TEXT_FLAG if text else 0
    ident = message_id & 0xFFFFFFFF
    return [
        FRAGMENT_HEADER.pack(FRAGMENT_MAGIC, ident, i, count, flags) + data[i * room : (i + 1) * room]
        for i in range(count)
    ]


@dataclass(slots=True)
class _Partial:
    count: int
    text: bool
    pieces: dict[int, bytes] = field(default_factory=dict)


class Reassembler:
    """Joins pieces back into messages, in any arrival order; bounded (``max_partial`` unfinished messages,
    ``max_bytes`` per message). Pieces of a message that never completes are dropped when newer ones push
    it out: on the unreliable ``fields`` channel a lost piece loses its frame, as a lost frame would."""

    def __init__(self, max_bytes: int, max_partial: int = MAX_PARTIAL_MESSAGES) -> None:
        self.max_bytes = max_bytes
        self.max_partial = max_partial
        self._partial: OrderedDict[int, _Partial] = OrderedDict()
        self.dropped = 0

    def add(self, piece: bytes) -> str | bytes | None:
        """The whole message once ``piece`` completes it, else None. ``ProtocolError`` (``bad_frame``) for a
        piece that contradicts its message's other pieces or is malformed."""
        if len(piece) < FRAGMENT_HEADER.size or not is_fragment(piece):
            raise ProtocolError(ErrorCode.BAD_FRAME, f"piece of {len(piece)} bytes is not a VZC1 fragment")
        _, ident, index, count, flags = FRAGMENT_HEADER.unpack_from(piece)
        if count < 2 or index >= count or flags & ~TEXT_FLAG or piece[13:16] != b"\0\0\0":
            raise ProtocolError(ErrorCode.BAD_FRAME, f"fragment {index}/{count} of message {ident}: bad header")
        partial = self._partial.get(ident)
        if partial is None:
            partial = self._partial[ident] = _Partial(count, bool(flags & TEXT_FLAG))
            while len(self._partial) > self.max_partial:
                self._partial.popitem(last=False)
                self.dropped += 1
        elif partial.count != count or partial.text != bool(flags & TEXT_FLAG):
            del self._partial[ident]
            raise ProtocolError(ErrorCode.BAD_FRAME, f"fragment {index} of message {ident} disagrees with the others")
        partial.pieces[index] = piece[FRAGMENT_HEADER.size :]
        if sum(len(p) for p in partial.pieces.values()) > self.max_bytes:
            del self._partial[ident]
            raise ProtocolError(ErrorCode.TOO_LARGE, f"split message {ident} is over {self.max_bytes} bytes")
        if len(partial.pieces) < partial.count:
            return None
        del self._partial[ident]
        data = b"".join(partial.pieces[i] for i in range(partial.count))
        if not partial.text:
            return data
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(ErrorCode.BAD_FRAME, f"split text message {ident} is not UTF-8") from None
