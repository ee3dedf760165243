import * as THREE from 'three';
import { formatNumber } from './ColorBar.js';

/** A press that moves farther than this (CSS px) is an orbit drag, not a probe click. */
export const CLICK_SLOP_PX = 5;

/**
 * Click a surface to read the shown field there: a floating label at the hit point with the value
 * (interpolated between the triangle's vertices; a label field's nearest vertex) and its unit. The
 * label stays on the point while the camera moves and follows new frames during playback.
 */
export class Prober {
  /**
   * @param {import('./Viewer.js').Viewer} viewer
   * @param {HTMLElement} overlay positioned element over the canvas, holds the label
   * @param {() => import('./ObjectView.js').ObjectView[]} views the current objects
   * @param {{claimClick?: (clientX: number, clientY: number) => boolean, onProbe?: () => void}} [hooks]
   *   `claimClick` may take a click for something else (a twin tool; true: taken, no probe);
   *   `onProbe` is told when the probed point changes or goes
   */
  constructor(viewer, overlay, views, { claimClick = () => false, onProbe = () => {} } = {}) {
    this.viewer = viewer;
    this.views = views;
    this.claimClick = claimClick;
    this.onProbe = onProbe;
    this.label = document.createElement('div');
    this.label.className = 'probe-label';
    this.label.id = 'probe-label';
    this.label.hidden = true;
    this.marker = document.createElement('div');
    this.marker.className = 'probe-marker';
    this.marker.hidden = true;
    overlay.append(this.marker, this.label);
    this.probe = null;
    /** The label's text ('' without a probe). */
    this.text = '';
    this.down = null;
    this.screen = new THREE.Vector3();
    this.handleDown = (event) => {
      this.down = event.button === 0 ? { x: event.clientX, y: event.clientY } : null;
    };
    this.handleUp = (event) => {
      if (!this.down || event.button !== 0) return;
      const moved = Math.hypot(event.clientX - this.down.x, event.clientY - this.down.y);
      this.down = null;
      if (moved <= CLICK_SLOP_PX && !this.claimClick(event.clientX, event.clientY)) this.probeAt(event.clientX, event.clientY);
    };
    viewer.canvas.addEventListener('pointerdown', this.handleDown);
    viewer.canvas.addEventListener('pointerup', this.handleUp);
  }

  /** Probe what is under a canvas point (client coordinates); clears the label over empty space. */
  probeAt(clientX, clientY) {
    const picked = this.viewer.pick(clientX, clientY, this.views());
    if (!picked) {
      this.clear();
      return null;
    }
    return this.probeHit(picked);
  }

  /**
   * Probe a hit found by a ray (`Viewer.pick`'s answer, or a headset controller's). The point is
   * kept in content coordinates, so the label stays on it when the content moves (immersive view).
   */
  probeHit(picked) {
    const { hit, view, side } = picked;
    this.placedX = NaN;
    this.probe = {
      view,
      side,
      mesh: hit.object,
      face: hit.face ? { a: hit.face.a, b: hit.face.b, c: hit.face.c } : null,
      barycoord: hit.barycoord ? hit.barycoord.clone() : null,
      index: hit.index ?? null,
      point: this.viewer.content.worldToLocal(hit.point.clone()),
      value: null,
    };
    this.refresh();
    this.viewer.requestRender();
    this.onProbe();
    return this.probe;
  }

  /** Recompute the value (after a new frame, a field change or a range change). */
  refresh() {
    const probe = this.probe;
    if (!probe) return;
    if (probe.view.disposed) {
      this.clear();
      return;
    }
    const field = probe.view.activeField;
    const value = probe.face
      ? probe.view.valueAt(probe.mesh, probe.face, probe.barycoord)
      : probe.view.valueAt(probe.mesh, null, probe.index);
    probe.value = value;
    let text;
    if (!field || value === null) text = `${probe.view.name}: no field shown`;
    else if (Number.isNaN(value)) text = `${field.name}: no data`;
    else text = `${field.name} = ${formatNumber(value)}${field.unit ? ` ${field.unit}` : ''}`;
    this.text = text;
    this.label.textContent = text;
    this.label.title = probe.view.name;
    this.label.dataset.value = value === null ? '' : String(value);
    this.label.hidden = false;
    this.marker.hidden = false;
  }

  /** Keep the label on its point; called after every drawn frame (no allocation). */
  place() {
    if (!this.probe) return;
    const s = this.viewer.toScreen(this.probe.point, this.probe.side, this.screen);
    if (s.x === this.placedX && s.y === this.placedY) return;
    this.placedX = s.x;
    this.placedY = s.y;
    const hidden = s.z > 1 || (this.viewer.split && !this.viewer.split.includes(this.probe.view));
    this.label.style.visibility = this.marker.style.visibility = hidden ? 'hidden' : 'visible';
    this.label.style.transform = `translate(${s.x + 10}px, ${s.y - 12}px) translateY(-100%)`;
    this.marker.style.transform = `translate(${s.x - 4}px, ${s.y - 4}px)`;
  }

  clear() {
    const had = this.probe !== null;
    this.probe = null;
    this.text = '';
    this.label.hidden = true;
    this.marker.hidden = true;
    if (had) this.onProbe();
  }

  dispose() {
    this.viewer.canvas.removeEventListener('pointerdown', this.handleDown);
    this.viewer.canvas.removeEventListener('pointerup', this.handleUp);
    this.label.remove();
    this.marker.remove();
  }
}
