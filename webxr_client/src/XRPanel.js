import * as THREE from 'three';
import { XRModelSphere } from './XRModelSphere.js';
import { XRPanelPainter } from './XRPanelPainter.js';
import { XRPanelSignature } from './XRPanelSignature.js';
import {
  PANEL_WIDTH_M, controlAt, layoutPanel, panelHeightM, pixelX, pixelY, pokeStep, rangePosition, sliderFraction, trackY,
} from './XRPanelLayout.js';

/** Gap (m) between the model's bounding sphere and the panel's near edge. */
const GAP_M = 0.06;
/** The panel leans this far (m) towards the user from the model's centre. */
const FORWARD_M = 0.1;
/** A fingertip this close (m) in front of a control highlights it. */
const POKE_HOVER_M = 0.06;
/** How often (ms) the panel checks whether what its sections show changed (server broadcasts, holds ending). */
const POLL_MS = 200;

/**
 * A panel in the headset: a canvas drawn as a texture on a plane that floats beside the model (left
 * or right of it, following it when it is grabbed or placed), turned to face the user. Its content
 * is a stack of sections (XRTwinSection, XRTimeSection, ...), each a second face of desktop controls:
 * a section lays out its rows, says what each shows, and acts on a press; the panel places the plane,
 * meets controller rays and fingertips with it, drags sliders (the desktop range input's pointerdown,
 * input, change), and repaints (XRPanelPainter) only when something shown changed.
 *
 * A section: `{id, shown(), key(), rows(), sign(signature), text(key), look(control), press(control),
 * slider(control), values(), dispose?()}`. Asked every frame, `shown()`, `key()` (a number or string
 * that changes when the rows must be laid out again) and `sign()` (adds, to an XRPanelSignature, the
 * primitive values its texts and controls are drawn from) must not allocate; `text()` and `look()`
 * are asked only when the signature changed.
 */
