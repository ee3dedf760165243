// Unit tests of the headset twin panel's layout (node --test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TwinSliderScale } from '../src/TwinSliderScale.js';
import {
  PANEL_WIDTH_M, PANEL_WIDTH_PX, controlAt, layoutPanel, nextChoice, panelHeightM, pixelX, pixelY, pokeStep, sliderFraction,
} from '../src/XRPanelLayout.js';

const parameters = [
  { name: 'cycle_length', type: 'float', minimum: 200, maximum: 2000, unit: 'ms' },
  { name: 'pacing', type: 'bool' },
  { name: 'model', type: 'choice', choices: ['aliev_panfilov', 'mitchell_schaeffer'] },
  { name: 'beats', type: 'int', minimum: 1, maximum: 10 },
];
const actions = [
  { name: 'pace here', needs_point: true },
  { name: 'place scar', needs_point: true },
  { name: 'clear scar', needs_point: false },
];

const centreOf = (c) => [c.x + c.w / 2, c.y + c.h / 2];

test('one control per parameter and action, after play and reset, in schema order', () => {
  const layout = layoutPanel(parameters, actions);
  assert.deepEqual(layout.controls.map((c) => [c.kind, c.name]), [
    ['play', 'play'], ['reset', 'reset'], ['slider', 'cycle_length'], ['toggle', 'pacing'], ['choice', 'model'],
    ['slider', 'beats'], ['tool', 'pace here'], ['tool', 'place scar'], ['action', 'clear scar'],
  ]);
  assert.equal(layout.width, PANEL_WIDTH_PX);
  for (const c of layout.controls) {
    assert.ok(c.x >= 0 && c.x + c.w <= layout.width && c.y >= 0 && c.y + c.h <= layout.height, c.name);
  }
});

test('controls do not overlap, and each is found at its own centre', () => {
  const layout = layoutPanel(parameters, actions);
  layout.controls.forEach((c, i) => {
    const [x, y] = centreOf(c);
    assert.equal(controlAt(layout, x, y), i, c.name);
  });
  assert.equal(controlAt(layout, 2, 2), -1); // the margin
  assert.equal(controlAt(layout, layout.width / 2, layout.height - 1), -1);
});

test('texture coordinates map to canvas pixels (v up, y down) and back to the control there', () => {
  const layout = layoutPanel(parameters, actions);
  const slider = layout.controls[2];
  const [x, y] = centreOf(slider);
  const u = x / layout.width;
  const v = 1 - y / layout.height;
  assert.equal(controlAt(layout, pixelX(layout, u), pixelY(layout, v)), 2);
  assert.equal(pixelY(layout, 1), 0);
  assert.equal(pixelY(layout, 0), layout.height);
});

test('a slider value follows the ray along its track, clamped at the ends', () => {
  const layout = layoutPanel(parameters, actions);
  const slider = layout.controls[2];
  const scale = new TwinSliderScale(slider.info);
  const valueAt = (x) => scale.toValue(sliderFraction(slider, x) * scale.steps);
  assert.equal(valueAt(slider.trackX), 200);
  assert.equal(valueAt(slider.trackX + slider.trackW), 2000);
  assert.equal(valueAt(slider.trackX + slider.trackW / 2), 1100);
  assert.equal(valueAt(0), 200);
  assert.equal(valueAt(layout.width), 2000);
});

test('choices cycle round; an unknown value goes to the first', () => {
  assert.equal(nextChoice(['a', 'b', 'c'], 'a'), 'b');
  assert.equal(nextChoice(['a', 'b', 'c'], 'c'), 'a');
  assert.equal(nextChoice(['a', 'b'], 'zzz'), 'a');
});

test('the panel keeps its aspect ratio in metres; no parameters and no actions leave only play and reset', () => {
  const layout = layoutPanel([], []);
  assert.deepEqual(layout.controls.map((c) => c.kind), ['play', 'reset']);
  assert.ok(Math.abs(panelHeightM(layout) / PANEL_WIDTH_M - layout.height / layout.width) < 1e-12);
});

test('a fingertip presses when it comes to the panel from in front, and lets go back out or off the edge', () => {
  assert.equal(pokeStep(false, 0.05, true, true), null); // hovering in front
  assert.equal(pokeStep(false, 0.005, true, true), 'press');
  assert.equal(pokeStep(false, -0.01, true, true), 'press'); // went through within a frame
  assert.equal(pokeStep(false, 0.005, false, true), null); // beside the panel
  assert.equal(pokeStep(false, -0.01, true, false), null); // reached round from behind
  assert.equal(pokeStep(true, 0.02, true, true), null); // between press and release: still pressing
  assert.equal(pokeStep(true, 0.03, true, true), 'release');
  assert.equal(pokeStep(true, 0, false, true), 'release');
  assert.equal(pokeStep(true, -0.2, true, true), 'release');
});
