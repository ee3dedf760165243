/**
 * The latest decoded frame of one (object, field): its codes and what turns them into values.
 *
 * `codes` is reused from frame to frame (deltas are added into it in place), so a consumer that
 * keeps a reference sees the newest values; `format` and `count` tell when it was reallocated.
 * Values follow docs/protocol.md: float32 as they are, quantized codes as
 * `min + code * (max - min) / top`, with `top = 2^bits - 1`, or `2^bits - 2` when `nodata` is
 * set, in which case the code `2^bits - 1` means no data (NaN).
 */
export class FieldTrack {
  constructor(object, field) {
    this.object = object;
    this.field = field;
    /** 'f32' | 'u16' | 'u8'; null until the first keyframe. */
    this.format = null;
    this.bits = 0;
    this.nodata = false;
    this.components = 1;
    this.count = 0;
    this.sequence = -1;
    /** The connection (FrameDecoder.link) whose frame set `sequence`: order is compared within one only. */
    this.link = -1;
    this.step = 0;
    this.time = 0;
    this.min = 0;
    this.max = 0;
    /** @type {Float32Array|Uint16Array|Uint8Array|null} */
    this.codes = null;
    /** How many frames have been applied (keyframes and deltas). */
    this.frames = 0;
    /** Clock reading (ms) of the last keyframe request, to ask again only after a pause. */
    this.keyframeRequestedAt = -Infinity;
  }

  get quantized() {
    return this.format === 'u8' || this.format === 'u16';
  }

  /** The largest code that stands for a value (the no-data code is one above it). */
  get topCode() {
    if (!this.quantized) return 0;
    return 2 ** this.bits - (this.nodata ? 2 : 1);
  }

  /** The code reserved for "no data", or -1 when there is none. */
  get nodataCode() {
    return this.quantized && this.nodata ? 2 ** this.bits - 1 : -1;
  }

  /** The value one code stands for (0 for a constant field or float data). */
  get stepSize() {
    const span = this.max - this.min;
    return this.quantized && span > 0 ? span / this.topCode : 0;
  }

  /** The value of entry `i` (vertex `i` for a scalar field), NaN for no data. */
  valueAt(i) {
    const code = this.codes[i];
    if (!this.quantized) return code;
    if (code === this.nodataCode) return NaN;
    return this.min + code * this.stepSize;
  }

  /** A copy that later frames leave alone (its own codes), to keep one decoded step for later. */
  snapshot() {
    const copy = Object.assign(new FieldTrack(this.object, this.field), this);
    copy.codes = this.codes ? this.codes.slice() : null;
    return copy;
  }

  /** Every value as float32 (NaN for no data), written into `out` when it is large enough. */
  toValues(out = null) {
    const values = out && out.length >= this.count ? out : new Float32Array(this.count);
    for (let i = 0; i < this.count; i++) values[i] = this.valueAt(i);
    return values;
  }
}
