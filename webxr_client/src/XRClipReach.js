/**
 * Whether a hand can take the headset's clip-plane handle, as pure arithmetic in the handle's own
 * frame: the handle is the unit square |x|, |y| <= 0.5 at z = 0 (its quad), so a caller turns the
 * hand's pose into that frame with the handle's inverse world matrix and lengths into its units.
 */

/** Whether `point` (handle frame) is within `reach` of the quad: over it, or past its edge by at most `reach`. */
export function nearQuad(point, reach) {
  const edge = 0.5 + reach;
  return Math.abs(point.z) <= reach && Math.abs(point.x) <= edge && Math.abs(point.y) <= edge;
}

/**
 * Distance along the ray (`origin`, unit-free `direction`, handle frame) to where it crosses the
 * quad's rim: the band of width `rim` inside its edge (its frame, what a ray takes; the middle
 * of the quad lets a ray through to the model behind it). Infinity where it misses the rim.
 */
export function rayToRim(origin, direction, rim) {
  if (Math.abs(direction.z) < 1e-9) return Infinity;
  const t = -origin.z / direction.z;
  if (t <= 0) return Infinity;
  const x = Math.abs(origin.x + t * direction.x);
  const y = Math.abs(origin.y + t * direction.y);
  if (x > 0.5 || y > 0.5) return Infinity;
  const inner = 0.5 - rim;
  return x >= inner || y >= inner ? t : Infinity;
}
