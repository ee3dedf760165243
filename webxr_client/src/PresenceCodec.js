// Presence messages of protocol v1 (docs/protocol.md, "Presence"): the client's pose out (kind 1), the
// others' poses in (kind 2). The same layout as vizserver/protocol/presence.py. Nothing here allocates
// per call: the encoder writes into a buffer it keeps, the decoder into arrays the caller gives.

export const MAGIC = [0x56, 0x5a, 0x50, 0x31]; // "VZP1"
export const KIND_POSE = 1;
export const KIND_BATCH = 2;
export const XR = 0x01;
export const LEFT = 0x02;
export const RIGHT = 0x04;
export const POINTER = 0x08;
export const POINTER_HIT = 0x10;
export const POINTER_FROM_LEFT = 0x20;
export const POINTER_FROM_RIGHT = 0x40;
export const KNOWN_FLAGS = 0x7f;
export const POSE_BYTES = 10;
export const POINT_BYTES = 6;
export const FIXED_BYTES = 2 + POSE_BYTES;
export const FLOAT16_MAX = 65504;
const QUAT_HALF = 511;
const QUAT_RANGE = Math.SQRT1_2;
const HEADER_BYTES = 5;
const BATCH_HEADER_BYTES = 6;

/**
 * A presence as plain numbers, the shape both directions use: `head`, `left`, `right` are
 * [x, y, z, qx, qy, qz, qw] (Float32Array(7)), `pointer` [x, y, z]; `flags` says which are set.
 * Positions are in the scene content's coordinates; `size` is the head's size in content units.
 */
export function emptyPresence() {
  return {
    flags: 0,
    size: 1,
    head: new Float32Array(7),
    left: new Float32Array(7),
    right: new Float32Array(7),
    pointer: new Float32Array(3),
  };
}

/** Length of an entry body with these flags. */
export function bodyBytes(flags) {
  return FIXED_BYTES + (flags & LEFT ? POSE_BYTES : 0) + (flags & RIGHT ? POSE_BYTES : 0) + (flags & POINTER ? POINT_BYTES : 0);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The IEEE half-precision bits of `value` (round to nearest even; overflow gives infinity). */
export function toHalf(value) {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && half & 1)) half += 1;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half += 1; // may carry into the exponent: still right
  return sign | half;
}

/** The number whose half-precision bits are `bits`. */
export function fromHalf(bits) {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** `size` (content units) as its byte: round(8 * log2(size)) + 128, clamped. */
export function sizeCode(size) {
  return Math.min(255, Math.max(0, Math.round(Math.log2(size) * 8) + 128));
}

export function sizeOf(code) {
  return 2 ** ((code - 128) / 8);
}

/** Smallest three: the index of the largest component (dropped, made positive), then the others, 10 bits each. */
export function packQuaternion(x, y, z, w) {
  const norm = Math.hypot(x, y, z, w) || 1;
  const q0 = x / norm;
  const q1 = y / norm;
  const q2 = z / norm;
  const q3 = w / norm;
  let largest = 0;
  let big = Math.abs(q0);
  if (Math.abs(q1) > big) { largest = 1; big = Math.abs(q1); }
  if (Math.abs(q2) > big) { largest = 2; big = Math.abs(q2); }
  if (Math.abs(q3) > big) largest = 3;
  const sign = (largest === 0 ? q0 : largest === 1 ? q1 : largest === 2 ? q2 : q3) < 0 ? -1 : 1;
  let packed = largest;
  for (let i = 0; i < 4; i++) {
    if (i === largest) continue;
    const c = i === 0 ? q0 : i === 1 ? q1 : i === 2 ? q2 : q3;
    const code = Math.min(2 * QUAT_HALF, Math.max(0, Math.round(((sign * c) / QUAT_RANGE) * QUAT_HALF) + QUAT_HALF));
    packed = packed * 1024 + code; // not <<: the top bits would make it negative
  }
  return packed;
}

/** Unpack into `out` at `at` (x, y, z, w); false if the three components cannot belong to a unit quaternion. */
export function unpackQuaternion(packed, out, at) {
  const largest = Math.floor(packed / 2 ** 30);
  let squares = 0;
  let k = 0;
  for (let i = 0; i < 4; i++) {
    if (i === largest) continue;
    const code = Math.floor(packed / 2 ** (10 * (2 - k))) % 1024;
    const c = ((code - QUAT_HALF) / QUAT_HALF) * QUAT_RANGE;
    out[at + i] = c;
    squares += c * c;
    k += 1;
  }
  out[at + largest] = Math.sqrt(Math.max(0, 1 - squares));
  return squares <= 1.01;
}

/** Encodes this client's presence into one reused buffer; `encode` returns a view of the bytes to send. */
export class PresenceEncoder {
  constructor() {
    this.buffer = new ArrayBuffer(HEADER_BYTES + bodyBytes(KNOWN_FLAGS));
    this.bytes = new Uint8Array(this.buffer);
    this.view = new DataView(this.buffer);
    this.bytes.set(MAGIC, 0);
    this.bytes[4] = KIND_POSE;
    /** One view per message length (a handful), made once. */
    this.views = new Map();
  }

  /** The message for `presence`, or null when a position is outside what float16 carries (not sent). */
  encode(presence) {
    const { flags } = presence;
    const view = this.view;
    view.setUint8(5, flags);
    view.setUint8(6, sizeCode(presence.size));
    let at = 7;
    at = this.#pose(presence.head, at);
    if (flags & LEFT) at = this.#pose(presence.left, at);
    if (flags & RIGHT) at = this.#pose(presence.right, at);
    if (flags & POINTER) at = this.#point(presence.pointer, 0, at);
    if (at < 0) return null;
    let out = this.views.get(at);
    if (!out) this.views.set(at, (out = new Uint8Array(this.buffer, 0, at)));
    return out;
  }

  #pose(pose, at) {
    if (at < 0) return at;
    const next = this.#point(pose, 0, at);
    if (next < 0) return next;
    this.view.setUint32(next, packQuaternion(pose[3], pose[4], pose[5], pose[6]), true);
    return next + 4;
  }

  #point(values, from, at) {
    if (at < 0) return at;
    for (let i = 0; i < 3; i++) {
      const v = values[from + i];
      if (!(Math.abs(v) <= FLOAT16_MAX)) return -1;
      this.view.setUint16(at + 2 * i, toHalf(v), true);
    }
    return at + POINT_BYTES;
  }
}

