import { ZSTDDecoder } from 'three/addons/libs/zstddec.module.js';
import { decompress } from 'fzstd';
import { FieldTrack } from './FieldTrack.js';
import { FrameError } from './FrameError.js';

/** Size of the fixed frame header (docs/protocol.md, "Field frames"). */
export const FRAME_HEADER_BYTES = 48;
/** A frame's values take at most this many bytes after decompression (MAX_FIELD_FRAME_BYTES). */
export const MAX_FRAME_VALUE_BYTES = 64 * 1024 * 1024;
/** After asking for a keyframe, ask again for the same field only after this long (ms). */
export const KEYFRAME_RETRY_MS = 1000;

const MAGIC = 0x3146_5a56; // 'VZF1' read as a little-endian u32
const KIND_POINT_FIELD = 1;
const FLAG_DELTA = 0x10;
const FLAG_ZSTD = 0x20;
const FLAG_NODATA = 0x40;
const KNOWN_FLAGS = FLAG_DELTA | FLAG_ZSTD | FLAG_NODATA;
const FORMATS = [
  { name: 'f32', bytes: 4, bits: 32, Array: Float32Array },
  { name: 'u16', bytes: 2, bits: 16, Array: Uint16Array },
  { name: 'u8', bytes: 1, bits: 8, Array: Uint8Array },
];
const ZSTD_MAGIC = 0xfd2f_b528;

/**
 * zstd in WebAssembly (three.js's zstddec), loaded once for every decoder: 15-45x faster than fzstd
 * on field frames (0.1-0.4 ms against about 6 ms for a 500k-vertex frame in node), which matters
 * because frames are decoded on the main thread the headset's frames run on. It loads
 * asynchronously; until then, or where WebAssembly cannot load (`wasmZstdError` says why), fzstd decodes.
 */
let wasmZstd = null;
let wasmZstdLoading = null;
export let wasmZstdError = null;

function loadWasmZstd() {
  if (!wasmZstdLoading) {
    const decoder = new ZSTDDecoder();
    wasmZstdLoading = decoder.init().then(
      () => { wasmZstd = decoder; },
      (error) => { wasmZstdError = String(error?.message ?? error); },
    );
  }
  return wasmZstdLoading;
}

/**
 * Turns binary field frames into per-(object, field) {@link FieldTrack}s. Pure: no sockets, no DOM.
 *
 * `decode(bytes)` returns one of
 * - `{ kind: 'frame', track }`: the track now holds this frame's codes;
 * - `{ kind: 'need-keyframe', object, field }`: a delta whose base we do not hold; the caller sends
 *   `keyframe {object, field}` (asked at most once per {@link KEYFRAME_RETRY_MS});
 * - `{ kind: 'dropped', object, field }`: a delta without its base, keyframe already asked for.
 * - `{ kind: 'stale', object, field }`: older than the frame this connection last gave the track (frames on
 *   WebRTC's unordered `fields` channel can overtake each other): dropped, the track unchanged.
 * A malformed frame throws {@link FrameError} and changes no track.
 */
export class FrameDecoder {
  /**
   * @param {{ now?: () => number, maxValueBytes?: number, wasm?: boolean }} [options]
   *   `wasm`: false keeps zstd payloads on fzstd (tests compare the two)
   */
  constructor({ now = () => performance.now(), maxValueBytes = MAX_FRAME_VALUE_BYTES, wasm = true } = {}) {
    this.now = now;
    this.maxValueBytes = maxValueBytes;
    this.wasm = wasm;
    if (wasm) loadWasmZstd();
    /** @type {Map<number, Map<number, FieldTrack>>} */
    this.tracks = new Map();
    /** Counts connections: after a reconnect (maybe to another server process) sequences start afresh. */
    this.link = 0;
  }

  /** The track of (object, field), or undefined before its first frame. */
  track(object, field) {
    return this.tracks.get(object)?.get(field);
  }

