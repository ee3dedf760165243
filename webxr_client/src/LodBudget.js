/** Triangles the visible objects may show together (Quest 3 at 72-90 Hz keeps this in budget). */
export const TRIANGLE_BUDGET = 1_000_000;

/**
 * Which level of detail each visible object shows so that their triangles fit `budget`: the finest
 * level all of them can share, as an index into each object's levels (coarsest first, the full asset
 * last). `levels[i]` are object i's triangle counts per level; objects with fewer levels clamp to
 * their own finest. When even the coarsest levels exceed the budget they are chosen anyway (showing
 * something beats showing nothing). Hidden objects (`visible[i] === false`) count nothing.
 *
 * One level for all keeps the rule simple and the look even; the levels are the server's (coarsest
 * first), so the same index means about the same relative detail everywhere.
 * @param {number[][]} levels triangle counts per object, coarsest first
 * @param {boolean[]} visible
 * @param {number} [budget]
 * @returns {{ picks: number[], triangles: number }} per object its level index, and the total drawn
 */
export function pickLevels(levels, visible, budget = TRIANGLE_BUDGET) {
  const deepest = Math.max(0, ...levels.map((l) => l.length - 1));
  for (let depth = deepest; depth >= 0; depth--) {
    const picks = levels.map((l) => Math.max(0, Math.min(depth, l.length - 1)));
    const triangles = total(levels, visible, picks);
    if (triangles <= budget || depth === 0) return { picks, triangles };
  }
  return { picks: [], triangles: 0 };
}

function total(levels, visible, picks) {
  let sum = 0;
  for (let i = 0; i < levels.length; i++) if (visible[i] !== false && levels[i].length) sum += levels[i][picks[i]];
  return sum;
}
