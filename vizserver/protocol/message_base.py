"""What every protocol v1 control message shares (docs/protocol.md): limits, error and close codes,
the strict pydantic base models and the bounded field types. Pure, no I/O."""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from vizserver.errors import InputError

PROTOCOL_VERSION = 1
"""The protocol this server speaks; ``hello.protocol`` must equal it."""

MAX_ERROR_TEXT_CHARS = 300
"""A ProtocolError message is cut to this many characters (it may quote client input)."""

MAX_TEXT_CHARS = 1024
"""Longest free text in a server message (error message, title)."""

MAX_NAME_CHARS = 256
"""Longest name (object, field, unit, colormap, role, upload file name, ids)."""

MAX_URL_CHARS = 1024
"""Longest asset URL in a ``scene``."""

MAX_SCENE_OBJECTS = 4096
"""Most objects in one ``scene`` message."""

MAX_OBJECT_FIELDS = 256
"""Most fields of one scene object."""

MAX_LODS = 16
"""Most coarser levels of detail listed for one object."""

U32_MAX = (1 << 32) - 1
"""Ids, steps and sequences travel as u32 in frame headers."""

Finite = Annotated[float, Field(allow_inf_nan=False)]
U32 = Annotated[int, Field(ge=0, le=U32_MAX)]
Name = Annotated[str, Field(max_length=MAX_NAME_CHARS)]


class ErrorCode(StrEnum):
    """``error.code`` values and :attr:`ProtocolError.code`."""

    BAD_MESSAGE = "bad_message"
    TOO_LARGE = "too_large"
    UNSUPPORTED_PROTOCOL = "unsupported_protocol"
    UNEXPECTED_BINARY = "unexpected_binary"
    BAD_FRAME = "bad_frame"
    MISSING_BASE = "missing_base"
    FORBIDDEN = "forbidden"
    BAD_REQUEST = "bad_request"


class CloseCode(IntEnum):
    """WebSocket close codes of docs/protocol.md."""

    NOT_HELLO = 4001
    UNSUPPORTED_PROTOCOL = 4002
    TOO_MANY_BAD_MESSAGES = 4003
    UNKNOWN_SESSION = 4004
    SESSION_FULL = 4005
    TOO_SLOW = 4008
    SESSION_ENDED = 4010
    REMOVED = 4011
    GOING_AWAY = 1001


class ProtocolError(InputError):
    """A message or frame that breaks protocol v1; ``code`` is the ``error.code`` to answer with."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(one_line(message))
        self.code = code


def one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_ERROR_TEXT_CHARS else flat[: MAX_ERROR_TEXT_CHARS - 3] + "..."


class MessageBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ClientMessageBase(MessageBase):
    model_config = ConfigDict(strict=True)


def omit_none(value: object) -> bool:
    return value is None
