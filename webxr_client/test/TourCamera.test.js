// Unit test of a tour step's view in the headset (node --test): the content moves, the head does not.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as THREE from 'three';
import { yawOf } from '../src/FollowMath.js';
import { TourCamera } from '../src/TourCamera.js';

test("placeHeadset: the step's eye lands on the user's head, looking at the target straight ahead", () => {
  const camera = new THREE.PerspectiveCamera();
  camera.position.set(0.2, 1.6, 0.1);
  camera.rotation.set(-0.3, 0.8, 0, 'YXZ'); // looking down a little, turned left
  const content = new THREE.Object3D();
  content.scale.setScalar(0.25);
  const viewer = { camera, content, requestRender() {} };
  const head = camera.position.clone();
  const quaternion = camera.quaternion.clone();
  new TourCamera(viewer).placeHeadset({ position: [3, 0.2, 0.5], target: [0, 0, 0] });
  const eye = new THREE.Vector3(3, 0.2, 0.5).applyMatrix4(content.matrixWorld);
  assert.ok(eye.distanceTo(head) < 1e-6, `${eye.toArray()} is not the head ${head.toArray()}`);
  const toTarget = new THREE.Vector3(0, 0, 0).applyMatrix4(content.matrixWorld).sub(head);
  assert.ok(Math.abs(yawOf(toTarget) - 0.8) < 1e-6, 'the target is not straight ahead of the user');
  assert.ok(camera.position.equals(head) && camera.quaternion.equals(quaternion), 'the head was moved');
  const up = new THREE.Vector3(0, 0, 1).transformDirection(content.matrixWorld);
  assert.ok(up.distanceTo(new THREE.Vector3(0, 1, 0)) < 1e-9, 'the content tilted');
});