export class XRPanel {
  /**
   * @param {import('./Viewer.js').Viewer} viewer
   * @param {import('./XRMode.js').XRMode} mode
   * @param {object} options
   * @param {string} options.name the mesh's name
   * @param {-1|1} options.side left (-1) or right (1) of the model
   * @param {object[]} options.sections in the order drawn
   * @param {() => THREE.Sphere} options.sphere the scene's bounding sphere (scene coordinates, so it may allocate: asked only when the content moved)
   * @param {(index: number) => number} [options.nearest] the nearest panel along controller `index`'s ray (m): a press goes to that one
   */
  constructor(viewer, mode, { name, side, sections, sphere, nearest }) {
    this.viewer = viewer;
    this.mode = mode;
    this.side = side;
    this.sections = sections;
    this.sectionById = new Map(sections.map((s) => [s.id, s]));
    this.model = new XRModelSphere(viewer, sphere);
    this.nearest = nearest ?? ((index) => this.distance(index));
    this.canvas = document.createElement('canvas');
    this.painter = new XRPanelPainter(this.canvas.getContext('2d'));
    this.texture = new THREE.CanvasTexture(this.canvas);
    this.texture.colorSpace = THREE.SRGBColorSpace;
    this.texture.anisotropy = 4;
    this.mesh = new THREE.Mesh(
      new THREE.PlaneGeometry(1, 1),
      // one pass for both faces: three.js draws a transparent double-sided material twice otherwise,
      // flipping its side and bumping its version (a program lookup) on every draw
      new THREE.MeshBasicMaterial({ map: this.texture, transparent: true, side: THREE.DoubleSide, forceSinglePass: true, toneMapped: false }),
    );
    this.mesh.name = name;
    this.mesh.visible = false;
    viewer.scene.add(this.mesh);
    this.layout = layoutPanel([]);
    this.layoutKey = new XRPanelSignature();
    this.looks = { texts: [], controls: [] };
    this.signature = new XRPanelSignature();
    this.hovered = new Set();
    this.polledAt = -Infinity;
    this.redraws = 0;
    this.raycaster = new THREE.Raycaster();
    this.toLocal = new THREE.Matrix4();
    this.planePoint = new THREE.Vector3();
    this.planeNormal = new THREE.Vector3();
    this.hitPoint = new THREE.Vector3();
    this.pointers = [0, 1].map((index) => this.#pointer(index));
    this.fingers = [0, 1].map((index) => this.#finger(index));
  }

  /** The scene changed (or the session started): measure it again before placing the panel. */
  sceneChanged() {
    this.model.sceneChanged();
    this.#changed();
  }

  /** Distance (m) from controller `index` to the panel along its ray this frame (Infinity: it misses). */
  distance(index) {
    const pointer = this.pointers[index];
    if (!pointer || !pointer.onPanel) return Infinity;
    return pointer.drag >= 0 ? 0 : pointer.distance; // a drag holds the trigger: it is the panel's
  }

  /** Once per XR frame: follow the sections, place, aim the rays, drag, and repaint when needed. */
  update() {
    const visible = this.mode.presenting && this.#anyShown();
    if (visible && !this.mesh.visible) this.sceneChanged();
    this.mesh.visible = visible;
    if (!visible) {
      for (const pointer of this.pointers) pointer.onPanel = false;
      for (const finger of this.fingers) if (finger.pressed) this.#release(finger);
      for (const finger of this.fingers) finger.pressed = false;
      return;
    }
    const now = performance.now();
    const due = now - this.polledAt >= POLL_MS;
    if (due) this.#relayout();
    this.#place();
    let hoverChanged = false;
    for (let i = 0; i < this.pointers.length; i++) {
      const pointer = this.pointers[i];
      const before = pointer.hover;
      this.#aim(pointer);
      if (pointer.drag >= 0 && pointer.onPanel) this.#dragTo(pointer);
      hoverChanged ||= pointer.hover !== before;
    }
    for (let i = 0; i < this.fingers.length; i++) {
      const finger = this.fingers[i];
      const before = finger.hover;
      this.#poke(finger);
      hoverChanged ||= finger.hover !== before;
    }
    if (due || hoverChanged) {
      this.polledAt = now;
      this.#repaint();
    }
  }

  /** For `App.state()`: the panel's pose, its controls in world space (m) and what they show. */
  state() {
    const m = this.mesh;
    m.updateMatrixWorld(true);
    const world = (x, y) => this.#local(x, y, new THREE.Vector3()).applyMatrix4(m.matrixWorld).toArray();
    const values = {};
    for (const section of this.sections) if (section.shown()) Object.assign(values, section.values());
    const named = (p) => (p.hover >= 0 ? this.layout.controls[p.hover]?.name ?? null : null);
    return {
      visible: m.visible,
      position: m.getWorldPosition(new THREE.Vector3()).toArray(),
      quaternion: m.getWorldQuaternion(new THREE.Quaternion()).toArray(),
      normal: new THREE.Vector3(0, 0, 1).applyQuaternion(m.getWorldQuaternion(new THREE.Quaternion())).toArray(),
      size: [m.scale.x, m.scale.y],
      sections: [...new Set(this.layout.controls.map((c) => c.section))],
      controls: this.layout.controls.map((c, i) => {
        const look = this.looks.controls[i];
        const entry = {
          section: c.section, kind: c.kind, role: c.role, name: c.name, centre: world(c.x + c.w / 2, c.y + c.h / 2),
          label: look?.label ?? null, active: look?.active ?? null, enabled: look?.enabled ?? null,
        };
        if (c.kind === 'slider') {
          entry.left = world(c.trackX, trackY(c));
          entry.right = world(c.trackX + c.trackW, trackY(c));
        }
        return entry;
      }),
      values,
      hovered: this.pointers.map(named),
      touched: this.fingers.map(named),
      pokes: this.fingers.reduce((n, f) => n + f.pokes, 0),
      redraws: this.redraws,
    };
  }

  dispose() {
    for (const pointer of this.pointers) {
      pointer.controller.removeEventListener('selectstart', pointer.handleStart);
      pointer.controller.removeEventListener('selectend', pointer.handleEnd);
    }
    for (const section of this.sections) section.dispose?.();
    this.mesh.removeFromParent();
    this.mesh.geometry.dispose();
    this.mesh.material.dispose();
    this.texture.dispose();
  }

  // --- pointing ---

  #pointer(index) {
    const controller = this.viewer.renderer.xr.getController(index);
    const pointer = { index, controller, onPanel: false, distance: Infinity, x: 0, y: 0, hover: -1, drag: -1, position: NaN, slider: null };
    pointer.handleStart = () => {
      if (!this.mesh.visible) return;
      this.#aim(pointer);
      if (pointer.onPanel && pointer.hover >= 0 && pointer.distance <= this.nearest(index)) this.#press(pointer, pointer.hover);
    };
    pointer.handleEnd = () => this.#release(pointer);
    controller.addEventListener('selectstart', pointer.handleStart);
    controller.addEventListener('selectend', pointer.handleEnd);
    return pointer;
  }

  /**
   * Where the controller's ray meets the panel's plane (its own arithmetic, so nothing is allocated
   * per frame). A dragging pointer keeps its slider while the ray slides past the panel's edge.
   */
  #aim(pointer) {
    pointer.onPanel = false;
    pointer.hover = -1;
    if (!pointer.controller.visible) return;
    pointer.controller.updateMatrixWorld(true);
    const { ray } = this.raycaster.setFromXRController(pointer.controller);
    const normal = this.planeNormal.set(0, 0, 1).applyQuaternion(this.mesh.quaternion);
    const facing = ray.direction.dot(normal);
    if (facing >= 0) return; // from behind or along it
    const t = this.planePoint.copy(this.mesh.position).sub(ray.origin).dot(normal) / facing;
    if (t <= 0) return;
    const local = ray.at(t, this.hitPoint).applyMatrix4(this.toLocal);
    const u = local.x + 0.5;
    const v = local.y + 0.5;
    const inside = u >= 0 && u <= 1 && v >= 0 && v <= 1;
    if (!inside && pointer.drag < 0) return;
    pointer.onPanel = true;
    pointer.distance = inside ? t : Infinity;
    pointer.x = pixelX(this.layout, u);
    pointer.y = pixelY(this.layout, v);
    pointer.hover = pointer.drag >= 0 ? pointer.drag : controlAt(this.layout, pointer.x, pointer.y);
  }

