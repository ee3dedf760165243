"""Binary field frames: header layout, every encoding round-trips, hostile frames are refused cheaply."""

from __future__ import annotations

import contextlib
import struct
import time
import tracemalloc
from dataclasses import replace

import numpy as np
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from vizserver.config import MAX_FIELD_FRAME_BYTES
from vizserver.protocol.field_encoder import FieldEncoder
from vizserver.protocol.frames import (
    DELTA,
    FRAME_MAGIC,
    HEADER,
    HEADER_BYTES,
    NODATA,
    ZSTD,
    DecodedFrame,
    Encoding,
    FrameHeader,
    decode_frame,
)
from vizserver.protocol.messages import ProtocolError
from vizserver.quantize import step as quant_step

LO, HI = -85.0, 40.0


def _header(**changes: object) -> FrameHeader:
    base = FrameHeader(
        kind=1,
        encoding=Encoding.U8,
        flags=0,
        components=1,
        object=7,
        field=2,
        sequence=41,
        base=41,
        step=3,
        lo=-85.0,
        hi=40.0,
        time=12.5,
        count=10,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_header_is_48_bytes_at_the_documented_offsets() -> None:
    assert HEADER.size == HEADER_BYTES == 48
    h = _header(encoding=Encoding.U16, flags=DELTA | ZSTD, base=40, components=2)
    raw = h.encode()
    assert raw[0:4] == FRAME_MAGIC
    assert raw[4] == 1 and raw[5] == 0x31 and raw[6] == 2 and raw[7] == 0
    assert struct.unpack_from("<IIIII", raw, 8) == (7, 2, 41, 40, 3)
    assert struct.unpack_from("<ff", raw, 28) == (-85.0, 40.0)
    assert struct.unpack_from("<d", raw, 36) == (12.5,)
    assert struct.unpack_from("<I", raw, 44) == (10,)
    assert FrameHeader.decode(raw + b"zstd payload") == h


@settings(max_examples=200, deadline=None)
@given(
    encoding=st.sampled_from(list(Encoding)),
    components=st.integers(1, 4),
    vectors=st.integers(0, 50),
    sequence=st.integers(0, 0xFFFFFFFF),
    step=st.integers(0, 0xFFFFFFFF),
    lo=st.floats(-1e30, 1e30).map(lambda x: float(np.float32(x))),
    span=st.floats(0, 1e30),
    t=st.floats(allow_nan=False, allow_infinity=False),
    nodata=st.booleans(),
)
def test_header_round_trip(
    encoding: Encoding,
    components: int,
    vectors: int,
    sequence: int,
    step: int,
    lo: float,
    span: float,
    t: float,
    nodata: bool,
) -> None:
    hi = float(np.float32(lo + span))
    flags = NODATA if nodata and encoding is not Encoding.FLOAT32 else 0
    h = _header(
        encoding=encoding, flags=flags, components=components, sequence=sequence, base=sequence, step=step,
        lo=lo, hi=hi, time=t, count=vectors * components,
    )  # fmt: skip
    assert FrameHeader.decode(h.encode() + bytes(h.payload_bytes)) == h


def _values(n: int, components: int = 1, seed: int = 0, nan_fraction: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.uniform(LO, HI, size=(n, components) if components > 1 else n).astype(np.float32)
    if nan_fraction:
        v[rng.random(v.shape) < nan_fraction] = np.nan
    return v


def _tolerance(encoding: Encoding, nodata: bool) -> float:
    if encoding is Encoding.FLOAT32:
        return 0.0
    return quant_step(LO, HI, encoding.bits, nodata) / 2 + 1e-4


@pytest.mark.parametrize("encoding", list(Encoding))
@pytest.mark.parametrize("nan_fraction", [0.0, 0.2])
@pytest.mark.parametrize("components", [1, 3])
@pytest.mark.parametrize("zstd_level", [None, 1])
def test_frames_round_trip_within_quantization_error(
    encoding: Encoding, nan_fraction: float, components: int, zstd_level: int | None
) -> None:
    enc = FieldEncoder(4, 1, encoding=encoding, lo=LO, hi=HI, zstd_level=zstd_level, components=components)
    smooth = np.linspace(LO, HI, 3000, dtype=np.float32)
    frames = [np.repeat(smooth, components).reshape(-1, components) if components > 1 else smooth]
    frames += [_values(3000, components, seed, nan_fraction) for seed in range(3)]
    previous: DecodedFrame | None = None
    nodata = nan_fraction > 0 and encoding is not Encoding.FLOAT32
    for i, values in enumerate(frames):
        pair = enc.encode(values, step=i, time=0.5 * i)
        assert pair.key == (4, 1) and pair.sequence == i
        key = decode_frame(pair.keyframe)
        assert key.header.step == i and key.header.time == 0.5 * i and key.header.sequence == i
        assert key.values.shape == values.shape and key.values.dtype == np.float32
        assert key.header.nodata == (nodata and i > 0)
        if encoding is Encoding.FLOAT32:
            assert key.codes is None and pair.delta is None
        for decoded in [key] + ([decode_frame(pair.delta, previous)] if pair.delta else []):
            np.testing.assert_array_equal(np.isnan(decoded.values), np.isnan(values))
            finite = np.isfinite(values)
            err = np.abs(decoded.values[finite] - values[finite])
            assert err.max() <= _tolerance(encoding, decoded.header.nodata)
        if pair.delta is not None:
            d = FrameHeader.decode(pair.delta)
            assert d.delta and d.base == i - 1 == pair.base
            np.testing.assert_array_equal(decode_frame(pair.delta, previous).codes, key.codes)
        previous = key
    # the first frame has no delta; with quantized encodings and a stable no-data flag, later ones do
    assert enc.encode(frames[-1], step=9, time=9.0).delta is not None or encoding is Encoding.FLOAT32


def test_zstd_is_used_only_when_it_helps() -> None:
    enc = FieldEncoder(0, 0, lo=0.0, hi=1.0)
    smooth = enc.encode(np.linspace(0, 1, 10_000, dtype=np.float32), step=0, time=0.0)
    assert FrameHeader.decode(smooth.keyframe).zstd and len(smooth.keyframe) < 10_000 // 4
    noise = enc.encode(np.random.default_rng(1).random(10_000, dtype=np.float32), step=1, time=0.0)
    assert not FrameHeader.decode(noise.keyframe).zstd
    assert len(noise.keyframe) == HEADER_BYTES + 10_000


def test_delta_wraps_modulo_code_range() -> None:
    enc = FieldEncoder(0, 0, encoding=Encoding.U16, lo=0.0, hi=1.0, zstd_level=None)
    a = enc.encode(np.array([1.0, 0.0, 0.5], dtype=np.float32), step=0, time=0.0)
    b = enc.encode(np.array([0.0, 1.0, 0.5], dtype=np.float32), step=1, time=0.0)
    assert b.delta is not None
    diff = np.frombuffer(b.delta[HEADER_BYTES:], dtype="<u2")
    assert diff.tolist() == [1, 65535, 0]  # (0 - 65535) mod 2^16, (65535 - 0) mod 2^16, no change
    np.testing.assert_allclose(decode_frame(b.delta, decode_frame(a.keyframe)).values, [0.0, 1.0, 0.5], atol=1e-4)


def test_delta_needs_its_base() -> None:
    enc = FieldEncoder(3, 1, lo=0.0, hi=1.0)
    f0 = enc.encode(np.zeros(100, np.float32), step=0, time=0.0)
    f1 = enc.encode(np.ones(100, np.float32), step=1, time=0.0)
    f2 = enc.encode(np.full(100, 0.5, np.float32), step=2, time=0.0)
    assert f2.delta is not None and f2.base == 1
    for held in [None, decode_frame(f0.keyframe)]:
        with pytest.raises(ProtocolError) as info:
            decode_frame(f2.delta, held)
        assert info.value.code == "missing_base"
        assert "needs frame 1" in str(info.value)
    other = FieldEncoder(3, 2, lo=0.0, hi=1.0)  # same sequence numbers, another stream
    other.encode(np.zeros(100, np.float32), step=0, time=0.0)
    with pytest.raises(ProtocolError) as info:
        decode_frame(f2.delta, decode_frame(other.encode(np.zeros(100, np.float32), step=1, time=0.0).keyframe))
    assert info.value.code == "missing_base"
    np.testing.assert_allclose(decode_frame(f2.delta, decode_frame(f1.keyframe)).values, 0.5, atol=0.002)


def test_nodata_flag_change_or_range_change_sends_keyframe_only() -> None:
    enc = FieldEncoder(0, 0, lo=0.0, hi=1.0)
    enc.encode(np.zeros(10, np.float32), step=0, time=0.0)
    with_nan = np.zeros(10, np.float32)
    with_nan[3] = np.nan
    assert enc.encode(with_nan, step=1, time=0.0).delta is None
    assert enc.encode(with_nan, step=2, time=0.0).delta is not None
    enc.set_range(0.0, 2.0)
    pair = enc.encode(with_nan, step=3, time=0.0)
    assert pair.delta is None
    assert FrameHeader.decode(pair.keyframe).hi == 2.0


def test_encoder_refuses_bad_input() -> None:
    with pytest.raises(ValueError):
        FieldEncoder(0, 0, lo=1.0, hi=0.0)
    with pytest.raises(ValueError):
        FieldEncoder(0, 0, lo=0.0, hi=float("inf"))
    with pytest.raises(ValueError):
        FieldEncoder(0, 0, lo=0.0, hi=1.0, components=3).encode(np.zeros(10, np.float32), step=0, time=0.0)


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda raw: raw[:47], "shorter than the 48-byte header"),
        (lambda raw: b"VZF2" + raw[4:], "bad magic"),
        (lambda raw: raw[:4] + b"\x02" + raw[5:], "kind 2"),
        (lambda raw: raw[:5] + b"\x03" + raw[6:], "unknown encoding 3"),
        (lambda raw: raw[:5] + b"\x82" + raw[6:], "unknown encoding flags 0x80"),
        (lambda raw: raw[:5] + b"\x50" + raw[6:], "float32 frames cannot be delta"),
        (lambda raw: raw[:6] + b"\x00" + raw[7:], "0 components"),
        (lambda raw: raw[:6] + b"\x05" + raw[7:], "5 components"),
        (lambda raw: raw[:6] + b"\x03" + raw[7:], "count 10 is not a multiple of 3"),
        (lambda raw: raw[:7] + b"\x01" + raw[8:], "reserved byte"),
        (lambda raw: raw[:5] + b"\x12" + raw[6:], "base == sequence"),
        (lambda raw: raw[:20] + struct.pack("<I", 9) + raw[24:], "base == sequence"),
        (lambda raw: raw[:28] + struct.pack("<f", float("nan")) + raw[32:], "range"),
        (lambda raw: raw[:28] + struct.pack("<ff", 2.0, 1.0) + raw[36:], "range"),
        (lambda raw: raw[:36] + struct.pack("<d", float("inf")) + raw[44:], "time inf"),
        (lambda raw: raw[:44] + struct.pack("<I", 11) + raw[48:], "payload of 10 bytes; header says 11"),
        (lambda raw: raw + b"\x00", "payload of 11 bytes"),
        (lambda raw: raw[:5] + b"\x22" + raw[6:], "zstd payload unreadable"),
    ],
)
def test_malformed_frames_are_bad_frame(mutate: object, needle: str) -> None:
    good = FieldEncoder(0, 0, lo=0.0, hi=1.0, zstd_level=None).encode(np.zeros(10, np.float32), step=0, time=0.0)
    with pytest.raises(ProtocolError) as info:
        decode_frame(mutate(good.keyframe))  # type: ignore[operator]
    assert info.value.code == "bad_frame"
    assert needle in str(info.value)


