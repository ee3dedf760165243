// Unit tests of where the scene goes in an immersive session (node --test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as THREE from 'three';
import { LIFE_GAP_M, TABLE_SIZE_M, XR_DISTANCE_M, XR_HEIGHT_M, XRPlacement } from '../src/XRPlacement.js';

/** A heart-sized box (scene coordinates, z up) away from the origin. */
const box = new THREE.Box3(new THREE.Vector3(0.05, -0.04, 0.2), new THREE.Vector3(0.15, 0.04, 0.32));

function placed(size) {
  const group = new THREE.Group();
  const centre = new XRPlacement().place(box, size, XR_HEIGHT_M, group).clone();
  group.updateMatrixWorld(true);
  return { group, centre };
}

function near(a, b, eps = 1e-9) {
  assert.ok(a.distanceTo(b) < eps, `${a.toArray()} != ${b.toArray()}`);
}

test('table size: the model fits 40 cm and its centre lands 1.2 m high, 0.6 m ahead', () => {
  const { group, centre } = placed('table');
  near(centre, new THREE.Vector3(0, XR_HEIGHT_M, -XR_DISTANCE_M));
  const sphere = box.getBoundingSphere(new THREE.Sphere());
  near(sphere.center.clone().applyMatrix4(group.matrixWorld), centre);
  assert.ok(Math.abs(group.scale.x * 2 * sphere.radius - TABLE_SIZE_M) < 1e-9);
});

test('the scene is z up, WebXR is y up: scene +z points up in the headset', () => {
  const { group } = placed('table');
  const up = new THREE.Vector3(0, 0, 1).transformDirection(group.matrixWorld);
  near(up, new THREE.Vector3(0, 1, 0));
  const front = new THREE.Vector3(0, -1, 0).transformDirection(group.matrixWorld); // the desktop view's front
  near(front, new THREE.Vector3(0, 0, 1)); // faces the user
});

test('life size keeps metres and keeps a gap between the user and the model', () => {
  const { group, centre } = placed('life');
  assert.equal(group.scale.x, 1);
  near(centre, new THREE.Vector3(0, XR_HEIGHT_M, -XR_DISTANCE_M)); // a small model: the usual distance
  const big = new THREE.Box3(new THREE.Vector3(-1, -1, 0), new THREE.Vector3(1, 1, 2));
  const target = new THREE.Group();
  const far = new XRPlacement().place(big, 'life', XR_HEIGHT_M, target);
  assert.ok(Math.abs(-far.z - (Math.sqrt(3) + LIFE_GAP_M)) < 1e-9);
});
