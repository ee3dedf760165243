"""Latest-wins outbox: bounded whatever the producer does; a client decodes every frame it receives."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vizserver.protocol.field_encoder import FieldEncoder
from vizserver.protocol.frames import DecodedFrame, FrameHeader, decode_frame
from vizserver.protocol.outbox import Outbox, OutboxOverflow
from vizserver.quantize import step as quant_step

N = 500
LO, HI = 0.0, 1.0
TOLERANCE = quant_step(LO, HI, 8) / 2 + 1e-6


def _wave(t: float, n: int = N) -> np.ndarray:
    x = np.linspace(0.0, 1.0, n, dtype=np.float32)
    return (0.5 + 0.5 * np.tanh((t - x) / 0.05)).astype(np.float32)


class Client:
    """A fake client at the far end of a lossless ordered pipe: keeps the last frame per stream as delta base."""

    def __init__(self) -> None:
        self.frames: dict[tuple[int, int], DecodedFrame] = {}
        self.texts: list[str] = []
        self.kinds: list[str] = []

    def receive(self, message: str | bytes) -> None:
        if isinstance(message, str):
            self.texts.append(message)
            return
        key = FrameHeader.decode(message).key
        frame = decode_frame(message, self.frames.get(key))  # raises missing_base if the outbox chose wrong
        self.kinds.append("delta" if frame.header.delta else "key")
        self.frames[key] = frame

    def drain(self, outbox: Outbox) -> None:
        while (message := outbox.pop()) is not None:
            self.receive(message)


def test_client_reading_every_frame_gets_deltas() -> None:
    enc, outbox, client = FieldEncoder(0, 0, lo=LO, hi=HI), Outbox(), Client()
    for i in range(20):
        outbox.put_frames(enc.encode(_wave(i / 20), step=i, time=i))
        client.drain(outbox)
    assert client.kinds == ["key"] + ["delta"] * 19
    assert outbox.dropped_frames == 0 and outbox.sent_deltas == 19
    np.testing.assert_allclose(client.frames[(0, 0)].values, _wave(19 / 20), atol=TOLERANCE)


def test_after_a_drop_the_client_gets_a_keyframe_then_deltas() -> None:
    enc, outbox, client = FieldEncoder(0, 0, lo=LO, hi=HI), Outbox(), Client()
    outbox.put_frames(enc.encode(_wave(0.0), step=0, time=0))
    client.drain(outbox)
    outbox.put_frames(enc.encode(_wave(0.1), step=1, time=1))
    outbox.put_frames(enc.encode(_wave(0.2), step=2, time=2))  # replaces the unsent step 1
    assert outbox.dropped_frames == 1 and outbox.depth == (0, 1)
    client.drain(outbox)
    outbox.put_frames(enc.encode(_wave(0.3), step=3, time=3))
    client.drain(outbox)
    assert client.kinds == ["key", "key", "delta"]
    assert client.frames[(0, 0)].header.step == 3


def test_keyframe_request_and_forget() -> None:
    enc, outbox, client = FieldEncoder(0, 0, lo=LO, hi=HI), Outbox(), Client()
    for i in range(2):
        outbox.put_frames(enc.encode(_wave(i / 10), step=i, time=i))
        client.drain(outbox)
    outbox.request_keyframe((0, 0))
    outbox.put_frames(enc.encode(_wave(0.3), step=2, time=2))  # replaces the re-send: not a dropped frame
    client.drain(outbox)
    assert client.kinds == ["key", "delta", "key"]
    assert outbox.dropped_frames == 0
    outbox.put_frames(enc.encode(_wave(0.4), step=3, time=3))
    outbox.forget((0, 0))
    assert outbox.depth == (0, 0) and outbox.pop() is None
    outbox.put_frames(enc.encode(_wave(0.5), step=4, time=4))
    client.drain(outbox)
    assert client.kinds[-1] == "key"


def test_keyframe_request_on_a_quiet_stream_resends_the_last_frame() -> None:
    enc, outbox, client = FieldEncoder(0, 0, lo=LO, hi=HI), Outbox(), Client()
    for i in range(2):
        outbox.put_frames(enc.encode(_wave(i / 10), step=i, time=i))
        client.drain(outbox)
    client.frames.clear()  # playback paused, and the client lost its frame
    outbox.request_keyframe((0, 0))
    assert outbox.depth == (0, 1)
    client.drain(outbox)
    assert client.kinds == ["key", "delta", "key"]
    np.testing.assert_allclose(client.frames[(0, 0)].values, _wave(0.1), atol=TOLERANCE)
    outbox.request_keyframe((9, 9))  # never sent: nothing to resend
    assert outbox.pop() is None


def test_control_first_fifo_then_streams_take_turns() -> None:
    ready: list[int] = []
    outbox = Outbox(on_ready=lambda: ready.append(1))
    a, b, c = (FieldEncoder(i, 0, lo=LO, hi=HI) for i in range(3))
    outbox.put_frames(a.encode(_wave(0.0), step=0, time=0))
    outbox.put_frames(b.encode(_wave(0.0), step=0, time=0))
    outbox.put_control('{"type":"pong","t":1.0}')
    outbox.put_frames(a.encode(_wave(0.1), step=1, time=1))  # replaces a's frame, keeps a's turn
    outbox.put_frames(c.encode(_wave(0.0), step=0, time=0))
    outbox.put_control('{"type":"pong","t":2.0}')
    assert len(ready) == 6 and outbox.depth == (2, 3)
    order = []
    while (m := outbox.pop()) is not None:
        order.append(m if isinstance(m, str) else FrameHeader.decode(m).object)
    assert order == ['{"type":"pong","t":1.0}', '{"type":"pong","t":2.0}', 0, 1, 2]
    assert outbox.sent_control == 2 and outbox.sent_frames == 3 and outbox.dropped_frames == 1
    assert not outbox


def test_control_overflow_raises() -> None:
    outbox = Outbox(control_limit=3)
    for i in range(3):
        outbox.put_control(str(i))
    with pytest.raises(OutboxOverflow, match="client too slow: 3 control messages waiting"):
        outbox.put_control("3")
    assert outbox.pop() == "0"
    outbox.put_control("3")  # room again after a read


def test_slow_reader_keeps_memory_flat_whatever_the_producer_rate() -> None:
    encoders = [FieldEncoder(obj, 0, lo=LO, hi=HI) for obj in range(4)]
    outbox, client = Outbox(), Client()
    produced = 0
    max_depth = 0
    for i in range(2000):
        for enc in encoders:
            outbox.put_frames(enc.encode(_wave((i % 100) / 100, 200), step=i, time=i))
            produced += 1
        max_depth = max(max_depth, outbox.depth[1])
        if i % 97 == 0:  # pops one message now and then
            message = outbox.pop()
            assert message is not None
            client.receive(message)
    client.drain(outbox)
    assert max_depth == len(encoders)
    assert outbox.sent_frames + outbox.dropped_frames == produced
    assert outbox.dropped_frames > 0.95 * produced
    assert outbox.bytes_sent < 0.05 * produced * 200
    for enc in encoders:
        np.testing.assert_allclose(client.frames[enc.key].values, _wave(0.99, 200), atol=TOLERANCE)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.integers(0, 2), st.floats(-0.2, 1.2)),
        st.tuples(st.just("nan"), st.integers(0, 2), st.floats(0, 1)),
        st.tuples(st.just("pop"), st.integers(1, 5), st.just(0.0)),
        st.tuples(st.just("keyframe"), st.integers(0, 2), st.just(0.0)),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_received_frames_always_reproduce_the_latest_values(ops: list[tuple[str, int, float]]) -> None:
    """Random interleavings of put/pop/keyframe-request: the client never lacks a base, the queue never holds
    more than one frame per stream, and after draining the client holds each stream's latest values."""
    encoders = {i: FieldEncoder(i, 1, lo=LO, hi=HI, zstd_level=1 if i else None) for i in range(3)}
    outbox, client = Outbox(), Client()
    latest: dict[tuple[int, int], np.ndarray] = {}
    for step, (op, arg, t) in enumerate(ops):
        if op in ("put", "nan"):
            values = _wave(t, 64)
            if op == "nan":
                values[: int(t * 64)] = np.nan  # no-data regions that come and go: keyframes only across a change
            pair = encoders[arg].encode(values, step=step, time=float(step))
            outbox.put_frames(pair)
            latest[pair.key] = values
        elif op == "pop":
            for _ in range(arg):
                message = outbox.pop()
                if message is not None:
                    client.receive(message)
        else:
            outbox.request_keyframe((arg, 1))
            client.frames.pop((arg, 1), None)  # the client lost its base
        assert outbox.depth[1] <= len(encoders)
    client.drain(outbox)
    assert set(client.frames) == set(latest)
    for key, values in latest.items():
        got = client.frames[key].values
        np.testing.assert_array_equal(np.isnan(got), np.isnan(values))
        finite = np.isfinite(values)
        assert np.all(np.abs(got[finite] - values[finite]) <= quant_step(LO, HI, 8, True) / 2 + 1e-6)
    puts = sum(op in ("put", "nan") for op, _, _ in ops)
    resend_requests = sum(op == "keyframe" for op, _, _ in ops)  # may re-send the last frame of a quiet stream
    assert puts <= outbox.sent_frames + outbox.dropped_frames <= puts + resend_requests
