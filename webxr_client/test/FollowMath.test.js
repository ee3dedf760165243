// Unit tests of follow-me's view maths (node --test): a desktop camera from a presence pose, and where a
// headset follower's content goes so it sees from the leader's eye without its head being turned.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as THREE from 'three';
import { headsetPlacement, orbitFromPose, yawOf } from '../src/FollowMath.js';

function near(a, b, eps = 1e-9) {
  assert.ok(a.distanceTo(b) < eps, `${a.toArray()} != ${b.toArray()}`);
}

/** A desktop camera at `eye` looking at `at`, z up (as OrbitControls leaves it), as a presence pose. */
function cameraPose(eye, at) {
  const camera = new THREE.PerspectiveCamera();
  camera.up.set(0, 0, 1);
  camera.position.copy(eye);
  camera.lookAt(at);
  return new Float32Array([...eye.toArray(), ...camera.quaternion.toArray()]);
}

test('yawOf: straight ahead is 0, a quarter turn left is +90 degrees, vertical keeps the fallback', () => {
  assert.ok(Math.abs(yawOf(new THREE.Vector3(0, 0, -1))) < 1e-12);
  assert.ok(Math.abs(yawOf(new THREE.Vector3(-1, 0, 0)) - Math.PI / 2) < 1e-12);
  assert.equal(yawOf(new THREE.Vector3(0, -1, 0), 0.7), 0.7);
});

test('orbitFromPose: the camera takes the pose, its target on the line of sight, level with the centre', () => {
  const eye = new THREE.Vector3(0.3, -2, 0.5);
  const at = new THREE.Vector3(0.3, 0, 0.5);
  const pose = cameraPose(eye, at);
  const position = new THREE.Vector3();
  const target = new THREE.Vector3();
  orbitFromPose(pose, pose.subarray(3, 7), new THREE.Vector3(0, 1, 0), 1e-3, position, target);
  near(position, eye, 1e-6);
  near(target, new THREE.Vector3(0.3, 1, 0.5), 1e-6); // as far along the view as the centre is
  const behind = new THREE.Vector3();
  orbitFromPose(pose, pose.subarray(3, 7), new THREE.Vector3(0, -5, 0), 0.25, position, behind);
  near(behind, new THREE.Vector3(0.3, -1.75, 0.5), 1e-6); // a centre behind the eye: the minimum distance ahead
});

test('headsetPlacement: the leader eye lands on the anchor, its heading straight ahead, the model upright', () => {
  const eye = new THREE.Vector3(0.2, -0.5, 0.1); // content coordinates (z up)
  const modelCentre = new THREE.Vector3(0.2, 0, 0.1);
  const pose = cameraPose(eye, modelCentre);
  const anchor = new THREE.Vector3(0.3, 1.6, -0.2); // the follower's head, reference space (y up)
  const anchorYaw = Math.PI / 3; // the follower faced 60 degrees left of -z when following began
  const content = new THREE.Object3D();
  const yaw = headsetPlacement(pose, pose.subarray(3, 7), anchor, anchorYaw, 0.5, 0, content);
  content.updateMatrixWorld(true);
  near(eye.clone().applyMatrix4(content.matrixWorld), anchor, 1e-6);
  // the model, ahead of the leader, is ahead of the follower's starting heading, at eye height
  const centre = modelCentre.clone().applyMatrix4(content.matrixWorld).sub(anchor);
  assert.ok(Math.abs(centre.y) < 1e-6, `centre is ${centre.y} above the eye`);
  assert.ok(Math.abs(yawOf(centre) - anchorYaw) < 1e-6);
  assert.ok(Math.abs(centre.length() - 0.5 * 0.5) < 1e-6, 'the distance scales with the content');
  // content +z is up: turned about the vertical only
  const up = new THREE.Vector3(0, 0, 1).applyQuaternion(content.quaternion);
  near(up, new THREE.Vector3(0, 1, 0), 1e-9);
  assert.ok(Number.isFinite(yaw));
});

test('headsetPlacement: a leader looking straight down keeps the previous heading', () => {
  const eye = new THREE.Vector3(0, 0, 1);
  const down = new THREE.Quaternion(); // the camera's -z along content -z: straight down
  const pose = new Float32Array([...eye.toArray(), ...down.toArray()]);
  const content = new THREE.Object3D();
  const yaw = headsetPlacement(pose, pose.subarray(3, 7), new THREE.Vector3(), 0, 1, 0.4, content);
  assert.ok(Math.abs(yaw - 0.4) < 1e-12);
});
