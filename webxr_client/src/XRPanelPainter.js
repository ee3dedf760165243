import { TRACK_H, trackY } from './XRPanelLayout.js';

const FONT = '34px system-ui, sans-serif';
const SMALL_FONT = '28px system-ui, sans-serif';
const COLORS = {
  panel: 'rgba(20, 24, 33, 0.92)', text: '#e8ebf2', dim: '#9aa3b5', button: '#2b3242', hover: '#3a4a66',
  active: '#4cc9f0', activeText: '#0b1020', track: '#3a4152', fill: '#4cc9f0', error: '#ff8a80', divider: '#3a4152',
};

/**
 * Paints a headset panel's canvas from its layout (XRPanelLayout) and what its sections say each
 * text and control shows now (`look`s): a button `{label, active, enabled}`, a slider `{label,
 * value, fraction, enabled}`, a text `{text, tone: 'title'|'dim'|'error'}`. Knows nothing of twins
 * or playback.
 */
export class XRPanelPainter {
  /** @param {CanvasRenderingContext2D} context */
  constructor(context) {
    this.g = context;
  }

  /**
   * @param {{width: number, height: number, texts: object[], controls: object[], dividers: number[]}} layout
   * @param {{texts: object[], controls: object[]}} looks one per layout text and control, same order
   * @param {Set<number>} hovered indices of the controls a ray or fingertip is on
   */
  paint(layout, looks, hovered) {
    const g = this.g;
    const { width, height } = layout;
    g.clearRect(0, 0, width, height);
    g.fillStyle = COLORS.panel;
    roundRect(g, 0, 0, width, height, 28);
    g.fill();
    g.textBaseline = 'middle';
    g.fillStyle = COLORS.divider;
    for (const y of layout.dividers) g.fillRect(24, y - 1, width - 48, 2);
    layout.texts.forEach((t, i) => this.#text(t, looks.texts[i]));
    layout.controls.forEach((c, i) => {
      if (c.kind === 'slider') this.#slider(c, looks.controls[i], hovered.has(i));
      else this.#button(c, looks.controls[i], hovered.has(i));
    });
  }

  #text(t, look) {
    if (!look?.text) return;
    const g = this.g;
    g.textAlign = 'left';
    g.font = look.tone === 'title' ? FONT : SMALL_FONT;
    g.fillStyle = look.tone === 'error' ? COLORS.error : look.tone === 'title' ? COLORS.text : COLORS.dim;
    g.fillText(clip(g, look.text, t.w), t.x, t.y + t.h / 2);
  }

  #button(c, { label, active, enabled }, hover) {
    const g = this.g;
    g.globalAlpha = enabled ? 1 : 0.45;
    g.fillStyle = active ? COLORS.active : hover ? COLORS.hover : COLORS.button;
    roundRect(g, c.x, c.y, c.w, c.h, 16);
    g.fill();
    g.fillStyle = active ? COLORS.activeText : COLORS.text;
    g.font = FONT;
    if (g.measureText(label).width > c.w - 24) g.font = SMALL_FONT; // a long name: smaller before it is cut
    g.textAlign = 'center';
    g.fillText(clip(g, label, c.w - 24), c.x + c.w / 2, c.y + c.h / 2);
    g.globalAlpha = 1;
  }

  #slider(c, { label, value, fraction, enabled }, hover) {
    const g = this.g;
    g.globalAlpha = enabled ? 1 : 0.45;
    if (hover) {
      g.fillStyle = COLORS.button;
      roundRect(g, c.x, c.y, c.w, c.h, 16);
      g.fill();
    }
    g.font = FONT;
    g.fillStyle = COLORS.text;
    g.textAlign = 'right';
    g.fillText(value, c.x + c.w - 12, c.y + 36);
    const valueWidth = g.measureText(value).width;
    g.textAlign = 'left';
    g.fillText(clip(g, label, c.w - valueWidth - 48), c.x + 12, c.y + 36);
    const y = trackY(c);
    g.fillStyle = COLORS.track;
    roundRect(g, c.trackX, y - 8, c.trackW, 16, 8);
    g.fill();
    g.fillStyle = COLORS.fill;
    roundRect(g, c.trackX, y - 8, Math.max(16, c.trackW * fraction), 16, 8);
    g.fill();
    g.beginPath();
    g.arc(c.trackX + c.trackW * fraction, y, TRACK_H / 2, 0, Math.PI * 2);
    g.fill();
    g.globalAlpha = 1;
  }
}

function roundRect(g, x, y, w, h, r) {
  g.beginPath();
  g.roundRect(x, y, w, h, r);
}

/** `text` cut with an ellipsis to fit `width` px in the current font. */
function clip(g, text, width) {
  if (g.measureText(text).width <= width) return text;
  let cut = text;
  while (cut.length > 1 && g.measureText(`${cut}…`).width > width) cut = cut.slice(0, -1);
  return `${cut}…`;
}
