import * as THREE from 'three';

const AXES = { x: new THREE.Vector3(1, 0, 0), y: new THREE.Vector3(0, 1, 0), z: new THREE.Vector3(0, 0, 1) };

/**
 * A clipping plane across the scene: on/off, the axis it is normal to, which side stays, and its
 * position as a slider over the scene's bounding box. `planes` is what the renderer clips with
 * (an empty array when off), so materials need no change.
 */
export class ClipPlane {
  /**
   * @param {HTMLElement} parent
   * @param {() => void} onChange called after any change (a render is needed)
   */
  constructor(parent, onChange) {
    this.onChange = onChange;
    this.plane = new THREE.Plane(new THREE.Vector3(-1, 0, 0), 0);
    this.planes = [];
    this.bounds = new THREE.Box3(new THREE.Vector3(-1, -1, -1), new THREE.Vector3(1, 1, 1));
    this.element = document.createElement('div');
    this.element.className = 'clip-plane';
    const row = document.createElement('div');
    row.className = 'row';
    const enableLabel = document.createElement('label');
    enableLabel.className = 'inline';
    this.enabled = document.createElement('input');
    this.enabled.type = 'checkbox';
    this.enabled.id = 'clip-enabled';
    enableLabel.append(this.enabled, document.createTextNode(' Clip'));
    this.axis = document.createElement('select');
    this.axis.id = 'clip-axis';
    for (const name of Object.keys(AXES)) this.axis.append(new Option(name.toUpperCase(), name));
    const flipLabel = document.createElement('label');
    flipLabel.className = 'inline';
    this.flip = document.createElement('input');
    this.flip.type = 'checkbox';
    this.flip.id = 'clip-flip';
    flipLabel.append(this.flip, document.createTextNode(' Flip'));
    row.append(enableLabel, this.axis, flipLabel);
    this.slider = document.createElement('input');
    this.slider.type = 'range';
    this.slider.id = 'clip-position';
    this.slider.min = '0';
    this.slider.max = '1';
    this.slider.step = '0.001';
    this.slider.value = '0.5';
    this.element.append(row, this.slider);
    parent.append(this.element);
    this.handler = () => this.#apply();
    for (const input of [this.enabled, this.axis, this.flip, this.slider]) input.addEventListener('input', this.handler);
    this.#apply(false);
  }

  /** The box the slider spans (the scene's bounds, in world coordinates). */
  setBounds(box) {
    if (box.isEmpty()) return;
    this.bounds.copy(box);
    this.#apply();
  }

  /** Set the plane as a tour step says: `{axis: 'x'|'y'|'z', position: 0..1, flip}`, or null for no clipping. */
  setState(clip) {
    this.enabled.checked = clip !== null;
    if (clip) {
      this.axis.value = clip.axis;
      this.slider.value = String(clip.position);
      this.flip.checked = clip.flip;
    }
    this.#apply();
  }

  dispose() {
    for (const input of [this.enabled, this.axis, this.flip, this.slider]) input.removeEventListener('input', this.handler);
    this.element.remove();
  }

  #apply(notify = true) {
    const axis = this.axis.value;
    const lo = this.bounds.min[axis];
    const hi = this.bounds.max[axis];
    const position = lo + (hi - lo) * Number(this.slider.value);
    const keepBelow = !this.flip.checked;
    this.plane.normal.copy(AXES[axis]).multiplyScalar(keepBelow ? -1 : 1);
    this.plane.constant = keepBelow ? position : -position;
    const on = this.enabled.checked;
    this.slider.disabled = this.axis.disabled = this.flip.disabled = !on;
    if (on !== (this.planes.length > 0)) this.planes = on ? [this.plane] : [];
    if (notify) this.onChange();
  }
}
