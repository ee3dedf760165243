import { formatNumber } from './ColorBar.js';

/**
 * A corner of the 3D view: how long the last steering action took to show, from sending the
 * change to receiving the first twin frame computed with it. Hidden until the first measurement.
 */
export class LatencyBadge {
  /** @param {HTMLElement} overlay the positioned layer over the canvas */
  constructor(overlay) {
    this.element = document.createElement('div');
    this.element.className = 'latency-badge';
    this.element.id = 'latency-badge';
    this.element.title = 'Steering latency: from sending your last change to the first frame the twin computed with it';
    this.element.hidden = true;
    overlay.append(this.element);
    this.ms = null;
  }

  show(ms) {
    this.ms = ms;
    this.element.textContent = `steering ${formatNumber(Math.round(ms))} ms`;
    this.element.dataset.ms = String(ms);
    this.element.hidden = false;
  }

  hide() {
    this.ms = null;
    this.element.hidden = true;
  }

  dispose() {
    this.element.remove();
  }
}
