import * as THREE from 'three';
import { TwinSliderScale } from './TwinSliderScale.js';
import { prettyUnit } from './TwinParameterControl.js';
import {
  PANEL_WIDTH_M, TRACK_H, controlAt, layoutPanel, nextChoice, panelHeightM, pixelX, pixelY, pokeStep, sliderFraction,
} from './XRPanelLayout.js';

/** Gap (m) between the model's bounding sphere and the panel's near edge. */
const GAP_M = 0.06;
/** The panel leans this far (m) towards the user from the model's centre. */
const FORWARD_M = 0.1;
/** A fingertip this close (m) in front of a control highlights it. */
const POKE_HOVER_M = 0.06;
/** How often (ms) the panel checks whether the desktop controls changed (server broadcasts, holds ending). */
const POLL_MS = 200;
const FONT = '34px system-ui, sans-serif';
const SMALL_FONT = '28px system-ui, sans-serif';
const COLORS = {
  panel: 'rgba(20, 24, 33, 0.92)', text: '#e8ebf2', dim: '#9aa3b5', button: '#2b3242', hover: '#3a4a66',
  active: '#4cc9f0', activeText: '#0b1020', track: '#3a4152', fill: '#4cc9f0', error: '#ff8a80',
};
const STATE_LABELS = { starting: 'Starting…', running: 'Running', paused: 'Paused', restarting: 'Restarting', failed: 'Failed' };

/**
 * The live twin's controls in the headset: a canvas drawn as a texture on a plane that floats to
 * the left of the model, facing the user. It is a second face of the desktop {@link
 * import('./TwinPanel.js').TwinPanel}: it reads what the desktop controls show and drives them
 * (a slider's input and change events, the buttons' clicks), so throttling, holds, refusals and
 * requests stay in one place. The canvas is redrawn only when something it shows changes.
 */
