/** Most points of one stroke (the session refuses more: sessions/annotations.py). */
export const MAX_STROKE_POINTS = 1024;
/** Widest stroke the session takes (metres, content units). */
export const MAX_STROKE_WIDTH = 0.05;

/**
 * The points of a free-hand stroke as the hand or mouse moves: a point is kept only when it is at least
 * `spacing` from the last kept one (a still hand adds nothing), and no more than MAX_STROKE_POINTS;
 * `points()` gives them as the protocol wants them ([[x, y, z], ...], content coordinates).
 */
export class StrokeBuilder {
  /** @param {number} spacing the least distance between kept points (content units) */
  constructor(spacing) {
    this.spacing = spacing;
    this.coords = [];
  }

  get length() {
    return this.coords.length / 3;
  }

  /** Offer a point; true when it was kept. */
  add(x, y, z) {
    const n = this.coords.length;
    if (n / 3 >= MAX_STROKE_POINTS) return false;
    if (n && Math.hypot(x - this.coords[n - 3], y - this.coords[n - 2], z - this.coords[n - 1]) < this.spacing) return false;
    this.coords.push(x, y, z);
    return true;
  }

  points() {
    const out = [];
    for (let i = 0; i < this.coords.length; i += 3) out.push([this.coords[i], this.coords[i + 1], this.coords[i + 2]]);
    return out;
  }
}

/** A stroke's width for a scene of bounding radius `radius`: thin beside the model, within the session's limit. */
export function strokeWidth(radius) {
  return Math.min(MAX_STROKE_WIDTH, Math.max(1e-4, radius * 0.012));
}

/** `text` cut to `max` characters with an ellipsis, on one line (a pin's label). */
export function labelText(text, max = 40) {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}
