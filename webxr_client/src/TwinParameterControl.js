import { formatNumber } from './ColorBar.js';
import { TwinSliderScale } from './TwinSliderScale.js';
import { TwinThrottle } from './TwinThrottle.js';

/** After this client changed a value, the server's broadcasts leave the control alone this long (ms). */
export const HOLD_AFTER_SEND_MS = 500;

/**
 * One twin parameter's control, generated from its ParameterInfo (docs/protocol.md, `twin`):
 * float / int: a slider (logarithmic over a wide positive range) and a number field with the unit;
 * bool: a checkbox; choice: a select. The description is the tooltip.
 *
 * The control shows the server's value (`follow`), except while this user drags it and shortly
 * after they changed it, so a broadcast that left before their change arrived does not pull it
 * back. A dragged slider sends through a {@link TwinThrottle}; the release always sends.
 */
export class TwinParameterControl {
  /**
   * @param {HTMLElement} parent
   * @param {object} info ParameterInfo: {name, type, default, unit, minimum?, maximum?, choices?, description}
   * @param {(name: string, value: number|boolean|string) => void} onChange
   */
  constructor(parent, info, onChange) {
    this.info = info;
    this.name = info.name;
    this.onChange = onChange;
    this.serverValue = info.default;
    this.shown = undefined;
    this.dragging = false;
    this.holdUntil = -Infinity;
    this.holdTimer = null;
    /** The value this user sent last, until a broadcast confirms it (or HOLD_AFTER_SEND_MS pass). */
    this.pending = undefined;
    this.element = document.createElement('div');
    this.element.className = 'twin-param';
    this.element.dataset.name = info.name;
    this.element.dataset.type = info.type;
    this.element.title = describe(info);
    this.listeners = [];
    if (info.type === 'bool') this.#buildCheckbox();
    else if (info.type === 'choice') this.#buildSelect();
    else this.#buildNumeric();
    parent.append(this.element);
    this.#show(this.serverValue);
  }