  /** An index fingertip of a tracked hand: touching the panel presses, moving along drags, backing off lets go. */
  #finger(index) {
    const hand = this.viewer.renderer.xr.getHand(index); // asking for it makes three.js track the joints
    return { hand, pressed: false, inFront: false, x: 0, y: 0, hover: -1, drag: -1, position: NaN, slider: null, onPanel: false, pokes: 0 };
  }

  #poke(finger) {
    const tip = finger.hand.joints?.['index-finger-tip'];
    if (!tip || !tip.visible || !finger.hand.visible) {
      if (finger.pressed) this.#release(finger);
      finger.pressed = false;
      finger.inFront = false;
      finger.hover = -1;
      return;
    }
    const local = tip.getWorldPosition(this.hitPoint).applyMatrix4(this.toLocal);
    const u = local.x + 0.5;
    const v = local.y + 0.5;
    const inside = u >= 0 && u <= 1 && v >= 0 && v <= 1;
    finger.x = pixelX(this.layout, u);
    finger.y = pixelY(this.layout, v);
    const step = pokeStep(finger.pressed, local.z, inside, finger.inFront);
    finger.inFront = local.z > 0; // where it was this frame: a press must come from in front
    if (step === 'press') {
      finger.pressed = true;
      finger.pokes += 1;
      const index = controlAt(this.layout, finger.x, finger.y);
      if (index >= 0) this.#press(finger, index);
    } else if (step === 'release') {
      finger.pressed = false;
      this.#release(finger);
    } else if (finger.drag >= 0) {
      this.#dragTo(finger);
    }
    finger.hover = finger.drag >= 0 ? finger.drag : inside && local.z < POKE_HOVER_M ? controlAt(this.layout, finger.x, finger.y) : -1;
  }

  /** The trigger (or a fingertip) went down on control `index`: a button acts at once, a slider starts a drag. */
  #press(pointer, index) {
    const control = this.layout.controls[index];
    const section = this.sectionById.get(control.section);
    if (control.kind === 'slider') {
      const slider = section.slider(control);
      if (!slider || slider.disabled) return;
      pointer.drag = index;
      pointer.slider = slider;
      pointer.position = NaN;
      slider.dispatchEvent(new Event('pointerdown'));
      this.#dragTo(pointer);
    } else {
      section.press(control);
    }
    this.#changed();
  }

  /** A dragging pointer moved along the slider: set the desktop range input there (its owner sends). */
  #dragTo(pointer) {
    const control = this.layout.controls[pointer.drag];
    const { slider } = pointer;
    const position = rangePosition(sliderFraction(control, pointer.x), Number(slider.min), Number(slider.max));
    if (position === pointer.position) return;
    pointer.position = position;
    slider.value = String(position);
    slider.dispatchEvent(new Event('input'));
    this.#changed();
  }

  /** The trigger came up (or the finger left): a drag ends and sends its last value. */
  #release(pointer) {
    if (pointer.drag < 0) return;
    const { slider } = pointer;
    pointer.drag = -1;
    pointer.slider = null;
    pointer.position = NaN;
    // the order a mouse gives: pointerup ends the drag (and holds broadcasts off briefly), change sends the last value
    window.dispatchEvent(new Event('pointerup'));
    slider.dispatchEvent(new Event('change'));
    this.#changed();
  }

  /** Something the panel shows changed: look again on the next frame. */
  #changed() {
    this.polledAt = -Infinity;
  }

  // --- layout, placement, paint ---

  #anyShown() {
    for (let i = 0; i < this.sections.length; i++) if (this.sections[i].shown()) return true;
    return false;
  }

  /** Lay the rows out again when the sections shown, or their rows, changed. */
  #relayout() {
    const key = this.layoutKey;
    key.begin();
    for (let i = 0; i < this.sections.length; i++) {
      const section = this.sections[i];
      if (!section.shown()) continue;
      key.add(section.id);
      key.add(section.key());
    }
    if (!key.end()) return;
    const shown = this.sections.filter((s) => s.shown());
    for (const pointer of [...this.pointers, ...this.fingers]) this.#release(pointer);
    this.layout = layoutPanel(shown.map((s) => ({ id: s.id, rows: s.rows() })));
    this.canvas.width = this.layout.width;
    this.canvas.height = this.layout.height;
    this.mesh.scale.set(PANEL_WIDTH_M, panelHeightM(this.layout), 1);
    this.model.again(); // place again: the size changed
    this.signature.reset();
  }

  /**
   * Paint when what the sections show (their signatures) or the hover changed: only then are the
   * texts and controls' looks asked for, drawn, and the texture uploaded again.
   */
  #repaint() {
    const signature = this.signature;
    signature.begin();
    for (let i = 0; i < this.sections.length; i++) {
      const section = this.sections[i];
      if (section.shown()) section.sign(signature);
    }
    for (let i = 0; i < this.pointers.length; i++) signature.add(this.pointers[i].hover);
    for (let i = 0; i < this.fingers.length; i++) signature.add(this.fingers[i].hover);
    if (!signature.end()) return;
    const { texts, controls } = this.layout;
    const section = (item) => this.sectionById.get(item.section);
    this.looks = { texts: texts.map((t) => section(t).text(t.key)), controls: controls.map((c) => section(c).look(c)) };
    const hovered = this.hovered;
    hovered.clear();
    for (const p of this.pointers) if (p.hover >= 0) hovered.add(p.hover);
    for (const f of this.fingers) if (f.hover >= 0) hovered.add(f.hover);
    this.redraws += 1;
    this.painter.paint(this.layout, this.looks, hovered);
    this.texture.needsUpdate = true;
  }

  /** Beside the model, its near edge clear of it, turned about the vertical to face the user. */
  #place() {
    if (!this.model.moved()) return;
    const { centre, radius } = this.model;
    this.mesh.position.set(centre.x + this.side * (radius + GAP_M + PANEL_WIDTH_M / 2), centre.y, centre.z + FORWARD_M);
    // the user stands near the reference space's origin
    this.mesh.rotation.set(0, Math.atan2(-this.mesh.position.x, -this.mesh.position.z), 0);
    this.mesh.updateMatrixWorld(true);
    this.toLocal.copy(this.mesh.matrixWorld).invert();
  }

  /** Canvas pixel (x, y) in the plane's own coordinates (a unit plane scaled to the panel's size). */
  #local(x, y, out) {
    return out.set(x / this.layout.width - 0.5, 0.5 - y / this.layout.height, 0);
  }
}
