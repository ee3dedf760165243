import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';
import { MeshoptDecoder } from 'three/addons/libs/meshopt_decoder.module.js';

/**
 * Fetches the server's GLB assets (quantized, meshopt-compressed) and hands back their meshes.
 *
 * Assets are content-addressed and immutable, so the browser's HTTP cache serves repeats. The
 * caller owns what `load` returns and disposes it (ObjectView does).
 */
export class SceneLoader {
  constructor() {
    this.loader = new GLTFLoader();
    this.loader.setMeshoptDecoder(MeshoptDecoder);
  }

  /**
   * The meshes of one GLB, in node order (the order field frames concatenate their vertices in).
   * @returns {Promise<{ root: import('three').Object3D, meshes: import('three').Mesh[] }>}
   */
  async load(url) {
    const gltf = await this.loader.loadAsync(url);
    const root = gltf.scene;
    const meshes = [];
    root.traverse((node) => {
      if (node.isMesh || node.isPoints) meshes.push(node);
    });
    return { root, meshes };
  }

  dispose() {
    this.loader = null;
  }
}
