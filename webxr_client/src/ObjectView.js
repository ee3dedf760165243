import * as THREE from 'three';
import { FIELD_ATTRIBUTE, FieldMaterial } from './FieldMaterial.js';

/** The streamed attribute holds u16 codes; this code means "no data". */
const STREAM_TOP = 65535;
const STREAM_ATTRIBUTE = '_vizstream';
const NO_NODATA = 2; // a normalized attribute never reaches 2: no vertex is "no data"

/**
 * One object of the session's scene, as drawn: its GLB meshes (a coarse LOD first when the scene
 * lists one), a {@link FieldMaterial} per mesh, and the field values each vertex shows.
 *
 * Values come from the GLB's own `_NAME` attributes until the server streams frames for the active
 * field; frames are written into one u16 attribute per mesh that lives as long as the mesh, so
 * playback allocates nothing on the GPU. A frame's values concatenate the asset's meshes in node
 * order, each in the asset's vertex order.
 */
export class ObjectView {
  /**
   * @param {object} info SceneObjectInfo (docs/protocol.md)
   * @param {import('./SceneLoader.js').SceneLoader} loader
   * @param {() => void} onChange called when what is drawn changed (a render is needed)
   */
  constructor(info, loader, onChange) {
    this.info = info;
    this.id = info.id;
    this.name = info.name;
    this.loader = loader;
    this.onChange = onChange;
    this.group = new THREE.Group();
    this.group.name = info.name;
    this.group.matrixAutoUpdate = false;
    if (Array.isArray(info.transform) && info.transform.length === 16) this.group.matrix.fromArray(info.transform);
    this.group.updateMatrixWorld(true);
    this.group.visible = info.visible !== false;
    this.opacity = info.opacity ?? 1;
    this.color = new THREE.Color(info.color || '#d98c80');
    this.fields = info.fields || [];
    this.activeFieldId = info.active_field ?? null;
    this.display = null;
    /** 'none' | 'lod' | 'full' | 'failed' */
    this.level = 'none';
    /** Every level shown so far, in order (a big mesh: ['lod', 'full']). */
    this.levels = [];
    this.parts = [];
    this.root = null;
    /** The (field id) whose frame the stream attributes hold, or null. */
    this.streamField = null;
    this.pendingTrack = null;
    this.frameStep = null;
    this.frameCount = 0;
    this.error = null;
    this.disposed = false;
    this.bounds = new THREE.Box3();
    this.scratchValues = null;
  }

  get activeField() {
    return this.fields.find((f) => f.id === this.activeFieldId) ?? null;
  }

  get loaded() {
    return this.level === 'lod' || this.level === 'full';
  }

  /** Loads the coarsest LOD (if any), then the full asset; resolves once the full asset shows. */
  async load() {
    const lods = this.info.lods || [];
    try {
      if (lods.length) await this.#show(await this.loader.load(lods[0]), 'lod');
      await this.#show(await this.loader.load(this.info.asset), 'full');
    } catch (error) {
      if (this.disposed) return;
      this.level = this.level === 'none' ? 'failed' : this.level;
      this.error = `${this.name}: could not load ${this.info.asset} (${error.message || error})`;
      throw new Error(this.error);
    }
  }

