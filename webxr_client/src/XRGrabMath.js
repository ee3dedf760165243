import * as THREE from 'three';

const UP = new THREE.Vector3(0, 1, 0);

/**
 * Grabbing the model with one or two hands, as pure maths on poses (XR reference space, y up).
 * One hand: the model keeps the pose it had relative to the hand when the grab began, so it follows
 * the hand's motion (translation and rotation) without jumping to it. Two hands: the model scales
 * by the ratio of the hands' distance to their distance at the start, turns about the vertical by
 * the turn of the line between the hands, and moves with their midpoint. `out` is any object with
 * `position`, `quaternion` and `scale` (a three.js Object3D); it is set in place. Nothing is
 * allocated after construction.
 */
export class XRGrabMath {
  constructor() {
    this.offset = new THREE.Matrix4(); // one hand: the model's pose in the hand's frame
    this.content = new THREE.Matrix4();
    this.startMid = new THREE.Vector3();
    this.startPosition = new THREE.Vector3();
    this.startQuaternion = new THREE.Quaternion();
    this.startScale = 1;
    this.startDistance = 1;
    this.startYaw = 0;
    this.mid = new THREE.Vector3();
    this.between = new THREE.Vector3();
    this.turn = new THREE.Quaternion();
  }

  /** Begin a one-hand grab: `hand` is the hand's world matrix now. */
  startOne(hand, out) {
    this.content.compose(out.position, out.quaternion, out.scale);
    this.offset.copy(hand).invert().multiply(this.content);
  }

  /** The model for the hand's world matrix now (after `startOne`). */
  updateOne(hand, out) {
    this.content.multiplyMatrices(hand, this.offset);
    this.content.decompose(out.position, out.quaternion, out.scale);
  }

  /** Begin a two-hand grab from the hands' positions now. */
  startTwo(a, b, out) {
    this.startMid.addVectors(a, b).multiplyScalar(0.5);
    this.startDistance = Math.max(a.distanceTo(b), 1e-4);
    this.startYaw = yaw(this.between.subVectors(b, a));
    this.startPosition.copy(out.position);
    this.startQuaternion.copy(out.quaternion);
    this.startScale = out.scale.x;
  }

  /** The model for the hands' positions now (after `startTwo`): scaled, turned about y, moved. */
  updateTwo(a, b, out) {
    const ratio = Math.max(a.distanceTo(b), 1e-4) / this.startDistance;
    this.turn.setFromAxisAngle(UP, yaw(this.between.subVectors(b, a)) - this.startYaw);
    this.mid.addVectors(a, b).multiplyScalar(0.5);
    out.position.copy(this.startPosition).sub(this.startMid).multiplyScalar(ratio).applyQuaternion(this.turn).add(this.mid);
    out.quaternion.multiplyQuaternions(this.turn, this.startQuaternion);
    out.scale.setScalar(this.startScale * ratio);
  }
}

/** Angle (rad) of `v` about +y, measured from +x (a rotation by it about y maps +x onto v's direction). */
function yaw(v) {
  return Math.atan2(-v.z, v.x);
}
