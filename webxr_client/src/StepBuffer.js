/** Steps one buffer holds: twice the most the server sends ahead (PLAYBACK_LEAD_MAX_STEPS). */
export const STEP_BUFFER_CAPACITY = 32;

/**
 * Decoded frames of one (object, field) keyed by time step. While playing, the server sends frames
 * a little ahead of their display step (docs/protocol.md, "Delivery"); they wait here until the
 * session clock reaches them. Pure: no DOM, no three.js; values are whatever the caller stores.
 *
 * Steps compare relative to the wanted step. With `period` > 0 (a looping series of that many
 * steps) they compare around the loop: a step less than half the loop ahead counts as ahead, so
 * steps 0, 1 sent just before the wrap wait for it instead of counting as past.
 */
export class StepBuffer {
  constructor(capacity = STEP_BUFFER_CAPACITY) {
    this.capacity = Math.max(1, capacity);
    /** @type {Map<number, unknown>} */
    this.entries = new Map();
    this.wanted = 0;
    this.period = 0;
  }

  get size() {
    return this.entries.size;
  }

  /** Store `value` as step `step`; over capacity, the step furthest ahead of the last wanted one goes. */
  put(step, value) {
    this.entries.set(step, value);
    while (this.entries.size > this.capacity) {
      let worst = step;
      let worstRel = -Infinity;
      for (const s of this.entries.keys()) {
        const rel = this.#relative(s, this.wanted, this.period);
        if (rel > worstRel) {
          worst = s;
          worstRel = rel;
        }
      }
      this.entries.delete(worst);
    }
  }

  /** The value stored for `step` (undefined when none is). */
  value(step) {
    return this.entries.get(step);
  }

  /**
   * The buffered step to show for `wanted`: the latest at or before it, or -1 when none is.
   * Steps before that one are dropped (they will not be shown again). Allocates nothing.
   */
  at(wanted, period = 0) {
    this.wanted = wanted;
    this.period = period;
    let best = -1;
    let bestRel = -Infinity;
    for (const s of this.entries.keys()) {
      const rel = this.#relative(s, wanted, period);
      if (rel <= 0 && rel > bestRel) {
        best = s;
        bestRel = rel;
      }
    }
    if (best < 0) return -1;
    for (const s of this.entries.keys()) {
      if (this.#relative(s, wanted, period) < bestRel) this.entries.delete(s);
    }
    return best;
  }

  /** The nearest step after `wanted` (to show something before the clock reaches any), or -1. */
  next(wanted, period = 0) {
    let best = -1;
    let bestRel = Infinity;
    for (const s of this.entries.keys()) {
      const rel = this.#relative(s, wanted, period);
      if (rel > 0 && rel < bestRel) {
        best = s;
        bestRel = rel;
      }
    }
    return best;
  }

  clear() {
    this.entries.clear();
  }

  /** How far `step` is ahead of `wanted` (negative: behind), around the loop when `period` > 0. */
  #relative(step, wanted, period) {
    const rel = step - wanted;
    if (!(period > 0)) return rel;
    const wrapped = ((rel % period) + period) % period;
    return wrapped * 2 > period ? wrapped - period : wrapped;
  }
}
