/** Bytes asked for first: a GLB's header and JSON chunk usually fit; a longer JSON chunk is asked for whole. */
export const GLB_HEAD_BYTES = 64 << 10;
/** Longest JSON chunk read (a scene's GLB JSON is a few KB; anything this large is not one of ours). */
export const MAX_GLB_JSON_BYTES = 16 << 20;

const GLB_MAGIC = 0x4654_6c67; // 'glTF'
const JSON_CHUNK = 0x4e4f_534a; // 'JSON'

/**
 * The scene's bounding box in content coordinates (after each object's `transform`), for the video view,
 * which draws nothing itself and so loads no geometry: only the head of each object's GLB (a Range request),
 * whose JSON states every POSITION accessor's min / max and each node's translation / scale (the
 * quantization box, docs/formats.md). `fetchRange(url, end)` returns the bytes 0..end-1 (or more).
 *
 * @returns {Promise<{min: number[], max: number[]} | null>} null when no visible object has a box
 */
export async function sceneBounds(objects, fetchRange) {
  const boxes = await Promise.all(objects.filter((o) => o.visible !== false && o.asset).map(async (info) => {
    const json = await glbJson(info.asset, fetchRange);
    const local = gltfBounds(json);
    return local && transformBox(local, info.transform);
  }));
  return unionBoxes(boxes.filter(Boolean));
}

/** The JSON chunk of the GLB at `url`, parsed. */
export async function glbJson(url, fetchRange) {
  let bytes = await fetchRange(url, GLB_HEAD_BYTES);
  const view = new DataView(bytes);
  if (bytes.byteLength < 20 || view.getUint32(0, true) !== GLB_MAGIC || view.getUint32(16, true) !== JSON_CHUNK) {
    throw new Error(`${url}: not a GLB`);
  }
  const length = view.getUint32(12, true);
  if (length > MAX_GLB_JSON_BYTES) throw new Error(`${url}: a JSON chunk of ${length} bytes`);
  if (bytes.byteLength < 20 + length) bytes = await fetchRange(url, 20 + length);
  if (bytes.byteLength < 20 + length) throw new Error(`${url}: the GLB ends inside its JSON chunk`);
  return JSON.parse(new TextDecoder().decode(new Uint8Array(bytes, 20, length)));
}

/** The box of every mesh node's POSITION accessor, through the node's translation and scale (root nodes). */
export function gltfBounds(gltf) {
  const boxes = [];
  for (const node of gltf.nodes ?? []) {
    const mesh = gltf.meshes?.[node.mesh];
    if (!mesh) continue;
    const scale = node.scale ?? [1, 1, 1];
    const shift = node.translation ?? [0, 0, 0];
    for (const primitive of mesh.primitives ?? []) {
      const accessor = gltf.accessors?.[primitive.attributes?.POSITION];
      if (!accessor?.min || !accessor?.max) continue;
      const a = accessor.min.map((v, i) => v * scale[i] + shift[i]);
      const b = accessor.max.map((v, i) => v * scale[i] + shift[i]);
      boxes.push({ min: a.map((v, i) => Math.min(v, b[i])), max: a.map((v, i) => Math.max(v, b[i])) });
    }
  }
  return unionBoxes(boxes);
}

/** The axis-aligned box around `box`'s eight corners moved by a column-major 4x4 `matrix` (none: as is). */
export function transformBox(box, matrix) {
  if (!matrix || matrix.length !== 16) return box;
  const corners = [];
  for (const x of [box.min[0], box.max[0]]) {
    for (const y of [box.min[1], box.max[1]]) {
      for (const z of [box.min[2], box.max[2]]) {
        corners.push([0, 1, 2].map((r) => matrix[r] * x + matrix[4 + r] * y + matrix[8 + r] * z + matrix[12 + r]));
      }
    }
  }
  return unionBoxes(corners.map((p) => ({ min: p, max: p })));
}

function unionBoxes(boxes) {
  if (!boxes.length) return null;
  return {
    min: [0, 1, 2].map((i) => Math.min(...boxes.map((b) => b.min[i]))),
    max: [0, 1, 2].map((i) => Math.max(...boxes.map((b) => b.max[i]))),
  };
}
