/** How many recent frames the mean and p95 cover (about 2 s at 60 Hz). */
export const FRAME_WINDOW = 120;

/**
 * JavaScript CPU time per drawn frame (ms) over the last `size` frames, with the draw calls and
 * triangles of the latest one. A ring buffer of Float64Array: recording allocates nothing, and the
 * p95 sorts a second preallocated array in place.
 */
export class FrameStats {
  constructor(size = FRAME_WINDOW) {
    this.times = new Float64Array(size);
    this.sorted = new Float64Array(size);
    this.next = 0;
    this.count = 0;
    /** Frames recorded since the page opened (not only those in the window). */
    this.total = 0;
    this.calls = 0;
    this.triangles = 0;
    this.xr = false;
  }

  /** One drawn frame: its CPU time (ms), the draw calls and triangles it submitted, whether in XR. */
  record(ms, calls, triangles, xr) {
    this.times[this.next] = ms;
    this.next = (this.next + 1) % this.times.length;
    if (this.count < this.times.length) this.count += 1;
    this.total += 1;
    this.calls = calls;
    this.triangles = triangles;
    this.xr = xr;
  }

  /** Forget the window (the view changed between desktop and XR: their frames are not comparable). */
  clear() {
    this.next = 0;
    this.count = 0;
  }

  mean() {
    let sum = 0;
    for (let i = 0; i < this.count; i++) sum += this.times[i];
    return this.count ? sum / this.count : 0;
  }

  /** The `q` quantile (0..1, nearest rank) of the window; 0 with no frames. */
  quantile(q) {
    const n = this.count;
    if (!n) return 0;
    const sorted = this.sorted.subarray(0, n);
    sorted.set(this.times.subarray(0, n));
    sorted.sort();
    return sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))];
  }

  /** For `App.state().frame` and the benchmark. */
  summary() {
    return {
      frames: this.count,
      total: this.total,
      meanMs: this.mean(),
      p95Ms: this.quantile(0.95),
      calls: this.calls,
      triangles: this.triangles,
      xr: this.xr,
    };
  }
}
