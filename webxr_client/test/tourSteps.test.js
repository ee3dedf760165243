// Unit tests of the pure parts of showing a tour step (node --test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { easeInOut, mayMove, progressRows, visibility } from '../src/tourSteps.js';

test('the camera move eases in and out and ends where it should', () => {
  assert.equal(easeInOut(0), 0);
  assert.equal(easeInOut(1), 1);
  assert.equal(easeInOut(2), 1);
  assert.equal(easeInOut(0.5), 0.5);
  assert.ok(easeInOut(0.1) < 0.1 && easeInOut(0.9) > 0.9);
});

test('a step shows the objects it lists, or every object for null', () => {
  assert.deepEqual([...visibility([0, 1, 2], [2, 0])], [[0, true], [1, false], [2, true]]);
  assert.deepEqual([...visibility([0, 1], null)], [[0, true], [1, true]]);
});

test('the host reads each member by name with the title of their step', () => {
  const rows = progressRows({ m2: 1, m3: 0 }, (id) => (id === 'm2' ? 'Ana' : ''), ['One', 'Two']);
  assert.deepEqual(rows, [
    { member: 'm2', name: 'Ana', step: 1, title: 'Two' },
    { member: 'm3', name: 'm3', step: 0, title: 'One' },
  ]);
});

test('guided: only whoever drives moves; self-paced: everyone; off: nobody', () => {
  assert.equal(mayMove('guided', true), true);
  assert.equal(mayMove('guided', false), false);
  assert.equal(mayMove('self_paced', false), true);
  assert.equal(mayMove('off', true), false);
});
