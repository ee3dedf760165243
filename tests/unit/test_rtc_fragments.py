"""VZC1 pieces: messages split to fit a data channel's maximum message size, and joined back in any order."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vizserver.protocol.fragments import (
    FRAGMENT_HEADER,
    MAX_PARTIAL_MESSAGES,
    Reassembler,
    is_fragment,
    split_message,
)
from vizserver.protocol.messages import ProtocolError


def test_binary_and_text_round_trip_in_any_order() -> None:
    frame = bytes(range(256)) * 40
    pieces = split_message(frame, 7, 1000)
    assert len(pieces) == -(-len(frame) // (1000 - FRAGMENT_HEADER.size))
    assert all(len(p) <= 1000 and is_fragment(p) for p in pieces)
    random.Random(1).shuffle(pieces)
    joiner = Reassembler(1 << 20)
    results = [joiner.add(p) for p in pieces]
    assert results[:-1] == [None] * (len(pieces) - 1)
    assert results[-1] == frame
    text = '{"type": "scene", "title": "H\u00e9art \u2764"}' * 100
    joiner = Reassembler(1 << 20)
    out = [joiner.add(p) for p in split_message(text, 8, 64)]
    assert out[-1] == text  # a multi-byte character cut between pieces still decodes


def test_interleaved_messages_join_separately() -> None:
    a, b = b"a" * 500, b"b" * 700
    pa, pb = split_message(a, 1, 100), split_message(b, 2, 100)
    joiner = Reassembler(1 << 20)
    done = [m for pair in zip(pa, pb, strict=False) for p in pair if (m := joiner.add(p)) is not None]
    done += [m for p in pb[len(pa):] if (m := joiner.add(p)) is not None]
    assert sorted(done, key=len) == [a, b]


def test_unfinished_messages_are_bounded() -> None:
    joiner = Reassembler(1 << 20)
    for ident in range(MAX_PARTIAL_MESSAGES + 5):  # only the first piece of each: as if the rest were lost
        assert joiner.add(split_message(b"x" * 300, ident, 100)[0]) is None
    assert joiner.dropped == 5
    newest = split_message(b"x" * 300, MAX_PARTIAL_MESSAGES + 4, 100)
    assert [joiner.add(p) for p in newest[1:]][-1] == b"x" * 300  # kept: completes
    oldest = split_message(b"x" * 300, 0, 100)
    assert [joiner.add(p) for p in oldest[1:]] == [None] * (len(oldest) - 1)  # dropped: its first piece is gone


def test_limits_and_bad_pieces() -> None:
    with pytest.raises(ValueError, match="no room"):
        split_message(b"abc", 0, FRAGMENT_HEADER.size)
    with pytest.raises(ValueError, match="65535"):
        split_message(b"x" * 70_000, 0, FRAGMENT_HEADER.size + 1)
    joiner = Reassembler(250)
    pieces = split_message(b"z" * 400, 3, 116)
    with pytest.raises(ProtocolError, match="over 250 bytes") as too_large:
        for p in pieces:
            joiner.add(p)
    assert too_large.value.code == "too_large"
    with pytest.raises(ProtocolError, match="not a VZC1"):
        joiner.add(b"VZF1" + bytes(60))
    good = split_message(b"q" * 300, 9, 100)
    joiner.add(good[0])
    liar = bytearray(split_message(b"q" * 900, 9, 100)[1])  # same id, another count
    with pytest.raises(ProtocolError, match="disagrees"):
        joiner.add(bytes(liar))
    bad_flags = bytearray(good[1])
    bad_flags[12] = 0x80
    with pytest.raises(ProtocolError, match="bad header"):
        joiner.add(bytes(bad_flags))
    not_utf8 = split_message(b"\xff" * 200, 10, 100)
    not_utf8 = [p[:12] + b"\x01" + p[13:] for p in not_utf8]
    with pytest.raises(ProtocolError, match="not UTF-8"):
        for p in not_utf8:
            joiner.add(p)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash_the_joiner(data: bytes) -> None:
    joiner = Reassembler(1 << 16)
    try:
        out = joiner.add(b"VZC1" + data)
    except ProtocolError:
        return
    assert out is None or isinstance(out, bytes | str)


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=3000), st.integers(min_value=17, max_value=600), st.randoms())
def test_split_then_join_is_identity(data: bytes, size: int, rng: random.Random) -> None:
    if len(data) <= size - FRAGMENT_HEADER.size:
        with pytest.raises(ValueError, match="send it whole"):
            split_message(data, 42, size)
        return
    pieces = split_message(data, 42, size)
    rng.shuffle(pieces)
    joiner = Reassembler(1 << 16)
    outs = [joiner.add(p) for p in pieces]
    assert outs[-1] == data and outs[:-1] == [None] * (len(pieces) - 1)