export class XRPanel {
  /**
   * @param {import('./Viewer.js').Viewer} viewer
   * @param {import('./TwinPanel.js').TwinPanel} twinPanel
   * @param {import('./XRMode.js').XRMode} mode
   * @param {() => THREE.Sphere} sphere the scene's bounding sphere (scene coordinates, so it may allocate: asked only when the content moved)
   */
  constructor(viewer, twinPanel, mode, sphere) {
    this.viewer = viewer;
    this.twinPanel = twinPanel;
    this.mode = mode;
    this.sphere = sphere;
    this.sceneSphere = new THREE.Sphere();
    this.sphereStale = true;
    this.centre = new THREE.Vector3();
    this.canvas = document.createElement('canvas');
    this.context = this.canvas.getContext('2d');
    this.texture = new THREE.CanvasTexture(this.canvas);
    this.texture.colorSpace = THREE.SRGBColorSpace;
    this.texture.anisotropy = 4;
    this.mesh = new THREE.Mesh(
      new THREE.PlaneGeometry(1, 1),
      new THREE.MeshBasicMaterial({ map: this.texture, transparent: true, side: THREE.DoubleSide, toneMapped: false }),
    );
    this.mesh.name = 'xr-twin-panel';
    this.mesh.visible = false;
    viewer.scene.add(this.mesh);
    this.layout = layoutPanel([], []);
    this.schemaKey = '';
    this.scales = new Map();
    this.signature = '';
    this.polledAt = -Infinity;
    this.redraws = 0;
    /** The content's pose the panel was placed for (NaN: place it again). */
    this.placedFor = new THREE.Matrix4().set(NaN, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
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
    this.sphereStale = true;
    this.placedFor.elements[0] = NaN;
  }

  /** Distance (m) from controller `index` to the panel along its ray this frame (Infinity: it misses). */
  distance(index) {
    const pointer = this.pointers[index];
    if (!pointer || !pointer.onPanel) return Infinity;
    return pointer.drag >= 0 ? 0 : pointer.distance; // a drag holds the trigger: it is the panel's
  }

  /** Once per XR frame: follow the schema, place, aim the rays, drag, and redraw when needed. */
  update() {
    const status = this.twinPanel.status;
    const visible = Boolean(status) && this.mode.presenting;
    if (visible && !this.mesh.visible) this.sceneChanged();
    this.mesh.visible = visible;
    if (!visible) {
      for (const pointer of this.pointers) pointer.onPanel = false;
      for (const finger of this.fingers) if (finger.pressed) this.#release(finger);
      for (const finger of this.fingers) finger.pressed = false;
      return;
    }
    if (this.twinPanel.schemaKey !== this.schemaKey) this.#rebuild(status);
    this.#place();
    let hoverChanged = false;
    for (const pointer of this.pointers) {
      const before = pointer.hover;
      this.#aim(pointer);
      if (pointer.drag >= 0 && pointer.onPanel) this.#dragTo(pointer);
      hoverChanged ||= pointer.hover !== before;
    }
    for (const finger of this.fingers) {
      const before = finger.hover;
      this.#poke(finger);
      hoverChanged ||= finger.hover !== before;
    }
    const now = performance.now();
    if (hoverChanged || now - this.polledAt >= POLL_MS) {
      this.polledAt = now;
      const signature = this.#signature();
      if (hoverChanged || signature !== this.signature) {
        this.signature = signature;
        this.#draw();
      }
    }
  }

  /** For `App.state()`: the panel's pose, its controls in world space (m) and what it shows. */
  state() {
    const m = this.mesh;
    m.updateMatrixWorld(true);
    const world = (x, y) => this.#local(x, y, new THREE.Vector3()).applyMatrix4(m.matrixWorld).toArray();
    return {
      visible: m.visible,
      position: m.getWorldPosition(new THREE.Vector3()).toArray(),
      quaternion: m.getWorldQuaternion(new THREE.Quaternion()).toArray(),
      normal: new THREE.Vector3(0, 0, 1).applyQuaternion(m.getWorldQuaternion(new THREE.Quaternion())).toArray(),
      size: [m.scale.x, m.scale.y],
      controls: this.layout.controls.map((c) => {
        const entry = { kind: c.kind, name: c.name, centre: world(c.x + c.w / 2, c.y + c.h / 2) };
        if (c.kind === 'slider') {
          const y = c.y + c.h - TRACK_H / 2 - 8;
          entry.left = world(c.trackX, y);
          entry.right = world(c.trackX + c.trackW, y);
        }
        return entry;
      }),
      values: Object.fromEntries(this.layout.controls.filter((c) => c.info).map((c) => [c.name, this.#value(c)])),
      hovered: this.pointers.map((p) => (p.hover >= 0 ? this.layout.controls[p.hover]?.name ?? null : null)),
      touched: this.fingers.map((f) => (f.hover >= 0 ? this.layout.controls[f.hover]?.name ?? null : null)),
      pokes: this.fingers.reduce((n, f) => n + f.pokes, 0),
      redraws: this.redraws,
    };
  }

  dispose() {
    for (const pointer of this.pointers) {
      pointer.controller.removeEventListener('selectstart', pointer.handleStart);
      pointer.controller.removeEventListener('selectend', pointer.handleEnd);
    }
    this.mesh.removeFromParent();
    this.mesh.geometry.dispose();
    this.mesh.material.dispose();
    this.texture.dispose();
  }

  // --- pointing ---

  #pointer(index) {
    const controller = this.viewer.renderer.xr.getController(index);
    const pointer = { controller, onPanel: false, distance: Infinity, x: 0, y: 0, hover: -1, drag: -1, position: -1 };
    pointer.handleStart = () => {
      if (!this.mesh.visible) return;
      this.#aim(pointer);
      if (pointer.onPanel && pointer.hover >= 0) this.#press(pointer, this.layout.controls[pointer.hover]);
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

  /** The trigger came up (or the finger left): a drag ends and sends its last value. */
  #release(pointer) {
    if (pointer.drag < 0) return;
    const control = this.#desktop(this.layout.controls[pointer.drag]);
    pointer.drag = -1;
    pointer.position = -1;
    if (control?.slider) {
      // the order a mouse gives: pointerup ends the drag (and holds broadcasts off briefly), change sends the last value
      window.dispatchEvent(new Event('pointerup'));
      control.slider.dispatchEvent(new Event('change'));
    }
    this.#changed();
  }

  /** An index fingertip of a tracked hand: touching the panel presses, moving along drags, backing off lets go. */
  #finger(index) {
    const hand = this.viewer.renderer.xr.getHand(index); // asking for it makes three.js track the joints
    return { hand, pressed: false, inFront: false, x: 0, y: 0, hover: -1, drag: -1, position: -1, onPanel: false, pokes: 0 };
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
      finger.hover = controlAt(this.layout, finger.x, finger.y);
      if (finger.hover >= 0) this.#press(finger, this.layout.controls[finger.hover]);
    } else if (step === 'release') {
      finger.pressed = false;
      this.#release(finger);
    } else if (finger.drag >= 0) {
      this.#dragTo(finger);
    }
    finger.hover = finger.drag >= 0 ? finger.drag : inside && local.z < POKE_HOVER_M ? controlAt(this.layout, finger.x, finger.y) : -1;
  }

  /** The trigger went down on `control`: buttons act at once, a slider starts a drag. */
  #press(pointer, control) {
    const panel = this.twinPanel;
    const desktop = this.#desktop(control);
    switch (control.kind) {
      case 'play': panel.play.click(); break;
      case 'reset': panel.reset.click(); break;
      case 'tool':
      case 'action':
        for (const button of panel.tools.buttons.querySelectorAll('button[data-action]')) {
          if (button.dataset.action === control.name) button.click();
        }
        break;
      case 'toggle': desktop?.checkbox?.click(); break;
      case 'choice':
        if (desktop?.select && !desktop.select.disabled) {
          desktop.select.value = nextChoice(control.info.choices, desktop.select.value);
          desktop.select.dispatchEvent(new Event('change'));
        }
        break;
      case 'slider':
        if (!desktop?.slider || desktop.slider.disabled) break;
        pointer.drag = this.layout.controls.indexOf(control);
        pointer.position = -1;
        desktop.slider.dispatchEvent(new Event('pointerdown'));
        this.#dragTo(pointer);
        break;
      default:
    }
    this.#changed();
  }

  /** A dragging pointer moved along the slider: set the desktop slider there (its throttle sends). */
  #dragTo(pointer) {
    const control = this.layout.controls[pointer.drag];
    const slider = this.#desktop(control)?.slider;
    if (!slider) return;
    const scale = this.scales.get(control.name);
    const position = Math.round(sliderFraction(control, pointer.x) * scale.steps);
    if (position === pointer.position) return;
    pointer.position = position;
    slider.value = String(position);
    slider.dispatchEvent(new Event('input'));
    this.#changed();
  }

