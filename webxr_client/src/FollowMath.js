import * as THREE from 'three';

/** The scene is z up; WebXR is y up (as XRPlacement): a quarter turn about x maps one onto the other. */
const Z_UP_TO_Y_UP = new THREE.Quaternion().setFromAxisAngle(new THREE.Vector3(1, 0, 0), -Math.PI / 2);
const Y_AXIS = new THREE.Vector3(0, 1, 0);
/** A look direction closer to vertical than this (horizontal length) has no heading of its own. */
const VERTICAL = 1e-3;

const forward = new THREE.Vector3();
const toCentre = new THREE.Vector3();
const turn = new THREE.Quaternion();

/**
 * Heading of a direction in a y-up space: the angle about +y that turns -z (straight ahead) onto the
 * direction's horizontal part; `fallback` when the direction is (nearly) vertical.
 */
export function yawOf(direction, fallback = 0) {
  if (Math.hypot(direction.x, direction.z) < VERTICAL) return fallback;
  return Math.atan2(-direction.x, -direction.z);
}

/**
 * A desktop camera that sees what a presence pose sees: the camera at the pose's position, and an orbit
 * target on its line of sight, as far along it as the scene's centre is (so orbiting after release turns
 * about the model, not about the eye). `position` [x, y, z] and `quaternion` [x, y, z, w] are in content
 * coordinates (the desktop's world); the camera looks along its -z. Sets `outPosition` and `outTarget`.
 */
export function orbitFromPose(position, quaternion, centre, minDistance, outPosition, outTarget) {
  outPosition.set(position[0], position[1], position[2]);
  forward.set(0, 0, -1).applyQuaternion(turn.set(quaternion[0], quaternion[1], quaternion[2], quaternion[3]));
  const along = toCentre.subVectors(centre, outPosition).dot(forward);
  outTarget.copy(outPosition).addScaledVector(forward, Math.max(along, minDistance));
}

/**
 * Where a headset follower's content goes so that it sees from the leader's eye without being turned:
 * the content stays upright (z up onto y up) at scale `scale`, turned about the vertical only so that the
 * leader's heading points along `anchorYaw` (the follower's heading when following began), and moved so
 * that the leader's eye lands on `anchor` (the follower's head then, reference space). The follower's own
 * head keeps moving and turning freely from there. `leaderPosition` / `leaderQuaternion` are the leader's
 * head (or desktop camera) in content coordinates. `previousYaw` is kept when the leader looks straight up
 * or down. Sets `out.position`, `out.quaternion`, `out.scale`; returns the turn about the vertical (radians).
 */
export function headsetPlacement(leaderPosition, leaderQuaternion, anchor, anchorYaw, scale, previousYaw, out) {
  turn.set(leaderQuaternion[0], leaderQuaternion[1], leaderQuaternion[2], leaderQuaternion[3]);
  forward.set(0, 0, -1).applyQuaternion(turn).applyQuaternion(Z_UP_TO_Y_UP);
  const yaw = anchorYaw - yawOf(forward, anchorYaw - previousYaw);
  out.quaternion.setFromAxisAngle(Y_AXIS, yaw).multiply(Z_UP_TO_Y_UP);
  out.scale.setScalar(scale);
  out.position.set(leaderPosition[0], leaderPosition[1], leaderPosition[2])
    .multiplyScalar(scale).applyQuaternion(out.quaternion).negate().add(anchor);
  return yaw;
}
