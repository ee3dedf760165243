// Unit tests of the frame-time ring buffer (node --test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrameStats } from '../src/FrameStats.js';

test('mean and p95 cover only the last window of frames', () => {
  const stats = new FrameStats(100);
  for (let i = 0; i < 50; i++) stats.record(1000, 1, 1, false); // pushed out of the window below
  for (let i = 1; i <= 100; i++) stats.record(i, 3, 300, true);
  assert.equal(stats.count, 100);
  assert.equal(stats.total, 150);
  assert.equal(stats.mean(), 50.5);
  assert.equal(stats.quantile(0.95), 95);
  assert.equal(stats.quantile(1), 100);
  assert.deepEqual(stats.summary(), {
    frames: 100, total: 150, meanMs: 50.5, p95Ms: 95, calls: 3, triangles: 300, xr: true,
  });
});

test('a partly filled window and an empty one', () => {
  const stats = new FrameStats(120);
  assert.equal(stats.mean(), 0);
  assert.equal(stats.quantile(0.95), 0);
  for (const ms of [4, 1, 3, 2]) stats.record(ms, 0, 0, false);
  assert.equal(stats.mean(), 2.5);
  assert.equal(stats.quantile(0.5), 2);
  assert.equal(stats.quantile(0.95), 4);
  stats.clear();
  assert.equal(stats.count, 0);
  assert.equal(stats.mean(), 0);
});

test('recording and the p95 reuse their arrays', () => {
  const stats = new FrameStats(8);
  const { times, sorted } = stats;
  for (let i = 0; i < 20; i++) stats.record(i % 5, 0, 0, false);
  stats.quantile(0.95);
  assert.equal(stats.times, times);
  assert.equal(stats.sorted, sorted);
  assert.deepEqual([...stats.times].sort(), [0, 1, 2, 2, 3, 3, 4, 4]); // frames 12..19 of i % 5
});
