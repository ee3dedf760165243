import * as THREE from 'three';
import { easeInOut } from './tourSteps.js';

/** How long a tour step's camera move takes (ms). */
export const MOVE_MS = 900;

/**
 * Animates the desktop camera to a tour step's view: the camera's position and the orbit target glide
 * there together (eased), so the model stays framed on the way. The orbit controls' `update` turns the
 * camera to the target each frame; the camera's up stays the scene's z. Nothing is allocated per frame.
 */
export class TourCamera {
  /** @param {import('./Viewer.js').Viewer} viewer */
  constructor(viewer) {
    this.viewer = viewer;
    this.fromPosition = new THREE.Vector3();
    this.fromTarget = new THREE.Vector3();
    this.toPosition = new THREE.Vector3();
    this.toTarget = new THREE.Vector3();
    this.started = 0;
    this.moving = false;
  }

  /** Start the move to `{position, target}` (content coordinates, the desktop's world). */
  start({ position, target }) {
    const { camera, controls } = this.viewer;
    this.fromPosition.copy(camera.position);
    this.fromTarget.copy(controls.target);
    this.toPosition.fromArray(position);
    this.toTarget.fromArray(target);
    const distance = Math.max(this.toPosition.distanceTo(this.toTarget), 1e-6);
    camera.near = Math.min(camera.near, distance / 100);
    camera.far = Math.max(camera.far, distance * 100);
    camera.updateProjectionMatrix();
    this.started = performance.now();
    this.moving = true;
  }

  /** Once per animation frame. */
  update() {
    if (!this.moving) return;
    const t = (performance.now() - this.started) / MOVE_MS;
    const k = easeInOut(t);
    const { camera, controls } = this.viewer;
    camera.position.lerpVectors(this.fromPosition, this.toPosition, k);
    controls.target.lerpVectors(this.fromTarget, this.toTarget, k);
    if (t >= 1) this.moving = false;
    this.viewer.requestRender();
  }

  stop() {
    this.moving = false;
  }
}
