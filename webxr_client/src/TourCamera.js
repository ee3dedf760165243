import * as THREE from 'three';
import { headsetPlacement, yawOf } from './FollowMath.js';
import { easeInOut } from './tourSteps.js';

/** How long a tour step's camera move takes (ms). */
export const MOVE_MS = 900;

/**
 * Animates the desktop camera to a tour step's view: the camera's position and the orbit target glide
 * there together (eased), so the model stays framed on the way. The orbit controls' `update` turns the
 * camera to the target each frame; the camera's up stays the scene's z. Nothing is allocated per frame.
 * In the headset nothing turns the user's head: `placeHeadset` moves the content instead (at once: a glide
 * of the whole world is what makes people sick), as follow-me does.
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
    this.up = new THREE.Vector3();
    this.look = new THREE.Matrix4();
    this.turn = new THREE.Quaternion();
    this.pose = new Float32Array(7);
    this.head = new THREE.Vector3();
    this.forward = new THREE.Vector3();
  }

  /**
   * Headset: place the content so the step's eye (`position`, looking at `target`, content coordinates) is
   * where the user's head is now, the step's heading straight ahead of the user, upright, at the content's scale.
   */
  placeHeadset({ position, target, up = [0, 0, 1] }) {
    const { camera, content } = this.viewer;
    this.look.lookAt(this.toPosition.fromArray(position), this.toTarget.fromArray(target), this.up.fromArray(up));
    this.turn.setFromRotationMatrix(this.look);
    this.toPosition.toArray(this.pose, 0);
    this.turn.toArray(this.pose, 3);
    camera.updateMatrixWorld();
    this.head.setFromMatrixPosition(camera.matrixWorld);
    const yaw = yawOf(this.forward.set(0, 0, -1).transformDirection(camera.matrixWorld));
    headsetPlacement(this.pose, this.pose.subarray(3, 7), this.head, yaw, content.scale.x, 0, content);
    content.updateMatrixWorld(true);
    this.viewer.requestRender();
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
