/** Width of a headset panel's canvas (px); its height follows from the rows. */
export const PANEL_WIDTH_PX = 1024;
/** Width of a panel in the headset (m): 1 px is about 0.43 mm, so 34 px text is legible at 0.6 m. */
export const PANEL_WIDTH_M = 0.44;
export const PAD_PX = 24;
export const TITLE_H = 64;
export const BUTTON_H = 84;
export const MESSAGE_H = 52;
export const SLIDER_H = 128;
export const HEADING_H = 56;
/** Space between two rows of buttons, and between two sections (px). */
export const ROW_GAP = PAD_PX / 2;
export const SECTION_GAP = PAD_PX * 2;
/** Height of the slider's track band inside its row (the part drawn; the whole row takes the ray). */
export const TRACK_H = 44;
/** Buttons across a row of choices. */
export const CHOICE_COLUMNS = 3;
/** More choices than this get one cycling row (◂ name ▸) instead of a button each. */
export const MAX_CHOICE_BUTTONS = 9;

/**
 * A panel is a stack of sections; a section a list of rows:
 * - `{type: 'text', key, h}`: a line the section writes (its title, a message, a hint), `h` px high;
 * - `{type: 'buttons', controls, columns?}`: buttons side by side (`columns` slots, default one per control);
 * - `{type: 'slider', control}`: a labelled slider over the panel's width.
 * A control is `{role, name, ...}`: what it means is its section's business; the layout adds where it is.
 */

/**
 * Where each row's text and control sits on the canvas (px, y down). Pure.
 *
 * @param {{id: string, rows: object[]}[]} sections in the order drawn
 * @returns {{width: number, height: number, texts: object[], controls: object[], dividers: number[]}}
 *   texts: {section, key, x, y, w, h}; controls: {section, kind: 'button'|'slider', role, name, x, y, w, h,
 *   trackX?, trackW?, ...}; dividers: y of the line between two sections
 */
export function layoutPanel(sections) {
  const width = PANEL_WIDTH_PX;
  const inner = width - 2 * PAD_PX;
  const texts = [];
  const controls = [];
  const dividers = [];
  let y = PAD_PX;
  sections.forEach(({ id, rows }, s) => {
    if (s > 0) {
      dividers.push(y + SECTION_GAP / 2);
      y += SECTION_GAP;
    }
    for (const row of rows) {
      if (row.type === 'text') {
        texts.push({ section: id, key: row.key, x: PAD_PX, y, w: inner, h: row.h });
        y += row.h;
      } else if (row.type === 'slider') {
        const trackX = PAD_PX + TRACK_H / 2;
        controls.push({ ...row.control, section: id, kind: 'slider', x: PAD_PX, y, w: inner, h: SLIDER_H, trackX, trackW: inner - TRACK_H });
        y += SLIDER_H + ROW_GAP;
      } else {
        const columns = row.columns ?? row.controls.length;
        const w = (inner - (columns - 1) * PAD_PX) / columns;
        row.controls.forEach((control, i) => {
          controls.push({ ...control, section: id, kind: 'button', x: PAD_PX + i * (w + PAD_PX), y, w, h: BUTTON_H });
        });
        y += BUTTON_H + ROW_GAP;
      }
    }
  });
  return { width, height: y + PAD_PX, texts, controls, dividers };
}

/**
 * The live twin's rows, from its schema (the `twin` message's `parameters` and `actions`): title;
 * play/pause and reset; a message line; one row per parameter (float/int: a slider, bool: a toggle,
 * choice: a button that cycles); the actions, two a row (those that need a point are tools).
 */
export function twinRows(parameters, actions) {
  const rows = [
    { type: 'text', key: 'title', h: TITLE_H },
    { type: 'buttons', controls: [{ role: 'play', name: 'play' }, { role: 'reset', name: 'reset' }] },
    { type: 'text', key: 'message', h: MESSAGE_H },
  ];
  for (const info of parameters) {
    if (info.type === 'bool' || info.type === 'choice') {
      rows.push({ type: 'buttons', controls: [{ role: info.type === 'bool' ? 'toggle' : 'choice', name: info.name, info }] });
    } else {
      rows.push({ type: 'slider', control: { role: 'parameter', name: info.name, info } });
    }
  }
  if (actions.length > 0) rows.push({ type: 'text', key: 'tools', h: HEADING_H });
  for (let i = 0; i < actions.length; i += 2) {
    const pair = actions.slice(i, i + 2).map((a) => ({ role: a.needs_point ? 'tool' : 'action', name: a.name }));
    rows.push({ type: 'buttons', columns: 2, controls: pair });
  }
  return rows;
}

