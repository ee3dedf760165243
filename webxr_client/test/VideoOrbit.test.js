// Unit tests of the video view's orbit camera and of the scene box read from GLB heads (node --test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { glbJson, gltfBounds, sceneBounds, transformBox } from '../src/GlbBounds.js';
import { MAX_DISTANCE_RADII, MIN_DISTANCE_RADII, VideoOrbit } from '../src/VideoOrbit.js';

const sub = (a, b) => a.map((v, i) => v - b[i]);
const length = (v) => Math.hypot(...v);

test('fit looks at the box centre from the front, a little above, far enough to see it whole', () => {
  const orbit = new VideoOrbit({ fov: 40 });
  orbit.fit({ min: [-1, -1, -1], max: [1, 1, 1] });
  const camera = orbit.camera();
  assert.equal(camera.type, 'view_camera');
  assert.deepEqual(camera.target, [0, 0, 0]);
  assert.deepEqual(camera.up, [0, 0, 1]);
  assert.equal(camera.fov, 40);
  const eye = camera.position;
  assert.ok(eye[1] < 0 && eye[2] > 0, `front (-y) and above (+z): ${eye}`);
  const radius = Math.sqrt(3);
  const distance = length(eye);
  assert.ok(Math.abs(distance - (1.1 * radius) / Math.sin((20 * Math.PI) / 180)) < 1e-3, distance);
});

test('a drag orbits about the target at the same distance; elevation stops short of the poles', () => {
  const orbit = new VideoOrbit();
  orbit.fit({ min: [0, 0, 0], max: [2, 2, 2] });
  const before = orbit.camera();
  orbit.rotate(100, 0);
  const turned = orbit.camera();
  assert.deepEqual(turned.target, before.target);
  assert.ok(Math.abs(length(sub(turned.position, turned.target)) - length(sub(before.position, before.target))) < 1e-3);
  assert.equal(turned.position[2], before.position[2], 'a sideways drag keeps the height');
  assert.notDeepEqual(turned.position, before.position);
  orbit.rotate(0, 1e6);
  const top = sub(orbit.camera().position, orbit.camera().target);
  assert.ok(Math.hypot(top[0], top[1]) > 0, 'never straight above: up would be along the line of sight');
  orbit.rotate(0, -2e6);
  assert.ok(orbit.camera().position[2] < orbit.camera().target[2]);
});

test('zoom is bounded in scene radii and ignores nonsense', () => {
  const orbit = new VideoOrbit();
  orbit.fit({ min: [-1, 0, 0], max: [1, 0, 0] }); // radius 1
  orbit.zoom(1e-9);
  assert.ok(Math.abs(orbit.distance - MIN_DISTANCE_RADII) < 1e-12);
  orbit.zoom(1e12);
  assert.ok(Math.abs(orbit.distance - MAX_DISTANCE_RADII) < 1e-9);
  for (const bad of [0, -2, Number.NaN, Infinity]) orbit.zoom(bad);
  assert.ok(Math.abs(orbit.distance - MAX_DISTANCE_RADII) < 1e-9);
  const text = JSON.stringify(orbit.camera());
  assert.equal(JSON.stringify(orbit.camera()), text, 'the same orbit gives the same message text');
});

/** A GLB of `json` with an empty BIN chunk. */
function glb(json) {
  let text = JSON.stringify(json);
  while (text.length % 4) text += ' ';
  const body = new TextEncoder().encode(text);
  const bytes = new Uint8Array(20 + body.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, 0x46546c67, true);
  view.setUint32(4, 2, true);
  view.setUint32(8, bytes.length, true);
  view.setUint32(12, body.length, true);
  view.setUint32(16, 0x4e4f534a, true);
  bytes.set(body, 20);
  return bytes.buffer;
}

const QUANTIZED = {
  asset: { version: '2.0' },
  nodes: [{ mesh: 0, translation: [1, 2, 3], scale: [0.5, 0.5, 0.5] }, { name: 'no mesh' }],
  meshes: [{ primitives: [{ attributes: { POSITION: 0 } }] }],
  accessors: [{ min: [0, 0, 0], max: [4, 2, 8] }],
};

test('the box of a quantized GLB: accessor min / max through the node translation and scale', () => {
  assert.deepEqual(gltfBounds(QUANTIZED), { min: [1, 2, 3], max: [3, 3, 7] });
  assert.equal(gltfBounds({ nodes: [], meshes: [] }), null);
});

