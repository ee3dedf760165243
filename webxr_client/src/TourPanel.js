import { button } from './button.js';
import { mayMove, progressRows } from './tourSteps.js';

const MODES = [['off', 'Off'], ['guided', 'Guided'], ['self_paced', 'Self-paced']];

/**
 * The scene's guided tour in the side panel: its title, the mode (a switch for whoever may drive it),
 * the step list with the current step marked, the caption, and Back / Next: the presenter's (and host's)
 * in guided mode move everyone, anyone's in self-paced mode moves only them. In self-paced mode the host
 * and presenter see where each member is (`tour_progress`). The current step's caption also shows over the
 * view. Showing a step (camera, visible objects, clipping) is the app's job: `onStep` gets every `tour_step`.
 */
export class TourPanel {
  /**
   * @param {HTMLElement} parent the section's body (the section hides while the scene has no tour)
   * @param {HTMLElement} overlay the viewport's overlay (the caption card goes in it)
   * @param {{ send: (message: object) => boolean, onStep: (step: object) => void, names: (id: string) => string }} hooks
   */
  constructor(parent, overlay, { send, onStep, names }) {
    this.send = send;
    this.onStep = onStep;
    this.names = names;
    this.section = parent.parentElement;
    this.section.hidden = true;
    this.outline = null;
    this.current = null;
    this.progress = null;
    this.drives = false;

    this.title = document.createElement('div');
    this.title.className = 'tour-title';
    const modeRow = document.createElement('label');
    modeRow.className = 'row';
    const modeLabel = document.createElement('span');
    modeLabel.textContent = 'Mode';
    this.mode = document.createElement('select');
    this.mode.id = 'tour-mode';
    for (const [value, text] of MODES) this.mode.append(new Option(text, value));
    modeRow.append(modeLabel, this.mode);
    this.steps = document.createElement('ol');
    this.steps.className = 'tour-steps';
    this.steps.id = 'tour-steps';
    const nav = document.createElement('div');
    nav.className = 'row tour-nav';
    this.prev = button('tour-prev', 'Back', 'The previous step');
    this.position = document.createElement('span');
    this.position.className = 'tour-position';
    this.position.id = 'tour-position';
    this.next = button('tour-next', 'Next', 'The next step');
    nav.append(this.prev, this.position, this.next);
    this.note = document.createElement('div');
    this.note.className = 'tour-note';
    this.progressList = document.createElement('ul');
    this.progressList.className = 'tour-progress';
    this.progressList.id = 'tour-progress';
    parent.append(this.title, modeRow, nav, this.steps, this.note, this.progressList);

    this.caption = document.createElement('div');
    this.caption.className = 'tour-caption';
    this.caption.id = 'tour-caption';
    this.caption.hidden = true;
    this.captionTitle = document.createElement('div');
    this.captionTitle.className = 'tour-caption-title';
    this.captionText = document.createElement('div');
    this.captionText.className = 'tour-caption-text';
    this.caption.append(this.captionTitle, this.captionText);
    overlay.append(this.caption);

    this.handlers = [
      [this.prev, 'click', () => this.send({ type: 'tour', move: 'prev' })],
      [this.next, 'click', () => this.send({ type: 'tour', move: 'next' })],
      [this.mode, 'change', () => this.send({ type: 'tour_mode', mode: this.mode.value })],
      [this.steps, 'click', (event) => this.#stepClick(event)],
    ];
    for (const [target, type, handler] of this.handlers) target.addEventListener(type, handler);
    this.#render();
  }

  /** Whether this page's role may drive the tour (mode, guided steps): host, presenter, participants of an open session. */
  setDrives(drives) {
    this.drives = drives;
    this.#render();
  }

  /** `tour`, `tour_step`, `tour_progress`. */
  onMessage(message) {
    if (message.type === 'tour') {
      this.outline = message;
      if (message.mode === 'off') this.current = null;
      if (message.mode !== 'self_paced') this.progress = null;
    } else if (message.type === 'tour_step') {
      this.current = message;
      this.onStep(message);
    } else if (message.type === 'tour_progress') {
      this.progress = message;
    } else {
      return;
    }
    this.#render();
  }

  /** A new connection: the server tells the tour again. */
  reset() {
    this.outline = null;
    this.current = null;
    this.progress = null;
    this.#render();
  }

  /** For `App.state()`. */
  state() {
    if (!this.outline) return null;
    return {
      title: this.outline.title,
      mode: this.outline.mode,
      count: this.outline.count,
      step: this.current?.step ?? null,
      caption: this.caption.hidden ? null : this.captionText.textContent,
      progress: this.progress ? { ...this.progress.steps } : null,
    };
  }

  dispose() {
    for (const [target, type, handler] of this.handlers) target.removeEventListener(type, handler);
    this.caption.remove();
  }

  #stepClick(event) {
    const row = event.target.closest('.tour-step');
    if (!row || !this.outline || !mayMove(this.outline.mode, this.drives)) return;
    this.send({ type: 'tour', move: 'goto', step: Number(row.dataset.step) });
  }

  #render() {
    const outline = this.outline;
    this.section.hidden = outline === null;
    if (!outline) {
      this.caption.hidden = true;
      return;
    }
    const mode = outline.mode;
    const step = this.current && mode !== 'off' ? this.current.step : null;
    const moves = mayMove(mode, this.drives);
    this.title.textContent = outline.title || 'Guided tour';
    this.mode.value = mode;
    this.mode.disabled = !this.drives;
    this.mode.title = this.drives ? 'Off, guided (everyone sees your step) or self-paced (each on their own)'
      : 'The host or the presenter chooses the mode';
    this.steps.replaceChildren(...outline.titles.map((title, i) => {
      const row = document.createElement('li');
      row.className = 'tour-step';
      row.dataset.step = String(i);
      if (i === step) row.setAttribute('aria-current', 'step');
      row.dataset.clickable = String(moves);
      row.textContent = title || `Step ${i + 1}`;
      return row;
    }));
    this.prev.disabled = !moves || step === null || step <= 0;
    this.next.disabled = !moves || step === null || step >= outline.count - 1;
    this.position.textContent = step === null ? `${outline.count} steps` : `Step ${step + 1} of ${outline.count}`;
    this.note.textContent = mode === 'off' ? (this.drives ? 'Choose a mode to start the tour.' : 'The tour has not started.')
      : mode === 'guided' && !this.drives ? 'The presenter leads the tour.'
        : mode === 'self_paced' ? 'Everyone walks the tour at their own pace.' : '';
    const rows = this.progress ? progressRows(this.progress.steps, this.names, outline.titles) : [];
    this.progressList.replaceChildren(...rows.map((r) => {
      const li = document.createElement('li');
      li.dataset.member = r.member;
      li.textContent = `${r.name}: step ${r.step + 1}${r.title ? ` · ${r.title}` : ''}`;
      return li;
    }));
    this.progressList.hidden = rows.length === 0;
    const shown = step !== null ? this.current : null;
    this.caption.hidden = shown === null;
    if (shown) {
      this.captionTitle.textContent = `${shown.title || `Step ${shown.step + 1}`} · ${shown.step + 1}/${shown.count}`;
      this.captionText.textContent = shown.caption;
      this.captionText.hidden = !shown.caption;
    }
  }
}
