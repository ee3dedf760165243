// Unit tests of a free-hand stroke's points and a pin's label text (node --test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_STROKE_POINTS, MAX_STROKE_WIDTH, StrokeBuilder, labelText, strokeWidth } from '../src/StrokeBuilder.js';

test('a stroke keeps a point only when it is far enough from the last one', () => {
  const stroke = new StrokeBuilder(0.1);
  assert.equal(stroke.add(0, 0, 0), true);
  assert.equal(stroke.add(0.05, 0, 0), false); // a still hand adds nothing
  assert.equal(stroke.add(0.1, 0, 0), true);
  assert.equal(stroke.add(0.1, 0.2, 0), true);
  assert.deepEqual(stroke.points(), [[0, 0, 0], [0.1, 0, 0], [0.1, 0.2, 0]]);
});

test('a stroke stops at the session limit of points', () => {
  const stroke = new StrokeBuilder(0);
  for (let i = 0; i < MAX_STROKE_POINTS + 10; i++) stroke.add(i, 0, 0);
  assert.equal(stroke.length, MAX_STROKE_POINTS);
  assert.equal(stroke.points().length, MAX_STROKE_POINTS);
});

test('stroke width follows the scene and stays within the session limit', () => {
  assert.ok(strokeWidth(1) > 0 && strokeWidth(1) < strokeWidth(2));
  assert.equal(strokeWidth(1000), MAX_STROKE_WIDTH);
});

test('a label is one line, cut with an ellipsis', () => {
  assert.equal(labelText('  two\nlines  '), 'two lines');
  const long = labelText('x'.repeat(100), 10);
  assert.equal(long.length, 10);
  assert.ok(long.endsWith('…'));
});
