/**
 * What a headset panel showed last time, as a list of primitive values (numbers, booleans, short
 * strings), compared in place with what it shows now: `begin()`, `add()` each value, `end()` says
 * whether anything differed. Nothing is allocated once the list has its length, so a panel can ask
 * every frame and repaint only when the answer is yes.
 */
export class XRPanelSignature {
  constructor() {
    this.values = [];
    this.count = 0;
    this.changed = false;
  }

  begin() {
    this.count = 0;
    this.changed = false;
  }

  /** @param {number|string|boolean|null|undefined} value */
  add(value) {
    if (this.count === this.values.length) {
      this.values.push(value);
      this.changed = true;
    } else if (!Object.is(this.values[this.count], value)) {
      this.values[this.count] = value;
      this.changed = true;
    }
    this.count += 1;
  }

  /** True when a value differed from last time (or there were more or fewer of them). */
  end() {
    if (this.count !== this.values.length) {
      this.values.length = this.count;
      this.changed = true;
    }
    return this.changed;
  }

  /** Forget the last values: the next `end()` says changed. */
  reset() {
    this.values.length = 0;
  }
}
