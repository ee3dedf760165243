import { formatNumber } from './ColorBar.js';
import { ProbeChart } from './ProbeChart.js';
import { TwinParameterControl } from './TwinParameterControl.js';
import { TwinTools } from './TwinTools.js';
import { button } from './button.js';

/** Real-time factors offered (simulated time per wall-clock time); the protocol allows 0.05 to 16. */
export const TWIN_SPEEDS = [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16];
const SPEED_TITLE = 'Target speed: simulated time per wall-clock time (real-time factor)';
const STATE_LABELS = {
  starting: 'Starting…',
  running: 'Running',
  paused: 'Paused',
  restarting: 'Restarting',
  failed: 'Failed',
};

/**
 * The live twin's section of the panel, generated from the server's `twin` message: its state,
 * time and achieved real-time factor; play / pause, speed and reset; one control per parameter;
 * the action tools; the probe chart; and a line for refused changes. It sends requests without
 * `seq` through `onRequest` (the app numbers them) and shows whatever state the server broadcasts.
 */
export class TwinPanel {
  /**
   * @param {HTMLElement} parent the section body
   * @param {{onRequest: (message: object) => void, onTool: (name: string|null) => void}} callbacks
   */
  constructor(parent, { onRequest, onTool }) {
    this.onRequest = onRequest;
    this.element = document.createElement('div');
    this.element.className = 'twin-panel';
    this.element.id = 'twin-panel';

    this.statusLine = document.createElement('div');
    this.statusLine.className = 'twin-status';
    this.statusLine.id = 'twin-status';
    const dot = document.createElement('span');
    dot.className = 'status-dot';
    this.stateLabel = document.createElement('span');
    this.stateLabel.id = 'twin-state';
    this.clock = document.createElement('span');
    this.clock.className = 'twin-clock';
    this.clock.id = 'twin-clock';
    this.statusLine.append(dot, this.stateLabel, this.clock);
    this.detail = document.createElement('div');
    this.detail.className = 'twin-detail';
    this.detail.id = 'twin-detail';
    this.detail.hidden = true;

    const row = document.createElement('div');
    row.className = 'row';
    this.play = button('twin-play', '▶', 'Run the twin');
    this.play.classList.add('play-button');
    this.speed = document.createElement('select');
    this.speed.id = 'twin-speed';
    this.speed.title = SPEED_TITLE;
    for (const s of TWIN_SPEEDS) this.speed.append(new Option(`${s}× real time`, String(s)));
    this.reset = button('twin-reset', 'Reset', "Restart the twin from its initial state with the scene's parameters");
    row.append(this.play, this.speed, this.reset);

    this.message = document.createElement('div');
    this.message.className = 'panel-message twin-message';
    this.message.id = 'twin-message';
    this.message.dataset.kind = 'error';
    this.message.setAttribute('role', 'alert');
    this.message.hidden = true;
    this.denied = document.createElement('div');
    this.denied.className = 'denied-note';
    this.denied.id = 'twin-denied';
    this.denied.hidden = true;

    this.params = document.createElement('div');
    this.params.className = 'twin-params';
    this.params.id = 'twin-params';
    this.toolsHeading = subheading('Actions');
    this.element.append(this.statusLine, this.detail, row, this.denied, this.message, this.params, this.toolsHeading);
    this.tools = new TwinTools(this.element, {
      onAction: (action) => this.#request({ type: 'twin_action', action, point: null }),
      onTool,
    });
    this.element.append(subheading('Probe'));
    this.chart = new ProbeChart(this.element);
    parent.append(this.element);

    /** @type {Map<string, TwinParameterControl>} */
    this.controls = new Map();
    this.schemaKey = '';
    this.status = null;
    this.errorText = '';
    /** Why this page's role may not steer the twin (null: it may); the server decides, this only explains. */
    this.refusal = null;
    this.listeners = [
      [this.play, 'click', () => this.#request({ type: 'twin_control', playing: this.status?.state !== 'running' })],
      [this.speed, 'change', () => this.#request({ type: 'twin_control', speed: Number(this.speed.value) })],
      [this.reset, 'click', () => this.#request({ type: 'twin_control', reset: true })],
    ];
    for (const [target, type, handler] of this.listeners) target.addEventListener(type, handler);
  }

  get activeTool() {
    return this.tools.active;
  }

  /** Whether this page's role may steer the twin; `reason` (when it may not) becomes the tooltip and a note. */
  setAllowed(allowed, reason = '') {
    this.refusal = allowed ? null : reason;
    this.denied.textContent = this.refusal ?? '';
    this.denied.hidden = this.refusal === null;
    if (this.status) this.update(this.status, this.objectName);
  }

  /** Follow the server's `twin` message; `objectName` names the twin's object in hints. */
  update(status, objectName) {
    this.status = status;
    this.objectName = objectName;
    const key = JSON.stringify([status.parameters, status.actions]);
    if (key !== this.schemaKey) {
      this.schemaKey = key;
      this.#rebuild(status, objectName);
    }
    for (const [name, control] of this.controls) control.follow(status.params?.[name]);
    const state = status.state;
    this.statusLine.dataset.state = state;
    this.stateLabel.textContent = STATE_LABELS[state] || state;
    this.detail.textContent = status.message || '';
    this.detail.hidden = !status.message;
    this.detail.dataset.state = state;
    const allowed = this.refusal === null;
    const usable = (state === 'running' || state === 'paused') && allowed;
    this.play.disabled = !usable;
    this.play.textContent = state === 'running' ? '❚❚' : '▶';
    this.play.title = this.refusal ?? (state === 'running' ? 'Pause the twin' : 'Run the twin');
    this.play.dataset.playing = String(state === 'running');
    this.speed.disabled = !usable;
    this.speed.title = this.refusal ?? SPEED_TITLE;
    this.reset.disabled = state === 'starting' || !allowed;
    this.reset.title = this.refusal ?? "Restart the twin from its initial state with the scene's parameters";
    if (document.activeElement !== this.speed) this.speed.value = String(closest(TWIN_SPEEDS, status.speed));
    for (const control of this.controls.values()) control.setDisabled(!usable);
    this.tools.setDisabled(!usable);
    this.setTime(status.time);
  }

  /** Twin time now (frames carry it between `twin` messages), with the last achieved real-time factor. */
  setTime(time) {
    const status = this.status;
    if (!status || !Number.isFinite(time)) return;
    let text = `t = ${formatTwinTime(time, status.time_unit)}`;
    if (status.state === 'running') text += ` · ${formatFactor(status.realtime)}× real time`;
    if (text !== this.clock.textContent) this.clock.textContent = text;
    const compute = Number.isFinite(status.step_ms) ? `; the last frame took ${formatNumber(status.step_ms)} ms to compute` : '';
    this.clock.title = `target ${status.speed}× real time, achieved ${formatNumber(status.realtime)}×${compute}`;
  }

  /** A refused change: say why, and show the server's values again. */
  showError(text) {
    this.errorText = text;
    this.message.textContent = text;
    this.message.hidden = false;
    for (const control of this.controls.values()) control.snapBack();
  }

  clearError() {
    this.errorText = '';
    this.message.textContent = '';
    this.message.hidden = true;
  }

  dispose() {
    for (const [target, type, handler] of this.listeners) target.removeEventListener(type, handler);
    for (const control of this.controls.values()) control.dispose();
    this.tools.dispose();
    this.chart.dispose();
    this.element.remove();
  }

  #rebuild(status, objectName) {
    for (const control of this.controls.values()) control.dispose();
    this.controls.clear();
    for (const info of status.parameters || []) {
      const control = new TwinParameterControl(this.params, info, (name, value) => {
        this.#request({ type: 'twin_params', values: { [name]: value } });
      });
      this.controls.set(info.name, control);
    }
    this.params.hidden = this.controls.size === 0;
    this.tools.setActions(status.actions || [], objectName);
    this.toolsHeading.hidden = (status.actions || []).length === 0;
  }

  #request(message) {
    this.clearError();
    this.onRequest(message);
  }
}

/** Twin time for people: milliseconds past a second as seconds, a few significant digits. */
export function formatTwinTime(time, unit = '') {
  if (unit === 'ms' && Math.abs(time) >= 1000) return `${(time / 1000).toFixed(2)} s`;
  const magnitude = Math.abs(time);
  const digits = magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : 2;
  return `${time.toFixed(digits)}${unit ? ` ${unit}` : ''}`;
}

/** A real-time factor to two significant digits (0.98, 1.2, 12). */
function formatFactor(x) {
  return Number.isFinite(x) ? String(Number(x.toPrecision(2))) : '?';
}

function closest(options, value) {
  return options.reduce((best, x) => (Math.abs(x - value) < Math.abs(best - value) ? x : best), options[0]);
}

function subheading(text) {
  const element = document.createElement('h3');
  element.className = 'twin-subheading';
  element.textContent = text;
  return element;
}
