import * as THREE from 'three';
import { XRButtons } from './XRButtons.js';
import { XRClipPlane } from './XRClipPlane.js';
import { XRColorBar } from './XRColorBar.js';
import { XRGrab } from './XRGrab.js';
import { XRHitTest } from './XRHitTest.js';
import { XRMode } from './XRMode.js';
import { XRFieldSection } from './XRFieldSection.js';
import { XRPanel } from './XRPanel.js';
import { XRPointers } from './XRPointers.js';
import { XRProbeLabel } from './XRProbeLabel.js';
import { XRTimeSection } from './XRTimeSection.js';
import { XRToggleSection } from './XRToggleSection.js';
import { XRTwinSection } from './XRTwinSection.js';

/**
 * The immersive view's parts, wired together: the Enter VR / AR buttons (in the desktop panel),
 * the session (XRMode), the controllers' rays (XRPointers) and the probe's label in the headset
 * (XRProbeLabel), grabbing the model with one or two hands (XRGrab) and, in AR, placing it on a
 * real surface by hit test (XRHitTest), the clipping plane's handle (XRClipPlane) and the shown
 * field's colour bar (XRColorBar). What a trigger on a surface means is the app's business (`onSelect`).
 */
export class XRView {
  /**
   * @param {import('./Viewer.js').Viewer} viewer
   * @param {import('./Prober.js').Prober} prober
   * @param {HTMLElement} parent where the buttons go
   * @param {{ views: () => object[], bounds: () => import('three').Box3, onSelect: (picked: object) => void,
   *   twinPanel: import('./TwinPanel.js').TwinPanel, timeControls: import('./TimeControls.js').TimeControls,
   *   fieldPicker: import('./FieldPicker.js').FieldPicker, objectList: import('./ObjectList.js').ObjectList }} hooks
   *   the desktop controls the headset's panels (XRPanel) show and drive: the twin's on the left of the
   *   model, playback, field and colour map (and `addPanelToggle` switches) on the right
   * @param {import('./ClipPlane.js').ClipPlane} hooks.clip the desktop clip section the headset's plane starts from
   * @param {() => import('./FieldDisplay.js').FieldDisplay|null} hooks.display the field shown now (asked every frame, must not allocate)
   */
  constructor(viewer, prober, parent, { views, bounds, onSelect, twinPanel, timeControls, fieldPicker, objectList, clip, display }) {
    this.viewer = viewer;
    this.mode = new XRMode(viewer, { bounds, onChange: () => this.#changed() });
    this.pointers = new XRPointers(viewer, views, {
      onSelect,
      onToggleSize: () => this.mode.toggleSize(),
      stopAt: (index) => this.#panelDistance(index),
      canSelect: (index) => !this.hitTest.placing && !this.grab.dragged(index) && !this.clip.took(index),
    });
    this.grab = new XRGrab(viewer, {
      hovering: (index) => this.pointers.pointers[index].hover !== null,
      yields: (index) => this.clip.at(index), // a hand at the clip plane's handle takes the handle, not the model
    });
    this.hitTest = new XRHitTest(viewer, { bounds, onPlaced: () => this.grab.release() });
    const sceneSphere = new THREE.Sphere();
    const sphere = () => bounds().getBoundingSphere(sceneSphere);
    const nearest = (index) => this.#panelDistance(index);
    this.clip = new XRClipPlane(viewer, clip, sphere);
    this.colorBar = new XRColorBar(viewer, this.mode, display, sphere);
    const twin = [new XRTwinSection(twinPanel)];
    this.panel = new XRPanel(viewer, this.mode, { name: 'xr-twin-panel', side: -1, sections: twin, sphere, nearest });
    this.toggles = new XRToggleSection();
    const scene = [new XRTimeSection(timeControls), new XRFieldSection(fieldPicker, objectList), this.toggles];
    this.scenePanel = new XRPanel(viewer, this.mode, { name: 'xr-scene-panel', side: 1, sections: scene, sphere, nearest });
    this.addPanelToggle({
      name: 'clip', label: 'Clip plane', value: () => this.clip.enabled, toggle: () => this.clip.setEnabled(!this.clip.enabled),
    });
    this.label = new XRProbeLabel(viewer, prober);
    this.buttons = new XRButtons(parent, {
      onEnter: (mode) => this.#enter(mode),
      onExit: () => this.mode.exit(),
      onSize: () => this.mode.toggleSize(),
    });
    this.buttons.check();
    viewer.xrFrame = () => {
      this.mode.frame();
      this.panel.update(); // before the rays: a ray that meets a panel stops there
      this.scenePanel.update();
      this.hitTest.update();
      this.grab.update();
      this.clip.update(); // after the grab: the handle rides on the model as drawn this frame
      this.colorBar.update();
      this.pointers.update();
      this.label.update();
    };
  }

  /** Place the content again (the scene changed while in the headset). */
  place() {
    this.mode.place();
    this.panel.sceneChanged();
    this.scenePanel.sceneChanged();
    this.colorBar.sceneChanged();
    if (this.mode.presenting) this.clip.reset();
    this.grab.restart();
  }

  /**
   * Put an on/off switch on the headset's scene panel: `{name, label, value: () => boolean, toggle:
   * () => void, enabled?: () => boolean}`. Returns a function that takes it off again.
   */
  addPanelToggle(toggle) {
    return this.toggles.add(toggle);
  }

  /** For `App.state()`: why each mode is unavailable (null: available) and what the headset shows. */
  state() {
    const support = this.buttons.support;
    return {
      support: support && Object.fromEntries(Object.entries(support).map(([mode, s]) => [mode, s.reason])),
      presenting: this.viewer.renderer.xr.isPresenting,
      mode: this.mode.mode,
      size: this.mode.size,
      scale: this.viewer.content.scale.x,
      centre: this.mode.presenting ? this.mode.centre.toArray() : null,
      frames: this.mode.frames,
      hovered: this.pointers.hovered(),
      selects: this.pointers.selects,
      probe: this.label.sprite.visible ? this.label.text : null,
      panel: this.panel.state(),
      scenePanel: this.scenePanel.state(),
      position: this.viewer.content.position.toArray(),
      grab: { holding: this.grab.holding(), grabs: this.grab.grabs },
      hitTest: this.hitTest.state(),
      clip: this.clip.state(),
      colorBar: this.colorBar.state(),
    };
  }

  dispose() {
    this.viewer.xrFrame = null;
    this.mode.dispose();
    this.pointers.dispose();
    this.grab.dispose();
    this.hitTest.dispose();
    this.clip.dispose();
    this.colorBar.dispose();
    this.panel.dispose();
    this.scenePanel.dispose();
    this.label.dispose();
    this.buttons.dispose();
  }

  async #enter(mode) {
    try {
      await this.mode.enter(mode);
      if (mode === 'immersive-ar' && this.mode.session) await this.hitTest.start(this.mode.session);
    } catch (error) {
      this.buttons.showError(`Could not start ${mode === 'immersive-ar' ? 'AR' : 'VR'}: ${error.message}`);
    }
  }

  /** Distance (m) along controller `index`'s ray to the nearest panel (Infinity: it meets none). */
  #panelDistance(index) {
    return Math.min(this.panel.distance(index), this.scenePanel.distance(index));
  }

  #changed() {
    if (!this.mode.presenting) {
      this.hitTest.stop();
      this.grab.release();
      this.clip.stop(); // the desktop's clipping comes back as the desktop section says now
    } else {
      if (!this.clip.presenting) this.clip.start();
      this.grab.restart(); // the size toggle placed the model again: a hand holding it goes on from there
    }
    this.buttons.setPresenting(this.mode.mode);
    this.buttons.setSize(this.mode.size);
  }
}
