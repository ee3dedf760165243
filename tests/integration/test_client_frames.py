"""The browser client's frame decoder (webxr_client/src/FrameDecoder.js) against the server's encoder.

Frames come from :class:`vizserver.protocol.field_encoder.FieldEncoder` (every encoding, deltas,
zstd, no-data codes, vectors); node runs the client's decoder on them (tests/tools/decode_frames.mjs)
and the values must match the server's own decoder. A second test runs the client's pure unit tests
(``node --test webxr_client/test/``).
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vizserver.protocol.field_encoder import FieldEncoder
from vizserver.protocol.frames import Encoding, decode_frame

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "webxr_client"
DECODE = ROOT / "tests" / "tools" / "decode_frames.mjs"

pytestmark = pytest.mark.browser


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: the client's decoder runs on Node.js (install node 20+)")
    if not (CLIENT / "node_modules" / "fzstd").is_dir():
        pytest.fail("webxr_client/node_modules is missing: run `npm ci` in webxr_client")
    return node


def _client_decode(frames: list[bytes], tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "frames.bin"
    path.write_bytes(b"".join(struct.pack("<I", len(f)) + f for f in frames))
    done = subprocess.run([_node(), str(DECODE), str(path)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    result: list[dict[str, Any]] = json.loads(done.stdout)
    return result


def _values(entry: dict[str, Any]) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.array([np.nan if v is None else v for v in entry["values"]], dtype=np.float32)


def _wave(n: int, t: float) -> np.ndarray[Any, np.dtype[np.float32]]:
    x = np.linspace(0.0, 1.0, n, dtype=np.float32)
    return (-85.0 + 125.0 / (1.0 + np.exp(-(t - x) * 40.0))).astype(np.float32)


@pytest.mark.parametrize("encoding", [Encoding.U8, Encoding.U16, Encoding.FLOAT32])
def test_client_decodes_keyframes_and_deltas_as_the_server_does(encoding: Encoding, tmp_path: Path) -> None:
    encoder = FieldEncoder(3, 1, encoding=encoding, lo=-85.0, hi=40.0, zstd_level=3)
    frames: list[bytes] = []
    for step in range(5):
        pair = encoder.encode(_wave(2000, step / 4), step=step, time=step * 2.0)
        frames.append(pair.delta if pair.delta is not None and step % 2 else pair.keyframe)
    decoded = _client_decode(frames, tmp_path)
    previous = None
    for step, (frame, entry) in enumerate(zip(frames, decoded, strict=True)):
        expected = decode_frame(frame, previous)
        previous = expected
        assert entry["kind"] == "frame", entry
        assert (entry["object"], entry["field"], entry["step"], entry["time"]) == (3, 1, step, step * 2.0)
        np.testing.assert_allclose(_values(entry), expected.values, rtol=0, atol=1e-4)
    if encoding is not Encoding.FLOAT32:
        assert any(struct.unpack_from("<B", f, 5)[0] & 0x10 for f in frames), "no delta frame was exercised"
        assert any(struct.unpack_from("<B", f, 5)[0] & 0x20 for f in frames), "no zstd frame was exercised"


def test_client_reads_no_data_and_vectors(tmp_path: Path) -> None:
    scalar = FieldEncoder(0, 0, encoding=Encoding.U16, lo=0.0, hi=1.0)
    values = np.linspace(0.0, 1.0, 50, dtype=np.float32)
    values[[3, 17]] = np.nan
    vector = FieldEncoder(0, 1, encoding=Encoding.U8, lo=-1.0, hi=1.0, components=3)
    vectors = np.stack([np.sin(values), np.cos(values), np.zeros_like(values)], axis=1)
    frames = [scalar.encode(values, step=0, time=0.0).keyframe, vector.encode(vectors, step=0, time=0.0).keyframe]
    nodata, vec = _client_decode(frames, tmp_path)
    expected = decode_frame(frames[0]).values
    got = _values(nodata)
    assert np.isnan(got[[3, 17]]).all()
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(_values(vec), decode_frame(frames[1]).values.reshape(-1), atol=1e-6)


def test_client_asks_for_a_keyframe_when_it_lacks_the_base(tmp_path: Path) -> None:
    encoder = FieldEncoder(0, 0, encoding=Encoding.U8, lo=0.0, hi=1.0)
    first = encoder.encode(np.zeros(10), step=0, time=0.0)
    encoder.encode(np.full(10, 0.5), step=1, time=1.0)  # never delivered
    third = encoder.encode(np.ones(10), step=2, time=2.0)
    assert third.delta is not None
    decoded = _client_decode([first.keyframe, third.delta, third.keyframe], tmp_path)
    assert [d["kind"] for d in decoded] == ["frame", "need-keyframe", "frame"]
    assert decoded[2]["values"] == [1.0] * 10


def test_client_refuses_frames_the_server_decoder_refuses(tmp_path: Path) -> None:
    good = (
        FieldEncoder(0, 0, encoding=Encoding.U8, lo=0.0, hi=1.0, zstd_level=None)
        .encode(np.zeros(8), step=0, time=0.0)
        .keyframe
    )
    bad = [good[:47], b"XXXX" + good[4:], good[:7] + b"\x01" + good[8:], good + b"\x00"]
    decoded = _client_decode(bad, tmp_path)
    assert [d["kind"] for d in decoded] == ["error"] * len(bad), decoded


def test_client_unit_tests_pass() -> None:
    """The pure client modules' own tests (node --test webxr_client/test/)."""
    done = subprocess.run(
        [_node(), "--test", "test/"], cwd=CLIENT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout
