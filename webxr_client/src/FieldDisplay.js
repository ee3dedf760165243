import { ColormapTexture } from './ColormapTexture.js';

/**
 * How one field name is shown, shared by every object that has a field of that name (so a
 * baseline and a variant run compare on one colour scale): colour map and display range.
 *
 * The default range is the union of the objects' ranges over all time steps, so the scale holds
 * still during playback; the user may narrow or widen it and reset it.
 */
export class FieldDisplay {
  /**
   * @param {object} field a FieldInfo of the scene message
   * @param {ColormapTexture} colormaps
   */
  constructor(field, colormaps) {
    this.name = field.name;
    this.unit = field.unit || '';
    this.components = field.components || 1;
    this.categorical = Boolean(field.categorical);
    this.colormaps = colormaps;
    this.colormap = ColormapTexture.resolve(field.colormap, this.categorical);
    this.defaultLo = Infinity;
    this.defaultHi = -Infinity;
    this.include(field.range);
    this.lo = this.defaultLo;
    this.hi = this.defaultHi;
    this.edited = false;
  }

  /** Widen the default range to cover `range` ([lo, hi] or null); follows it unless the user edited. */
  include(range) {
    if (Array.isArray(range) && Number.isFinite(range[0]) && Number.isFinite(range[1])) {
      this.defaultLo = Math.min(this.defaultLo, range[0]);
      this.defaultHi = Math.max(this.defaultHi, range[1]);
    }
    if (!Number.isFinite(this.defaultLo)) {
      this.defaultLo = 0;
      this.defaultHi = 1;
    }
    if (!this.edited) {
      this.lo = this.defaultLo;
      this.hi = this.defaultHi;
    }
  }

  get texture() {
    return this.colormaps.texture(this.colormap);
  }

  /** Number of label colours for a categorical map, 0 for a continuous one. */
  get labels() {
    return ColormapTexture.isCategorical(this.colormap) ? this.colormaps.texture(this.colormap).image.width : 0;
  }

  /** Field name as the colour bar shows it (|v| for a vector's magnitude). */
  get title() {
    return this.components > 1 ? `|${this.name}|` : this.name;
  }

  setColormap(name) {
    this.colormap = ColormapTexture.resolve(name);
  }

  /** A range with lo < hi; other input is refused (returns false) and changes nothing. */
  setRange(lo, hi) {
    if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo < hi)) return false;
    this.lo = lo;
    this.hi = hi;
    this.edited = true;
    return true;
  }

  resetRange() {
    this.lo = this.defaultLo;
    this.hi = this.defaultHi;
    this.edited = false;
  }
}