/** Whether an ArrayBuffer from the socket is a presence batch (else it is a field frame). */
export function isPresence(data) {
  if (data.byteLength < 4) return false;
  const bytes = new Uint8Array(data, 0, 4);
  return bytes[0] === MAGIC[0] && bytes[1] === MAGIC[1] && bytes[2] === MAGIC[2] && bytes[3] === MAGIC[3];
}

/**
 * Read a batch (kind 2): `onEntry(slot, presence)` for each entry, `presence` one object reused for
 * every entry (copy what you keep). Returns the number of entries, or throws an Error naming the problem.
 */
export function readBatch(data, presence, onEntry) {
  const view = new DataView(data);
  if (data.byteLength < BATCH_HEADER_BYTES || !isPresence(data) || view.getUint8(4) !== KIND_BATCH) {
    throw new Error(`not a presence batch (${data.byteLength} bytes)`);
  }
  const count = view.getUint8(5);
  let at = BATCH_HEADER_BYTES;
  for (let n = 0; n < count; n++) {
    if (at + 1 + FIXED_BYTES > data.byteLength) throw new Error(`presence batch truncated at byte ${at}`);
    const slot = view.getUint8(at);
    const flags = view.getUint8(at + 1);
    const end = at + 1 + bodyBytes(flags);
    if (flags & ~KNOWN_FLAGS || end > data.byteLength) throw new Error(`presence entry ${n}: bad flags or length`);
    presence.flags = flags;
    presence.size = sizeOf(view.getUint8(at + 2));
    let p = at + 3;
    p = readPose(view, p, presence.head);
    if (flags & LEFT) p = readPose(view, p, presence.left);
    if (flags & RIGHT) p = readPose(view, p, presence.right);
    if (flags & POINTER) readPoint(view, p, presence.pointer);
    onEntry(slot, presence);
    at = end;
  }
  if (at !== data.byteLength) throw new Error(`presence batch of ${data.byteLength} bytes; entries end at ${at}`);
  return count;
}

function readPose(view, at, out) {
  readPoint(view, at, out);
  unpackQuaternion(view.getUint32(at + POINT_BYTES, true), out, 3);
  return at + POSE_BYTES;
}

function readPoint(view, at, out) {
  for (let i = 0; i < 3; i++) out[i] = fromHalf(view.getUint16(at + 2 * i, true));
}
