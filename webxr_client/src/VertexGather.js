/**
 * Writing one frame into one mesh's u16 stream attribute. A frame holds one value per vertex of the
 * full asset (its meshes concatenated in node order); a mesh of the full asset takes its own run of
 * them from `start`, a coarser level takes, for each of its vertices, the full vertex its `map`
 * names (the GLB's `_FULL_VERTEX`). Loops only: nothing is allocated per frame.
 */

/**
 * `out[i] = codes[map[i]] * widen`, or `codes[start + i] * widen` without a map. u8 codes are
 * widened by 257 so that `c / 255` stays exact as a normalized u16.
 * @param {Uint16Array} out one code per vertex of the mesh
 * @param {Uint8Array|Uint16Array} codes the frame's codes (full asset order)
 * @param {number} start the mesh's first vertex in the frame (ignored with a map)
 * @param {Uint32Array|null} map full asset vertex of each vertex of the mesh, or null
 * @param {number} widen 257 for u8 codes, 1 for u16
 */
export function copyCodes(out, codes, start, map, widen) {
  const n = out.length;
  if (map) {
    for (let i = 0; i < n; i++) out[i] = codes[map[i]] * widen;
  } else {
    for (let i = 0; i < n; i++) out[i] = codes[start + i] * widen;
  }
}

/**
 * Float values as u16 codes: `round((v - lo) * scale)`, `nodata` where `v` is not finite. Same
 * indexing as {@link copyCodes}.
 * @param {Uint16Array} out
 * @param {Float32Array} values the frame's values (full asset order)
 * @param {number} start
 * @param {Uint32Array|null} map
 * @param {number} lo
 * @param {number} scale codes per unit
 * @param {number} nodata the code for "no data"
 */
export function encodeValues(out, values, start, map, lo, scale, nodata) {
  const n = out.length;
  for (let i = 0; i < n; i++) {
    const v = map ? values[map[i]] : values[start + i];
    out[i] = Number.isFinite(v) ? Math.round((v - lo) * scale) : nodata;
  }
}

/**
 * The full asset vertex of each vertex of a level, from its `_FULL_VERTEX` pairs (low, high u16).
 * @param {ArrayLike<number>} pairs 2 entries per vertex
 * @returns {Uint32Array}
 */
export function fullVertexMap(pairs) {
  const map = new Uint32Array(pairs.length / 2);
  for (let i = 0; i < map.length; i++) map[i] = pairs[2 * i] + pairs[2 * i + 1] * 65536;
  return map;
}
