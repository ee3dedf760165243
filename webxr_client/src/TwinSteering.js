/** Requests sent and not yet answered that are remembered; older ones are forgotten. */
export const MAX_UNANSWERED = 256;
/** A request whose frame has not come after this long (ms) is forgotten (the twin reset or stalled). */
export const FORGET_AFTER_MS = 30000;

/**
 * This client's side of steering a twin (docs/protocol.md, twins): numbers requests with an
 * increasing `seq`, remembers when each was sent, and measures the steering latency: from sending
 * a request to receiving the first frame of the twin object whose step (the twin frame number) is
 * at least the `frame` that `twin_applied {seq, frame}` named. Pure: the caller passes the clock.
 */
export class TwinSteering {
  constructor() {
    this.seq = 0;
    /** seq -> performance.now() when sent */
    this.sentAt = new Map();
    /** Requests the server applied whose frame has not arrived: {seq, frame, sentAt}. */
    this.waiting = [];
    this.lastStep = -1;
    this.lastStepAt = -Infinity;
    this.lastLatencyMs = null;
    this.lastLatencySeq = null;
  }

  /** `message` with the next `seq` (a u32, never 0). Call {@link sent} once it went out. */
  number(message) {
    this.seq = (this.seq % 0xffff_ffff) + 1;
    return { ...message, seq: this.seq };
  }

  sent(seq, now) {
    this.sentAt.set(seq, now);
    while (this.sentAt.size > MAX_UNANSWERED) this.sentAt.delete(this.sentAt.keys().next().value);
  }

  /** The server refused `seq`: no latency for it. */
  refused(seq) {
    this.sentAt.delete(seq);
  }

  /**
   * `twin_applied {seq, frame}`; returns the latency (ms) when a frame at or after `frame` already
   * arrived after the request was sent, else null (it is measured when that frame comes).
   */
  applied(seq, frame, now) {
    const sentAt = this.sentAt.get(seq);
    if (sentAt === undefined) return null;
    this.sentAt.delete(seq);
    if (this.lastStep >= frame && this.lastStepAt >= sentAt) return this.#measured(seq, this.lastStepAt - sentAt);
    this.waiting.push({ seq, frame, sentAt });
    if (this.waiting.length > MAX_UNANSWERED) this.waiting.shift();
    return null;
  }

  /** A frame of the twin object arrived; returns the latency (ms) it completes, or null. */
  frame(step, now) {
    this.lastStep = step;
    this.lastStepAt = now;
    if (this.waiting.length === 0) return null;
    let latency = null;
    let kept = 0;
    for (const entry of this.waiting) {
      if (entry.frame <= step) latency = this.#measured(entry.seq, now - entry.sentAt);
      else if (now - entry.sentAt < FORGET_AFTER_MS) this.waiting[kept++] = entry;
    }
    this.waiting.length = kept;
    return latency;
  }

  /** A new connection (not resumed): nothing sent before will be answered; `seq` keeps increasing. */
  reset() {
    this.sentAt.clear();
    this.waiting.length = 0;
    this.lastStep = -1;
    this.lastStepAt = -Infinity;
  }

  #measured(seq, ms) {
    this.lastLatencyMs = ms;
    this.lastLatencySeq = seq;
    return ms;
  }
}
