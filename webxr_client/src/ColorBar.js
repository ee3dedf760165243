import { ColormapTexture } from './ColormapTexture.js';

/**
 * The colour scale of the shown field: name and unit, the colour map as a bar, and the display
 * range as two editable numbers with a reset to the field's own range (over every time step).
 */
export class ColorBar {
  /**
   * @param {HTMLElement} parent
   * @param {{onRange: (lo: number, hi: number) => boolean, onReset: () => void}} callbacks
   */
  constructor(parent, { onRange, onReset }) {
    this.element = document.createElement('div');
    this.element.className = 'color-bar';
    this.element.id = 'color-bar';
    this.title = document.createElement('div');
    this.title.className = 'color-bar-title';
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'color-bar-gradient';
    this.canvas.width = 256;
    this.canvas.height = 1;
    const range = document.createElement('div');
    range.className = 'color-bar-range';
    this.lo = numberInput('range-min', 'Lowest value of the colour scale');
    this.hi = numberInput('range-max', 'Highest value of the colour scale');
    this.reset = document.createElement('button');
    this.reset.type = 'button';
    this.reset.id = 'range-reset';
    this.reset.textContent = 'Reset';
    this.reset.title = "Back to the field's range over all time steps";
    range.append(this.lo, this.reset, this.hi);
    this.element.append(this.title, this.canvas, range);
    parent.append(this.element);
    this.painted = null;
    this.handleChange = () => {
      const ok = onRange(Number.parseFloat(this.lo.value), Number.parseFloat(this.hi.value));
      this.lo.classList.toggle('invalid', !ok);
      this.hi.classList.toggle('invalid', !ok);
    };
    this.handleReset = () => onReset();
    this.lo.addEventListener('change', this.handleChange);
    this.hi.addEventListener('change', this.handleChange);
    this.reset.addEventListener('click', this.handleReset);
    this.update(null);
  }

  /** Show `display` (a FieldDisplay), or an empty bar when the object shows no field. */
  update(display) {
    this.element.classList.toggle('empty', !display);
    if (!display) {
      this.title.textContent = 'No field shown';
      this.lo.value = '';
      this.hi.value = '';
      this.lo.disabled = this.hi.disabled = this.reset.disabled = true;
      this.#paint(null);
      return;
    }
    this.title.textContent = display.unit ? `${display.title} (${display.unit})` : display.title;
    const categorical = display.labels > 0;
    this.lo.disabled = this.hi.disabled = this.reset.disabled = categorical;
    this.lo.value = categorical ? '' : formatNumber(display.lo);
    this.hi.value = categorical ? '' : formatNumber(display.hi);
    this.lo.classList.remove('invalid');
    this.hi.classList.remove('invalid');
    this.#paint(display.colormap);
  }

  dispose() {
    this.lo.removeEventListener('change', this.handleChange);
    this.hi.removeEventListener('change', this.handleChange);
    this.reset.removeEventListener('click', this.handleReset);
    this.element.remove();
  }

  #paint(name) {
    if (name === this.painted) return;
    this.painted = name;
    const context = this.canvas.getContext('2d');
    if (!name) {
      context.clearRect(0, 0, this.canvas.width, 1);
      return;
    }
    const rgba = ColormapTexture.table(name);
    const texels = rgba.length / 4;
    const image = context.createImageData(this.canvas.width, 1);
    for (let x = 0; x < this.canvas.width; x++) {
      const k = Math.min(texels - 1, Math.floor((x / this.canvas.width) * texels)) * 4;
      image.data.set(rgba.subarray(k, k + 4), x * 4);
    }
    context.putImageData(image, 0, 0);
  }
}

function numberInput(id, title) {
  const input = document.createElement('input');
  input.type = 'number';
  input.step = 'any';
  input.id = id;
  input.title = title;
  return input;
}

/** Four significant digits, without trailing zeros; exponent form for very large or small values. */
export function formatNumber(value) {
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude >= 1e5 || magnitude < 1e-3) return value.toExponential(3).replace(/\.?0+e/, 'e');
  return String(Number.parseFloat(value.toPrecision(4)));
}
