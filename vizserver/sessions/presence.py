"""Who is where: every connected client's latest presence, and what each receiver has yet to hear of.

Pure and clock-free (``now`` is passed in). Each client that joins gets a slot (0-255, the byte that
names it in batches); a freed slot goes to the back of the queue, so it is not handed out again
while receivers may still hold the old owner's entries. A client's updates are rate-limited (a
token bucket: ``max_hz`` a second, bursts of ``burst``; the rest are dropped). For every receiver
the board keeps the set of senders whose presence changed since its last batch, in the order they
first changed: a batch takes them oldest first, up to ``batch_max_bytes``, and the rest wait for the
next one. Only the latest presence of a sender is ever sent (latest wins), so a receiver that takes
batches slowly costs at most one entry per sender, whatever the senders do.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from vizserver.errors import LimitExceededError
from vizserver.protocol.presence import BATCH_HEADER, MAX_BATCH_ENTRIES, PRESENCE_SLOTS, encode_batch

PRESENCE_MAX_HZ = 25.0
"""Presence updates a client may send a second on average (clients send 20); the rest are dropped."""

PRESENCE_BURST = 5
"""Updates a client may send back to back (a browser's timer jitter bunches a few)."""

PRESENCE_TICK_S = 0.05
"""The server relays presence to each client at this period (20 Hz)."""

PRESENCE_BATCH_MAX_BYTES = 992
"""Largest presence batch (about 20 KB/s per receiver at 20 Hz); senders that do not fit wait for the next."""


@dataclass(slots=True)
class _Member:
    slot: int
    tokens: float
    refilled: float
    entry: bytes | None = None
    """The slot byte and body of the latest presence (None until the first)."""
    waiting: dict[str, None] = field(default_factory=dict)
    """Senders changed since this member's last batch, oldest first (a dict as an ordered set)."""


class PresenceBoard:
    def __init__(
        self,
        *,
        max_hz: float = PRESENCE_MAX_HZ,
        burst: int = PRESENCE_BURST,
        batch_max_bytes: int = PRESENCE_BATCH_MAX_BYTES,
    ) -> None:
        self.max_hz = max_hz
        self.burst = burst
        self.batch_max_bytes = batch_max_bytes
        self._members: dict[str, _Member] = {}
        self._free: deque[int] = deque(range(PRESENCE_SLOTS))
        self.accepted = 0
        self.dropped = 0
        """Updates refused by the rate limit."""

    def join(self, client_id: str, now: float) -> int:
        """Give ``client_id`` a slot (its old one if it is still here); it will hear everyone's presence."""
        member = self._members.get(client_id)
        if member is not None:
            member.waiting = {cid: None for cid, m in self._members.items() if cid != client_id and m.entry}
            return member.slot
        if not self._free:
            raise LimitExceededError(f"presence: all {PRESENCE_SLOTS} slots are taken")
        member = _Member(self._free.popleft(), float(self.burst), now)
        member.waiting = {cid: None for cid, m in self._members.items() if m.entry}
        self._members[client_id] = member
        return member.slot

    def leave(self, client_id: str) -> int | None:
        """Forget ``client_id``; its slot, or None if it was not here."""
        member = self._members.pop(client_id, None)
        if member is None:
            return None
        for other in self._members.values():
            other.waiting.pop(client_id, None)
        self._free.append(member.slot)
        return member.slot

    def slots(self) -> dict[str, int]:
        return {cid: m.slot for cid, m in self._members.items()}

    def latest(self, client_id: str) -> bytes | None:
        """``client_id``'s latest entry (slot byte + body), the same object until its next update; None before one."""
        member = self._members.get(client_id)
        return None if member is None else member.entry

    def update(self, client_id: str, body: bytes, now: float) -> bool:
        """``client_id``'s newest presence (a checked body, protocol/presence.py); False if dropped."""
        member = self._members.get(client_id)
        if member is None:
            return False
        member.tokens = min(float(self.burst), member.tokens + (now - member.refilled) * self.max_hz)
        member.refilled = now
        if member.tokens < 1.0:
            self.dropped += 1
            return False
        member.tokens -= 1.0
        member.entry = bytes((member.slot,)) + body
        self.accepted += 1
        for cid, other in self._members.items():
            if cid != client_id:
                other.waiting.setdefault(client_id, None)
        return True

    def batch(self, receiver: str) -> bytes | None:
        """The next batch for ``receiver``: the latest presence of senders it has not heard since they changed."""
        member = self._members.get(receiver)
        if member is None or not member.waiting:
            return None
        room = self.batch_max_bytes - BATCH_HEADER.size
        entries: list[bytes] = []
        for sender in member.waiting:
            entry = self._members[sender].entry
            assert entry is not None  # only senders with a presence wait
            if len(entry) > room or len(entries) == MAX_BATCH_ENTRIES:
                break
            entries.append(entry)
            room -= len(entry)
        if len(entries) == len(member.waiting):
            member.waiting.clear()
        else:
            for sender in list(member.waiting)[: len(entries)]:
                del member.waiting[sender]
        return encode_batch(entries)