/**
 * Playback's rows: title; step back, play/pause, step on; the scrub slider over the steps (label:
 * step and time); speed (cycles) and loop.
 */
export function timeRows() {
  return [
    { type: 'text', key: 'title', h: TITLE_H },
    {
      type: 'buttons',
      controls: [{ role: 'step', name: 'time-back', by: -1 }, { role: 'play', name: 'time-play' }, { role: 'step', name: 'time-on', by: 1 }],
    },
    { type: 'slider', control: { role: 'scrub', name: 'time-step' } },
    { type: 'buttons', controls: [{ role: 'speed', name: 'time-speed' }, { role: 'loop', name: 'time-loop' }] },
  ];
}

/**
 * Rows to pick one of `options` (`{value, label}`) for `name`: a button each, CHOICE_COLUMNS a row,
 * up to MAX_CHOICE_BUTTONS; past that one row ◂ current ▸ that steps through them (the current one
 * in the middle shows which, and pressing it steps on too).
 */
export function choiceRows(name, options) {
  if (options.length > MAX_CHOICE_BUTTONS) {
    return [{
      type: 'buttons',
      columns: 3,
      controls: [
        { role: 'cycle', name: `${name}:previous`, choice: name, by: -1 },
        { role: 'cycle', name: `${name}:current`, choice: name, by: 1 },
        { role: 'cycle', name: `${name}:next`, choice: name, by: 1 },
      ],
    }];
  }
  const rows = [];
  for (let i = 0; i < options.length; i += CHOICE_COLUMNS) {
    const controls = options.slice(i, i + CHOICE_COLUMNS).map((o) => ({ role: 'option', name: `${name}:${o.value}`, choice: name, value: o.value }));
    rows.push({ type: 'buttons', columns: CHOICE_COLUMNS, controls });
  }
  return rows;
}

/**
 * The field section's rows: title; the objects to choose from (when there are several), the
 * selected object's fields, its colour maps; each list under its own heading.
 *
 * @param {{objects: object[], fields: object[], colormaps: object[]}} options each `{value, label}`
 */
export function fieldRows({ objects, fields, colormaps }) {
  const rows = [{ type: 'text', key: 'title', h: TITLE_H }];
  if (objects.length > 1) rows.push({ type: 'text', key: 'object', h: HEADING_H }, ...choiceRows('object', objects));
  rows.push({ type: 'text', key: 'field', h: HEADING_H }, ...choiceRows('field', fields));
  rows.push({ type: 'text', key: 'colormap', h: HEADING_H }, ...choiceRows('colormap', colormaps));
  return rows;
}

/** On/off buttons, two a row, under a title (`names`: the toggles' names). */
export function toggleRows(names) {
  const rows = [{ type: 'text', key: 'title', h: TITLE_H }];
  for (let i = 0; i < names.length; i += 2) {
    rows.push({ type: 'buttons', columns: 2, controls: names.slice(i, i + 2).map((name) => ({ role: 'toggle', name })) });
  }
  return rows;
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

/** Canvas y (px) of the middle of a slider's track. */
export function trackY(control) {
  return control.y + control.h - TRACK_H / 2 - 8;
}

/** Where along a slider's track canvas x lies: 0 at its left end, 1 at its right end (clamped). */
export function sliderFraction(control, x) {
  const f = (x - control.trackX) / control.trackW;
  return f <= 0 ? 0 : f >= 1 ? 1 : f;
}

/** The whole position of a range input (`min`..`max`) at `fraction` of its length. */
export function rangePosition(fraction, min, max) {
  return min + Math.round(fraction * (max - min));
}

/** How far along (0..1) `value` lies in `min`..`max` (0 for an empty range). */
export function rangeFraction(value, min, max) {
  if (!(max > min)) return 0;
  const f = (value - min) / (max - min);
  return f <= 0 ? 0 : f >= 1 ? 1 : f;
}

/** The choice `by` places after `value` (wrapping round); the first when `value` is not one of them. */
export function nextChoice(choices, value, by = 1) {
  if (!choices || choices.length === 0) return value;
  const i = choices.indexOf(value);
  if (i < 0) return choices[0];
  return choices[(((i + by) % choices.length) + choices.length) % choices.length];
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
