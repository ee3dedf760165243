import { formatNumber } from './ColorBar.js';

/** Speeds offered (times the scene's own playback rate); the protocol allows 0.05 to 16. */
export const SPEEDS = [0.25, 0.5, 1, 2, 4, 8];
/** While the slider is dragged, send at most one seek per this many ms. */
export const SEEK_INTERVAL_MS = 80;

/**
 * Play / pause, a time slider, speed and loop. Playback is session state: every control sends a
 * `playback` request, and the controls show whatever `playback` state the server broadcasts
 * (except the slider while the user holds it).
 */
export class TimeControls {
  /**
   * @param {HTMLElement} parent
   * @param {(request: {playing?: boolean, step?: number, speed?: number, loop?: boolean}) => void} onRequest
   */
  constructor(parent, onRequest) {
    this.onRequest = onRequest;
    this.element = document.createElement('div');
    this.element.className = 'time-controls';
    this.element.id = 'time-controls';
    const top = document.createElement('div');
    top.className = 'row';
    this.play = document.createElement('button');
    this.play.type = 'button';
    this.play.id = 'play-button';
    this.play.className = 'play-button';
    this.slider = document.createElement('input');
    this.slider.type = 'range';
    this.slider.id = 'time-slider';
    this.slider.min = '0';
    this.slider.step = '1';
    top.append(this.play, this.slider);
    this.label = document.createElement('div');
    this.label.className = 'time-label';
    this.label.id = 'time-label';
    const bottom = document.createElement('div');
    bottom.className = 'row';
    this.speed = document.createElement('select');
    this.speed.id = 'speed-select';
    this.speed.title = 'Playback speed';
    for (const s of SPEEDS) this.speed.append(new Option(`${s}×`, String(s)));
    const loopLabel = document.createElement('label');
    loopLabel.className = 'inline';
    this.loop = document.createElement('input');
    this.loop.type = 'checkbox';
    this.loop.id = 'loop-checkbox';
    loopLabel.append(this.loop, document.createTextNode(' Loop'));
    bottom.append(this.speed, loopLabel);
    this.denied = document.createElement('div');
    this.denied.className = 'denied-note';
    this.denied.id = 'time-denied';
    this.denied.hidden = true;
    this.element.append(top, this.label, bottom, this.denied);
    parent.append(this.element);

    this.state = { playing: false, step: 0, time: 0, speed: 1, loop: true, steps: 0, fps: 0 };
    /** Why this page's role may not drive time (null: it may); the server decides, this only explains. */
    this.refusal = null;
    this.times = null;
    this.unit = '';
    this.dragging = false;
    this.lastSeek = 0;
    this.seekTimer = null;
    this.listeners = [
      [this.play, 'click', () => this.onRequest({ playing: !this.state.playing })],
      [this.slider, 'pointerdown', () => { this.dragging = true; }],
      [this.slider, 'input', () => this.#seek(false)],
      [this.slider, 'change', () => { this.dragging = false; this.#seek(true); }],
      [window, 'pointerup', () => { this.dragging = false; }],
      [this.speed, 'change', () => this.onRequest({ speed: Number(this.speed.value) })],
      [this.loop, 'change', () => this.onRequest({ loop: this.loop.checked })],
    ];
    for (const [target, type, handler] of this.listeners) target.addEventListener(type, handler);
    this.update(this.state);
  }

  /** Whether this page's role may drive time; `reason` (when it may not) becomes the controls' tooltip. */
  setAllowed(allowed, reason = '') {
    this.refusal = allowed ? null : reason;
    this.update({});
  }

  /** The time axis of the scene (SceneObjectInfo.time of a time-varying object), or null. */
  setTimeline(time) {
    this.times = time?.times ?? null;
    this.unit = time?.unit ?? '';
    this.#label();
  }

  /** Follow the server's playback state. */
  update(state) {
    Object.assign(this.state, state);
    const { playing, step, steps, speed, loop } = this.state;
    const off = steps <= 1 || this.refusal !== null;
    this.element.classList.toggle('disabled', off);
    this.play.disabled = this.slider.disabled = this.speed.disabled = this.loop.disabled = off;
    this.play.textContent = playing ? '❚❚' : '▶';
    this.play.title = this.refusal ?? (playing ? 'Pause' : 'Play');
    this.slider.title = this.loop.title = this.refusal ?? '';
    this.speed.title = this.refusal ?? 'Playback speed';
    this.denied.textContent = this.refusal ?? '';
    this.denied.hidden = this.refusal === null || steps <= 1;
    this.play.dataset.playing = String(playing);
    this.slider.max = String(Math.max(0, steps - 1));
    if (!this.dragging) this.slider.value = String(step);
    if (document.activeElement !== this.speed) this.speed.value = String(closest(SPEEDS, speed));
    this.loop.checked = loop;
    this.#label();
  }

  dispose() {
    clearTimeout(this.seekTimer);
    for (const [target, type, handler] of this.listeners) target.removeEventListener(type, handler);
    this.element.remove();
  }

  #label() {
    const { step, steps, time } = this.state;
    if (steps <= 1) {
      this.label.textContent = 'No time series';
      return;
    }
    const t = this.times?.[step] ?? time;
    const unit = this.unit ? ` ${this.unit}` : '';
    this.label.textContent = `Step ${step + 1} / ${steps} · t = ${formatNumber(t)}${unit}`;
  }

  /** Send the slider's step now, or within SEEK_INTERVAL_MS while dragging (the last one always goes). */
  #seek(final) {
    clearTimeout(this.seekTimer);
    const now = performance.now();
    const send = () => {
      this.lastSeek = performance.now();
      this.onRequest({ step: Number(this.slider.value) });
    };
    if (final || now - this.lastSeek >= SEEK_INTERVAL_MS) send();
    else this.seekTimer = setTimeout(send, SEEK_INTERVAL_MS - (now - this.lastSeek));
  }
}

function closest(options, value) {
  return options.reduce((best, x) => (Math.abs(x - value) < Math.abs(best - value) ? x : best), options[0]);
}
