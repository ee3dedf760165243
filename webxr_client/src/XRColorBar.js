import * as THREE from 'three';
import { formatNumber } from './ColorBar.js';
import { ColormapTexture } from './ColormapTexture.js';
import { XRModelSphere } from './XRModelSphere.js';
import { XR_HEIGHT_M } from './XRPlacement.js';

const CANVAS_W = 896;
const CANVAS_H = 256;
/** Size of a canvas pixel in the headset (m): 0.45 mm, so the bar is 40 cm by 11.5 cm (a table-size model's width). */
export const METRES_PER_PX = 0.00045;
/** The smallest text on the bar (px): 36 px is 16 mm, 1.3 degrees at 0.7 m, as large as the twin panel's. */
export const TEXT_PX = 36;
const TITLE_PX = 42;
/** Gap (m) between the model's bounding sphere and the bar's top edge. */
const GAP_M = 0.04;
/** The bar stands this far (m) nearer the user than the model's centre, as the panels beside it do. */
const FORWARD_M = 0.1;
/** The bar stays this high (m) above the floor; a life-size model that reaches lower has it in front of it instead. */
const LOWEST_M = 0.3;
/** The bar turns to face eyes this far (m) above the model's placed centre (1.6 m at the default 1.2 m). */
const EYES_ABOVE_M = 0.4;
const PAD = 22;
const STRIP_TOP = PAD + TITLE_PX + 26;
const STRIP_BOTTOM = STRIP_TOP + 80;
const TICK_PX = 12;
const LABEL_Y = STRIP_BOTTOM + TICK_PX + 8 + TEXT_PX / 2;
const COLORS = { panel: 'rgba(20, 24, 33, 0.92)', text: '#e8ebf2', dim: '#9aa3b5' };

/**
 * The shown field's colour scale in the headset: a canvas texture on a quad under the model (the
 * panels float to its left and right), turned to face the user, with the field's name and unit, the
 * colour map as a strip, lowest value on the left, and the display range under it. It follows the
 * model when the model moves and is redrawn only when what it shows changes (field, unit, colour
 * map, range).
 */
export class XRColorBar {
  /**
   * @param {import('./Viewer.js').Viewer} viewer
   * @param {import('./XRMode.js').XRMode} mode
   * @param {() => import('./FieldDisplay.js').FieldDisplay|null} display the field shown now (null: none); asked every frame, must not allocate
   * @param {() => THREE.Sphere} sphere the scene's bounding sphere (scene coordinates; may allocate: asked only after a scene change)
   */
  constructor(viewer, mode, display, sphere) {
    this.viewer = viewer;
    this.mode = mode;
    this.display = display;
    this.model = new XRModelSphere(viewer, sphere);
    this.canvas = document.createElement('canvas');
    this.canvas.width = CANVAS_W;
    this.canvas.height = CANVAS_H;
    this.context = this.canvas.getContext('2d');
    this.texture = new THREE.CanvasTexture(this.canvas);
    this.texture.colorSpace = THREE.SRGBColorSpace;
    this.texture.anisotropy = 4;
    this.mesh = new THREE.Mesh(
      new THREE.PlaneGeometry(CANVAS_W * METRES_PER_PX, CANVAS_H * METRES_PER_PX),
      new THREE.MeshBasicMaterial({ map: this.texture, transparent: true, toneMapped: false }),
    );
    this.mesh.name = 'xr-color-bar';
    this.mesh.visible = false;
    this.mesh.raycast = () => {};
    viewer.scene.add(this.mesh);
    this.redraws = 0;
    /** What the canvas shows now (compared every frame, so no string is built per frame). */
    this.shown = { display: null, name: '', components: 1, title: '', unit: '', colormap: '', lo: NaN, hi: NaN, labels: 0 };
  }

  /** The scene changed (or the session started): measure it again before placing the bar. */
  sceneChanged() {
    this.model.sceneChanged();
  }

