/** Most changes per second a dragged control sends (the server refuses more than 20 a second per client). */
export const TWIN_CHANGES_PER_S = 15;

/**
 * Passes values on at most once per interval while they keep coming (a dragged slider), the newest
 * one winning; a final value (the slider let go) goes at once, unless it was the last one sent.
 * Pure apart from the timer functions it is given, so tests drive it with a fake clock.
 */
export class TwinThrottle {
  /**
   * @param {(value: unknown) => void} send
   * @param {{intervalMs?: number, now?: () => number, schedule?: Function, cancel?: Function}} [options]
   */
  constructor(send, {
    intervalMs = 1000 / TWIN_CHANGES_PER_S,
    now = () => performance.now(),
    schedule = (fn, ms) => setTimeout(fn, ms),
    cancel = (timer) => clearTimeout(timer),
  } = {}) {
    this.send = send;
    this.intervalMs = intervalMs;
    this.now = now;
    this.schedule = schedule;
    this.cancelTimer = cancel;
    this.timer = null;
    this.lastAt = -Infinity;
    this.hasPending = false;
    this.pending = undefined;
    this.hasSent = false;
    this.lastSent = undefined;
  }

  /** A new value; `final` sends it now (and cancels a waiting one). */
  push(value, final = false) {
    if (final && this.timer === null && this.hasSent && Object.is(value, this.lastSent)) return;
    this.pending = value;
    this.hasPending = true;
    const wait = this.lastAt + this.intervalMs - this.now();
    if (final || wait <= 0) {
      this.#flush();
    } else if (this.timer === null) {
      this.timer = this.schedule(() => {
        this.timer = null;
        this.#flush();
      }, wait);
    }
  }

  /** Forget a waiting value (the control was rebuilt or the server's value replaced it). */
  cancel() {
    if (this.timer !== null) this.cancelTimer(this.timer);
    this.timer = null;
    this.hasPending = false;
  }

  #flush() {
    if (this.timer !== null) this.cancelTimer(this.timer);
    this.timer = null;
    if (!this.hasPending) return;
    this.hasPending = false;
    this.lastAt = this.now();
    this.lastSent = this.pending;
    this.hasSent = true;
    this.send(this.pending);
  }
}
