// Unit tests of the pure frame decoder (node --test). Frames are built here by hand, byte by byte,
// following docs/protocol.md; tests/integration/test_client_frames.py checks the same decoder
// against frames made by the server's own encoder.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrameDecoder, FRAME_HEADER_BYTES } from '../src/FrameDecoder.js';
import { FrameError } from '../src/FrameError.js';

const F32 = 0;
const U16 = 1;
const U8 = 2;
const DELTA = 0x10;
const ZSTD = 0x20;
const NODATA = 0x40;

/** One frame: header fields as named in docs/protocol.md, then `payload` bytes as given. */
function frame({ encoding, components = 1, object = 0, field = 0, sequence = 0, base = sequence, step = 0,
  min = 0, max = 1, time = 0, count, payload }) {
  const bytes = new Uint8Array(FRAME_HEADER_BYTES + payload.byteLength);
  const view = new DataView(bytes.buffer);
  bytes.set([0x56, 0x5a, 0x46, 0x31]); // VZF1
  view.setUint8(4, 1);
  view.setUint8(5, encoding);
  view.setUint8(6, components);
  view.setUint32(8, object, true);
  view.setUint32(12, field, true);
  view.setUint32(16, sequence, true);
  view.setUint32(20, base, true);
  view.setUint32(24, step, true);
  view.setFloat32(28, min, true);
  view.setFloat32(32, max, true);
  view.setFloat64(36, time, true);
  view.setUint32(44, count, true);
  bytes.set(new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength), FRAME_HEADER_BYTES);
  return bytes.buffer;
}

const hex = (s) => Uint8Array.from(s.match(/../g), (b) => parseInt(b, 16));
// zstandard.ZstdCompressor(level=3).compress(bytes([0,1,2,3,4,5,6,7,8,255] * 30)), with and without content size
const ZSTD_WITH_SIZE = hex('28b52ffd602c008d000050000102030405060708ff01001f550b12');
const ZSTD_WITHOUT_SIZE = hex('28b52ffd00008d000050000102030405060708ff01001f550b12');
const ZSTD_CODES = Uint8Array.from({ length: 300 }, (_, i) => [0, 1, 2, 3, 4, 5, 6, 7, 8, 255][i % 10]);

test('u8 keyframe: values are min + code * (max - min) / 255', () => {
  const decoder = new FrameDecoder();
  const out = decoder.decode(frame({ encoding: U8, object: 3, field: 1, sequence: 7, step: 4, time: 2.5,
    min: -10, max: 41, count: 4, payload: Uint8Array.of(0, 5, 255, 128) }));
  assert.equal(out.kind, 'frame');
  const { track } = out;
  assert.deepEqual([track.object, track.field, track.sequence, track.step, track.time], [3, 1, 7, 4, 2.5]);
  assert.equal(track.format, 'u8');
  assert.deepEqual(Array.from(track.toValues()), [-10, -9, 41, -10 + 128 * 0.2].map(Math.fround));
  assert.equal(decoder.track(3, 1), track);
});

test('u16 with no-data code: top code is NaN, the rest spread over 0..65534', () => {
  const decoder = new FrameDecoder();
  const { track } = decoder.decode(frame({ encoding: U16 | NODATA, min: 0, max: 65534, count: 3,
    payload: Uint16Array.of(0, 65534, 65535) }));
  assert.equal(track.nodataCode, 65535);
  assert.equal(track.valueAt(0), 0);
  assert.equal(track.valueAt(1), 65534);
  assert.ok(Number.isNaN(track.valueAt(2)));
});

test('float32 frames carry the values themselves', () => {
  const decoder = new FrameDecoder();
  const { track } = decoder.decode(frame({ encoding: F32, count: 3, min: -1, max: 3,
    payload: Float32Array.of(-1, 0.5, 3) }));
  assert.equal(track.format, 'f32');
  assert.deepEqual(Array.from(track.toValues()), [-1, 0.5, 3]);
});

test('a delta adds to its base modulo 2^bits and keeps the base range', () => {
  const decoder = new FrameDecoder();
  decoder.decode(frame({ encoding: U8, sequence: 1, min: 0, max: 255, count: 3, payload: Uint8Array.of(10, 250, 0) }));
  const out = decoder.decode(frame({ encoding: U8 | DELTA, sequence: 2, base: 1, step: 1, min: 99, max: 100,
    count: 3, payload: Uint8Array.of(5, 10, 255) }));
  assert.equal(out.kind, 'frame');
  assert.deepEqual(Array.from(out.track.codes), [15, 4, 255]);
  assert.deepEqual([out.track.min, out.track.max, out.track.sequence, out.track.step], [0, 255, 2, 1]);
  const out16 = new FrameDecoder();
  out16.decode(frame({ encoding: U16, sequence: 5, count: 2, payload: Uint16Array.of(65535, 1) }));
  const { track } = out16.decode(frame({ encoding: U16 | DELTA, sequence: 6, base: 5, count: 2,
    payload: Uint16Array.of(2, 65535) }));
  assert.deepEqual(Array.from(track.codes), [1, 0]);
});

