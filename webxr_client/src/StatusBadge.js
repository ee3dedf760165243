import { TRANSPORT_LABELS } from './TransportChooser.js';

const LABELS = {
  connecting: 'Connecting…',
  open: 'Connected',
  reconnecting: 'Reconnecting',
  closed: 'Disconnected',
};

/** The connection indicator in the panel header: a coloured dot and one line of text (with the transport in use). */
export class StatusBadge {
  /** @param {HTMLElement} parent */
  constructor(parent) {
    this.element = document.createElement('div');
    this.element.className = 'status-badge';
    this.element.id = 'status';
    this.dot = document.createElement('span');
    this.dot.className = 'status-dot';
    this.label = document.createElement('span');
    this.label.className = 'status-label';
    this.element.append(this.dot, this.label);
    parent.append(this.element);
    this.countdown = null;
    this.update({ state: 'connecting', detail: '' });
  }

  /** @param {{state: string, detail?: string, retryInMs?: number, rttMs?: number|null, transport?: string|null}} status */
  update({ state, detail = '', retryInMs = 0, rttMs = null, transport = null }) {
    clearInterval(this.countdown);
    this.element.dataset.state = state;
    this.element.dataset.transport = state === 'open' && transport ? transport : '';
    let text = LABELS[state] || state;
    if (state === 'open' && transport) text += ` · ${TRANSPORT_LABELS[transport] ?? transport}`;
    if (state === 'open' && rttMs !== null) text += ` · ${Math.round(rttMs)} ms`;
    if (state === 'closed' && detail) text += `: ${detail}`;
    this.label.textContent = text;
    this.element.title = detail || text;
    if (state === 'reconnecting') {
      const until = performance.now() + retryInMs;
      const tick = () => {
        const left = Math.max(0, Math.ceil((until - performance.now()) / 1000));
        this.label.textContent = `${detail || 'Connection lost'} · retry in ${left} s`;
      };
      tick();
      this.countdown = setInterval(tick, 250);
    }
  }

  dispose() {
    clearInterval(this.countdown);
    this.element.remove();
  }
}
