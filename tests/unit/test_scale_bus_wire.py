"""The messages between server processes (vizserver/scale/bus_wire.py): round trips and clear refusals."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from vizserver.protocol.field_encoder import FieldEncoder, FramePair
from vizserver.scale.bus_wire import (
    BUS_HEADER,
    BUS_MAGIC,
    BusWireError,
    EdgeBatch,
    Kind,
    decode_batch,
    decode_message,
    decode_poses,
    encode_batch,
    encode_message,
    encode_poses,
)


def pairs() -> tuple[FramePair, FramePair]:
    encoder = FieldEncoder(3, 1, lo=0.0, hi=1.0)
    first = encoder.encode(np.linspace(0, 1, 100, dtype=np.float32), step=0, time=0.0)
    second = encoder.encode(np.linspace(0, 1, 100, dtype=np.float32) ** 2, step=1, time=0.5)
    return first, second


def test_a_message_round_trips_with_its_blobs() -> None:
    data = encode_message(Kind.CONNECT, {"token": "t", "req": 7}, [b"hello", b"", b"\x00\x01"])
    message = decode_message(data)
    assert message.kind is Kind.CONNECT
    assert message.head == {"token": "t", "req": 7}
    assert message.blobs == (b"hello", b"", b"\x00\x01")


def test_a_batch_round_trips_texts_frames_keyframes_and_closes() -> None:
    first, second = pairs()
    assert first.delta is None and second.delta is not None
    batch = EdgeBatch("sid", texts=[('{"type":"members"}', ("a", "b")), ("é", ("c",))],
                      frames=[(first, ("a",)), (second, ("b", "c"))],
                      keyframes=[("a", (3, 1))], closes=[("b", 4008, "client too slow")])
    back = decode_batch(decode_message(encode_batch(batch)))
    assert back == batch
    assert back.frames[1][0].keyframe == second.keyframe and back.frames[1][0].base == first.sequence


def test_poses_round_trip() -> None:
    entries = [("c1", b"\x01" * 12), ("c2", b"\x02" * 22)]
    message = decode_message(encode_poses("server", "sid", entries))
    assert message.kind is Kind.POSES and decode_poses(message) == entries


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"VZB", "header is"),
        (b"XXXX" + bytes(5), "bad magic"),
        (BUS_HEADER.pack(BUS_MAGIC, 99, 2) + b"{}", "unknown bus message kind 99"),
        (BUS_HEADER.pack(BUS_MAGIC, 1, 50) + b"{}", "does not fit"),
        (BUS_HEADER.pack(BUS_MAGIC, 1, 2) + b"[]", "not a JSON object"),
        (BUS_HEADER.pack(BUS_MAGIC, 1, 3) + b"{x}", "not JSON"),
        (BUS_HEADER.pack(BUS_MAGIC, 1, 2) + b"{}", "blobs is not a list"),
    ],
)
def test_a_broken_message_is_refused_saying_why(data: bytes, says: str) -> None:
    with pytest.raises(BusWireError, match=says):
        decode_message(data)


def test_blob_lengths_must_add_up() -> None:
    head = b'{"blobs":[4]}'
    short = BUS_HEADER.pack(BUS_MAGIC, 1, len(head)) + head + b"abc"
    with pytest.raises(BusWireError, match="blobs of 4 bytes"):
        decode_message(short)
    negative = b'{"blobs":[-1]}'
    with pytest.raises(BusWireError, match="list of at most"):
        decode_message(BUS_HEADER.pack(BUS_MAGIC, 1, len(negative)) + negative)


def test_a_batch_that_names_more_blobs_than_it_has_is_refused() -> None:
    data = encode_message(Kind.BATCH, {"sid": "s", "texts": [["a"], ["b"]], "frames": [], "keyframes": [],
                                       "closes": []}, [b"one"])
    with pytest.raises(BusWireError, match="more are named"):
        decode_batch(decode_message(data))


@pytest.mark.parametrize(
    ("head", "says"),
    [
        ({"sid": "s", "texts": [], "frames": "x", "keyframes": [], "closes": []}, "must be lists"),
        ({"sid": "s", "texts": [[1]], "frames": [], "keyframes": [], "closes": []}, "list of ids"),
        ({"sid": "s", "texts": [], "frames": [], "keyframes": [["a", [1]]], "closes": []}, "object, field"),
        ({"sid": "s", "texts": [], "frames": [], "keyframes": [], "closes": [["a", "x", "y"]]}, "close request"),
        ({"sid": 5, "texts": [], "frames": [], "keyframes": [], "closes": []}, "sid"),
    ],
)
def test_a_batch_with_bad_fields_is_refused(head: dict[str, object], says: str) -> None:
    blobs = [b"t"] if head.get("texts") == [[1]] else []
    with pytest.raises(BusWireError, match=says):
        decode_batch(decode_message(encode_message(Kind.BATCH, head, blobs)))


def test_poses_must_name_one_client_per_body() -> None:
    data = encode_message(Kind.POSES, {"server": "s", "clients": ["a", "b"]}, [b"x"])
    with pytest.raises(BusWireError, match="2 clients, 1 bodies"):
        decode_poses(decode_message(data))


def test_the_header_is_little_endian_magic_kind_and_head_length() -> None:
    data = encode_message(Kind.REPLY, {"req": 1})
    magic, kind, size = struct.unpack_from("<4sBI", data)
    assert (magic, kind, size) == (BUS_MAGIC, int(Kind.REPLY), len(data) - BUS_HEADER.size)