  /** Something the panel shows changed: redraw on the next frame. */
  #changed() {
    this.polledAt = -Infinity;
    this.signature = '';
  }

  // --- layout and drawing ---

  #rebuild(status) {
    this.schemaKey = this.twinPanel.schemaKey;
    this.layout = layoutPanel(status.parameters || [], status.actions || []);
    this.scales.clear();
    for (const c of this.layout.controls) if (c.kind === 'slider') this.scales.set(c.name, new TwinSliderScale(c.info));
    this.canvas.width = this.layout.width;
    this.canvas.height = this.layout.height;
    this.mesh.scale.set(PANEL_WIDTH_M, panelHeightM(this.layout), 1);
    this.placedFor.elements[0] = NaN; // place again: the size changed
    for (const pointer of [...this.pointers, ...this.fingers]) pointer.drag = -1;
    this.#changed();
  }

  /** To the left of the model, its near edge clear of it, turned about the vertical to face the user. */
  #place() {
    const content = this.viewer.content.matrixWorld; // as drawn last frame: placed, grabbed or scaled
    if (content.equals(this.placedFor)) return;
    this.placedFor.copy(content);
    if (this.sphereStale) this.sceneSphere.copy(this.sphere());
    this.sphereStale = false;
    const sphere = this.sceneSphere;
    const centre = this.centre.copy(sphere.center).applyMatrix4(content);
    const radius = sphere.radius * this.viewer.content.scale.x;
    this.mesh.position.set(centre.x - radius - GAP_M - PANEL_WIDTH_M / 2, centre.y, centre.z + FORWARD_M);
    // the user stands near the reference space's origin
    this.mesh.rotation.set(0, Math.atan2(-this.mesh.position.x, -this.mesh.position.z), 0);
    this.mesh.updateMatrixWorld(true);
    this.toLocal.copy(this.mesh.matrixWorld).invert();
  }

  /** The desktop TwinParameterControl behind a parameter's control (undefined for buttons). */
  #desktop(control) {
    return control && this.twinPanel.controls.get(control.name);
  }

  /** The value a parameter's desktop control shows now. */
  #value(control) {
    const desktop = this.#desktop(control);
    if (!desktop) return null;
    if (desktop.checkbox) return desktop.checkbox.checked;
    if (desktop.select) return desktop.select.value;
    return this.scales.get(control.name).toValue(desktop.slider.value);
  }

  /** What the panel shows, as text: checked a few times a second, not every frame. */
  #signature() {
    const panel = this.twinPanel;
    let text = `${panel.status?.state}|${panel.activeTool}|${panel.errorText}`;
    for (const control of this.layout.controls) if (control.info) text += `|${this.#value(control)}`;
    return text;
  }

  #draw() {
    this.redraws += 1;
    const g = this.context;
    const { width, height, controls } = this.layout;
    const panel = this.twinPanel;
    const state = panel.status?.state;
    const usable = state === 'running' || state === 'paused';
    const hovered = new Set([...this.pointers, ...this.fingers].map((p) => p.hover));
    g.clearRect(0, 0, width, height);
    g.fillStyle = COLORS.panel;
    roundRect(g, 0, 0, width, height, 28);
    g.fill();
    g.textBaseline = 'middle';
    g.font = FONT;
    g.fillStyle = COLORS.text;
    g.textAlign = 'left';
    g.fillText(`Live twin · ${STATE_LABELS[state] || state || ''}`, controls[0].x, 24 + 32);
    if (panel.errorText) {
      g.font = SMALL_FONT;
      g.fillStyle = COLORS.error;
      g.fillText(clip(g, panel.errorText, width - 48), 24, this.layout.messageY + 26);
    }
    const actions = controls.filter((c) => c.kind === 'tool' || c.kind === 'action');
    if (actions.length > 0) {
      g.font = SMALL_FONT;
      g.fillStyle = COLORS.dim;
      g.fillText(panel.activeTool ? `Tool: ${panel.activeTool} — point at the heart and pull the trigger` : 'Actions', 24, this.layout.toolsY + 28);
    }
    controls.forEach((c, i) => {
      const hover = hovered.has(i);
      switch (c.kind) {
        case 'play': this.#button(c, state === 'running' ? '❚❚  Pause' : '▶  Play', hover, false, usable); break;
        case 'reset': this.#button(c, 'Reset', hover, false, state !== 'starting'); break;
        case 'tool': this.#button(c, c.name, hover, panel.activeTool === c.name, usable); break;
        case 'action': this.#button(c, c.name, hover, false, usable); break;
        case 'toggle': this.#button(c, `${c.name}: ${this.#value(c) ? 'on' : 'off'}`, hover, Boolean(this.#value(c)), usable); break;
        case 'choice': this.#button(c, `${c.name}: ${this.#value(c)}  ▸`, hover, false, usable); break;
        case 'slider': this.#slider(c, hover, usable); break;
        default:
      }
    });
    this.texture.needsUpdate = true;
  }

  #button(c, label, hover, active, enabled) {
    const g = this.context;
    g.globalAlpha = enabled ? 1 : 0.45;
    g.fillStyle = active ? COLORS.active : hover ? COLORS.hover : COLORS.button;
    roundRect(g, c.x, c.y, c.w, c.h, 16);
    g.fill();
    g.fillStyle = active ? COLORS.activeText : COLORS.text;
    g.font = FONT;
    g.textAlign = 'center';
    g.fillText(clip(g, label, c.w - 24), c.x + c.w / 2, c.y + c.h / 2);
    g.textAlign = 'left';
    g.globalAlpha = 1;
  }

  #slider(c, hover, enabled) {
    const g = this.context;
    const desktop = this.#desktop(c);
    const scale = this.scales.get(c.name);
    const value = this.#value(c);
    const fraction = desktop ? Number(desktop.slider.value) / scale.steps : 0;
    g.globalAlpha = enabled ? 1 : 0.45;
    if (hover) {
      g.fillStyle = COLORS.button;
      roundRect(g, c.x, c.y, c.w, c.h, 16);
      g.fill();
    }
    g.font = FONT;
    g.fillStyle = COLORS.text;
    g.textAlign = 'left';
    g.fillText(c.name, c.x + 12, c.y + 36);
    g.textAlign = 'right';
    const unit = prettyUnit(c.info.unit);
    g.fillText(`${desktop ? desktop.number.value : value}${unit ? ` ${unit}` : ''}`, c.x + c.w - 12, c.y + 36);
    g.textAlign = 'left';
    const trackY = c.y + c.h - TRACK_H / 2 - 8;
    g.fillStyle = COLORS.track;
    roundRect(g, c.trackX, trackY - 8, c.trackW, 16, 8);
    g.fill();
    g.fillStyle = COLORS.fill;
    roundRect(g, c.trackX, trackY - 8, Math.max(16, c.trackW * fraction), 16, 8);
    g.fill();
    g.beginPath();
    g.arc(c.trackX + c.trackW * fraction, trackY, TRACK_H / 2, 0, Math.PI * 2);
    g.fill();
    g.globalAlpha = 1;
  }

  /** Canvas pixel (x, y) in the plane's own coordinates (a unit plane scaled to the panel's size). */
  #local(x, y, out) {
    return out.set(x / this.layout.width - 0.5, 0.5 - y / this.layout.height, 0);
  }
}

function roundRect(g, x, y, w, h, r) {
  g.beginPath();
  g.roundRect(x, y, w, h, r);
}

/** `text` cut with an ellipsis to fit `width` px in the current font. */
function clip(g, text, width) {
  if (g.measureText(text).width <= width) return text;
  let cut = text;
  while (cut.length > 1 && g.measureText(`${cut}…`).width > width) cut = cut.slice(0, -1);
  return `${cut}…`;
}