  /** Resolves once the WebAssembly zstd decoder is in use (or could not load: see `wasmZstdError`). */
  ready() {
    return this.wasm ? loadWasmZstd() : Promise.resolve();
  }

  /** Whether zstd payloads go through WebAssembly now (else fzstd). */
  get usesWasm() {
    return this.wasm && wasmZstd !== null;
  }

  /** A new connection (resumed or not): frames are no longer compared with the old one's for order. */
  newLink() {
    this.link += 1;
  }

  /** Forget every delta base (a new connection that did not resume). */
  reset() {
    this.tracks.clear();
  }

  /** Forget the tracks of an object that left the scene. */
  forgetObject(object) {
    this.tracks.delete(object);
  }

  /** @param {ArrayBuffer|ArrayBufferView} data one binary WebSocket message */
  decode(data) {
    const bytes = data instanceof ArrayBuffer
      ? new Uint8Array(data)
      : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (bytes.byteLength < FRAME_HEADER_BYTES) {
      throw new FrameError(`frame of ${bytes.byteLength} bytes is shorter than the ${FRAME_HEADER_BYTES}-byte header`);
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, FRAME_HEADER_BYTES);
    if (view.getUint32(0, true) !== MAGIC) throw new FrameError('frame does not start with VZF1');
    const kind = view.getUint8(4);
    if (kind !== KIND_POINT_FIELD) throw new FrameError(`frame kind ${kind} is not known (1 = point field)`);
    const encoding = view.getUint8(5);
    const format = FORMATS[encoding & 0x0f];
    if (!format) throw new FrameError(`frame encoding ${encoding & 0x0f} is not float32 (0), u16 (1) or u8 (2)`);
    if (encoding & 0xf0 & ~KNOWN_FLAGS) throw new FrameError(`frame encoding flags 0x${(encoding & 0xf0).toString(16)} are not known`);
    const delta = (encoding & FLAG_DELTA) !== 0;
    const zstd = (encoding & FLAG_ZSTD) !== 0;
    const nodata = (encoding & FLAG_NODATA) !== 0;
    if ((delta || nodata) && format.name === 'f32') throw new FrameError('delta and no-data flags need a quantized encoding');
    const components = view.getUint8(6);
    if (components < 1 || components > 4) throw new FrameError(`frame has ${components} components; 1 to 4 allowed`);
    if (view.getUint8(7) !== 0) throw new FrameError('frame reserved byte is not 0');
    const object = view.getUint32(8, true);
    const field = view.getUint32(12, true);
    const sequence = view.getUint32(16, true);
    const base = view.getUint32(20, true);
    const step = view.getUint32(24, true);
    const min = view.getFloat32(28, true);
    const max = view.getFloat32(32, true);
    const time = view.getFloat64(36, true);
    const count = view.getUint32(44, true);
    if (!delta && base !== sequence) throw new FrameError(`keyframe ${sequence} names base ${base}; a keyframe is its own base`);
    if (delta && base === sequence) throw new FrameError(`delta frame ${sequence} names itself as its base`);
    if (count % components !== 0) throw new FrameError(`frame count ${count} is not a multiple of ${components} components`);
    if (!(Number.isFinite(min) && Number.isFinite(max) && max >= min)) {
      throw new FrameError(`frame range [${min}, ${max}] is not a finite interval`);
    }
    const held = this.tracks.get(object)?.get(field);
    if (held && held.link === this.link && isOlder(sequence, held.sequence)) {
      return { kind: 'stale', object, field }; // overtaken on an unordered channel (WebRTC `fields`): dropped
    }
    const valueBytes = count * format.bytes;
    if (valueBytes > this.maxValueBytes) {
      throw new FrameError(`frame holds ${valueBytes} bytes of values; the limit is ${this.maxValueBytes}`);
    }
    const payload = bytes.subarray(FRAME_HEADER_BYTES);
    const raw = zstd ? this.#inflate(payload, valueBytes) : payload;
    if (raw.byteLength !== valueBytes) {
      throw new FrameError(`frame payload is ${raw.byteLength} bytes; ${count} ${format.name} values need ${valueBytes}`);
    }
    const values = typedView(format, raw, count);

    let byObject = this.tracks.get(object);
    if (!byObject) this.tracks.set(object, (byObject = new Map()));
    let track = byObject.get(field);
    if (!track) byObject.set(field, (track = new FieldTrack(object, field)));

    if (delta) {
      if (track.sequence !== base || track.format !== format.name || track.count !== count || track.components !== components) {
        const now = this.now();
        if (now - track.keyframeRequestedAt < KEYFRAME_RETRY_MS) return { kind: 'dropped', object, field };
        track.keyframeRequestedAt = now;
        return { kind: 'need-keyframe', object, field };
      }
      const codes = track.codes;
      for (let i = 0; i < count; i++) codes[i] += values[i]; // typed arrays wrap: addition mod 2^bits
    } else {
      if (track.format !== format.name || track.count !== count) track.codes = new format.Array(count);
      track.codes.set(values);
      track.format = format.name;
      track.bits = format.bits;
      track.nodata = nodata;
      track.components = components;
      track.count = count;
      track.min = min;
      track.max = max;
      track.keyframeRequestedAt = -Infinity;
    }
    track.sequence = sequence;
    track.link = this.link;
    track.step = step;
    track.time = time;
    track.frames += 1;
    return { kind: 'frame', track };
  }

