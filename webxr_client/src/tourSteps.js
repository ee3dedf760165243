/** Pure parts of showing a tour step: easing a camera move, which objects show, who is where. */

/** Smooth start and stop for `t` in [0, 1] (cubic ease in-out). */
export function easeInOut(t) {
  const c = Math.min(1, Math.max(0, t));
  return c < 0.5 ? 4 * c * c * c : 1 - (-2 * c + 2) ** 3 / 2;
}

/**
 * Whether each object shows for a step's `visible` (object ids, or null: every object).
 * @param {number[]} objectIds the scene's objects
 * @param {number[]|null} visible
 * @returns {Map<number, boolean>}
 */
export function visibility(objectIds, visible) {
  const shown = visible === null ? null : new Set(visible);
  return new Map(objectIds.map((id) => [id, shown === null || shown.has(id)]));
}

/**
 * The host's view of a self-paced tour: one row per member, in the order of `steps` ({member id: step}),
 * with the member's name (`names`, falling back to the id) and the step's title.
 */
export function progressRows(steps, names, titles) {
  return Object.entries(steps).map(([member, step]) => ({
    member,
    name: names(member) || member,
    step,
    title: titles[step] ?? '',
  }));
}

/** Which moves a member may make: guided, only whoever drives; self-paced, everyone; off, nobody. */
export function mayMove(mode, drives) {
  return mode === 'self_paced' || (mode === 'guided' && drives);
}
