import * as THREE from 'three';

/** Height (m above the floor) of the model's centre in immersive modes. */
export const XR_HEIGHT_M = 1.2;
/** Distance (m) in front of the user of the model's centre, table size. */
export const XR_DISTANCE_M = 0.6;
/** Table size: the model's bounding sphere is scaled to this diameter (m). */
export const TABLE_SIZE_M = 0.4;
/** Life size: the gap (m) kept between the user and the near side of the model. */
export const LIFE_GAP_M = 0.4;
/** The scene is z up (Viewer.js); WebXR is y up: a quarter turn about x maps one onto the other. */
const Z_UP_TO_Y_UP = new THREE.Quaternion().setFromAxisAngle(new THREE.Vector3(1, 0, 0), -Math.PI / 2);

/**
 * Where the scene's content goes in an immersive session: pure maths from the scene's bounding box
 * (scene coordinates, metres) to the content group's position, rotation and scale in the XR
 * reference space (y up, -z forward, floor at y = 0 for `local-floor`, the head for `local`).
 */
export class XRPlacement {
  constructor() {
    this.sphere = new THREE.Sphere();
    this.centre = new THREE.Vector3();
  }

  /**
   * @param {THREE.Box3} box the scene's bounds in its own coordinates
   * @param {'table'|'life'} size table: fit TABLE_SIZE_M; life: the scene's own scale (metres)
   * @param {number} height the centre's height in the reference space
   * @param {{position: THREE.Vector3, quaternion: THREE.Quaternion, scale: THREE.Vector3}} out set in place
   * @returns the world position of the model's centre (`this.centre`)
   */
  place(box, size, height, out) {
    box.getBoundingSphere(this.sphere);
    const radius = Math.max(this.sphere.radius, 1e-6);
    const scale = size === 'table' ? TABLE_SIZE_M / (2 * radius) : 1;
    const distance = size === 'table' ? XR_DISTANCE_M : Math.max(XR_DISTANCE_M, radius + LIFE_GAP_M);
    this.centre.set(0, height, -distance);
    out.quaternion.copy(Z_UP_TO_Y_UP);
    out.scale.setScalar(scale);
    out.position.copy(this.sphere.center).multiplyScalar(scale).applyQuaternion(Z_UP_TO_Y_UP).negate().add(this.centre);
    return this.centre;
  }
}
