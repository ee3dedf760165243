import { Quaternion } from 'three';
import { LEFT, POINTER, RIGHT, emptyPresence } from './PresenceCodec.js';

/** Poses are shown this long after they arrive, so there is (nearly) always a later one to move towards. */
export const INTERPOLATION_DELAY_MS = 100;
/** A peer whose poses come further apart (a full session of headsets shares the byte budget) is shown
 * 1.5 intervals behind, up to this long. */
export const MAX_DELAY_MS = 300;
/** Gaps longer than this are pauses (an unchanged pose is sent once a second), not the update rate. */
const PAUSE_MS = 500;
const CAPACITY = 8;

/**
 * The last few presences received from one peer, with their arrival times, and the presence to draw
 * at a given time (`delay` behind the newest): interpolated between the two received around it (positions linearly, orientations
 * by slerp), the oldest before them and the newest after them (no extrapolation). Allocates nothing
 * after construction.
 */
export class PresenceTrack {
  constructor(capacity = CAPACITY) {
    this.capacity = capacity;
    this.times = new Float64Array(capacity);
    this.samples = Array.from({ length: capacity }, () => emptyPresence());
    this.count = 0;
    this.newest = -1;
    /** Smoothed time between poses (ms). */
    this.interval = 50;
  }

  /** How far behind the newest pose this peer is drawn (ms). */
  get delay() {
    return Math.min(MAX_DELAY_MS, Math.max(INTERPOLATION_DELAY_MS, 1.5 * this.interval));
  }

  /** Keep a copy of `presence`, received at `time` (ms; not before the last one). */
  push(time, presence) {
    const gap = time - this.latest;
    if (gap < PAUSE_MS) this.interval += (gap - this.interval) * 0.2;
    this.newest = (this.newest + 1) % this.capacity;
    this.count = Math.min(this.count + 1, this.capacity);
    this.times[this.newest] = time;
    const s = this.samples[this.newest];
    s.flags = presence.flags;
    s.size = presence.size;
    s.head.set(presence.head);
    s.left.set(presence.left);
    s.right.set(presence.right);
    s.pointer.set(presence.pointer);
  }

  /** Time of the newest sample (-Infinity when empty). */
  get latest() {
    return this.count ? this.times[this.newest] : -Infinity;
  }

  /** The presence at `time` into `out`; false when nothing was received. */
  sample(time, out) {
    if (!this.count) return false;
    let newer = this.newest;
    for (let n = 1; n < this.count; n++) {
      const older = (newer - 1 + this.capacity) % this.capacity;
      if (this.times[older] <= time) {
        const t0 = this.times[older];
        const t1 = this.times[newer];
        const f = t1 > t0 ? Math.min(1, Math.max(0, (time - t0) / (t1 - t0))) : 1;
        blend(this.samples[older], this.samples[newer], f, out);
        return true;
      }
      newer = older;
    }
    blend(this.samples[newer], this.samples[newer], 0, out); // before every sample: the oldest
    return true;
  }

  clear() {
    this.count = 0;
    this.newest = -1;
  }
}

function blend(a, b, f, out) {
  out.flags = b.flags;
  out.size = a.size + (b.size - a.size) * f;
  blendPose(a.head, b.head, f, out.head);
  if (b.flags & LEFT) blendPose(a.flags & LEFT ? a.left : b.left, b.left, f, out.left);
  if (b.flags & RIGHT) blendPose(a.flags & RIGHT ? a.right : b.right, b.right, f, out.right);
  if (b.flags & POINTER) {
    const from = a.flags & POINTER ? a.pointer : b.pointer;
    for (let i = 0; i < 3; i++) out.pointer[i] = from[i] + (b.pointer[i] - from[i]) * f;
  }
}

function blendPose(a, b, f, out) {
  for (let i = 0; i < 3; i++) out[i] = a[i] + (b[i] - a[i]) * f;
  Quaternion.slerpFlat(out, 3, a, 3, b, 3, f);
}