  /** Once per XR frame, after the model's grab: show the field's scale beside the model, redrawn when it changed. */
  update() {
    const display = this.mode.presenting ? this.display() : null;
    if (!display) {
      this.mesh.visible = false;
      return;
    }
    if (!this.mesh.visible) this.sceneChanged();
    this.mesh.visible = true;
    if (this.#changed(display)) this.#draw(display);
    this.#place();
  }

  /** For `XRView.state()`: what the bar shows, where, and how large its text is. */
  state() {
    const m = this.mesh;
    const quaternion = m.getWorldQuaternion(new THREE.Quaternion());
    const shown = this.shown;
    return {
      visible: m.visible,
      title: shown.title,
      unit: shown.unit,
      colormap: shown.colormap,
      range: shown.display ? [shown.lo, shown.hi] : null,
      redraws: this.redraws,
      position: m.getWorldPosition(new THREE.Vector3()).toArray(),
      normal: new THREE.Vector3(0, 0, 1).applyQuaternion(quaternion).toArray(),
      size: [CANVAS_W * METRES_PER_PX, CANVAS_H * METRES_PER_PX],
      textHeightM: TEXT_PX * METRES_PER_PX,
      /** Where the strip's middle is on the canvas (px), to read the colour drawn there. */
      stripMiddle: [CANVAS_W / 2, (STRIP_TOP + STRIP_BOTTOM) / 2],
    };
  }

  dispose() {
    this.mesh.removeFromParent();
    this.mesh.geometry.dispose();
    this.mesh.material.dispose();
    this.texture.dispose();
  }

  #changed(display) {
    const s = this.shown;
    // name and components, not `title`: that getter builds a string
    return s.display !== display || s.name !== display.name || s.components !== display.components || s.unit !== display.unit
      || s.colormap !== display.colormap || s.lo !== display.lo || s.hi !== display.hi || s.labels !== display.labels;
  }

  #draw(display) {
    const s = this.shown;
    s.display = display;
    s.name = display.name;
    s.components = display.components;
    s.title = display.title;
    s.unit = display.unit;
    s.colormap = display.colormap;
    s.lo = display.lo;
    s.hi = display.hi;
    s.labels = display.labels;
    this.redraws += 1;
    const g = this.context;
    g.clearRect(0, 0, CANVAS_W, CANVAS_H);
    g.fillStyle = COLORS.panel;
    g.beginPath();
    g.roundRect(0, 0, CANVAS_W, CANVAS_H, 24);
    g.fill();
    g.textBaseline = 'top';
    g.textAlign = 'left';
    g.fillStyle = COLORS.text;
    g.font = `600 ${TITLE_PX}px system-ui, sans-serif`;
    g.fillText(s.title, PAD, PAD, CANVAS_W - 2 * PAD);
    const titleWidth = Math.min(g.measureText(s.title).width, CANVAS_W - 2 * PAD);
    g.fillStyle = COLORS.dim;
    g.font = `${TEXT_PX}px system-ui, sans-serif`;
    g.textBaseline = 'alphabetic';
    if (s.unit) g.fillText(`(${s.unit})`, PAD + titleWidth + 14, PAD + TITLE_PX * 0.8, Math.max(CANVAS_W - 3 * PAD - titleWidth, 1));
    this.#strip(g, s);
    this.texture.needsUpdate = true;
  }

  /** The colour map, lowest value on the left, with the range's ends and middle (or the label numbers) under it. */
  #strip(g, s) {
    const rgba = ColormapTexture.table(s.colormap);
    const texels = rgba.length / 4;
    const width = CANVAS_W - 2 * PAD;
    for (let x = 0; x < width; x++) {
      const k = Math.min(texels - 1, Math.floor((x / width) * texels)) * 4;
      g.fillStyle = `rgb(${rgba[k]}, ${rgba[k + 1]}, ${rgba[k + 2]})`;
      g.fillRect(PAD + x, STRIP_TOP, 1, STRIP_BOTTOM - STRIP_TOP);
    }
    const categorical = s.labels > 0;
    const ticks = [
      [PAD, 'left', categorical ? '0' : formatNumber(s.lo)],
      [CANVAS_W / 2, 'center', categorical ? '' : formatNumber((s.lo + s.hi) / 2)],
      [CANVAS_W - PAD, 'right', categorical ? String(s.labels - 1) : formatNumber(s.hi)],
    ];
    g.fillStyle = COLORS.text;
    g.font = `${TEXT_PX}px system-ui, sans-serif`;
    g.textBaseline = 'middle';
    for (const [x, align, text] of ticks) {
      if (!text) continue;
      g.fillRect(Math.min(Math.max(x - 1.5, PAD), CANVAS_W - PAD - 3), STRIP_BOTTOM, 3, TICK_PX);
      g.textAlign = align;
      g.fillText(text, x, LABEL_Y, width / 3);
    }
  }

  /** Under the model, its top edge clear of it, turned to face the user's eyes. */
  #place() {
    if (!this.model.moved()) return;
    const { centre, radius } = this.model;
    const height = CANVAS_H * METRES_PER_PX;
    const lowest = this.mode.height - XR_HEIGHT_M + LOWEST_M + height / 2; // the floor is XR_HEIGHT_M under the placed centre
    const under = centre.y - radius - GAP_M - height / 2;
    const m = this.mesh;
    if (under >= lowest) m.position.set(centre.x, under, centre.z + FORWARD_M);
    else m.position.set(centre.x, lowest, centre.z + radius + GAP_M); // the model reaches the floor: in front of it
    m.lookAt(0, this.mode.height + EYES_ABOVE_M, 0); // the user stands near the reference space's origin
    m.updateMatrixWorld(true);
  }
}
