// Unit tests of the pure frame decoder (node --test). Frames are built here by hand, byte by byte,
// following docs/protocol.md; tests/integration/test_client_frames.py checks the same decoder
// against frames made by the server's own encoder.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrameDecoder, FRAME_HEADER_BYTES, wasmZstdError } from '../src/FrameDecoder.js';
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

// zstandard.ZstdCompressor(level=1) (the server's level) of an activation front over 65536 u8 codes:
// x = linspace(0, 1, 65536); rint(255 * 0.5 * (1 - tanh((x - 0.4) / 0.02))); code sum 6684698, 22130 at 255
const ZSTD_FRONT = hex('28b52ffd6000ff650e001410fffffefdfcfbfaf9f8f7f6f5f4f3f2f1f0efeeedecebeae9e8e7e6e5e4e3e2e1e0dfdedddcdbdad9d8d7d6d5d4d3d2d1d0cfcecdcccbcac9c8c7c6c5c4c3c2c1c0bfbebdbcbbbab9b8b7b6b5b4b3b2b1b0afaeadacabaaa9a8a7a6a5a4a3a2a1a09f9e9d9c9b9a999897969594939291908f8e8d8c8b8a898887868584838281807f7e7d7c7b7a797877767574737271706f6e6d6c6b6a696867666564636261605f5e5d5c5b5a595857565554535251504f4e4d4c4b4a494847464544434241403f3e3d3c3b3a393837363534333231302f2e2d2c2b2a292827262524232221201f1e1d1c1b1a191817161514131211100f0e0d0c0b0a0908070605040302010081009810f007001258c8865110a31442c61882048610c1904044249860646426cac601a189d6b34313dd862337d831948510ee8db792dab10bd9d3bf5cc77817b8f297b03363063ae80c021771112ebec10e78eff5decb5598f5b5c9b3eaf28f88d61714f78898123e6a5ed52423e121af13b5a2502b6a1fa386f0544d327ca8f90a0d68010d61b2861111010f66f2b07e8623236b29786f3b582e3e888bb882c0d1813ecf33ec2f29e316de3122814a9550ecda95c47b6f082c64e8c08df636dc447b76a06d963605');

test('zstd through WebAssembly gives the codes fzstd gives, and malformed payloads still throw FrameErrors', async () => {
  const fast = new FrameDecoder();
  await fast.ready();
  assert.equal(wasmZstdError, null);
  assert.equal(fast.usesWasm, true);
  const slow = new FrameDecoder({ wasm: false });
  assert.equal(slow.usesWasm, false);
  const frames = [
    [ZSTD_FRONT, 65536],
    [ZSTD_WITH_SIZE, 300],
    [ZSTD_WITHOUT_SIZE, 300],
  ];
  for (const [payload, count] of frames) {
    const a = fast.decode(frame({ encoding: U8 | ZSTD, count, payload })).track.codes;
    const b = slow.decode(frame({ encoding: U8 | ZSTD, count, payload })).track.codes;
    assert.deepEqual(a, b);
  }
  const front = fast.track(0, 0);
  assert.equal(front.count, 300); // the last frame's
  const wave = new FrameDecoder().decode(frame({ encoding: U8 | ZSTD, count: 65536, payload: ZSTD_FRONT })).track.codes;
  assert.equal(wave.reduce((sum, c) => sum + c, 0), 6684698);
  assert.equal(wave.filter((c) => c === 255).length, 22130);
  const good = { encoding: U8 | ZSTD, count: 300 };
  const cases = [
    [frame({ ...good, payload: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8) }), /zstd/],
    [frame({ ...good, payload: ZSTD_FRONT.subarray(0, 200) }), /zstd|payload is/], // truncated
    [frame({ ...good, count: 2, payload: ZSTD_WITH_SIZE }), /300 bytes/],
    [frame({ ...good, count: 400, payload: ZSTD_WITHOUT_SIZE }), /zstd|payload is 300 bytes/],
    [frame({ ...good, count: 200, payload: ZSTD_WITHOUT_SIZE }), /zstd|payload is/], // holds more than the frame states
  ];
  for (const [bytes, message] of cases) {
    assert.throws(() => fast.decode(bytes), (error) => error instanceof FrameError && message.test(error.message), String(message));
  }
});

test('a frame older than the last one this connection gave its track is stale (unordered WebRTC channel)', () => {
  const decoder = new FrameDecoder({ wasm: false });
  const key = (sequence, value, base = sequence) => frame({ encoding: base === sequence ? 2 : 2 | 0x10, sequence, base,
    step: sequence, count: 2, payload: new Uint8Array([value, value]) });
  assert.equal(decoder.decode(key(10, 5)).kind, 'frame');
  assert.equal(decoder.decode(key(12, 7)).kind, 'frame');
  assert.deepEqual(decoder.decode(key(11, 9)), { kind: 'stale', object: 0, field: 0 }); // overtaken by 12
  assert.deepEqual([...decoder.track(0, 0).codes], [7, 7], 'the newer frame stays');
  assert.equal(decoder.decode(key(13, 1, 12)).kind, 'frame', 'a delta on the newest still applies');
  assert.deepEqual([...decoder.track(0, 0).codes], [8, 8]);
  // sequences wrap at 2^32: 1 comes after 0xffffffff
  const wrapped = new FrameDecoder({ wasm: false });
  wrapped.decode(key(0xffff_ffff, 1));
  assert.equal(wrapped.decode(key(1, 2)).kind, 'frame');
  assert.equal(wrapped.decode(key(0xffff_fff0, 3)).kind, 'stale');
  // a new connection (maybe another server process, its sequences afresh) is not compared with the old one
  decoder.newLink();
  assert.equal(decoder.decode(key(2, 4)).kind, 'frame');
  assert.deepEqual([...decoder.track(0, 0).codes], [4, 4]);
  assert.equal(decoder.decode(key(1, 6)).kind, 'stale');
});
