/** The immersive session modes the client offers, with the words its buttons use. */
export const XR_MODES = [
  { mode: 'immersive-vr', label: 'VR', missing: 'No VR headset found' },
  { mode: 'immersive-ar', label: 'AR', missing: 'This device has no AR (passthrough) mode' },
];

export const INSECURE = 'WebXR needs a secure page: open the https:// link (vizserver serve --https)';
export const NO_WEBXR = 'This browser has no WebXR';

/**
 * Whether each immersive mode can start here and, when not, why, in words for the user:
 * `{ 'immersive-vr': {supported, reason}, 'immersive-ar': {...} }` (reason null when supported).
 * Never throws: a failing check is a reason too.
 *
 * @param {{ xr: XRSystem|undefined|null, secure: boolean }} environment `navigator.xr` and `window.isSecureContext`
 */
export async function xrSupport({ xr, secure }) {
  const result = {};
  for (const { mode, missing } of XR_MODES) {
    let reason = null;
    if (!secure) reason = INSECURE; // browsers hide navigator.xr on http:// pages other than localhost
    else if (!xr || typeof xr.isSessionSupported !== 'function') reason = NO_WEBXR;
    else {
      try {
        if (!(await xr.isSessionSupported(mode))) reason = missing;
      } catch (error) {
        reason = `WebXR is blocked on this page: ${error?.message || error}`;
      }
    }
    result[mode] = { supported: reason === null, reason };
  }
  return result;
}
