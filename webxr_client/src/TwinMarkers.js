import * as THREE from 'three';

/** Markers kept; the oldest goes when another is placed. */
export const MAX_MARKERS = 16;
/** Marker radius as a share of the object's bounding-box diagonal. */
export const MARKER_SIZE = 0.012;
const COLORS = ['#ffd23f', '#f2f4f8', '#ff6b9a', '#7cf29a'];

/**
 * Small spheres where this user acted on the twin ("pace here", "place scar"), in world
 * coordinates, one colour per action. They ignore rays (probing and tools hit the mesh under
 * them). One geometry for all; one material per action.
 */
export class TwinMarkers {
  /** @param {THREE.Object3D} parent where the markers go (the viewer's scene) */
  constructor(parent) {
    this.group = new THREE.Group();
    this.group.name = 'twin-markers';
    parent.add(this.group);
    this.geometry = new THREE.SphereGeometry(1, 16, 12);
    /** @type {Map<string, THREE.MeshBasicMaterial>} */
    this.materials = new Map();
    this.size = new THREE.Vector3();
  }

  get count() {
    return this.group.children.length;
  }

  /** A marker for `action` at world point `point`, sized to `bounds` (the object's world box). */
  add(action, point, bounds) {
    let material = this.materials.get(action);
    if (!material) {
      material = new THREE.MeshBasicMaterial({ color: COLORS[this.materials.size % COLORS.length] });
      this.materials.set(action, material);
    }
    const marker = new THREE.Mesh(this.geometry, material);
    marker.name = action;
    marker.raycast = () => {};
    marker.position.copy(point);
    const radius = Math.max(bounds.isEmpty() ? 0 : bounds.getSize(this.size).length() * MARKER_SIZE, 1e-6);
    marker.scale.setScalar(radius);
    this.group.add(marker);
    while (this.group.children.length > MAX_MARKERS) this.group.remove(this.group.children[0]);
  }

  /**
   * Remove the markers an action without a point undoes, by the last word of its name: "clear
   * scar" removes "place scar" markers.
   */
  undo(action) {
    const words = action.trim().split(/\s+/);
    if (words.length < 2 || words[0] !== 'clear') return;
    const what = words[words.length - 1];
    for (const marker of [...this.group.children]) if (marker.name.endsWith(` ${what}`)) this.group.remove(marker);
  }

  clear() {
    this.group.clear();
  }

  dispose() {
    this.group.removeFromParent();
    this.group.clear();
    this.geometry.dispose();
    for (const material of this.materials.values()) material.dispose();
    this.materials.clear();
  }
}
