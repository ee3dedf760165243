import * as THREE from 'three';
import { FIELD_ATTRIBUTE, FieldMaterial } from './FieldMaterial.js';
import { copyCodes, encodeValues, fullVertexMap } from './VertexGather.js';

/** The streamed attribute holds u16 codes; this code means "no data". */
const STREAM_TOP = 65535;
const STREAM_ATTRIBUTE = '_vizstream';
const NO_NODATA = 2; // a normalized attribute never reaches 2: no vertex is "no data"

/**
 * One object of the session's scene, as drawn: the GLB meshes of one of its levels of detail, a
 * {@link FieldMaterial} per mesh, and the field values each vertex shows.
 *
 * Levels are the scene's `lods` (coarsest first) and then the full `asset`; `setLevel` picks the
 * one to show (LodChooser decides). Only the shown level is kept: a switch loads the new one (the
 * browser's HTTP cache usually has it), shows it, then frees the old one. While the first level
 * loads, a big object shows its coarsest level first.
 *
 * Values come from the GLB's own `_NAME` attributes until the server streams frames for the active
 * field; frames are written into one u16 attribute per mesh that lives as long as the mesh, so
 * playback allocates nothing on the GPU. A frame's values concatenate the full asset's meshes in
 * node order, each in the asset's vertex order; a coarser level gathers them through its
 * `_FULL_VERTEX` map (VertexGather).
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
    const lods = info.lods || [];
    const counts = info.lod_triangles || [];
    const known = counts.length === lods.length;
    /** GLB URLs of the levels this object can show, coarsest first, the full asset last. */
    this.levelUrls = known ? [...lods, info.asset] : [info.asset];
    /** Triangles of each level (same order); LodChooser budgets with them. */
    this.levelTriangles = known ? [...counts, info.triangles] : [info.triangles];
    /** The level shown (index into `levelUrls`), -1 before the first one shows. */
    this.levelIndex = -1;
    /** The level `setLevel` asked for; the full asset until told otherwise. */
    this.wantedLevel = this.levelUrls.length - 1;
    this.settling = null;
    /** The last frame drawn, drawn again on the next level shown. */
    this.lastTrack = null;
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

  /** Triangles of the level shown (0 before one shows). */
  get triangles() {
    return this.levelIndex < 0 ? 0 : this.levelTriangles[this.levelIndex];
  }

  /**
   * Loads the wanted level (the full asset unless `setLevel` said otherwise), the coarsest one
   * first when there are several; resolves once the wanted level shows.
   */
  async load() {
    try {
      await this.#settle();
    } catch (error) {
      if (this.disposed) return;
      this.level = this.level === 'none' ? 'failed' : this.level;
      this.error = `${this.name}: could not load ${this.levelUrls[this.wantedLevel]} (${error.message || error})`;
      throw new Error(this.error);
    }
  }

  /**
   * Show level `index` (of `levelUrls`, clamped) once it is loaded; the level shown stays until
   * then. Before `load` it only sets which level `load` fetches.
   */
  setLevel(index) {
    this.wantedLevel = Math.max(0, Math.min(index, this.levelUrls.length - 1));
    if (this.levelIndex < 0 || this.levelIndex === this.wantedLevel || this.disposed) return;
    this.#settle().catch((error) => {
      if (this.disposed) return;
      this.error = `${this.name}: could not load ${this.levelUrls[this.wantedLevel]} (${error.message || error})`;
      this.onChange();
    });
  }

  /** Whether `mesh` is one of the meshes drawn now (a probe on a level shown before is not). */
  owns(mesh) {
    return this.parts.some((part) => part.mesh === mesh);
  }

  /** One loop at a time loads levels until the wanted one shows (it may change while loading). */
  #settle() {
    if (!this.settling) {
      this.settling = this.#loadWanted().finally(() => {
        this.settling = null;
      });
    }
    return this.settling;
  }

  async #loadWanted() {
    while (!this.disposed && this.levelIndex !== this.wantedLevel) {
      const preview = this.levelIndex < 0 && this.wantedLevel > 0; // something to see while the wanted one loads
      const index = preview ? 0 : this.wantedLevel;
      const gltf = await this.loader.load(this.levelUrls[index]);
      if (!preview && index !== this.wantedLevel && !this.disposed) {
        disposeTree(gltf.root); // asked for another level meanwhile
        continue;
      }
      this.#show(gltf, index);
    }
  }

  #show(gltf, index) {
    if (this.disposed) {
      disposeTree(gltf.root);
      return;
    }
    const level = index === this.levelUrls.length - 1 ? 'full' : 'lod';
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
        map: takeFullVertexMap(geometry),
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
    this.levelIndex = index;
    this.levels.push(level);
    this.group.updateMatrixWorld(true);
    this.bounds.setFromObject(this.root);
    this.streamField = null;
    this.#bindField();
    const track = this.pendingTrack ?? this.lastTrack;
    if (track && this.#canColour()) {
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
   * frames that arrive before a level that can show them (the full asset, or one with a vertex
   * map) wait for it.
   * @returns {boolean} whether the frame is now drawn
   */
  applyTrack(track) {
    if (track.field !== this.activeFieldId) return false;
    if (!this.#canColour()) {
      this.pendingTrack = track;
      return false;
    }
    const n = track.count / track.components;
    const full = this.level === 'full' ? this.vertexCount : this.info.vertices;
    if (n !== full) {
      this.error = `${this.name}: frame has ${n} vertices, the asset ${full}`;
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
      if (values) {
        const scale = hi > lo ? (STREAM_TOP - 1) / (hi - lo) : 0;
        encodeValues(out, values, part.offset, part.map, lo, scale, STREAM_TOP);
        setDecode(part, lo, hi > lo ? ((hi - lo) * STREAM_TOP) / (STREAM_TOP - 1) : 0, (STREAM_TOP - 0.5) / STREAM_TOP);
      } else {
        // Codes go into the u16 attribute as they are (u8 too: one typed-array copy, no widening per
        // vertex); the shader reads code / STREAM_TOP, so the decode scales by STREAM_TOP.
        const top = 2 ** track.bits - 1;
        if (part.map) copyCodes(out, track.codes, part.offset, part.map, 1);
        else out.set(track.codes.subarray(part.offset, part.offset + out.length));
        setDecode(part, track.min, track.stepSize * STREAM_TOP, track.nodata ? (top - 0.5) / STREAM_TOP : NO_NODATA);
      }
      stream.needsUpdate = true;
      if (part.geometry.getAttribute(FIELD_ATTRIBUTE) !== stream) part.geometry.setAttribute(FIELD_ATTRIBUTE, stream);
    }
    if (this.streamField !== track.field) {
      this.streamField = track.field;
      this.applyDisplay();
    }
    this.lastTrack = track;
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

  /** Frames (full asset order) can colour the level shown: it is the full asset, or every mesh has a map. */
  #canColour() {
    return this.level === 'full' || (this.level === 'lod' && this.parts.every((part) => part.map !== null));
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

/**
 * A level's map to the full asset's vertices (`extras.full_vertex`, docs/formats.md), taken off the
 * geometry so that it is never uploaded to the GPU; null for the full asset.
 */
function takeFullVertexMap(geometry) {
  const name = geometry.userData.full_vertex?.attribute?.toLowerCase();
  const pairs = name && geometry.getAttribute(name);
  if (!pairs) return null;
  geometry.deleteAttribute(name);
  if (!pairs.isInterleavedBufferAttribute && pairs.itemSize === 2) return fullVertexMap(pairs.array);
  const flat = new Uint32Array(2 * pairs.count);
  for (let i = 0; i < pairs.count; i++) {
    flat[2 * i] = pairs.getX(i);
    flat[2 * i + 1] = pairs.getY(i);
  }
  return fullVertexMap(flat);
}

function disposeTree(root) {
  root.traverse((node) => {
    if (node.geometry) node.geometry.dispose();
    if (node.material) {
      for (const material of Array.isArray(node.material) ? node.material : [node.material]) material.dispose();
    }
  });
}
