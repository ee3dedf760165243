// Unit tests of the headset panels' layout (node --test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TwinSliderScale } from '../src/TwinSliderScale.js';
import {
  MAX_CHOICE_BUTTONS, PANEL_WIDTH_M, PANEL_WIDTH_PX, choiceRows, controlAt, fieldRows, layoutPanel, nextChoice, panelHeightM,
  pixelX, pixelY, pokeStep, rangeFraction, rangePosition, sliderFraction, timeRows, toggleRows, trackY, twinRows,
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
const option = (value) => ({ value, label: value });
const fieldOptions = {
  objects: [option('1'), option('2')],
  fields: ['none', '0', '1'].map(option),
  colormaps: ['viridis', 'turbo', 'coolwarm', 'grey', 'categorical'].map(option),
};

const centreOf = (c) => [c.x + c.w / 2, c.y + c.h / 2];
const twinLayout = () => layoutPanel([{ id: 'twin', rows: twinRows(parameters, actions) }]);
const sceneLayout = () => layoutPanel([
  { id: 'time', rows: timeRows() }, { id: 'field', rows: fieldRows(fieldOptions) }, { id: 'toggles', rows: toggleRows(['clip']) },
]);

function assertInsideAndApart(layout) {
  assert.equal(layout.width, PANEL_WIDTH_PX);
  for (const c of [...layout.controls, ...layout.texts]) {
    assert.ok(c.x >= 0 && c.x + c.w <= layout.width && c.y >= 0 && c.y + c.h <= layout.height, c.name ?? c.key);
  }
  layout.controls.forEach((c, i) => {
    const [x, y] = centreOf(c);
    assert.equal(controlAt(layout, x, y), i, c.name);
  });
  assert.equal(controlAt(layout, 2, 2), -1); // the margin
  assert.equal(controlAt(layout, layout.width / 2, layout.height - 1), -1);
}

test('the twin section: play and reset, one control per parameter and action, in schema order', () => {
  const layout = twinLayout();
  assert.deepEqual(layout.controls.map((c) => [c.kind, c.role, c.name]), [
    ['button', 'play', 'play'], ['button', 'reset', 'reset'], ['slider', 'parameter', 'cycle_length'],
    ['button', 'toggle', 'pacing'], ['button', 'choice', 'model'], ['slider', 'parameter', 'beats'],
    ['button', 'tool', 'pace here'], ['button', 'tool', 'place scar'], ['button', 'action', 'clear scar'],
  ]);
  assert.ok(layout.controls.every((c) => c.section === 'twin'));
  assert.deepEqual(layout.texts.map((t) => t.key), ['title', 'message', 'tools']);
  const [clear, pace] = [layout.controls[8], layout.controls[6]];
  assert.equal(clear.w, pace.w); // an odd last action keeps its half width
  assertInsideAndApart(layout);
});

test('the scene panel: time, field and toggle sections stacked with a divider between each, nothing overlapping', () => {
  const layout = sceneLayout();
  const bySection = (id) => layout.controls.filter((c) => c.section === id).map((c) => c.name);
  assert.deepEqual(bySection('time'), ['time-back', 'time-play', 'time-on', 'time-step', 'time-speed', 'time-loop']);
  assert.deepEqual(bySection('field'), [
    'object:1', 'object:2', 'field:none', 'field:0', 'field:1',
    'colormap:viridis', 'colormap:turbo', 'colormap:coolwarm', 'colormap:grey', 'colormap:categorical',
  ]);
  assert.deepEqual(bySection('toggles'), ['clip']);
  assert.equal(layout.dividers.length, 2);
  const lastTime = Math.max(...layout.controls.filter((c) => c.section === 'time').map((c) => c.y + c.h));
  const firstField = Math.min(...layout.texts.filter((t) => t.section === 'field').map((t) => t.y));
  assert.ok(lastTime < layout.dividers[0] && layout.dividers[0] < firstField);
  assert.equal(layout.controls.find((c) => c.name === 'time-step').kind, 'slider');
  assertInsideAndApart(layout);
});

test('one object: no object row; each list under its heading', () => {
  const rows = fieldRows({ ...fieldOptions, objects: [option('1')] });
  assert.deepEqual(rows.filter((r) => r.type === 'text').map((r) => r.key), ['title', 'field', 'colormap']);
  const layout = layoutPanel([{ id: 'field', rows }]);
  assert.ok(!layout.controls.some((c) => c.name.startsWith('object:')));
});

test('choices: a button each, three a row; past the limit one ◂ current ▸ row', () => {
  const few = choiceRows('colormap', fieldOptions.colormaps);
  assert.deepEqual(few.map((r) => r.controls.length), [3, 2]);
  assert.ok(few.every((r) => r.columns === 3));
  const layout = layoutPanel([{ id: 'field', rows: few }]);
  const [a, , , d] = layout.controls;
  assert.equal(a.w, d.w); // the short last row keeps the column width
  const many = Array.from({ length: MAX_CHOICE_BUTTONS + 1 }, (_, i) => option(String(i)));
  const cycling = choiceRows('field', many);
  assert.equal(cycling.length, 1);
  assert.deepEqual(cycling[0].controls.map((c) => [c.role, c.name, c.by]), [
    ['cycle', 'field:previous', -1], ['cycle', 'field:current', 1], ['cycle', 'field:next', 1],
  ]);
  assert.equal(choiceRows('field', many.slice(0, MAX_CHOICE_BUTTONS)).length, 3);
});

test('texture coordinates map to canvas pixels (v up, y down) and back to the control there', () => {
  const layout = twinLayout();
  const slider = layout.controls[2];
  const [x, y] = centreOf(slider);
  const u = x / layout.width;
  const v = 1 - y / layout.height;
  assert.equal(controlAt(layout, pixelX(layout, u), pixelY(layout, v)), 2);
  assert.equal(pixelY(layout, 1), 0);
  assert.equal(pixelY(layout, 0), layout.height);
  assert.ok(trackY(slider) > slider.y && trackY(slider) < slider.y + slider.h);
});

test('a slider value follows the ray along its track, clamped at the ends', () => {
  const layout = twinLayout();
  const slider = layout.controls[2];
  const scale = new TwinSliderScale(slider.info);
  const valueAt = (x) => scale.toValue(rangePosition(sliderFraction(slider, x), 0, scale.steps));
  assert.equal(valueAt(slider.trackX), 200);
  assert.equal(valueAt(slider.trackX + slider.trackW), 2000);
  assert.equal(valueAt(slider.trackX + slider.trackW / 2), 1100);
  assert.equal(valueAt(0), 200);
  assert.equal(valueAt(layout.width), 2000);
});

test('the scrub slider: whole steps from the first to the last, and back to a fraction', () => {
  const scrub = sceneLayout().controls.find((c) => c.name === 'time-step');
  const stepAt = (f) => rangePosition(sliderFraction(scrub, scrub.trackX + f * scrub.trackW), 0, 4);
  assert.deepEqual([0, 0.1, 0.5, 0.75, 0.9, 1].map(stepAt), [0, 0, 2, 3, 4, 4]);
  assert.equal(rangeFraction(3, 0, 4), 0.75);
  assert.equal(rangeFraction(9, 0, 4), 1);
  assert.equal(rangeFraction(0, 0, 0), 0); // one step: no range
});

test('choices cycle round both ways; an unknown value goes to the first', () => {
  assert.equal(nextChoice(['a', 'b', 'c'], 'a'), 'b');
  assert.equal(nextChoice(['a', 'b', 'c'], 'c'), 'a');
  assert.equal(nextChoice(['a', 'b', 'c'], 'a', -1), 'c');
  assert.equal(nextChoice(['a', 'b'], 'zzz'), 'a');
});

test('the panel keeps its aspect ratio in metres; a twin without parameters or actions has only play and reset', () => {
  const layout = layoutPanel([{ id: 'twin', rows: twinRows([], []) }]);
  assert.deepEqual(layout.controls.map((c) => c.role), ['play', 'reset']);
  assert.ok(Math.abs(panelHeightM(layout) / PANEL_WIDTH_M - layout.height / layout.width) < 1e-12);
  assert.deepEqual(layoutPanel([]).controls, []);
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