  #inflate(payload, expected) {
    const stated = zstdContentSize(payload);
    if (stated > this.maxValueBytes) throw new FrameError(`zstd payload states ${stated} bytes; the limit is ${this.maxValueBytes}`);
    try {
      if (this.usesWasm) {
        if (stated >= 0 && stated !== expected) throw new FrameError(`frame payload is ${stated} bytes after zstd; the frame's values need ${expected}`);
        // Room for exactly the frame's values: a payload that holds more fails, one that holds fewer comes back short.
        const out = wasmZstd.decode(payload, expected);
        if (out.byteLength === 0 && expected > 0) throw new FrameError(`zstd payload does not decompress into the frame's ${expected} bytes`);
        return out;
      }
      if (stated === expected) {
        if (!this.scratch || this.scratch.byteLength < expected) this.scratch = new Uint8Array(expected);
        const out = this.scratch.subarray(0, expected);
        const result = decompress(payload, out);
        return result.byteLength === expected ? result : out;
      }
      return decompress(payload);
    } catch (error) {
      if (error instanceof FrameError) throw error;
      throw new FrameError(`zstd payload does not decompress: ${error.message}`);
    }
  }
}

/** The content size a zstd frame header states, or -1 when it states none (or is not zstd). */
function zstdContentSize(payload) {
  if (payload.byteLength < 6) return -1;
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  if (view.getUint32(0, true) !== ZSTD_MAGIC) return -1;
  const descriptor = view.getUint8(4);
  const fcsFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const dictBytes = [0, 1, 2, 4][descriptor & 3];
  const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag];
  const at = 5 + (singleSegment ? 0 : 1) + dictBytes;
  if (fcsBytes === 0 || payload.byteLength < at + fcsBytes) return -1;
  if (fcsBytes === 1) return view.getUint8(at);
  if (fcsBytes === 2) return view.getUint16(at, true) + 256;
  if (fcsBytes === 4) return view.getUint32(at, true);
  return view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32;
}

/** `count` values of `format` over `raw`'s bytes, copied only when they are not aligned. */
function typedView(format, raw, count) {
  if (raw.byteOffset % format.bytes === 0) return new format.Array(raw.buffer, raw.byteOffset, count);
  return new format.Array(raw.slice().buffer, 0, count);
}

/** Whether u32 sequence `a` comes before `b` (mod 2^32: within half the range behind it). */
function isOlder(a, b) {
  return a !== b && ((b - a) >>> 0) < 0x8000_0000;
}
