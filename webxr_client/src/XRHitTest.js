import * as THREE from 'three';
import { XRHitTestPlacement } from './XRHitTestPlacement.js';

/**
 * AR placement on a real surface: in an immersive-ar session with the optional 'hit-test' feature,
 * a ring (reticle) follows the surface the user looks at, and the first select puts the model
 * there at table size (XRHitTestPlacement). Until then `placing` is true and selects only place.
 * Without hit-test (feature refused, no environment) nothing changes: the model stays where
 * XRMode put it and the normal interactions work at once.
 */
export class XRHitTest {
  /**
   * @param {import('./Viewer.js').Viewer} viewer
   * @param {{ bounds: () => THREE.Box3, onPlaced: () => void }} hooks
   */
  constructor(viewer, { bounds, onPlaced }) {
    this.viewer = viewer;
    this.bounds = bounds;
    this.onPlaced = onPlaced;
    this.math = new XRHitTestPlacement();
    this.session = null;
    this.source = null;
    this.placing = false;
    this.available = false;
    this.placed = null; // the surface point the model was put on
    this.surface = new THREE.Vector3();
    this.reticle = new THREE.Mesh(
      new THREE.RingGeometry(0.05, 0.065, 32).rotateX(-Math.PI / 2),
      new THREE.MeshBasicMaterial({ color: 0x4cc9f0, side: THREE.DoubleSide }),
    );
    this.reticle.name = 'xr-hit-reticle';
    this.reticle.matrixAutoUpdate = false;
    this.reticle.visible = false;
    this.reticle.raycast = () => {};
    viewer.scene.add(this.reticle);
    this.handleSelect = () => this.#select();
  }

  /** Ask the AR session for a hit-test source from the viewer (gaze); without one, do nothing. */
  async start(session) {
    this.stop();
    if (!session.enabledFeatures?.includes('hit-test') || !session.requestHitTestSource) return;
    try {
      const space = await session.requestReferenceSpace('viewer');
      const source = await session.requestHitTestSource({ space });
      if (!this.viewer.renderer.xr.isPresenting) {
        source.cancel();
        return;
      }
      this.session = session;
      this.source = source;
      this.available = true;
      this.placing = true;
      session.addEventListener('select', this.handleSelect);
    } catch (error) {
      console.warn(`AR hit-test unavailable, the model stays in front of you: ${error.message}`);
    }
  }

  /** Once per XR frame: move the reticle onto the surface the gaze meets. */
  update() {
    if (!this.placing) return;
    const frame = this.viewer.renderer.xr.getFrame();
    const space = this.viewer.renderer.xr.getReferenceSpace();
    if (!frame || !space) return;
    const results = frame.getHitTestResults(this.source);
    const pose = results.length > 0 ? results[0].getPose(space) : null;
    this.reticle.visible = pose != null;
    if (pose) {
      this.reticle.matrix.fromArray(pose.transform.matrix);
      this.reticle.matrixWorldNeedsUpdate = true;
    }
  }

  /** For `XRView.state()`. */
  state() {
    return { available: this.available, placing: this.placing, surface: this.placed };
  }

  stop() {
    this.session?.removeEventListener('select', this.handleSelect);
    this.source?.cancel();
    this.session = null;
    this.source = null;
    this.placing = false;
    this.reticle.visible = false;
  }

  dispose() {
    this.stop();
    this.reticle.removeFromParent();
    this.reticle.geometry.dispose();
    this.reticle.material.dispose();
  }

  #select() {
    if (!this.placing || !this.reticle.visible) return;
    const box = this.bounds();
    if (box.isEmpty()) return;
    this.surface.setFromMatrixPosition(this.reticle.matrix);
    const content = this.viewer.content;
    this.math.place(box, this.surface, content);
    content.updateMatrixWorld(true);
    this.placed = this.surface.toArray();
    this.stop(); // placed once: the source's per-frame work stops too
    this.onPlaced();
  }
}