def test_frame_over_the_limit_is_too_large() -> None:
    count = MAX_FIELD_FRAME_BYTES // 4 + 1
    raw = _header(encoding=Encoding.FLOAT32, count=1).encode()
    raw = raw[:44] + struct.pack("<I", count)
    with pytest.raises(ProtocolError) as info:
        decode_frame(raw)
    assert info.value.code == "too_large"


def _zstd_bomb(size: int, *, write_content_size: bool) -> bytes:
    """A few kB of zstd that inflate to ``size`` zero bytes, built in chunks (never holds ``size`` bytes)."""
    chunk = bytes(4 << 20)
    cctx = zstandard.ZstdCompressor(level=1, write_content_size=write_content_size)
    cobj = cctx.compressobj(size=size if write_content_size else -1)
    parts = [cobj.compress(chunk) for _ in range(size // len(chunk))]
    parts.append(cobj.flush())
    return b"".join(parts)


@pytest.fixture(scope="module")
def bombs() -> list[bytes]:
    return [_zstd_bomb(1 << 30, write_content_size=True), _zstd_bomb(64 << 20, write_content_size=False)]


def test_zstd_bomb_is_refused_quickly_without_allocating(bombs: list[bytes]) -> None:
    for bomb in bombs:
        assert len(bomb) < 100_000
        header = _header(flags=ZSTD, count=1000).encode()
        tracemalloc.start()
        t0 = time.perf_counter()
        with pytest.raises(ProtocolError) as info:
            decode_frame(header + bomb)
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert info.value.code == "bad_frame"
        assert elapsed < 0.5
        assert peak < 1 << 20


def test_zstd_payload_shorter_than_count_is_refused() -> None:
    payload = zstandard.ZstdCompressor(write_content_size=False).compress(bytes(999))
    with pytest.raises(ProtocolError, match="zstd payload"):
        decode_frame(_header(flags=ZSTD, count=1000).encode() + payload)
    two = zstandard.ZstdCompressor().compress(bytes(500)) * 2
    with pytest.raises(ProtocolError, match="zstd payload"):
        decode_frame(_header(flags=ZSTD, count=1000).encode() + two)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_only_ever_raise_protocol_error(data: bytes) -> None:
    for frame in (data, FRAME_MAGIC + data, _header().encode()[:8] + data):
        with contextlib.suppress(ProtocolError):
            decode_frame(frame)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 47).flatmap(lambda at: st.tuples(st.just(at), st.integers(0, 255))),
    st.sampled_from([None, 1]),
    st.booleans(),
)
def test_corrupted_header_bytes_only_ever_raise_protocol_error(
    corruption: tuple[int, int], zstd_level: int | None, as_delta: bool
) -> None:
    enc = FieldEncoder(1, 1, lo=0.0, hi=1.0, zstd_level=zstd_level)
    first = enc.encode(np.linspace(0, 1, 64, dtype=np.float32), step=0, time=0.0)
    second = enc.encode(np.linspace(1, 0, 64, dtype=np.float32), step=1, time=0.0)
    raw = bytearray(second.delta if as_delta and second.delta else second.keyframe)
    at, value = corruption
    raw[at] = value
    try:
        frame = decode_frame(bytes(raw), decode_frame(first.keyframe))
    except ProtocolError:
        return
    assert frame.values.size == frame.header.count


