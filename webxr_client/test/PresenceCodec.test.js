// Unit tests of the presence codec and the interpolation track (node --test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  LEFT, POINTER, POINTER_FROM_RIGHT, POINTER_HIT, RIGHT, XR, PresenceEncoder, emptyPresence, fromHalf,
  isPresence, packQuaternion, readBatch, toHalf, unpackQuaternion,
} from '../src/PresenceCodec.js';
import { PresenceTrack } from '../src/PresenceTrack.js';

function angleDeg(a, b) {
  const dot = Math.abs(a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3]) / (Math.hypot(...a) * Math.hypot(...b));
  return (2 * Math.acos(Math.min(1, dot)) * 180) / Math.PI;
}

test('float16 bits match IEEE half precision, rounding to nearest even', () => {
  assert.equal(toHalf(1), 0x3c00);
  assert.equal(toHalf(-2), 0xc000);
  assert.equal(toHalf(65504), 0x7bff);
  assert.equal(toHalf(70000), 0x7c00); // too large: infinity
  assert.equal(toHalf(5.960464477539063e-8), 0x0001); // smallest subnormal
  assert.equal(toHalf(2049), 0x6800); // halfway between 2048 and 2050: the even one
  for (const v of [0, 0.1, -1.5, 300.25, 1e-5, 1234.5, -65504]) {
    assert.ok(Math.abs(fromHalf(toHalf(v)) - v) <= Math.abs(v) * 2 ** -11 + 2 ** -25, `${v}`);
  }
  assert.ok(Number.isNaN(fromHalf(toHalf(NaN))));
});

test('quaternions survive packing within a third of a degree', () => {
  const out = new Float32Array(7);
  let seed = 7;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
  for (let n = 0; n < 500; n++) {
    const q = [random(), random(), random(), random()];
    assert.ok(unpackQuaternion(packQuaternion(...q), out, 3));
    assert.ok(angleDeg(q, [out[3], out[4], out[5], out[6]]) < 0.3);
  }
  unpackQuaternion(packQuaternion(0, 0, 0, 1), out, 3);
  assert.deepEqual([...out.slice(3)], [0, 0, 0, 1]); // identity is exact
});

test('the encoder writes what the Python codec reads: 17 bytes for a desktop pose', () => {
  const encoder = new PresenceEncoder();
  const p = emptyPresence();
  p.head.set([1.5, -0.5, 0.25, 0, 0, 0, 1]);
  p.size = 0.05;
  const bytes = encoder.encode(p);
  // The same presence from vizserver.protocol.presence.encode_presence (Python):
  assert.deepEqual([...bytes], [86, 90, 80, 49, 1, 0, 93, 0, 62, 0, 184, 0, 52, 255, 253, 247, 223]);
  p.head[0] = 1e6;
  assert.equal(encoder.encode(p), null); // outside float16: not sent
});

test('a batch decodes to each slot\'s presence', () => {
  const encoder = new PresenceEncoder();
  const p = emptyPresence();
  p.flags = XR | LEFT | RIGHT | POINTER | POINTER_HIT | POINTER_FROM_RIGHT;
  p.size = 0.2;
  p.head.set([0.1, 1.6, -0.4, 0, 0, 0, 1]);
  p.left.set([-0.2, 1.2, -0.5, 0, Math.SQRT1_2, 0, Math.SQRT1_2]);
  p.right.set([0.2, 1.2, -0.5, 0.5, 0.5, 0.5, 0.5]);
  p.pointer.set([0, 0.1, 0]);
  const xr = encoder.encode(p).slice(5);
  p.flags = 0;
  p.head.set([3, 4, 5, 0, 0, 0, 1]);
  const desk = encoder.encode(p).slice(5);
  const batch = new Uint8Array(6 + 2 + xr.length + desk.length);
  batch.set([86, 90, 80, 49, 2, 2, 9], 0);
  batch.set(xr, 7);
  batch[7 + xr.length] = 4;
  batch.set(desk, 8 + xr.length);
  assert.ok(isPresence(batch.buffer));
  const seen = [];
  const count = readBatch(batch.buffer, emptyPresence(), (slot, q) => {
    seen.push({ slot, flags: q.flags, head: [...q.head.slice(0, 3)], right: [...q.right.slice(0, 3)], pointer: [...q.pointer] });
  });
  assert.equal(count, 2);
  assert.equal(seen[0].slot, 9);
  assert.equal(seen[0].flags, 0x5f);
  assert.ok(Math.abs(seen[0].right[0] - 0.2) < 1e-3 && Math.abs(seen[0].pointer[1] - 0.1) < 1e-4);
  assert.deepEqual(seen[1], { slot: 4, flags: 0, head: [3, 4, 5], right: seen[1].right, pointer: seen[1].pointer });
  assert.throws(() => readBatch(batch.buffer.slice(0, 20), emptyPresence(), () => {}), /truncated|length/);
});

test('the track interpolates between the poses around the shown time and holds the newest after them', () => {
  const track = new PresenceTrack(4);
  const p = emptyPresence();
  const out = emptyPresence();
  assert.equal(track.sample(0, out), false);
  p.head.set([0, 0, 0, 0, 0, 0, 1]);
  track.push(1000, p);
  p.head.set([10, 0, 0, 0, 0, Math.SQRT1_2, Math.SQRT1_2]); // a quarter turn about z
  track.push(1050, p);
  track.sample(1025, out);
  assert.ok(Math.abs(out.head[0] - 5) < 1e-6);
  assert.ok(Math.abs(angleDeg([...out.head.slice(3)], [0, 0, Math.sin(Math.PI / 8), Math.cos(Math.PI / 8)])) < 1e-3);
  track.sample(2000, out);
  assert.equal(out.head[0], 10); // after the newest: held, not extrapolated
  track.sample(500, out);
  assert.equal(out.head[0], 0); // before the oldest: the oldest
  for (let i = 0; i < 6; i++) {
    p.head[0] = 100 + i;
    track.push(1100 + 50 * i, p);
  }
  track.sample(1100 + 50 * 4 + 25, out);
  assert.ok(Math.abs(out.head[0] - 104.5) < 1e-5); // the ring kept the newest four
  assert.equal(track.latest, 1350);
});

test('a peer whose poses come further apart is drawn further behind, pauses aside', () => {
  const track = new PresenceTrack();
  const p = emptyPresence();
  for (let i = 0; i < 30; i++) track.push(50 * i, p);
  assert.equal(track.delay, 100); // 20 Hz: the standard 100 ms
  for (let i = 0; i < 30; i++) track.push(2000 + 125 * i, p); // 8 Hz (a full session of headsets)
  assert.ok(Math.abs(track.delay - 187.5) < 5, `${track.delay}`);
  track.push(track.latest + 1000, p); // a still user's once-a-second pose is a pause, not a rate
  assert.ok(Math.abs(track.delay - 187.5) < 5);
});
