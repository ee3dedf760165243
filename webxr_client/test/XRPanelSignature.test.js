// Unit tests of the headset panels' change detection (node --test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XRPanelSignature } from '../src/XRPanelSignature.js';

const sign = (signature, values) => {
  signature.begin();
  for (const value of values) signature.add(value);
  return signature.end();
};

test('a signature says changed the first time, then only when a value, or the number of values, differs', () => {
  const signature = new XRPanelSignature();
  assert.equal(sign(signature, ['running', 3, true]), true);
  assert.equal(sign(signature, ['running', 3, true]), false);
  assert.equal(sign(signature, ['paused', 3, true]), true);
  assert.equal(sign(signature, ['paused', 3]), true);
  assert.equal(sign(signature, ['paused', 3, NaN]), true);
  assert.equal(sign(signature, ['paused', 3, NaN]), false, 'NaN equals itself here');
  signature.reset();
  assert.equal(sign(signature, ['paused', 3, NaN]), true, 'after reset: changed');
});
