"""The newest decoded field frame of each stream a video view receives, pure.

Frames arrive in the order the client's outbox produced them (keyframes, and deltas on the frame sent
before), so every delta finds its base here. A delta whose base is missing raises ProtocolError
``missing_base``: the caller asks the session for a keyframe, exactly as a browser would.
"""

from __future__ import annotations

from vizserver.protocol.frames import DecodedFrame, FrameHeader, decode_frame

Key = tuple[int, int]


class FieldFrames:
    """Latest decoded frame per (object, field), and which field each object showed last."""

    def __init__(self) -> None:
        self.latest: dict[Key, DecodedFrame] = {}
        self.version = 0
        """Bumped by every frame taken: a renderer compares it to know whether colours changed."""

    def take(self, data: bytes | memoryview[int]) -> FrameHeader:
        """Decode ``data`` (a whole frame) against the held base; raises ProtocolError, leaving the state as it was."""
        header = FrameHeader.decode(data)
        decoded = decode_frame(data, self.latest.get(header.key))
        self.latest[header.key] = decoded
        self.version += 1
        return header

    def values(self, object_id: int, field_id: int) -> DecodedFrame | None:
        return self.latest.get((object_id, field_id))

    def forget_object(self, object_id: int) -> None:
        for key in [k for k in self.latest if k[0] == object_id]:
            del self.latest[key]
