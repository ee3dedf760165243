import * as THREE from 'three';
import { XR_HEIGHT_M, XRPlacement } from './XRPlacement.js';

/** Features asked for, none required: a floor-level space, hands, and composition layers where the headset has them. */
export const OPTIONAL_FEATURES = ['local-floor', 'bounded-floor', 'hand-tracking', 'layers'];
/** Fixed foveation (0..1): lower resolution at the lens edges, where the optics blur anyway. */
export const FOVEATION = 1;
/** Without `local-floor` the origin is the head at the session start: the centre goes this far below it. */
const BELOW_HEAD_M = -0.3;
const NEAR_M = 0.02;
const FAR_M = 100;

/**
 * An immersive WebXR session on the viewer's renderer (three.js `renderer.xr`): starts it, places
 * the scene's content in front of the user (XRPlacement), and on exit puts back the desktop view
 * as it was (camera, content transform, clipping, clear colour). The viewer's animation loop
 * (`renderer.setAnimationLoop`) keeps running; three.js drives it from the session while it lasts.
 */
export class XRMode {
  /**
   * @param {import('./Viewer.js').Viewer} viewer
   * @param {{ bounds: () => THREE.Box3, onChange: () => void }} hooks `bounds`: the scene's box to place
   */
  constructor(viewer, { bounds, onChange }) {
    this.viewer = viewer;
    this.bounds = bounds;
    this.onChange = onChange;
    this.placement = new XRPlacement();
    this.session = null;
    this.mode = null;
    /** 'table' (fit ~40 cm) or 'life' (the scene's own metres). */
    this.size = 'table';
    this.height = XR_HEIGHT_M;
    this.centre = new THREE.Vector3();
    this.frames = 0;
    this.desktop = {
      position: new THREE.Vector3(),
      quaternion: new THREE.Quaternion(),
      near: 0,
      far: 0,
      clipping: [],
      clearAlpha: 1,
    };
    this.handleEnd = () => this.#ended();
  }

  get presenting() {
    return this.session !== null;
  }

  /** Start an `immersive-vr` or `immersive-ar` session; rejects with the browser's reason. */
  async enter(mode) {
    if (this.session) return;
    const optionalFeatures = mode === 'immersive-ar' ? [...OPTIONAL_FEATURES, 'hit-test'] : OPTIONAL_FEATURES;
    const session = await navigator.xr.requestSession(mode, { optionalFeatures });
    const renderer = this.viewer.renderer;
    const floor = !session.enabledFeatures || session.enabledFeatures.includes('local-floor');
    this.height = floor ? XR_HEIGHT_M : BELOW_HEAD_M;
    this.#saveDesktop();
    renderer.xr.enabled = true;
    renderer.xr.setReferenceSpaceType(floor ? 'local-floor' : 'local');
    renderer.xr.setFoveation(FOVEATION);
    const camera = this.viewer.camera;
    camera.near = NEAR_M;
    camera.far = FAR_M;
    renderer.clippingPlanes = []; // the desktop clip plane is in desktop world coordinates
    if (mode === 'immersive-ar') renderer.setClearAlpha(0); // passthrough shows behind the model
    this.session = session;
    this.mode = mode;
    session.addEventListener('end', this.handleEnd);
    try {
      await renderer.xr.setSession(session);
    } catch (error) {
      session.removeEventListener('end', this.handleEnd);
      this.#ended();
      session.end().catch(() => {});
      throw error;
    }
    this.place();
    this.onChange();
  }

  /** End the session (the desktop view comes back when the browser says it ended). */
  exit() {
    this.session?.end().catch(() => this.#ended());
  }

  toggleSize() {
    this.size = this.size === 'table' ? 'life' : 'table';
    if (this.session) this.place();
    this.onChange();
  }

  /** Put the content in front of the user for the current size (after a scene change too). */
  place() {
    if (!this.session) return;
    const box = this.bounds();
    if (box.isEmpty()) return;
    const content = this.viewer.content;
    this.centre.copy(this.placement.place(box, this.size, this.height, content));
    content.updateMatrixWorld(true);
  }

  /** Called by the viewer once per XR frame. */
  frame() {
    this.frames += 1;
  }

  dispose() {
    this.exit();
  }

  #saveDesktop() {
    const { camera, renderer } = this.viewer;
    const saved = this.desktop;
    saved.position.copy(camera.position);
    saved.quaternion.copy(camera.quaternion);
    saved.near = camera.near;
    saved.far = camera.far;
    saved.clipping = renderer.clippingPlanes;
    saved.clearAlpha = renderer.getClearAlpha();
  }

  #ended() {
    if (!this.session) return;
    this.session.removeEventListener('end', this.handleEnd);
    this.session = null;
    this.mode = null;
    const { camera, renderer, content } = this.viewer;
    const saved = this.desktop;
    renderer.xr.enabled = false;
    content.position.set(0, 0, 0);
    content.quaternion.identity();
    content.scale.setScalar(1);
    content.updateMatrixWorld(true);
    camera.position.copy(saved.position);
    camera.quaternion.copy(saved.quaternion);
    camera.scale.setScalar(1);
    camera.near = saved.near;
    camera.far = saved.far;
    camera.updateProjectionMatrix();
    renderer.clippingPlanes = saved.clipping;
    renderer.setClearAlpha(saved.clearAlpha);
    this.viewer.controls.update();
    this.viewer.requestRender();
    this.onChange();
  }
}
