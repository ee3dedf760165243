"""Presence: the binary codec (protocol/presence.py) and the board that relays it (sessions/presence.py)."""

from __future__ import annotations

import contextlib
import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vizserver.protocol.messages import ErrorCode, ProtocolError
from vizserver.protocol.presence import (
    BATCH_HEADER,
    POINTER,
    POINTER_FROM_LEFT,
    POSE_HEADER,
    PRESENCE_MAGIC,
    Pose,
    Presence,
    decode_batch,
    decode_presence,
    encode_batch,
    encode_body,
    encode_presence,
    pack_quaternion,
    split_batch,
    unpack_quaternion,
)
from vizserver.sessions.presence import PresenceBoard
from vizserver.streaming.hub import ClientLink

IDENTITY = (0.0, 0.0, 0.0, 1.0)


def desktop(x: float = 0.0) -> Presence:
    return Presence(Pose((x, -0.5, 0.25), (0.3, 0.1, -0.2, 0.92)), size=0.05)


def headset() -> Presence:
    return Presence(
        Pose((0.1, 1.6, -0.4), IDENTITY),
        size=0.2,
        xr=True,
        left=Pose((-0.2, 1.2, -0.5), (0.0, 0.7071, 0.0, 0.7071)),
        right=Pose((0.2, 1.2, -0.5), (0.5, 0.5, 0.5, 0.5)),
        pointer=(0.0, 0.1, 0.0),
        pointer_hit=True,
        pointer_from="right",
    )


