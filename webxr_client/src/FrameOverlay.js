import * as THREE from 'three';
import { canvasSprite } from './canvasSprite.js';

/** How often (ms) the shown numbers change: readable, and the XR label's texture uploads rarely. */
const REFRESH_MS = 250;
const CANVAS_W = 512;
const CANVAS_H = 128;
/** The XR label: its height (m) and where it floats relative to the head (m: right, up, ahead). */
const LABEL_HEIGHT_M = 0.06;
const LABEL_OFFSET = new THREE.Vector3(-0.12, -0.14, -0.6);

/**
 * The debug mode's frame-time overlay: the viewer's FrameStats as a small text in the viewport's
 * corner on the desktop, and in the headset as a label floating below-left of the view (placed from
 * the head pose each XR frame). Off unless `?debug=1` or the ` key turns it on.
 */
export class FrameOverlay {
  /**
   * @param {import('./Viewer.js').Viewer} viewer
   * @param {HTMLElement} parent the viewport overlay the corner text goes in
   */
  constructor(viewer, parent) {
    this.viewer = viewer;
    this.stats = viewer.frameStats;
    this.element = document.createElement('div');
    this.element.id = 'frame-overlay';
    this.element.className = 'frame-overlay';
    this.element.hidden = true;
    // Styled here, not in styles.css: a debug aid that lives and dies with this module.
    this.element.style.cssText = 'position:absolute;right:8px;bottom:8px;padding:3px 6px;border-radius:4px;'
      + 'background:rgba(20,22,27,0.85);color:#9fe6a0;font:12px ui-monospace,monospace;white-space:nowrap';
    parent.append(this.element);

    Object.assign(this, canvasSprite({
      width: CANVAS_W, height: CANVAS_H, heightM: LABEL_HEIGHT_M, name: 'xr-frame-overlay', renderOrder: 11,
    }));
    viewer.scene.add(this.sprite);

    this.enabled = false;
    this.text = '';
    this.shownAt = -Infinity;
    this.shownCalls = -1;
    this.shownTriangles = -1;
    this.head = new THREE.Vector3();
    this.headRotation = new THREE.Quaternion();
    this.headScale = new THREE.Vector3();
    this.lines = ['', ''];
    this.handleKey = (event) => {
      if (event.key !== '`' || event.target?.closest?.('input, textarea, select')) return;
      this.setEnabled(!this.enabled);
    };
    window.addEventListener('keydown', this.handleKey);
    viewer.afterFrame = () => this.update();
  }

  setEnabled(enabled) {
    this.enabled = enabled;
    this.element.hidden = !enabled;
    this.sprite.visible = false;
    this.shownAt = -Infinity;
    this.viewer.requestRender();
  }

  /** After every drawn frame: refresh the numbers now and then, keep the XR label in front of the head. */
  update() {
    if (!this.enabled) return;
    const xr = this.viewer.renderer.xr;
    const presenting = xr.isPresenting;
    this.sprite.visible = presenting;
    if (presenting) {
      // The XR camera holds the pose of the frame just drawn; the label follows one frame behind.
      const head = xr.getCamera();
      head.matrixWorld.decompose(this.head, this.headRotation, this.headScale);
      this.sprite.position.copy(LABEL_OFFSET).applyQuaternion(this.headRotation).add(this.head);
    }
    const now = performance.now();
    const s = this.stats;
    // Desktop frames are drawn on demand: a changed scene shows at once, not a quarter second late.
    const changed = s.calls !== this.shownCalls || s.triangles !== this.shownTriangles;
    if (now - this.shownAt < REFRESH_MS && !changed) return;
    this.shownAt = now;
    this.shownCalls = s.calls;
    this.shownTriangles = s.triangles;
    this.lines[0] = `${s.mean().toFixed(2)} ms mean  ${s.quantile(0.95).toFixed(2)} ms p95`;
    this.lines[1] = `${s.calls} calls  ${formatCount(s.triangles)} tris`;
    this.text = `${this.lines[0]}  ${this.lines[1]}`;
    this.element.textContent = this.text;
    if (presenting) this.#draw();
  }

  /** For `App.state().frame`: the numbers and what the overlay shows. */
  state() {
    return {
      ...this.stats.summary(),
      overlay: this.enabled ? this.text : null,
      xrLabel: this.enabled && this.sprite.visible,
    };
  }

  dispose() {
    window.removeEventListener('keydown', this.handleKey);
    this.viewer.afterFrame = null;
    this.element.remove();
    this.sprite.removeFromParent();
    this.material.dispose();
    this.texture.dispose();
  }

  #draw() {
    const ctx = this.context;
    ctx.clearRect(0, 0, CANVAS_W, CANVAS_H);
    ctx.fillStyle = 'rgba(22, 24, 29, 0.85)';
    ctx.beginPath();
    ctx.roundRect(0, 0, CANVAS_W, CANVAS_H, 14);
    ctx.fill();
    ctx.fillStyle = '#9fe6a0';
    ctx.font = '500 30px ui-monospace, monospace';
    ctx.textBaseline = 'middle';
    ctx.fillText(this.lines[0], 16, CANVAS_H * 0.3, CANVAS_W - 32);
    ctx.fillText(this.lines[1], 16, CANVAS_H * 0.7, CANVAS_W - 32);
    this.texture.needsUpdate = true;
  }
}

function formatCount(n) {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : String(n);
}
