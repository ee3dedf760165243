import { canvasSprite } from './canvasSprite.js';

/** Label height (m) as it appears in the headset, whatever the content's scale. */
export const LABEL_HEIGHT_M = 0.03;
/** Gap (m) between the probed point and the label's bottom edge. */
const LABEL_LIFT_M = 0.02;
const CANVAS_W = 512;
const CANVAS_H = 96;

/**
 * The probe's value in the headset: a sprite that always faces the user, drawn from a canvas, above
 * the probed point. It shows the Prober's text (the same value the desktop label shows) and is
 * redrawn only when that text changes.
 */
export class XRProbeLabel {
  /**
   * @param {import('./Viewer.js').Viewer} viewer
   * @param {import('./Prober.js').Prober} prober
   */
  constructor(viewer, prober) {
    this.viewer = viewer;
    this.prober = prober;
    Object.assign(this, canvasSprite({
      width: CANVAS_W, height: CANVAS_H, heightM: LABEL_HEIGHT_M, name: 'xr-probe-label', renderOrder: 10,
    }));
    this.sprite.center.set(0.5, 0);
    viewer.scene.add(this.sprite);
    this.text = '';
  }

  /** Once per XR frame: follow the probed point (content coordinates) and its text. */
  update() {
    const probe = this.prober.probe;
    this.sprite.visible = probe !== null;
    if (!probe) return;
    if (this.prober.text !== this.text) this.#draw(this.prober.text);
    this.sprite.position.copy(probe.point).applyMatrix4(this.viewer.content.matrixWorld);
    this.sprite.position.y += LABEL_LIFT_M;
  }

  hide() {
    this.sprite.visible = false;
  }

  dispose() {
    this.sprite.removeFromParent();
    this.material.dispose();
    this.texture.dispose();
  }

  #draw(text) {
    this.text = text;
    const ctx = this.context;
    ctx.clearRect(0, 0, CANVAS_W, CANVAS_H);
    ctx.fillStyle = 'rgba(22, 24, 29, 0.85)';
    ctx.beginPath();
    ctx.roundRect(0, 0, CANVAS_W, CANVAS_H, 18);
    ctx.fill();
    ctx.fillStyle = '#f2f4f8';
    ctx.font = '600 44px system-ui, sans-serif';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.fillText(text, CANVAS_W / 2, CANVAS_H / 2, CANVAS_W - 24);
    this.texture.needsUpdate = true;
  }
}
