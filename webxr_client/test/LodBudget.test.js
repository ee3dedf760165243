// Unit tests of picking levels of detail by a visible-triangle budget (node --test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TRIANGLE_BUDGET, pickLevels } from '../src/LodBudget.js';

test('the full assets when they fit the default budget of 1M triangles', () => {
  assert.equal(TRIANGLE_BUDGET, 1_000_000);
  assert.deepEqual(pickLevels([[10_000, 400_000], [50_000]], [true, true]), { picks: [1, 0], triangles: 450_000 });
});

test('the finest shared level whose total fits', () => {
  const levels = [[50_000, 250_000, 2_000_000], [20_000, 100_000, 800_000]];
  assert.deepEqual(pickLevels(levels, [true, true]), { picks: [1, 1], triangles: 350_000 });
  assert.deepEqual(pickLevels(levels, [true, true], 3_000_000), { picks: [2, 2], triangles: 2_800_000 });
});

test('hidden objects count nothing', () => {
  const levels = [[50_000, 250_000, 2_000_000], [20_000, 100_000, 800_000]];
  assert.deepEqual(pickLevels(levels, [false, true]), { picks: [2, 2], triangles: 800_000 });
});

test('the coarsest levels when nothing fits, and no objects at all', () => {
  assert.deepEqual(pickLevels([[3_000_000, 9_000_000]], [true], 1_000_000), { picks: [0], triangles: 3_000_000 });
  assert.deepEqual(pickLevels([], []), { picks: [], triangles: 0 });
});
