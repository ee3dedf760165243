// Unit tests of the colour-scale state and the colour tables (node --test; no WebGL needed).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ColormapTexture } from '../src/ColormapTexture.js';
import { FieldDisplay } from '../src/FieldDisplay.js';
import { formatNumber } from '../src/ColorBar.js';

const field = (overrides = {}) => ({ id: 0, name: 'vm', unit: 'mV', components: 1, range: [-85, 40],
  colormap: 'turbo', categorical: false, ...overrides });

test('the default range is the union of the objects that share a field name', () => {
  const colormaps = new ColormapTexture();
  const display = new FieldDisplay(field(), colormaps);
  assert.deepEqual([display.lo, display.hi], [-85, 40]);
  display.include([-90, 10]);
  assert.deepEqual([display.lo, display.hi], [-90, 40]);
  display.include(null);
  assert.deepEqual([display.defaultLo, display.defaultHi], [-90, 40]);
  colormaps.dispose();
});

test('an edited range holds until reset; a bad range is refused', () => {
  const display = new FieldDisplay(field(), new ColormapTexture());
  assert.equal(display.setRange(0, 1), true);
  display.include([-200, 200]);
  assert.deepEqual([display.lo, display.hi], [0, 1]);
  for (const [lo, hi] of [[1, 1], [2, 1], [NaN, 1], [0, Infinity]]) assert.equal(display.setRange(lo, hi), false);
  assert.deepEqual([display.lo, display.hi], [0, 1]);
  display.resetRange();
  assert.deepEqual([display.lo, display.hi], [-200, 200]);
});

test('colour maps: known names, unknown ones fall back to viridis, label fields get the categorical map', () => {
  const colormaps = new ColormapTexture();
  assert.deepEqual(ColormapTexture.names.slice(0, 4), ['viridis', 'turbo', 'coolwarm', 'grey']);
  const display = new FieldDisplay(field({ colormap: 'jet' }), colormaps);
  assert.equal(display.colormap, 'viridis');
  assert.equal(display.labels, 0);
  const labels = new FieldDisplay(field({ name: 'label', categorical: true }), colormaps);
  assert.equal(labels.colormap, 'categorical');
  assert.equal(labels.labels, 20);
  assert.equal(labels.texture, colormaps.texture('categorical'), 'textures are shared');
  assert.equal(new FieldDisplay(field({ components: 3 }), colormaps).title, '|vm|');
});

test('colour tables run from the first anchor to the last', () => {
  const viridis = ColormapTexture.table('viridis');
  assert.equal(viridis.length, 256 * 4);
  assert.deepEqual(Array.from(viridis.subarray(0, 4)), [0x44, 0x01, 0x54, 255]);
  assert.deepEqual(Array.from(viridis.subarray(-4)), [0xfd, 0xe7, 0x25, 255]);
  const grey = ColormapTexture.table('grey');
  assert.deepEqual(Array.from(grey.subarray(128 * 4, 128 * 4 + 3)), [128, 128, 128]);
  assert.equal(ColormapTexture.table('categorical').length, 20 * 4);
});

test('numbers are shown with four significant digits', () => {
  assert.equal(formatNumber(-0.99957), '-0.9996');
  assert.equal(formatNumber(41), '41');
  assert.equal(formatNumber(0), '0');
  assert.equal(formatNumber(123456), '1.235e+5');
  assert.equal(formatNumber(0.0001234), '1.234e-4');
});
