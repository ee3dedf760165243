import * as THREE from 'three';
import { BoundsTrees } from './BoundsTrees.js';

/** Length (m) of a ray that points at nothing. */
export const RAY_LENGTH_M = 3;
const RAY_COLOR = 0x9aa3b5;
const HOVER_COLOR = 0x4cc9f0;
/** Gamepad button (xr-standard mapping) that toggles life/table size: A on the right Touch controller, X on the left. */
const SIZE_BUTTON = 4;

/**
 * A ray from each tracked controller (three.js `renderer.xr.getController(i)`): it stops at the
 * surface it points at, where a reticle sits, and the hovered object gets a highlight box. Pulling
 * the trigger (`select`) on a surface hands the hit to `onSelect` as `{hit, view, side: 0}`, the
 * shape `Viewer.pick` returns, so the app treats it like a desktop click.
 */
export class XRPointers {
  /**
   * @param {import('./Viewer.js').Viewer} viewer
   * @param {() => import('./ObjectView.js').ObjectView[]} views the current objects
   * @param {{ onSelect: (picked: {hit: THREE.Intersection, view: object, side: number}) => void, onToggleSize: () => void, stopAt?: (index: number) => number }} hooks
   *   `stopAt`: how far (m) controller `index`'s ray goes before something else takes it (a panel); Infinity: nothing
   *   `trees`: the meshes' bounds trees (built on first use when not given)
   */
  constructor(viewer, views, { onSelect, onToggleSize, stopAt = () => Infinity, canSelect = () => true, trees = new BoundsTrees() }) {
    /** `canSelect(index)`: false while a select means something else (AR placement, the end of a pinch-drag). */
    this.canSelect = canSelect;
    this.viewer = viewer;
    this.views = views;
    this.onSelect = onSelect;
    this.onToggleSize = onToggleSize;
    this.stopAt = stopAt;
    this.raycaster = new THREE.Raycaster();
    this.raycaster.firstHitOnly = true; // three-mesh-bvh: the nearest hit per mesh is all a pointer needs
    this.trees = trees;
    this.hits = [];
    this.exhaustive = false;
    /** Casts the ray at one node of a view (bound once: `traverseVisible` calls it per node, no allocation). */
    this.castMesh = (node) => {
      if (!node.layers.test(this.raycaster.layers)) return;
      if (!node.isMesh || this.trees.ready(node) || this.exhaustive) node.raycast(this.raycaster, this.hits);
    };
    this.selects = 0;
    this.rayGeometry = new THREE.BufferGeometry().setFromPoints([new THREE.Vector3(0, 0, 0), new THREE.Vector3(0, 0, -1)]);
    this.reticleGeometry = new THREE.RingGeometry(0.004, 0.007, 24);
    this.highlightBox = new THREE.Box3();
    this.highlight = new THREE.Box3Helper(this.highlightBox, HOVER_COLOR);
    this.highlight.name = 'xr-hover-highlight';
    this.highlight.visible = false;
    viewer.content.add(this.highlight); // view bounds are in content coordinates
    this.normal = new THREE.Vector3();
    this.normalMatrix = new THREE.Matrix3();
    this.pointers = [0, 1].map((index) => this.#pointer(index));
  }

  /** Names of the objects each controller points at (null: nothing), left then right as connected. */
  hovered() {
    return this.pointers.map((p) => p.hover?.view.name ?? null);
  }

  /** Once per XR frame: aim each ray, find what it points at, move the reticle and the highlight. */
  update() {
    let highlighted = null;
    for (let i = 0; i < this.pointers.length; i++) {
      const pointer = this.pointers[i];
      if (!pointer.connected) continue;
      const stop = this.stopAt(pointer.index);
      const hover = this.#cast(pointer.controller, pointer.found) && pointer.found.hit.distance < stop ? pointer.found : null;
      pointer.hover = hover;
      const color = hover ? HOVER_COLOR : RAY_COLOR;
      pointer.ray.material.color.setHex(color);
      pointer.ray.scale.z = hover ? hover.hit.distance : Math.min(stop, RAY_LENGTH_M);
      pointer.reticle.visible = hover !== null;
      if (hover) {
        pointer.reticle.position.copy(hover.hit.point);
        if (hover.hit.face) {
          this.normal.copy(hover.hit.face.normal).applyMatrix3(this.normalMatrix.getNormalMatrix(hover.hit.object.matrixWorld)).normalize();
          pointer.reticle.lookAt(this.normal.add(hover.hit.point));
        }
        highlighted = highlighted ?? hover.view;
      }
      this.#pollSizeButton(pointer);
    }
    this.highlight.visible = highlighted !== null;
    if (highlighted) this.highlightBox.copy(highlighted.bounds);
  }

  dispose() {
    for (const pointer of this.pointers) {
      const { controller } = pointer;
      controller.removeEventListener('connected', pointer.handleConnected);
      controller.removeEventListener('disconnected', pointer.handleDisconnected);
      controller.removeEventListener('select', pointer.handleSelect);
      controller.removeEventListener('selectend', pointer.handleSelectEnd);
      controller.remove(pointer.ray);
      this.viewer.scene.remove(controller, pointer.reticle);
      pointer.ray.material.dispose();
      pointer.reticle.material.dispose();
    }
    this.rayGeometry.dispose();
    this.reticleGeometry.dispose();
    this.highlight.removeFromParent();
    this.highlight.dispose();
    this.trees.dispose();
  }

  #pointer(index) {
    const controller = this.viewer.renderer.xr.getController(index);
    const ray = new THREE.Line(this.rayGeometry, new THREE.LineBasicMaterial({ color: RAY_COLOR }));
    ray.name = 'xr-ray';
    ray.scale.z = RAY_LENGTH_M;
    ray.raycast = () => {};
    controller.add(ray);
    const reticle = new THREE.Mesh(this.reticleGeometry, new THREE.MeshBasicMaterial({ color: HOVER_COLOR, side: THREE.DoubleSide, depthTest: false }));
    reticle.name = 'xr-reticle';
    reticle.visible = false;
    reticle.raycast = () => {};
    this.viewer.scene.add(controller, reticle);
    const pointer = {
      index, controller, ray, reticle, connected: false, handedness: null, gamepad: null, sizeDown: false,
      /** What the ray hits this frame (`found`, reused every frame), or null. */
      hover: null,
      found: { hit: null, view: null },
    };
    pointer.handleConnected = (event) => {
      // Hands (no gamepad, pinch = select) count too; gaze and screen taps have no ray to show.
      pointer.connected = event.data.targetRayMode === 'tracked-pointer';
      pointer.handedness = event.data.handedness;
      pointer.hand = Boolean(event.data.hand);
      pointer.gamepad = event.data.gamepad ?? null;
      ray.visible = pointer.connected;
    };
    pointer.handleDisconnected = () => {
      pointer.connected = false;
      pointer.hover = null;
      pointer.gamepad = null;
      reticle.visible = false;
    };
    pointer.handleSelect = () => {
      if (!pointer.connected || !this.canSelect(index)) return;
      if (!this.#cast(controller, pointer.found, true)) return;
      if (pointer.found.hit.distance >= this.stopAt(index)) return; // the panel took it
      const picked = { hit: pointer.found.hit, view: pointer.found.view, side: 0 };
      // A hand's pinch is decided when it opens (a pinch that dragged is a grab); the spec fires
      // 'select' just before 'selectend', iwer at the start, so wait for 'selectend' either way.
      if (pointer.hand) pointer.pending = picked;
      else this.#selected(picked);
    };
    pointer.handleSelectEnd = () => {
      const picked = pointer.pending;
      pointer.pending = null;
      if (picked && this.canSelect(index)) this.#selected(picked);
    };
    controller.addEventListener('connected', pointer.handleConnected);
    controller.addEventListener('disconnected', pointer.handleDisconnected);
    controller.addEventListener('select', pointer.handleSelect);
    controller.addEventListener('selectend', pointer.handleSelectEnd);
    return pointer;
  }

  #selected(picked) {
    this.selects += 1;
    this.onSelect(picked);
  }

