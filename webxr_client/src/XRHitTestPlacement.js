import { TABLE_SIZE_M, XRPlacement } from './XRPlacement.js';

/**
 * AR placement on a real surface, pure maths: the model at table size, resting on the hit-test
 * point (the bottom of its 40 cm bounding sphere touches the surface, its centre straight above).
 */
export class XRHitTestPlacement {
  constructor() {
    this.placement = new XRPlacement();
  }

  /**
   * @param {import('three').Box3} box the scene's bounds in its own coordinates
   * @param {import('three').Vector3} surface the hit point (XR reference space, y up)
   * @param {{position: import('three').Vector3, quaternion: import('three').Quaternion, scale: import('three').Vector3}} out
   * @returns the model's centre (`this.placement.centre`, moved onto the surface)
   */
  place(box, surface, out) {
    const centre = this.placement.place(box, 'table', 0, out);
    out.position.sub(centre);
    centre.copy(surface);
    centre.y += TABLE_SIZE_M / 2;
    out.position.add(centre);
    return centre;
  }
}