test('an object transform (column-major) moves the box; scene bounds read only each GLB head', async () => {
  const shift = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 10, 0, 0, 1];
  assert.deepEqual(transformBox({ min: [0, 0, 0], max: [1, 1, 1] }, shift), { min: [10, 0, 0], max: [11, 1, 1] });
  const turn = [0, 1, 0, 0, -1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]; // 90 degrees about z
  assert.deepEqual(transformBox({ min: [0, 0, 0], max: [2, 1, 1] }, turn), { min: [-1, 0, 0], max: [0, 2, 1] });

  const files = { '/assets/a.glb': glb(QUANTIZED), '/assets/b.glb': glb(QUANTIZED) };
  const asked = [];
  const fetchRange = async (url, end) => {
    asked.push([url, end]);
    return files[url].slice(0, end);
  };
  const objects = [
    { asset: '/assets/a.glb', transform: null, visible: true },
    { asset: '/assets/b.glb', transform: shift, visible: true },
    { asset: '/assets/c.glb', visible: false }, // hidden: not asked for
  ];
  assert.deepEqual(await sceneBounds(objects, fetchRange), { min: [1, 2, 3], max: [13, 3, 7] });
  assert.deepEqual(asked.map(([url]) => url), ['/assets/a.glb', '/assets/b.glb']);
});

test('a JSON chunk longer than the first request is asked for whole; a file that is not a GLB is refused', async () => {
  const big = { ...QUANTIZED, extras: { pad: 'x'.repeat(100_000) } };
  const file = glb(big);
  const asked = [];
  const json = await glbJson('/assets/big.glb', async (url, end) => {
    asked.push(end);
    return file.slice(0, end);
  });
  assert.equal(json.extras.pad.length, 100_000);
  assert.equal(asked.length, 2);
  await assert.rejects(glbJson('/x', async () => new TextEncoder().encode('<html>not found</html>').buffer), /not a GLB/);
});

// --- OrbitGestures ---

class FakeElement extends EventTarget {
  constructor() {
    super();
    this.style = {};
    this.dataset = {};
  }
}

function pointer(element, type, id, x, y, pointerType = 'touch') {
  element.dispatchEvent(Object.assign(new Event(type), { pointerId: id, clientX: x, clientY: y, pointerType, button: 0 }));
}

test('one pointer dragged rotates, two pinched zoom, the wheel zooms; each move is reported', async () => {
  const { OrbitGestures } = await import('../src/OrbitGestures.js');
  const element = new FakeElement();
  const orbit = new VideoOrbit();
  orbit.fit({ min: [-1, -1, -1], max: [1, 1, 1] });
  let changes = 0;
  const gestures = new OrbitGestures(element, orbit, () => {
    changes += 1;
  });
  assert.equal(element.style.touchAction, 'none');
  const { azimuth, distance } = orbit;
  pointer(element, 'pointerdown', 1, 100, 100);
  assert.equal(element.dataset.dragging, 'true');
  pointer(element, 'pointermove', 1, 150, 100);
  assert.ok(orbit.azimuth < azimuth, 'a drag to the right turns the view');
  assert.equal(orbit.distance, distance);

  pointer(element, 'pointerdown', 2, 250, 100); // second finger: 100 px from the first
  const turned = orbit.azimuth;
  pointer(element, 'pointermove', 2, 350, 100); // now 200 px apart: spread out, come closer
  assert.equal(orbit.azimuth, turned, 'a pinch does not rotate');
  assert.ok(Math.abs(orbit.distance - distance / 2) < 1e-9, `${orbit.distance} vs ${distance / 2}`);
  pointer(element, 'pointerup', 2, 350, 100);
  pointer(element, 'pointerup', 1, 150, 100);
  assert.equal(element.dataset.dragging, undefined);
  pointer(element, 'pointermove', 1, 300, 300); // no button down: nothing
  assert.equal(orbit.azimuth, turned);

  const near = orbit.distance;
  element.dispatchEvent(Object.assign(new Event('wheel'), { deltaY: 100, deltaMode: 0 }));
  assert.ok(orbit.distance > near, 'wheel down moves away');
  assert.equal(changes, 3);
  gestures.dispose();
  pointer(element, 'pointerdown', 3, 0, 0);
  assert.equal(element.dataset.dragging, undefined, 'disposed: no more listeners');
});