  /** The server's current value (a `twin` broadcast): shown unless this user is changing it. */
  follow(value) {
    if (value === undefined) return;
    this.serverValue = value;
    if (this.#held(value)) return;
    this.pending = undefined;
    this.#show(value);
  }

  /** The server refused a change: show its value again, whatever the user is doing. */
  snapBack() {
    this.throttle?.cancel();
    this.dragging = false;
    this.pending = undefined;
    this.holdUntil = -Infinity;
    clearTimeout(this.holdTimer);
    this.#show(this.serverValue, true);
  }

  setDisabled(disabled) {
    for (const input of this.element.querySelectorAll('input, select')) input.disabled = disabled;
  }

  dispose() {
    this.throttle?.cancel();
    clearTimeout(this.holdTimer);
    for (const [target, type, handler] of this.listeners) target.removeEventListener(type, handler);
    this.element.remove();
  }

  // --- building ---

  #buildNumeric() {
    const info = this.info;
    this.scale = new TwinSliderScale(info);
    const head = document.createElement('label');
    head.className = 'twin-param-head';
    const name = document.createElement('span');
    name.className = 'twin-param-name';
    name.textContent = info.name;
    this.number = document.createElement('input');
    this.number.type = 'number';
    this.number.className = 'twin-param-number';
    this.number.step = info.type === 'int' ? '1' : 'any';
    if (Number.isFinite(info.minimum)) this.number.min = String(info.minimum);
    if (Number.isFinite(info.maximum)) this.number.max = String(info.maximum);
    this.number.setAttribute('aria-label', `${info.name}${info.unit ? ` (${info.unit})` : ''}`);
    const unit = document.createElement('span');
    unit.className = 'twin-param-unit';
    unit.textContent = prettyUnit(info.unit);
    unit.title = unit.textContent;
    head.append(name, this.number, unit);
    this.slider = document.createElement('input');
    this.slider.type = 'range';
    this.slider.className = 'twin-param-slider';
    this.slider.min = '0';
    this.slider.max = String(this.scale.steps);
    this.slider.step = '1';
    this.slider.setAttribute('aria-label', info.name);
    const range = document.createElement('div');
    range.className = 'twin-param-range';
    const lo = document.createElement('span');
    lo.textContent = formatNumber(this.scale.min);
    const hi = document.createElement('span');
    hi.textContent = formatNumber(this.scale.max);
    if (this.scale.log) this.slider.title = 'logarithmic scale';
    range.append(lo, this.slider, hi);
    this.element.append(head, range);

    this.throttle = new TwinThrottle((value) => this.#send(value));
    this.#listen(this.slider, 'pointerdown', () => { this.dragging = true; });
    this.#listen(window, 'pointerup', () => this.#release());
    this.#listen(this.slider, 'input', () => {
      const value = this.scale.toValue(this.slider.value);
      this.number.value = formatNumber(value);
      this.#hold();
      this.throttle.push(value);
    });
    this.#listen(this.slider, 'change', () => {
      this.dragging = false;
      this.throttle.push(this.scale.toValue(this.slider.value), true);
    });
    this.#listen(this.number, 'change', () => {
      const value = Number.parseFloat(this.number.value);
      const ok = this.number.value.trim() !== '' && Number.isFinite(value);
      this.number.classList.toggle('invalid', !ok);
      if (!ok) {
        this.#show(this.serverValue, true);
        return;
      }
      // Sent as typed, even outside the range: the server checks and says what is allowed.
      this.throttle.cancel();
      this.#send(value);
      this.slider.value = String(this.scale.toPosition(value));
    });
    this.#listen(this.number, 'blur', () => {
      if (!this.#held()) this.#show(this.serverValue);
    });
  }

  #buildCheckbox() {
    const label = document.createElement('label');
    label.className = 'inline twin-param-head';
    this.checkbox = document.createElement('input');
    this.checkbox.type = 'checkbox';
    const name = document.createElement('span');
    name.className = 'twin-param-name';
    name.textContent = this.info.name;
    label.append(this.checkbox, name);
    this.element.append(label);
    this.#listen(this.checkbox, 'change', () => this.#send(this.checkbox.checked));
  }

  #buildSelect() {
    const label = document.createElement('label');
    label.className = 'row twin-param-head';
    const name = document.createElement('span');
    name.className = 'twin-param-name';
    name.textContent = this.info.name;
    this.select = document.createElement('select');
    for (const choice of this.info.choices || []) this.select.append(new Option(choice, choice));
    label.append(name, this.select);
    this.element.append(label);
    this.#listen(this.select, 'change', () => this.#send(this.select.value));
  }

  // --- state ---

  #listen(target, type, handler) {
    target.addEventListener(type, handler);
    this.listeners.push([target, type, handler]);
  }

  #send(value) {
    this.pending = value;
    this.#hold();
    this.onChange(this.name, value);
  }

  #release() {
    if (!this.dragging) return;
    this.dragging = false;
    this.#hold();
  }

  /** Keep broadcasts off the control for a while (they may predate this user's change). */
  #hold() {
    this.shown = undefined; // the control now shows the user's value, whatever it showed before
    this.holdUntil = performance.now() + HOLD_AFTER_SEND_MS;
    clearTimeout(this.holdTimer);
    this.holdTimer = setTimeout(() => {
      if (!this.#held()) this.#show(this.serverValue);
    }, HOLD_AFTER_SEND_MS + 10);
  }

  /**
   * Whether a broadcast of `value` should leave the control alone: while it is dragged or typed
   * in, and shortly after a change, until a broadcast carries the value sent.
   */
  #held(value = undefined) {
    if (this.dragging || (this.number && document.activeElement === this.number)) return true;
    if (performance.now() >= this.holdUntil) return false;
    return this.pending === undefined ? false : !Object.is(value, this.pending);
  }

  #show(value, force = false) {
    if (!force && Object.is(value, this.shown)) return;
    this.shown = value;
    this.element.dataset.value = String(value);
    if (this.checkbox) this.checkbox.checked = Boolean(value);
    else if (this.select) this.select.value = String(value);
    else {
      this.slider.value = String(this.scale.toPosition(value));
      this.number.value = formatNumber(Number(value));
      this.number.classList.remove('invalid');
    }
  }
}

/** A unit as people write it: mm^2/ms as mm²/ms; '-' (dimensionless) as nothing. */
export function prettyUnit(unit) {
  if (!unit || unit === '-') return '';
  return unit.replace(/\^2/g, '²').replace(/\^3/g, '³').replace(/\^-1/g, '⁻¹');
}

function describe(info) {
  const parts = [info.description || info.name];
  if (prettyUnit(info.unit)) parts.push(`unit: ${prettyUnit(info.unit)}`);
  if (Number.isFinite(info.minimum) || Number.isFinite(info.maximum)) {
    parts.push(`range ${formatNumber(info.minimum ?? -Infinity)} to ${formatNumber(info.maximum ?? Infinity)}`);
  }
  if (info.default !== undefined) parts.push(`default ${info.default}`);
  return parts.join(' · ');
}
