/** Width of the headset panel's canvas (px); its height follows from the rows. */
export const PANEL_WIDTH_PX = 1024;
/** Width of the panel in the headset (m): 1 px is about 0.43 mm, so 34 px text is legible at 0.6 m. */
export const PANEL_WIDTH_M = 0.44;
export const PAD_PX = 24;
export const TITLE_H = 64;
export const BUTTON_H = 84;
export const MESSAGE_H = 52;
export const SLIDER_H = 128;
export const HEADING_H = 56;
/** Height of the slider's track band inside its row (the part drawn; the whole row takes the ray). */
export const TRACK_H = 44;

/**
 * Where each control of the headset's twin panel sits on its canvas (px, y down), built from the
 * twin's schema (the `twin` message's `parameters` and `actions`): play/pause and reset; one row per
 * parameter (float/int: a slider, bool: a toggle, choice: a button that cycles); the actions (those
 * that need a point are tools). Pure.
 *
 * @param {object[]} parameters ParameterInfo list
 * @param {object[]} actions ActionInfo list
 * @returns {{width: number, height: number, messageY: number, toolsY: number, controls: object[]}}
 *   controls: {kind: 'play'|'reset'|'slider'|'toggle'|'choice'|'tool'|'action', name, x, y, w, h, trackX?, trackW?, info?}
 */
export function layoutPanel(parameters, actions) {
  const width = PANEL_WIDTH_PX;
  const inner = width - 2 * PAD_PX;
  const half = (inner - PAD_PX) / 2;
  const controls = [];
  let y = PAD_PX + TITLE_H;
  controls.push({ kind: 'play', name: 'play', x: PAD_PX, y, w: half, h: BUTTON_H });
  controls.push({ kind: 'reset', name: 'reset', x: PAD_PX + half + PAD_PX, y, w: half, h: BUTTON_H });
  y += BUTTON_H;
  const messageY = y;
  y += MESSAGE_H;
  for (const info of parameters) {
    if (info.type === 'bool' || info.type === 'choice') {
      controls.push({ kind: info.type === 'bool' ? 'toggle' : 'choice', name: info.name, x: PAD_PX, y, w: inner, h: BUTTON_H, info });
      y += BUTTON_H + PAD_PX / 2;
    } else {
      controls.push({ kind: 'slider', name: info.name, x: PAD_PX, y, w: inner, h: SLIDER_H, trackX: PAD_PX + TRACK_H / 2, trackW: inner - TRACK_H, info });
      y += SLIDER_H;
    }
  }
  const toolsY = y;
  if (actions.length > 0) y += HEADING_H;
  actions.forEach((action, i) => {
    const column = i % 2;
    if (column === 0 && i > 0) y += BUTTON_H + PAD_PX / 2;
    controls.push({ kind: action.needs_point ? 'tool' : 'action', name: action.name, x: PAD_PX + column * (half + PAD_PX), y, w: half, h: BUTTON_H });
  });
  if (actions.length > 0) y += BUTTON_H;
  return { width, height: y + PAD_PX, messageY, toolsY, controls };
}

/** Index of the control at canvas pixel (x, y), or -1. */
export function controlAt(layout, x, y) {
  const { controls } = layout;
  for (let i = 0; i < controls.length; i++) {
    const c = controls[i];
    if (x >= c.x && x <= c.x + c.w && y >= c.y && y <= c.y + c.h) return i;
  }
  return -1;
}

/** Canvas x (px) of texture coordinate u. */
export function pixelX(layout, u) {
  return u * layout.width;
}

/** Canvas y (px, down) of texture coordinate v (up, as three.js planes and CanvasTexture's flipY have it). */
export function pixelY(layout, v) {
  return (1 - v) * layout.height;
}

/** Where along a slider's track canvas x lies: 0 at its left end, 1 at its right end (clamped). */
export function sliderFraction(control, x) {
  const f = (x - control.trackX) / control.trackW;
  return f <= 0 ? 0 : f >= 1 ? 1 : f;
}

/** The choice after `value` (wrapping round); the first when `value` is not one of them. */
export function nextChoice(choices, value) {
  if (!choices || choices.length === 0) return value;
  const i = choices.indexOf(value);
  return choices[(i + 1) % choices.length];
}

/** The panel's height in the headset (m) for a layout. */
export function panelHeightM(layout) {
  return (PANEL_WIDTH_M * layout.height) / layout.width;
}

/** A fingertip this close to the panel (m, in front of it) or through it presses. */
export const POKE_PRESS_M = 0.01;
/** A pressing fingertip lets go when it is back this far in front (m): the gap stops flicker. */
export const POKE_RELEASE_M = 0.025;
/** How far behind the panel (m) a fingertip still counts as pressing it (further: it went past). */
export const POKE_DEPTH_M = 0.05;

/**
 * A finger poke's next state from the fingertip's place relative to the panel: `depth` is its
 * distance in front (m, negative behind), `inside` whether it is over the panel. Returns 'press'
 * (it just touched), 'release' (it just left), or null (no change). Only a fingertip that comes from
 * in front presses, so reaching round the back does not.
 */
export function pokeStep(pressed, depth, inside, wasInFront) {
  if (pressed) return depth > POKE_RELEASE_M || depth < -POKE_DEPTH_M || !inside ? 'release' : null;
  return inside && wasInFront && depth <= POKE_PRESS_M && depth >= -POKE_DEPTH_M ? 'press' : null;
}