test('a delta without its base asks for a keyframe once per retry interval, and changes nothing', () => {
  let now = 0;
  const decoder = new FrameDecoder({ now: () => now });
  decoder.decode(frame({ encoding: U8, sequence: 1, count: 2, payload: Uint8Array.of(1, 2) }));
  const stray = frame({ encoding: U8 | DELTA, sequence: 9, base: 8, count: 2, payload: Uint8Array.of(1, 1) });
  assert.deepEqual(decoder.decode(stray), { kind: 'need-keyframe', object: 0, field: 0 });
  now = 500;
  assert.equal(decoder.decode(stray).kind, 'dropped');
  now = 1500;
  assert.equal(decoder.decode(stray).kind, 'need-keyframe');
  assert.deepEqual(Array.from(decoder.track(0, 0).codes), [1, 2]);
  assert.equal(decoder.track(0, 0).sequence, 1);
  const fresh = new FrameDecoder();
  assert.equal(fresh.decode(stray).kind, 'need-keyframe');
});

test('zstd payloads decompress, with or without a stated content size', () => {
  for (const payload of [ZSTD_WITH_SIZE, ZSTD_WITHOUT_SIZE]) {
    const decoder = new FrameDecoder();
    const { track } = decoder.decode(frame({ encoding: U8 | ZSTD, count: 300, payload }));
    assert.deepEqual(track.codes, ZSTD_CODES);
  }
});

test('the codes array is reused by later frames of the same shape', () => {
  const decoder = new FrameDecoder();
  const first = decoder.decode(frame({ encoding: U8, sequence: 0, count: 2, payload: Uint8Array.of(1, 2) })).track.codes;
  const second = decoder.decode(frame({ encoding: U8, sequence: 1, count: 2, payload: Uint8Array.of(3, 4) })).track.codes;
  assert.equal(first, second);
  assert.deepEqual(Array.from(second), [3, 4]);
});

test('frames of different objects and fields are tracked apart; reset forgets them', () => {
  const decoder = new FrameDecoder();
  decoder.decode(frame({ encoding: U8, object: 0, field: 0, count: 1, payload: Uint8Array.of(1) }));
  decoder.decode(frame({ encoding: U8, object: 0, field: 1, count: 1, payload: Uint8Array.of(2) }));
  decoder.decode(frame({ encoding: U8, object: 1, field: 0, count: 1, payload: Uint8Array.of(3) }));
  assert.deepEqual([decoder.track(0, 0).codes[0], decoder.track(0, 1).codes[0], decoder.track(1, 0).codes[0]], [1, 2, 3]);
  decoder.forgetObject(0);
  assert.equal(decoder.track(0, 1), undefined);
  decoder.reset();
  assert.equal(decoder.track(1, 0), undefined);
});

test('malformed frames throw a FrameError naming the problem and leave tracks alone', () => {
  const decoder = new FrameDecoder({ maxValueBytes: 1024 });
  decoder.decode(frame({ encoding: U8, count: 2, payload: Uint8Array.of(1, 2) }));
  const good = { encoding: U8, count: 2, payload: Uint8Array.of(9, 9) };
  const cases = [
    [new ArrayBuffer(10), /shorter than the 48-byte header/],
    [(() => { const b = frame(good); new Uint8Array(b)[0] = 0x41; return b; })(), /VZF1/],
    [(() => { const b = frame(good); new Uint8Array(b)[4] = 2; return b; })(), /kind 2/],
    [frame({ ...good, encoding: 3 }), /encoding 3/],
    [frame({ ...good, encoding: U8 | 0x80 }), /flags 0x80/],
    [frame({ ...good, encoding: F32 | DELTA, count: 1, payload: Float32Array.of(1) }), /quantized/],
    [frame({ ...good, components: 5 }), /5 components/],
    [frame({ ...good, components: 3 }), /multiple of 3/],
    [frame({ ...good, sequence: 4, base: 3 }), /keyframe 4 names base 3/],
    [frame({ ...good, encoding: U8 | DELTA, sequence: 4, base: 4 }), /names itself/],
    [(() => { const b = frame(good); new Uint8Array(b)[7] = 1; return b; })(), /reserved byte/],
    [frame({ ...good, encoding: F32, count: 1, min: NaN, payload: Float32Array.of(1) }), /range/],
    [frame({ ...good, min: 2, max: 1 }), /range/],
    [frame({ ...good, count: 3 }), /payload is 2 bytes/],
    [frame({ ...good, count: 2048, payload: new Uint8Array(2048) }), /limit is 1024/],
    [frame({ ...good, encoding: U8 | ZSTD, payload: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8) }), /zstd/],
    [frame({ ...good, encoding: U8 | ZSTD, count: 2, payload: ZSTD_WITH_SIZE }), /300 bytes|payload is/],
  ];
  for (const [bytes, message] of cases) {
    assert.throws(() => decoder.decode(bytes), (error) => error instanceof FrameError && message.test(error.message));
  }
  assert.deepEqual(Array.from(decoder.track(0, 0).codes), [1, 2]);
});
