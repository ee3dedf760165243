import * as THREE from 'three';

/**
 * Where the model is in the headset, for things placed beside it (panels, the colour bar): the
 * scene's bounding sphere, measured once per scene (measuring may allocate), carried into world
 * space by the content's pose only when that pose changed. Allocates nothing per frame.
 */
export class XRModelSphere {
  /**
   * @param {import('./Viewer.js').Viewer} viewer
   * @param {() => THREE.Sphere} sphere the scene's bounding sphere (scene coordinates; asked only after a scene change)
   */
  constructor(viewer, sphere) {
    this.viewer = viewer;
    this.sphere = sphere;
    this.sceneSphere = new THREE.Sphere();
    this.stale = true;
    /** The content's pose `centre` and `radius` are for (NaN: compute them again). */
    this.placedFor = new THREE.Matrix4().set(NaN, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    /** World centre and radius of the model as drawn last frame. */
    this.centre = new THREE.Vector3();
    this.radius = 0;
  }

  /** The scene changed (or the session started): measure it again. */
  sceneChanged() {
    this.stale = true;
    this.again();
  }

  /** Report a change at the next `moved()` even if the model did not move (the thing placed changed size). */
  again() {
    this.placedFor.elements[0] = NaN;
  }

  /** Whether the model moved (or `again`) since the last call; if so `centre` and `radius` are new. */
  moved() {
    const content = this.viewer.content.matrixWorld; // as drawn last frame: placed, grabbed or scaled
    if (content.equals(this.placedFor)) return false;
    this.placedFor.copy(content);
    if (this.stale) this.sceneSphere.copy(this.sphere());
    this.stale = false;
    this.centre.copy(this.sceneSphere.center).applyMatrix4(content);
    this.radius = this.sceneSphere.radius * this.viewer.content.scale.x;
    return true;
  }
}
