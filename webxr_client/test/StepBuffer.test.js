// Unit tests of the per-(object, field) step buffer (node --test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StepBuffer } from '../src/StepBuffer.js';

test('the latest step at or before the wanted one is shown; an exact step wins', () => {
  const buffer = new StepBuffer(8);
  buffer.put(3, 'three');
  buffer.put(5, 'five');
  assert.equal(buffer.at(2), -1); // nothing due yet
  assert.equal(buffer.next(2), 3);
  assert.equal(buffer.at(3), 3);
  assert.equal(buffer.value(3), 'three');
  assert.equal(buffer.at(4), 3); // step 4 not here yet: keep 3
  assert.equal(buffer.at(5), 5);
  assert.equal(buffer.value(5), 'five');
  assert.equal(buffer.next(5), -1);
  assert.deepEqual([...buffer.entries.keys()], [5]); // 3 will not be shown again
});

test('steps behind the shown one are pruned, steps ahead wait', () => {
  const buffer = new StepBuffer(8);
  for (const s of [1, 2, 3, 4, 6]) buffer.put(s, s);
  assert.equal(buffer.at(3), 3);
  assert.deepEqual([...buffer.entries.keys()].sort(), [3, 4, 6]);
  assert.equal(buffer.size, 3);
  assert.equal(buffer.next(3), 4);
  assert.equal(buffer.at(5), 4);
  assert.deepEqual([...buffer.entries.keys()].sort(), [4, 6]);
});

test('the buffer is bounded: over capacity the step furthest ahead goes', () => {
  const buffer = new StepBuffer(4);
  buffer.at(10); // the display is at step 10
  for (const s of [11, 12, 13, 14, 15, 16]) buffer.put(s, s);
  assert.equal(buffer.size, 4);
  assert.deepEqual([...buffer.entries.keys()].sort((a, b) => a - b), [11, 12, 13, 14]);
  // after a seek back to 2 the new near steps push out the far ones
  buffer.at(2);
  buffer.put(3, 3);
  assert.equal(buffer.size, 4);
  assert.ok(buffer.entries.has(3) && !buffer.entries.has(14));
});

test('around a loop, steps sent just before the wrap count as ahead', () => {
  const buffer = new StepBuffer(8);
  for (const s of [48, 49, 0, 1]) buffer.put(s, s);
  assert.equal(buffer.at(49, 50), 49);
  assert.ok(buffer.entries.has(0) && buffer.entries.has(1)); // not pruned as past
  assert.equal(buffer.at(0, 50), 0);
  assert.deepEqual([...buffer.entries.keys()].sort(), [0, 1]);
  // without a period (no loop) step 0 is behind 49
  const plain = new StepBuffer(8);
  for (const s of [48, 49, 0]) plain.put(s, s);
  assert.equal(plain.at(49), 49);
  assert.deepEqual([...plain.entries.keys()], [49]);
});

test('clear empties the buffer', () => {
  const buffer = new StepBuffer();
  buffer.put(0, 'a');
  buffer.clear();
  assert.equal(buffer.size, 0);
  assert.equal(buffer.at(0), -1);
});
