/** Positions of a float parameter's slider. */
export const SLIDER_STEPS = 1000;
/** A positive range spanning at least this factor gets a logarithmic slider. */
export const LOG_SCALE_RATIO = 100;
/** Significant digits of a value a slider sends (more is noise a person cannot aim at). */
export const SLIDER_DIGITS = 3;

/**
 * Maps a numeric twin parameter (a ParameterInfo of type float or int) onto integer slider
 * positions `0..steps` and back: linear, or logarithmic when the range is positive and wide.
 * Pure.
 */
export class TwinSliderScale {
  constructor({ type, minimum, maximum }) {
    this.min = Number.isFinite(minimum) ? minimum : 0;
    this.max = Number.isFinite(maximum) && maximum > this.min ? maximum : this.min + 1;
    this.integer = type === 'int';
    this.log = this.min > 0 && this.max / this.min >= LOG_SCALE_RATIO;
    const span = this.max - this.min;
    this.steps = this.integer && !this.log && span <= SLIDER_STEPS ? span : SLIDER_STEPS;
  }

  /** The nearest slider position of `value` (clamped to the range). */
  toPosition(value) {
    const v = Math.min(this.max, Math.max(this.min, Number(value)));
    if (!Number.isFinite(v)) return 0;
    const f = this.log ? Math.log(v / this.min) / Math.log(this.max / this.min) : (v - this.min) / (this.max - this.min);
    return Math.round(f * this.steps);
  }

  /** The value at slider position `position`: rounded (integers, or SLIDER_DIGITS digits), inside the range. */
  toValue(position) {
    const p = Math.min(this.steps, Math.max(0, Math.round(Number(position))));
    if (p === 0) return this.min;
    if (p === this.steps) return this.max;
    const f = p / this.steps;
    const raw = this.log ? this.min * (this.max / this.min) ** f : this.min + f * (this.max - this.min);
    const rounded = this.integer ? Math.round(raw) : Number(raw.toPrecision(SLIDER_DIGITS));
    return Math.min(this.max, Math.max(this.min, rounded));
  }
}