  async #show(gltf, level) {
    if (this.disposed) {
      disposeTree(gltf.root);
      return;
    }
    const old = this.root;
    this.root = gltf.root;
    let offset = 0;
    this.parts = gltf.meshes.map((mesh) => {
      const geometry = mesh.geometry;
      const oldMaterial = mesh.material;
      const material = new FieldMaterial({ color: this.color, opacity: this.opacity });
      material.setOpacity(this.opacity);
      mesh.material = material;
      if (oldMaterial) oldMaterial.dispose();
      const count = geometry.attributes.position.count;
      const part = {
        mesh, geometry, material, offset, count,
        glbFields: geometry.userData.fields || [],
        stream: null,
        decode: { offset: 0, scale: 1, nodataAt: NO_NODATA },
      };
      offset += count;
      return part;
    });
    this.vertexCount = offset;
    this.group.add(this.root);
    if (old) {
      this.group.remove(old);
      disposeTree(old);
    }
    this.level = level;
    this.levels.push(level);
    this.group.updateMatrixWorld(true);
    this.bounds.setFromObject(this.root);
    this.streamField = null;
    this.#bindField();
    if (level === 'full' && this.pendingTrack) {
      const track = this.pendingTrack;
      this.pendingTrack = null;
      this.applyTrack(track);
    }
    this.onChange();
  }

  /** Show field `fieldId` (or plain colour with null); `display` is its FieldDisplay. */
  setField(fieldId, display) {
    if (fieldId !== this.activeFieldId) {
      this.activeFieldId = fieldId;
      this.streamField = null;
      this.frameStep = null;
    }
    this.display = display;
    this.#bindField();
    this.onChange();
  }

  /** Re-read colour map and range from the FieldDisplay (after the user changed them). */
  applyDisplay(display = this.display) {
    this.display = display;
    for (const part of this.parts) {
      if (this.activeFieldId === null || !display || part.geometry.getAttribute(FIELD_ATTRIBUTE) === undefined) {
        part.material.setDisplay(null, 0, 1);
      } else {
        part.material.setDisplay(display.texture, display.lo, display.hi, display.labels);
      }
    }
    this.onChange();
  }

  setVisible(visible) {
    this.group.visible = visible;
    this.onChange();
  }

  setOpacity(opacity) {
    this.opacity = opacity;
    for (const part of this.parts) part.material.setOpacity(opacity);
    this.onChange();
  }

  /**
   * Show a decoded frame (a FieldTrack) of this object. Frames of a field not shown are ignored;
   * frames that arrive while only the LOD is loaded wait for the full asset.
   * @returns {boolean} whether the frame is now drawn
   */
  applyTrack(track) {
    if (track.field !== this.activeFieldId) return false;
    if (this.level !== 'full') {
      this.pendingTrack = track;
      return false;
    }
    const n = track.count / track.components;
    if (n !== this.vertexCount) {
      this.error = `${this.name}: frame has ${n} vertices, the asset ${this.vertexCount}`;
      return false;
    }
    const quantized = track.format === 'u8' || track.format === 'u16';
    let lo = track.min;
    let hi = track.max;
    let values = null;
    if (!quantized || track.components > 1) {
      values = this.#plainValues(track);
      [lo, hi] = finiteRange(values);
    }
    for (const part of this.parts) {
      const stream = this.#streamAttribute(part);
      const out = stream.array;
      const start = part.offset;
      if (values) {
        const scale = hi > lo ? (STREAM_TOP - 1) / (hi - lo) : 0;
        for (let i = 0; i < part.count; i++) {
          const v = values[start + i];
          out[i] = Number.isFinite(v) ? Math.round((v - lo) * scale) : STREAM_TOP;
        }
        setDecode(part, lo, hi > lo ? ((hi - lo) * STREAM_TOP) / (STREAM_TOP - 1) : 0, (STREAM_TOP - 0.5) / STREAM_TOP);
      } else {
        const codes = track.codes;
        const widen = track.format === 'u8' ? 257 : 1; // u8 code c -> c * 257 keeps c / 255 exact
        const top = 2 ** track.bits - 1;
        for (let i = 0; i < part.count; i++) out[i] = codes[start + i] * widen;
        setDecode(part, track.min, track.stepSize * top, track.nodata ? (top - 0.5) / top : NO_NODATA);
      }
      stream.needsUpdate = true;
      if (part.geometry.getAttribute(FIELD_ATTRIBUTE) !== stream) part.geometry.setAttribute(FIELD_ATTRIBUTE, stream);
    }
    if (this.streamField !== track.field) {
      this.streamField = track.field;
      this.applyDisplay();
    }
    this.frameStep = track.step;
    this.frameCount += 1;
    this.onChange();
    return true;
  }

  /**
   * The active field's value where a ray hit mesh `mesh` (face + barycentric coordinates):
   * interpolated, the nearest vertex's label for a categorical field, NaN where any corner has no data.
   * For a point cloud `face` is null and `barycoord` is the point's index. Null: no field shown.
   */
  valueAt(mesh, face, barycoord) {
    const part = this.parts.find((p) => p.mesh === mesh);
    const attribute = part?.geometry.getAttribute(FIELD_ATTRIBUTE);
    if (!part || !attribute || this.activeFieldId === null) return null;
    if (!face) return this.#vertexValue(part, attribute, barycoord); // a point of a point cloud: its index
    const corners = [face.a, face.b, face.c];
    const weights = [barycoord.x, barycoord.y, barycoord.z];
    if (this.display?.labels) {
      const k = weights.indexOf(Math.max(...weights));
      return this.#vertexValue(part, attribute, corners[k]);
    }
    let value = 0;
    for (let k = 0; k < 3; k++) value += weights[k] * this.#vertexValue(part, attribute, corners[k]);
    return value;
  }

  /** Stream attributes and what the loader made; nothing of this object stays on the GPU. */
  dispose() {
    this.disposed = true;
    if (this.root) {
      this.group.remove(this.root);
      disposeTree(this.root);
    }
    this.group.removeFromParent();
    this.parts = [];
    this.root = null;
  }

  #vertexValue(part, attribute, i) {
    const a = attribute.getX(i);
    if (a >= part.decode.nodataAt) return NaN;
    return part.decode.offset + part.decode.scale * a;
  }

  /** Point the shader at the active field's data: the live stream if it holds it, else the GLB's attribute. */
  #bindField() {
    const field = this.activeField;
    for (const part of this.parts) {
      if (this.streamField !== null && this.streamField === this.activeFieldId && part.stream) {
        part.geometry.setAttribute(FIELD_ATTRIBUTE, part.stream);
        part.material.setDecode(part.decode.offset, part.decode.scale, part.decode.nodataAt);
        continue;
      }
      const described = field && part.glbFields.find((f) => f.name === field.name);
      const attribute = described && part.geometry.getAttribute(described.attribute.toLowerCase());
      if (!attribute) {
        part.geometry.deleteAttribute(FIELD_ATTRIBUTE);
        continue;
      }
      if (described.components > 1) {
        this.#bindMagnitude(part, attribute, described);
        continue;
      }
      const q = described.quantization;
      if (q) {
        const top = 2 ** q.bits - 1;
        setDecode(part, q.min, q.step * top, q.nodata !== null && q.nodata !== undefined ? (top - 0.5) / top : NO_NODATA);
      } else {
        setDecode(part, 0, 1, Infinity);
      }
      part.geometry.setAttribute(FIELD_ATTRIBUTE, attribute);
    }
    this.applyDisplay();
  }

  /** A vector field from the GLB shows its magnitude, computed once into the stream attribute. */
  #bindMagnitude(part, attribute, described) {
    const q = described.quantization;
    const top = q ? 2 ** q.bits - 1 : 1;
    const stream = this.#streamAttribute(part);
    const magnitudes = new Float32Array(part.count);
    const getters = ['getX', 'getY', 'getZ', 'getW'].slice(0, described.components);
    for (let i = 0; i < part.count; i++) {
      let sum = 0;
      for (const get of getters) {
        const a = attribute[get](i);
        const v = q ? q.min + q.step * top * a : a;
        sum += v * v;
      }
      magnitudes[i] = Math.sqrt(sum);
    }
    const [lo, hi] = finiteRange(magnitudes);
    const scale = hi > lo ? (STREAM_TOP - 1) / (hi - lo) : 0;
    for (let i = 0; i < part.count; i++) stream.array[i] = Math.round((magnitudes[i] - lo) * scale);
    stream.needsUpdate = true;
    setDecode(part, lo, hi > lo ? ((hi - lo) * STREAM_TOP) / (STREAM_TOP - 1) : 0, (STREAM_TOP - 0.5) / STREAM_TOP);
    part.geometry.setAttribute(FIELD_ATTRIBUTE, stream);
  }

  /** Per-vertex values of a float or vector frame (magnitudes for vectors), in a reused array. */
  #plainValues(track) {
    const n = track.count / track.components;
    if (!this.scratchValues || this.scratchValues.length !== n) this.scratchValues = new Float32Array(n);
    const out = this.scratchValues;
    const c = track.components;
    for (let i = 0; i < n; i++) {
      if (c === 1) {
        out[i] = track.valueAt(i);
        continue;
      }
      let sum = 0;
      for (let k = 0; k < c; k++) {
        const v = track.valueAt(i * c + k);
        sum += v * v;
      }
      out[i] = Math.sqrt(sum);
    }
    return out;
  }

  /** The mesh's u16 stream attribute, made once and kept under its own name so dispose frees it. */
  #streamAttribute(part) {
    if (!part.stream) {
      part.stream = new THREE.BufferAttribute(new Uint16Array(part.count), 1, true);
      part.stream.setUsage(THREE.DynamicDrawUsage);
      part.geometry.setAttribute(STREAM_ATTRIBUTE, part.stream);
    }
    return part.stream;
  }
}

/** Set how a part's attribute codes become values, on the part (for probing) and its material. */
function setDecode(part, offset, scale, nodataAt) {
  part.decode.offset = offset;
  part.decode.scale = scale;
  part.decode.nodataAt = nodataAt;
  part.material.setDecode(offset, scale, nodataAt);
}

function finiteRange(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : [0, 0];
}

function disposeTree(root) {
  root.traverse((node) => {
    if (node.geometry) node.geometry.dispose();
    if (node.material) {
      for (const material of Array.isArray(node.material) ? node.material : [node.material]) material.dispose();
    }
  });
}
