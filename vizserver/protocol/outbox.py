"""One client's outbox: bounded, latest-wins for field frames (docs/protocol.md, "Delivery: latest wins").

Pure and clock-free: no asyncio, no locks. The transport calls the ``put_*`` methods from the
producer side, ``pop`` from the task that writes to the socket (serialised by the caller), and
wires ``on_ready`` to wake that task.

Order of :meth:`Outbox.pop`: every queued control message first, oldest first; then one frame per
(object, field) stream, the stream that has waited longest first (a newer frame replacing an unsent
one keeps its stream's place), so streams take turns and none starves. For each frame the outbox
sends the delta when the last frame it sent on that stream is exactly the delta's base, else the
keyframe, and remembers what it sent (the pair itself too, to answer a ``keyframe`` request).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from vizserver.config import OUTBOX_CONTROL_LIMIT
from vizserver.errors import VizServerError
from vizserver.protocol.field_encoder import FramePair


class OutboxOverflow(VizServerError):  # noqa: N818 (the name other modules use)
    """More control messages are waiting than the limit: the client is too slow (close 4008)."""


class Outbox:
    """At most ``control_limit`` control messages plus one frame pair per stream; never grows beyond."""

    def __init__(
        self, *, control_limit: int = OUTBOX_CONTROL_LIMIT, on_ready: Callable[[], None] | None = None
    ) -> None:
        self.control_limit = control_limit
        self._on_ready = on_ready
        self._control: deque[str] = deque()
        self._frames: dict[tuple[int, int], FramePair] = {}  # insertion order = waiting order
        self._last_sent: dict[tuple[int, int], int] = {}  # sequence of the last frame sent per stream
        self._last_pair: dict[tuple[int, int], FramePair] = {}  # shared bytes, no copy: one per stream
        self._resends: set[tuple[int, int]] = set()  # waiting frames that are re-sends, not new frames
        self.sent_control = 0
        self.sent_keyframes = 0
        self.sent_deltas = 0
        self.dropped_frames = 0
        self.bytes_sent = 0

    @property
    def depth(self) -> tuple[int, int]:
        """(control messages, frames) waiting."""
        return (len(self._control), len(self._frames))

    @property
    def sent_frames(self) -> int:
        return self.sent_keyframes + self.sent_deltas

    def __bool__(self) -> bool:
        return bool(self._control or self._frames)

    def put_control(self, text: str) -> None:
        """Queue a JSON control message; :class:`OutboxOverflow` when ``control_limit`` are already waiting."""
        if len(self._control) >= self.control_limit:
            waiting = len(self._control)
            raise OutboxOverflow(f"client too slow: {waiting} control messages waiting (limit {self.control_limit})")
        self._control.append(text)
        self._ready()

    def put_frames(self, pair: FramePair) -> None:
        """Offer the newest frame of ``pair.key``; an unsent older frame of that stream is dropped."""
        if pair.key in self._frames and pair.key not in self._resends:
            self.dropped_frames += 1
        self._resends.discard(pair.key)
        self._frames[pair.key] = pair
        self._ready()

    def pop(self) -> str | bytes | None:
        """The next message to send (text: control, bytes: a frame), or None when empty."""
        if self._control:
            text = self._control.popleft()
            self.sent_control += 1
            self.bytes_sent += len(text.encode("utf-8"))
            return text
        if not self._frames:
            return None
        key = next(iter(self._frames))
        pair = self._frames.pop(key)
        self._resends.discard(key)
        if pair.delta is not None and pair.base is not None and self._last_sent.get(key) == pair.base:
            data = pair.delta
            self.sent_deltas += 1
        else:
            data = pair.keyframe
            self.sent_keyframes += 1
        self._last_sent[key] = pair.sequence
        self._last_pair[key] = pair
        self.bytes_sent += len(data)
        return data

    def request_keyframe(self, key: tuple[int, int]) -> None:
        """The client lost its base for ``key``: the next frame sent on that stream is a keyframe. When no
        newer frame is waiting, the last one sent goes again as a keyframe (a paused stream produces none)."""
        self._last_sent.pop(key, None)
        last = self._last_pair.get(key)
        if key not in self._frames and last is not None:
            self._frames[key] = last
            self._resends.add(key)
            self._ready()

    def forget(self, key: tuple[int, int]) -> None:
        """Stop the stream ``key`` (unsubscribed): drop its unsent frame and what was sent on it."""
        self._frames.pop(key, None)
        self._last_sent.pop(key, None)
        self._last_pair.pop(key, None)
        self._resends.discard(key)

    def _ready(self) -> None:
        if self._on_ready is not None:
            self._on_ready()
