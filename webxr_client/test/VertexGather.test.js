// Unit tests of writing frames into a mesh's stream attribute, gathered through a level's vertex map (node --test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { copyCodes, encodeValues, fullVertexMap } from '../src/VertexGather.js';

test('a mesh of the full asset copies its own run of the frame', () => {
  const out = new Uint16Array(3);
  copyCodes(out, new Uint16Array([9, 8, 7, 6, 5]), 2, null, 1);
  assert.deepEqual([...out], [7, 6, 5]);
  copyCodes(out, new Uint8Array([0, 1, 255]), 0, null, 257);
  assert.deepEqual([...out], [0, 257, 65535]);
});

test('a coarser level gathers the full vertices its map names', () => {
  const codes = new Uint16Array([10, 11, 12, 13, 14, 15]);
  const map = new Uint32Array([5, 0, 3, 3]);
  const out = new Uint16Array(4);
  copyCodes(out, codes, 99, map, 1); // start is ignored with a map
  assert.deepEqual([...out], [15, 10, 13, 13]);
  copyCodes(out, new Uint8Array([1, 2, 3, 4, 5, 6]), 0, map, 257);
  assert.deepEqual([...out], [6 * 257, 1 * 257, 4 * 257, 4 * 257]);
});

test('float frames are coded over their range, no data where not finite, gathered or not', () => {
  const values = new Float32Array([0, 0.5, 1, NaN]);
  const out = new Uint16Array(3);
  encodeValues(out, values, 1, null, 0, 100, 65535);
  assert.deepEqual([...out], [50, 100, 65535]);
  encodeValues(out, values, 0, new Uint32Array([3, 2, 0]), 0, 100, 65535);
  assert.deepEqual([...out], [65535, 100, 0]);
});

test('the map is read from (low, high) u16 pairs', () => {
  assert.deepEqual([...fullVertexMap(new Uint16Array([7, 0, 1, 1, 65535, 65535]))], [7, 65537, 4294967295]);
});