  /**
   * Whether the controller's ray meets a visible object; the nearest surface goes in `out` ({hit, view}).
   * A mesh whose bounds tree is still being built is left out of the hover (a brute-force ray at a
   * 1M-triangle surface takes tens of ms per frame) but not out of a trigger (`exhaustive`).
   */
  #cast(controller, out, exhaustive = false) {
    const views = this.views();
    controller.updateMatrixWorld(true);
    this.raycaster.setFromXRController(controller);
    this.hits.length = 0;
    this.exhaustive = exhaustive;
    for (let i = 0; i < views.length; i++) {
      const view = views[i];
      if (view.group.visible && view.loaded) view.group.traverseVisible(this.castMesh);
    }
    let nearest = null;
    for (let i = 0; i < this.hits.length; i++) {
      const hit = this.hits[i];
      if (nearest === null || hit.distance < nearest.distance) nearest = hit;
    }
    if (nearest === null) return false;
    let view = null;
    for (let i = 0; i < views.length && view === null; i++) if (isDescendant(nearest.object, views[i].group)) view = views[i];
    if (!view) return false;
    out.hit = nearest;
    out.view = view;
    return true;
  }

  #pollSizeButton(pointer) {
    const down = Boolean(pointer.gamepad?.buttons[SIZE_BUTTON]?.pressed);
    if (down && !pointer.sizeDown) this.onToggleSize();
    pointer.sizeDown = down;
  }
}

function isDescendant(object, ancestor) {
  for (let node = object; node; node = node.parent) if (node === ancestor) return true;
  return false;
}
