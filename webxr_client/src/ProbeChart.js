import { formatNumber } from './ColorBar.js';

/** Samples the chart keeps (the oldest go first). */
export const CHART_SAMPLES = 400;
/** Twin time the chart spans, by time unit (about 2 s); other units: the last CHART_SAMPLES samples. */
export const CHART_SPAN = { ms: 2000, s: 2, min: 2 / 60 };

const LINE = '#5aa9ff';
const GRID = '#333845';
const TEXT = '#9aa1b1';
const BACKDROP = '#262a33';

/**
 * A small line chart of one probed value over twin time (x: the frames' time, y: the field's
 * display range). The app feeds it one sample per live frame drawn; nothing is asked of the
 * server. Drawing waits for the next animation frame, so a burst of frames draws once.
 */
export class ProbeChart {
  /** @param {HTMLElement} parent */
  constructor(parent) {
    this.element = document.createElement('div');
    this.element.className = 'probe-chart';
    this.element.id = 'probe-chart';
    this.caption = document.createElement('div');
    this.caption.className = 'probe-chart-caption';
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'probe-chart-canvas';
    this.element.append(this.caption, this.canvas);
    parent.append(this.element);
    this.times = new Float64Array(CHART_SAMPLES);
    this.values = new Float64Array(CHART_SAMPLES);
    this.start = 0;
    this.count = 0;
    this.axis = { title: '', unit: '', lo: 0, hi: 1, timeUnit: '' };
    this.empty = 'Click the twin to plot a point over time';
    this.frame = 0;
    this.draw = () => {
      this.frame = 0;
      this.#draw();
    };
    this.clear();
  }

  get size() {
    return this.count;
  }

  /** The newest sample's value (NaN when none). */
  get latest() {
    return this.count ? this.values[(this.start + this.count - 1) % CHART_SAMPLES] : NaN;
  }

  /** What the y axis shows: the field (`title`, `unit`) and its range; `timeUnit` is the twin's. */
  setAxis({ title, unit = '', lo, hi, timeUnit = '' }) {
    const changed = title !== this.axis.title || timeUnit !== this.axis.timeUnit;
    this.axis = { title, unit, lo, hi: hi > lo ? hi : lo + 1, timeUnit };
    if (changed) this.clear();
    else this.#request();
  }

  /** One sample; a time before the newest one (the twin restarted) starts the chart over. */
  add(time, value) {
    if (!Number.isFinite(time)) return;
    if (this.count) {
      const newest = this.times[(this.start + this.count - 1) % CHART_SAMPLES];
      if (time < newest) this.#empty();
      else if (time === newest) this.count -= 1; // the same frame again: replace it
    }
    const at = (this.start + this.count) % CHART_SAMPLES;
    this.times[at] = time;
    this.values[at] = value === null ? NaN : value;
    if (this.count < CHART_SAMPLES) this.count += 1;
    else this.start = (this.start + 1) % CHART_SAMPLES;
    const span = CHART_SPAN[this.axis.timeUnit];
    while (span !== undefined && this.count > 1 && time - this.times[this.start] > span) {
      this.start = (this.start + 1) % CHART_SAMPLES;
      this.count -= 1;
    }
    this.#request();
  }

  /** Forget every sample; `message` is shown until the next one. */
  clear(message = 'Click the twin to plot a point over time') {
    this.empty = message;
    this.#empty();
    this.#request();
  }

  dispose() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.element.remove();
  }

  #empty() {
    this.start = 0;
    this.count = 0;
  }

  #request() {
    if (!this.frame) this.frame = requestAnimationFrame(this.draw);
  }

  #draw() {
    const { title, unit, lo, hi, timeUnit } = this.axis;
    const suffix = unit ? ` ${unit}` : '';
    const latest = this.latest;
    this.caption.textContent = this.count
      ? `${title} at the probe: ${Number.isNaN(latest) ? 'no data' : `${formatNumber(latest)}${suffix}`}`
      : `${title || 'Value'} at the probe`;
    this.element.dataset.samples = String(this.count);
    const dpr = Math.min(window.devicePixelRatio || 1, 2);
    const cssWidth = this.canvas.clientWidth || 260;
    const cssHeight = this.canvas.clientHeight || 90;
    const width = Math.round(cssWidth * dpr);
    const height = Math.round(cssHeight * dpr);
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    const g = this.canvas.getContext('2d');
    if (!g) return;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.fillStyle = BACKDROP;
    g.fillRect(0, 0, cssWidth, cssHeight);
    g.font = '10px system-ui, sans-serif';
    g.fillStyle = TEXT;
    if (!this.count) {
      g.textAlign = 'center';
      g.textBaseline = 'middle';
      g.fillText(this.empty, cssWidth / 2, cssHeight / 2);
      return;
    }
    const left = 4;
    const right = cssWidth - 4;
    const top = 14;
    const bottom = cssHeight - 14;
    g.strokeStyle = GRID;
    g.lineWidth = 1;
    g.beginPath();
    g.moveTo(left, top + 0.5);
    g.lineTo(right, top + 0.5);
    g.moveTo(left, bottom + 0.5);
    g.lineTo(right, bottom + 0.5);
    g.stroke();
    g.textBaseline = 'bottom';
    g.textAlign = 'left';
    g.fillText(`${formatNumber(hi)}${suffix}`, left, top - 2);
    g.textBaseline = 'top';
    g.fillText(`${formatNumber(lo)}${suffix}`, left, bottom + 2);
    const t0 = this.times[this.start];
    const t1 = this.times[(this.start + this.count - 1) % CHART_SAMPLES];
    const span = CHART_SPAN[timeUnit] ?? Math.max(t1 - t0, 1e-9);
    g.textAlign = 'right';
    g.fillText(`last ${formatNumber(span)}${timeUnit ? ` ${timeUnit}` : ''} · t = ${formatNumber(t1)}`, right, bottom + 2);
    const x = (t) => right - ((t1 - t) / span) * (right - left);
    const y = (v) => bottom - ((Math.min(hi, Math.max(lo, v)) - lo) / (hi - lo)) * (bottom - top);
    g.strokeStyle = LINE;
    g.lineWidth = 1.5;
    g.beginPath();
    let drawing = false;
    for (let k = 0; k < this.count; k++) {
      const i = (this.start + k) % CHART_SAMPLES;
      const v = this.values[i];
      if (!Number.isFinite(v)) {
        drawing = false;
        continue;
      }
      if (drawing) g.lineTo(x(this.times[i]), y(v));
      else g.moveTo(x(this.times[i]), y(v));
      drawing = true;
    }
    g.stroke();
  }
}
