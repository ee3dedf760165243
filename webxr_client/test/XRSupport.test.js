// Unit tests of the WebXR availability check (node --test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { INSECURE, NO_WEBXR, xrSupport } from '../src/XRSupport.js';

const VR = 'immersive-vr';
const AR = 'immersive-ar';

test('an insecure page is told to use the https link, before anything else', async () => {
  const xr = { isSessionSupported: async () => true };
  const support = await xrSupport({ xr, secure: false });
  assert.deepEqual(support[VR], { supported: false, reason: INSECURE });
  assert.deepEqual(support[AR], { supported: false, reason: INSECURE });
});

test('no navigator.xr: the browser has no WebXR', async () => {
  for (const xr of [undefined, null, {}]) {
    const support = await xrSupport({ xr, secure: true });
    assert.equal(support[VR].reason, NO_WEBXR);
    assert.equal(support[AR].reason, NO_WEBXR);
  }
});

test('each mode is asked for; a missing one names what is missing', async () => {
  const asked = [];
  const xr = { isSessionSupported: async (mode) => { asked.push(mode); return mode === VR; } };
  const support = await xrSupport({ xr, secure: true });
  assert.deepEqual(asked, [VR, AR]);
  assert.deepEqual(support[VR], { supported: true, reason: null });
  assert.equal(support[AR].supported, false);
  assert.match(support[AR].reason, /no AR/);
  const none = await xrSupport({ xr: { isSessionSupported: async () => false }, secure: true });
  assert.equal(none[VR].reason, 'No VR headset found');
});

test('a check that throws (permissions policy) is a reason, not an exception', async () => {
  const xr = { isSessionSupported: () => Promise.reject(new Error('xr-spatial-tracking is not allowed')) };
  const support = await xrSupport({ xr, secure: true });
  assert.equal(support[VR].supported, false);
  assert.equal(support[VR].reason, 'WebXR is blocked on this page: xr-spatial-tracking is not allowed');
});
