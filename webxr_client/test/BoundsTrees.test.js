// Unit tests of the rays' bounds trees (three-mesh-bvh) against three.js's own raycast (node --test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as THREE from 'three';
import { BoundsTrees } from '../src/BoundsTrees.js';

const SIDE = 120;

/**
 * A curved sheet stored the way the server's GLBs arrive: u16 positions interleaved with a pad
 * (stride 4), a u32 index, and a node transform that scales the integers back to metres.
 */
function quantizedSheet() {
  const interleaved = new Uint16Array(SIDE * SIDE * 4);
  for (let i = 0; i < SIDE; i++) {
    for (let j = 0; j < SIDE; j++) {
      const k = (i * SIDE + j) * 4;
      interleaved[k] = i * 500;
      interleaved[k + 1] = j * 500;
      interleaved[k + 2] = Math.round(20000 + 15000 * Math.sin(i / 17) * Math.cos(j / 23));
    }
  }
  const index = new Uint32Array((SIDE - 1) * (SIDE - 1) * 6);
  let t = 0;
  for (let i = 0; i < SIDE - 1; i++) {
    for (let j = 0; j < SIDE - 1; j++) {
      const a = i * SIDE + j;
      index.set([a, a + SIDE, a + 1, a + 1, a + SIDE, a + SIDE + 1], t);
      t += 6;
    }
  }
  const geometry = new THREE.BufferGeometry();
  geometry.setAttribute('position', new THREE.InterleavedBufferAttribute(new THREE.InterleavedBuffer(interleaved, 4), 3, 0));
  geometry.setIndex(new THREE.BufferAttribute(index, 1));
  const mesh = new THREE.Mesh(geometry, new THREE.MeshBasicMaterial({ side: THREE.DoubleSide }));
  mesh.scale.setScalar(1e-5);
  mesh.position.set(-0.3, 1.0, -0.8);
  mesh.rotation.set(-Math.PI / 2, 0, 0.3);
  mesh.updateMatrixWorld(true);
  return mesh;
}

/** Rays from around a viewer at head height towards points scattered over the sheet's box (some miss). */
function rays(mesh, count) {
  const box = new THREE.Box3().setFromObject(mesh).expandByScalar(0.05);
  let seed = 7;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const out = [];
  for (let n = 0; n < count; n++) {
    const origin = new THREE.Vector3(random() - 0.5, 1.4 + random() * 0.4, random() * 0.4);
    const target = new THREE.Vector3(
      THREE.MathUtils.lerp(box.min.x, box.max.x, random()),
      THREE.MathUtils.lerp(box.min.y, box.max.y, random()),
      THREE.MathUtils.lerp(box.min.z, box.max.z, random()),
    );
    out.push(new THREE.Ray(origin, target.sub(origin).normalize()));
  }
  return out;
}

function nearest(mesh, ray, firstHitOnly) {
  const raycaster = new THREE.Raycaster(ray.origin, ray.direction);
  raycaster.firstHitOnly = firstHitOnly;
  const hits = [];
  mesh.raycast(raycaster, hits);
  return hits.reduce((best, hit) => (best === null || hit.distance < best.distance ? hit : best), null);
}

test('a ray through the bounds tree meets the surface where three.js brute force does', async () => {
  const mesh = quantizedSheet();
  const all = rays(mesh, 300);
  const expected = all.map((ray) => nearest(mesh, ray, false)); // three.js's Mesh.raycast, every triangle
  const indexBefore = mesh.geometry.index.array.slice();

  const trees = new BoundsTrees();
  assert.equal(trees.ready(mesh), false); // requested, not built yet
  await trees.settled();
  assert.equal(trees.ready(mesh), true);
  assert.notEqual(mesh.raycast, THREE.Mesh.prototype.raycast);
  assert.deepEqual(trees.buildTriangles, [(SIDE - 1) * (SIDE - 1) * 2]);

  let hitCount = 0;
  for (let n = 0; n < all.length; n++) {
    const want = expected[n];
    const got = nearest(mesh, all[n], true);
    if (want === null) {
      assert.equal(got, null, `ray ${n} should miss`);
      continue;
    }
    hitCount += 1;
    assert.ok(got, `ray ${n} should hit at ${want.point.toArray()}`);
    assert.ok(got.point.distanceTo(want.point) < 1e-9, `ray ${n}: ${got.point.toArray()} != ${want.point.toArray()}`);
    assert.ok(Math.abs(got.distance - want.distance) < 1e-9);
    assert.deepEqual([got.face.a, got.face.b, got.face.c], [want.face.a, want.face.b, want.face.c]);
    assert.equal(got.faceIndex, want.faceIndex);
    assert.equal(got.object, mesh);
  }
  assert.ok(hitCount > 100 && hitCount < all.length, `${hitCount} of ${all.length} rays hit: both cases tested`);
  assert.deepEqual(mesh.geometry.index.array, indexBefore); // indirect tree: the drawn index is untouched
  trees.dispose();
});

test('a geometry is built once however often it is asked for, and a mesh without an index is never', async () => {
  const mesh = quantizedSheet();
  const twin = new THREE.Mesh(mesh.geometry, mesh.material); // a second mesh sharing the geometry
  const points = new THREE.Mesh(new THREE.BufferGeometry().setAttribute('position', new THREE.BufferAttribute(new Float32Array(9), 3)));
  const trees = new BoundsTrees();
  for (let n = 0; n < 3; n++) {
    trees.ready(mesh);
    trees.ready(twin);
    trees.ready(points);
  }
  await trees.settled();
  assert.equal(trees.buildMs.length, 1);
  assert.equal(trees.ready(twin), true);
  assert.equal(trees.ready(points), false);
  trees.dispose();
});
