import * as THREE from 'three';
import { MeshBVH, acceleratedRaycast } from 'three-mesh-bvh';
import { GenerateMeshBVHWorker } from 'three-mesh-bvh/worker';

/**
 * Bounding volume hierarchies (three-mesh-bvh) for the meshes rays are cast at, so a ray tests a
 * few dozen triangles instead of all of them: a controller's hover ray runs every XR frame, and a
 * 1M-triangle surface costs about 50 ms per ray without one.
 *
 * Trees are built off the frame path, one geometry at a time, in a Web Worker on a de-interleaved
 * float copy of the positions (the GLB's are interleaved u16, which the worker does not take), in
 * `indirect` mode so the geometry's index is never reordered (nothing is uploaded to the GPU again).
 * A finished tree goes on the geometry (`geometry.boundsTree`) and the mesh gets three-mesh-bvh's
 * `acceleratedRaycast`, so every raycaster (desktop clicks too) uses it. Where workers cannot run
 * the tree is built on the main thread.
 */
export class BoundsTrees {
  constructor() {
    this.requested = new WeakSet();
    /** The chain of builds: one geometry at a time, in request order. */
    this.work = Promise.resolve();
    this.worker = null;
    this.disposed = false;
    /** Milliseconds each finished build took (start to tree on the geometry), newest last; the benchmark reads it. */
    this.buildMs = [];
    /** Triangles of each finished build, matching `buildMs`. */
    this.buildTriangles = [];
  }

  /** Whether rays at `mesh` are fast now (a tree is on its geometry); if not, one is requested. */
  ready(mesh) {
    const geometry = mesh.geometry;
    if (geometry.boundsTree) {
      if (mesh.raycast !== acceleratedRaycast) mesh.raycast = acceleratedRaycast;
      return true;
    }
    if (!this.requested.has(geometry) && geometry.index && geometry.attributes.position) {
      this.requested.add(geometry);
      this.work = this.work.then(() => this.#buildOne(geometry));
    }
    return false;
  }

  /** Resolves when every requested tree is built (or failed). */
  settled() {
    return this.work;
  }

  dispose() {
    this.disposed = true;
    if (this.worker) this.worker.dispose();
    this.worker = null;
  }

  async #buildOne(geometry) {
    if (this.disposed) return;
    const start = performance.now();
    try {
      const tree = await this.#build(geometry);
      if (this.disposed) return;
      geometry.boundsTree = tree;
      this.buildMs.push(performance.now() - start);
      this.buildTriangles.push(geometry.index.count / 3);
    } catch (error) {
      console.warn(`bounds tree not built, rays test every triangle: ${error.message}`);
    }
  }

  /** A tree for `geometry` built from copies of its positions and index, so the geometry stays usable meanwhile. */
  async #build(geometry) {
    const copy = new THREE.BufferGeometry();
    copy.setAttribute('position', new THREE.BufferAttribute(floatPositions(geometry.attributes.position), 3));
    copy.setIndex(new THREE.BufferAttribute(geometry.index.array.slice(), 1));
    let tree;
    if (typeof Worker === 'undefined') {
      tree = new MeshBVH(copy, { indirect: true });
    } else {
      this.worker = this.worker ?? new GenerateMeshBVHWorker();
      tree = await this.worker.generate(copy, { indirect: true });
    }
    // The same tree over the geometry itself: node bounds and triangle order (the indirect buffer)
    // refer to vertex positions and triangle numbers, which the copy shares with the original.
    return MeshBVH.deserialize(MeshBVH.serialize(tree, { cloneBuffers: false }), geometry, { setIndex: false });
  }
}

/** The positions as a plain Float32Array (x, y, z per vertex), whatever the attribute's layout. */
function floatPositions(attribute) {
  const n = attribute.count;
  const out = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) {
    out[3 * i] = attribute.getX(i);
    out[3 * i + 1] = attribute.getY(i);
    out[3 * i + 2] = attribute.getZ(i);
  }
  return out;
}