def _bytes_per_vertex(frames: list[np.ndarray], **options: object) -> float:
    """Mean size of what a client reading every frame receives (keyframe first, then deltas), per vertex."""
    enc = FieldEncoder(0, 0, lo=0.0, hi=1.0, **options)  # type: ignore[arg-type]
    pairs = [enc.encode(v, step=i, time=float(i)) for i, v in enumerate(frames)]
    sent = [len(pairs[0].keyframe)] + [len(p.delta or p.keyframe) for p in pairs[1:]]
    return sum(sent[1:]) / (len(sent) - 1) / frames[0].size


def test_wire_size_targets_for_a_travelling_front_and_for_noise() -> None:
    """docs/protocol.md targets at 60 Hz with u8 + delta + zstd: <= 0.25 B/vertex for a smooth travelling
    wave, <= 1 for noise. Vertices in random order (the worst case; GLB order is spatially coherent)."""
    n, rng = 20_000, np.random.default_rng(7)
    x = rng.random(n)
    front = [(0.5 + 0.5 * np.tanh((i / 60 - x) / 0.01)).astype(np.float32) for i in range(31)]
    pulse_in_order = [np.exp(-(((np.sort(x) - i / 60) / 0.03) ** 2)).astype(np.float32) for i in range(31)]
    noise = [rng.random(n, dtype=np.float32) for _ in range(31)]
    assert _bytes_per_vertex(front) <= 0.25
    assert _bytes_per_vertex(pulse_in_order) <= 0.25
    assert _bytes_per_vertex(noise) <= 1.0 + HEADER_BYTES / n
    assert _bytes_per_vertex(front, encoding=Encoding.FLOAT32) > 5 * _bytes_per_vertex(front)  # quantization pays
