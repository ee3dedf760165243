// Unit tests of when a hand can take the headset's clip-plane handle (node --test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nearQuad, rayToRim } from '../src/XRClipReach.js';

const p = (x, y, z) => ({ x, y, z });

test('a hand over the quad, or just past its edge, within reach of its plane takes it', () => {
  assert.ok(nearQuad(p(0, 0, 0), 0.1));
  assert.ok(nearQuad(p(0.3, -0.2, 0.09), 0.1)); // in front, within reach
  assert.ok(nearQuad(p(0.3, -0.2, -0.09), 0.1)); // behind, within reach
  assert.ok(nearQuad(p(0.58, 0, 0), 0.1)); // just past the edge
  assert.ok(!nearQuad(p(0, 0, 0.11), 0.1)); // too far in front
  assert.ok(!nearQuad(p(0.61, 0, 0), 0.1)); // too far past the edge
  assert.ok(!nearQuad(p(0, -0.7, 0.05), 0.1));
});

test('a ray takes the quad on its rim, passes through its middle, and never from behind its origin', () => {
  const ahead = p(0, 0, -1);
  assert.equal(rayToRim(p(0.45, 0, 2), ahead, 0.1), 2); // on the rim, 2 units away
  assert.equal(rayToRim(p(0, -0.42, 0.5), ahead, 0.1), 0.5);
  assert.equal(rayToRim(p(0, 0, 2), ahead, 0.1), Infinity); // the middle lets it through
  assert.equal(rayToRim(p(0.55, 0, 2), ahead, 0.1), Infinity); // outside the quad
  assert.equal(rayToRim(p(0.45, 0, -2), ahead, 0.1), Infinity); // pointing away
  assert.equal(rayToRim(p(0.45, 0, 2), p(1, 0, 0), 0.1), Infinity); // parallel to the quad
  const slanted = p(0.2, 0, -1); // from the middle's line, slanting onto the rim
  assert.ok(Math.abs(rayToRim(p(0.25, 0, 1), slanted, 0.1) - 1) < 1e-12);
});
