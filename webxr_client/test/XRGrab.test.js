// Unit tests of grabbing the model with one or two hands, and AR placement on a surface (node --test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as THREE from 'three';
import { XRGrabMath } from '../src/XRGrabMath.js';
import { XRHitTestPlacement } from '../src/XRHitTestPlacement.js';
import { TABLE_SIZE_M } from '../src/XRPlacement.js';

function near(a, b, eps = 1e-9) {
  assert.ok(a.distanceTo(b) < eps, `${a.toArray()} != ${b.toArray()}`);
}

function model() {
  const group = new THREE.Group();
  group.position.set(0.1, 1.2, -0.6);
  group.quaternion.setFromAxisAngle(new THREE.Vector3(1, 0, 0), -Math.PI / 2);
  group.scale.setScalar(0.002);
  return group;
}

const pose = (x, y, z, q = new THREE.Quaternion()) => new THREE.Matrix4().compose(new THREE.Vector3(x, y, z), q, new THREE.Vector3(1, 1, 1));

test('one hand: the model moves by the hand\'s delta, not to the hand', () => {
  const grab = new XRGrabMath();
  const group = model();
  grab.startOne(pose(0.3, 1.0, -0.2), group);
  grab.updateOne(pose(0.3, 1.0, -0.2), group);
  near(group.position, new THREE.Vector3(0.1, 1.2, -0.6), 1e-7); // no jump at the start
  grab.updateOne(pose(0.4, 1.1, -0.5), group);
  near(group.position, new THREE.Vector3(0.2, 1.3, -0.9), 1e-7);
  assert.ok(Math.abs(group.scale.x - 0.002) < 1e-9);
});

test('one hand: turning the hand turns the model about the hand', () => {
  const grab = new XRGrabMath();
  const group = model();
  const start = group.quaternion.clone();
  grab.startOne(pose(0.1, 1.2, -0.3), group); // 30 cm in front of the model
  const quarter = new THREE.Quaternion().setFromAxisAngle(new THREE.Vector3(0, 1, 0), Math.PI / 2);
  grab.updateOne(pose(0.1, 1.2, -0.3, quarter), group);
  near(group.position, new THREE.Vector3(-0.2, 1.2, -0.3), 1e-7); // swung round the hand
  assert.ok(group.quaternion.angleTo(quarter.clone().multiply(start)) < 1e-6);
});

test('two hands: moving apart scales by the distance ratio about their midpoint', () => {
  const grab = new XRGrabMath();
  const group = model();
  const a = new THREE.Vector3(-0.1, 1.2, -0.6);
  const b = new THREE.Vector3(0.3, 1.2, -0.6);
  grab.startTwo(a, b, group);
  grab.updateTwo(a, b, group);
  near(group.position, new THREE.Vector3(0.1, 1.2, -0.6));
  grab.updateTwo(new THREE.Vector3(-0.3, 1.2, -0.6), new THREE.Vector3(0.5, 1.2, -0.6), group);
  assert.ok(Math.abs(group.scale.x - 0.004) < 1e-12);
  near(group.position, new THREE.Vector3(0.1, 1.2, -0.6)); // the model was at the midpoint: it stays
});

test('two hands: turning the line between them turns the model about the vertical only', () => {
  const grab = new XRGrabMath();
  const group = model();
  const start = group.quaternion.clone();
  grab.startTwo(new THREE.Vector3(-0.2, 1.2, -0.6), new THREE.Vector3(0.2, 1.2, -0.6), group);
  grab.updateTwo(new THREE.Vector3(0, 1.2, -0.4), new THREE.Vector3(0, 1.2, -0.8), group); // a quarter turn
  const expected = new THREE.Quaternion().setFromAxisAngle(new THREE.Vector3(0, 1, 0), Math.PI / 2).multiply(start);
  assert.ok(group.quaternion.angleTo(expected) < 1e-6);
  near(group.position, new THREE.Vector3(0, 1.2, -0.7), 1e-7); // 10 cm right of the midpoint, turned to 10 cm ahead
  assert.ok(Math.abs(group.scale.x - 0.002) < 1e-12);
});

test('AR: the model rests on the hit point at table size', () => {
  const box = new THREE.Box3(new THREE.Vector3(0.05, -0.04, 0.2), new THREE.Vector3(0.15, 0.04, 0.32));
  const group = new THREE.Group();
  const surface = new THREE.Vector3(0.2, 0.75, -0.5);
  const centre = new XRHitTestPlacement().place(box, surface, group).clone();
  near(centre, new THREE.Vector3(0.2, 0.75 + TABLE_SIZE_M / 2, -0.5));
  group.updateMatrixWorld(true);
  const sphere = box.getBoundingSphere(new THREE.Sphere());
  near(sphere.center.clone().applyMatrix4(group.matrixWorld), centre, 1e-9);
  assert.ok(Math.abs(group.scale.x * 2 * sphere.radius - TABLE_SIZE_M) < 1e-9);
});