def angle_between(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    norms = math.sqrt(sum(c * c for c in a)) * math.sqrt(sum(c * c for c in b))
    dot = abs(sum(x * y for x, y in zip(a, b, strict=True))) / norms
    return math.degrees(2 * math.acos(min(1.0, dot)))


# --- codec ---


def test_a_desktop_presence_is_17_bytes_and_round_trips() -> None:
    data = encode_presence(desktop(1.5))
    assert len(data) == POSE_HEADER.size + 12
    back = decode_presence(data)
    assert back.head.position == (1.5, -0.5, 0.25)
    assert angle_between(back.head.orientation, desktop().head.orientation) < 0.2
    assert back.size == pytest.approx(0.05, rel=0.05)
    assert not back.xr and back.left is None and back.right is None and back.pointer is None


def test_a_headset_presence_carries_hands_and_pointer() -> None:
    data = encode_presence(headset())
    assert len(data) == POSE_HEADER.size + 12 + 20 + 6
    back = decode_presence(data)
    assert back.xr and back.pointer_hit and back.pointer_from == "right"
    assert back.left is not None and back.right is not None and back.pointer is not None
    assert back.left.position == pytest.approx((-0.2, 1.2, -0.5), abs=1e-3)
    assert angle_between(back.right.orientation, (0.5, 0.5, 0.5, 0.5)) < 0.2
    assert back.pointer == pytest.approx((0.0, 0.1, 0.0), abs=1e-4)


@given(st.lists(st.floats(-1, 1), min_size=4, max_size=4).filter(lambda q: sum(c * c for c in q) > 1e-3))
def test_quaternions_survive_packing_within_a_third_of_a_degree(q: list[float]) -> None:
    back = unpack_quaternion(pack_quaternion((q[0], q[1], q[2], q[3])))
    assert math.sqrt(sum(c * c for c in back)) == pytest.approx(1.0, abs=1e-6)
    assert angle_between(tuple(q), back) < 0.3


def test_a_batch_lists_entries_by_slot() -> None:
    entries = [bytes((3,)) + encode_body(desktop(2.0)), bytes((7,)) + encode_body(headset())]
    batch = encode_batch(entries)
    assert batch[:4] == PRESENCE_MAGIC and len(batch) == BATCH_HEADER.size + sum(map(len, entries))
    decoded = decode_batch(batch)
    assert [slot for slot, _ in decoded] == [3, 7]
    assert decoded[0][1].head.position[0] == 2.0 and decoded[1][1].xr


def bad(data: bytes) -> str:
    with pytest.raises(ProtocolError) as caught:
        decode_presence(data)
    assert caught.value.code == ErrorCode.BAD_FRAME
    return str(caught.value)


def test_bad_presence_messages_are_refused_with_the_reason() -> None:
    good = encode_presence(headset())
    assert "bytes" in bad(good[:10])
    assert "flags 0x5f say 38" in bad(good[:-1])  # one byte short of what its flags announce
    assert "say" in bad(good + b"\0")
    assert "magic" in bad(b"VZF1" + good[4:])
    assert "kind 2" in bad(good[:4] + b"\x02" + good[5:])
    assert "unknown presence flags 0x80" in bad(good[:5] + bytes((good[5] | 0x80,)) + good[6:])
    no_left = Presence(Pose((0, 0, 0), IDENTITY), pointer=(1, 1, 1))
    raw = bytearray(encode_presence(no_left))
    raw[5] |= POINTER_FROM_LEFT
    assert "hand the presence does not carry" in bad(bytes(raw))
    raw = bytearray(encode_presence(desktop()))
    raw[5] |= 0x10  # hit without a pointer
    assert "pointer flags without a pointer" in bad(bytes(raw))


@pytest.mark.parametrize("half", [0x7C00, 0xFC00, 0x7E00], ids=["inf", "-inf", "nan"])
def test_non_finite_positions_are_refused(half: int) -> None:
    raw = bytearray(encode_presence(headset()))
    struct.pack_into("<H", raw, POSE_HEADER.size + 2 + 10 + 2, half)  # left hand's y
    assert "left hand: position" in bad(bytes(raw))


def test_a_packed_orientation_that_is_not_a_rotation_is_refused() -> None:
    raw = bytearray(encode_presence(desktop()))
    struct.pack_into("<I", raw, POSE_HEADER.size + 8, (3 << 30) | (1022 << 20) | (1022 << 10) | 1022)
    assert "not a unit quaternion" in bad(bytes(raw))


def test_values_a_float16_cannot_carry_are_refused_when_encoding() -> None:
    with pytest.raises(ProtocolError, match="float16 range"):
        encode_presence(Presence(Pose((70000.0, 0, 0), IDENTITY)))
    with pytest.raises(ProtocolError, match="not a rotation"):
        encode_presence(Presence(Pose((0, 0, 0), (0, 0, 0, 0))))
    with pytest.raises(ProtocolError, match="size"):
        encode_presence(Presence(Pose((0, 0, 0), IDENTITY), size=math.nan))


@given(st.binary(max_size=64))
def test_random_bytes_decode_or_raise_protocol_error(data: bytes) -> None:
    for candidate in (data, PRESENCE_MAGIC + b"\x01" + data, PRESENCE_MAGIC + b"\x02" + data):
        with contextlib.suppress(ProtocolError):
            decode_presence(candidate)
        with contextlib.suppress(ProtocolError):
            decode_batch(candidate)


def test_a_truncated_batch_is_refused() -> None:
    batch = encode_batch([bytes((1,)) + encode_body(headset())])
    with pytest.raises(ProtocolError, match="truncated"):
        split_batch(batch[:-30])
    with pytest.raises(ProtocolError, match="end at byte"):
        split_batch(batch + b"\0")
    assert POINTER  # the flag the headset entry sets


# --- board ---


def body(x: float = 0.0) -> bytes:
    return encode_body(desktop(x))


def board_of(*clients: str, now: float = 0.0, **kwargs: float) -> PresenceBoard:
    board = PresenceBoard(**kwargs)  # type: ignore[arg-type]
    for c in clients:
        board.join(c, now)
    return board


def heard(board: PresenceBoard, receiver: str) -> dict[int, float]:
    batch = board.batch(receiver)
    return {} if batch is None else {slot: p.head.position[0] for slot, p in decode_batch(batch)}


def test_others_hear_the_latest_presence_and_nobody_hears_itself() -> None:
    board = board_of("a", "b", "c")
    slots = board.slots()
    assert len(set(slots.values())) == 3
    assert board.update("a", body(1.0), 0.0)
    assert board.update("a", body(2.0), 0.1)
    assert heard(board, "b") == {slots["a"]: 2.0}  # latest wins: one entry, the newest
    assert heard(board, "c") == {slots["a"]: 2.0}
    assert board.batch("a") is None  # its own presence does not come back
    assert board.batch("b") is None  # nothing changed since b's last batch


def test_a_batch_holds_only_what_changed_since_the_receivers_last_one() -> None:
    board = board_of("a", "b", "c")
    slots = board.slots()
    board.update("a", body(1.0), 0.0)
    board.update("b", body(5.0), 0.0)
    assert heard(board, "c") == {slots["a"]: 1.0, slots["b"]: 5.0}
    board.update("b", body(6.0), 0.2)
    assert heard(board, "c") == {slots["b"]: 6.0}
    assert heard(board, "a") == {slots["b"]: 6.0}  # a never took a batch: b's latest only


def test_updates_above_the_rate_limit_are_dropped() -> None:
    board = board_of("a", "b", max_hz=25.0, burst=5)
    accepted = sum(board.update("a", body(i), 1.0 + i / 100.0) for i in range(100))  # 100 Hz for 1 s
    assert 29 <= accepted <= 30  # the burst of 5, then 25 a second
    assert board.dropped == 100 - accepted
    steady = sum(board.update("a", body(i), 3.0 + i / 20.0) for i in range(40))  # 20 Hz is under the limit
    assert steady == 40


def test_a_batch_is_bounded_and_the_rest_wait_their_turn() -> None:
    clients = [f"c{i}" for i in range(64)]
    board = board_of(*clients, batch_max_bytes=300)
    for c in clients[1:]:
        board.update(c, body(float(int(c[1:]))), 0.0)
    got: dict[int, float] = {}
    batches = 0
    while (batch := board.batch("c0")) is not None:
        assert len(batch) <= 300
        got |= {slot: p.head.position[0] for slot, p in decode_batch(batch)}
        batches += 1
    assert len(got) == 63 and batches == math.ceil(63 / ((300 - BATCH_HEADER.size) // 13))
    board.update("c5", body(55.0), 1.0)
    assert heard(board, "c0") == {board.slots()["c5"]: 55.0}


def test_a_client_that_leaves_is_heard_no_more_and_its_slot_is_not_reused_at_once() -> None:
    board = board_of("a", "b")
    slot_a = board.slots()["a"]
    board.update("a", body(1.0), 0.0)
    assert board.leave("a") == slot_a
    assert board.batch("b") is None  # the unsent change of a is gone with it
    assert board.update("a", body(2.0), 0.1) is False  # not here any more
    assert board.leave("a") is None
    assert board.join("c", 0.2) != slot_a


def test_a_newcomer_hears_everyone_present_at_once() -> None:
    board = board_of("a", "b")
    board.update("a", body(1.0), 0.0)
    board.update("b", body(2.0), 0.0)
    board.join("c", 0.1)
    assert sorted(heard(board, "c").values()) == [1.0, 2.0]


def test_the_slow_receivers_state_stays_one_entry_per_sender() -> None:
    board = board_of("a", "b", "slow", max_hz=1000.0, burst=1000)
    for i in range(5000):
        board.update("a" if i % 2 else "b", body(float(i % 1000)), i / 1000.0)
    batch = board.batch("slow")
    assert batch is not None and len(decode_batch(batch)) == 2


def test_a_link_sends_waiting_control_messages_before_the_presence_batch() -> None:
    """A ``presence_peers`` queued before a batch reaches the client first (the batch may name its slots)."""
    link = ClientLink()
    batch = encode_batch([bytes((1,)) + body(1.0)])
    link.outbox.put_control('{"type":"presence_peers"}')
    link.put_presence(batch)
    assert link.ready.is_set()
    assert link.pop() == '{"type":"presence_peers"}'
    assert link.pop() == batch
    assert link.pop() is None and link.presence is None  # taken: the relay may make the next one
