import { button } from './button.js';
import { XR_MODES, xrSupport } from './XRSupport.js';

/**
 * "Enter VR" / "Enter AR" buttons and the life/table size toggle. Each button is enabled only when
 * its mode can start; otherwise it is disabled and the reason is its tooltip and a visible note
 * ("This browser has no WebXR"). While a session runs, its button reads "Exit VR" / "Exit AR".
 */
export class XRButtons {
  /**
   * @param {HTMLElement} parent
   * @param {{ onEnter: (mode: string) => void, onExit: () => void, onSize: () => void }} callbacks
   */
  constructor(parent, { onEnter, onExit, onSize }) {
    this.element = document.createElement('div');
    this.element.className = 'xr-buttons';
    this.element.id = 'xr-buttons';
    const row = document.createElement('div');
    row.className = 'row buttons';
    /** mode -> its button */
    this.buttons = new Map();
    for (const { mode, label } of XR_MODES) {
      const element = button(`xr-${label.toLowerCase()}-button`, `Enter ${label}`, 'Checking for WebXR…');
      element.dataset.mode = mode;
      element.disabled = true;
      this.buttons.set(mode, element);
      row.append(element);
    }
    this.sizeButton = button('xr-size-button', 'Table size', 'Immersive view: the model fits a table (about 40 cm); click for life size');
    this.sizeButton.dataset.size = 'table';
    row.append(this.sizeButton);
    this.note = document.createElement('div');
    this.note.className = 'xr-note';
    this.note.id = 'xr-note';
    this.note.textContent = 'Checking for WebXR…';
    this.element.append(row, this.note);
    parent.append(this.element);
    /** mode -> {supported, reason} once checked */
    this.support = null;
    this.presenting = null;
    this.handleClick = (event) => {
      const mode = event.currentTarget.dataset.mode;
      if (this.presenting === mode) onExit();
      else if (this.presenting === null) onEnter(mode);
    };
    this.handleSize = () => onSize();
    for (const element of this.buttons.values()) element.addEventListener('click', this.handleClick);
    this.sizeButton.addEventListener('click', this.handleSize);
  }

  /** Ask the browser what it supports (navigator.xr, secure context) and label the buttons. */
  async check() {
    this.support = await xrSupport({ xr: navigator.xr, secure: window.isSecureContext });
    this.#label();
    return this.support;
  }

  /** The running session's mode, or null once it ended. */
  setPresenting(mode) {
    this.presenting = mode;
    this.#label();
  }

  /** Show the size the immersive view uses ('table' | 'life'). */
  setSize(size) {
    this.sizeButton.dataset.size = size;
    this.sizeButton.textContent = size === 'table' ? 'Table size' : 'Life size';
    this.sizeButton.title = size === 'table'
      ? 'Immersive view: the model fits a table (about 40 cm); click for life size'
      : "Immersive view: the model at its own scale (metres); click for table size";
  }

  /** A session could not start: say why under the buttons. */
  showError(text) {
    this.note.textContent = text;
    this.note.hidden = false;
  }

  dispose() {
    for (const element of this.buttons.values()) element.removeEventListener('click', this.handleClick);
    this.sizeButton.removeEventListener('click', this.handleSize);
    this.element.remove();
  }

  #label() {
    if (!this.support) return;
    const reasons = [];
    for (const { mode, label } of XR_MODES) {
      const element = this.buttons.get(mode);
      const { supported, reason } = this.support[mode];
      element.disabled = !supported || (this.presenting !== null && this.presenting !== mode);
      element.textContent = this.presenting === mode ? `Exit ${label}` : `Enter ${label}`;
      element.title = supported ? `View the scene in ${label} (WebXR ${mode})` : reason;
      element.dataset.reason = reason ?? '';
      if (reason && !reasons.includes(reason)) reasons.push(reason);
    }
    this.note.textContent = reasons.join(' · ');
    this.note.hidden = reasons.length === 0;
  }
}
