/** The first view's direction from the target: front, a little above (z up), as the 3D viewer's (Viewer.js). */
const VIEW_DIRECTION = [0.35, -1, 0.35];
/** Room around the scene's bounding sphere when fitting, as the 3D viewer's. */
const FIT_MARGIN = 1.1;
/** Radians of rotation per pixel dragged. */
export const ROTATE_PER_PIXEL = 0.008;
/** Elevation stays this far from the poles (up would be along the line of sight there). */
const POLE_MARGIN = 0.01;
/** How close and how far the camera may get, in scene radii. */
export const MIN_DISTANCE_RADII = 0.05;
export const MAX_DISTANCE_RADII = 50;
export const DEFAULT_FOV_DEG = 40;

/**
 * The video view's camera as an orbit about a target (z up): azimuth and elevation of the eye seen from the
 * target, and its distance. Pure: gestures turn into `rotate` / `zoom`, and `camera()` gives the
 * `view_camera` fields the server renders from (docs/protocol.md "Video"; vizserver/render/camera.py).
 */
export class VideoOrbit {
  constructor({ fov = DEFAULT_FOV_DEG } = {}) {
    this.fov = fov;
    this.target = [0, 0, 0];
    this.radius = 1;
    const [x, y, z] = VIEW_DIRECTION;
    this.azimuth = Math.atan2(y, x);
    this.elevation = Math.atan2(z, Math.hypot(x, y));
    this.distance = this.#fitDistance();
  }

  /** Look at the box `{min: [x, y, z], max: [x, y, z]}` whole, from the first view's direction. */
  fit({ min, max }) {
    this.target = min.map((lo, i) => (lo + max[i]) / 2);
    this.radius = Math.max(Math.hypot(max[0] - min[0], max[1] - min[1], max[2] - min[2]) / 2, 1e-6);
    const [x, y, z] = VIEW_DIRECTION;
    this.azimuth = Math.atan2(y, x);
    this.elevation = Math.atan2(z, Math.hypot(x, y));
    this.distance = this.#fitDistance();
  }

  /** A drag of `dx`, `dy` pixels: right turns the scene to the right, down tilts it towards the viewer. */
  rotate(dx, dy) {
    this.azimuth -= dx * ROTATE_PER_PIXEL;
    const limit = Math.PI / 2 - POLE_MARGIN;
    this.elevation = Math.min(limit, Math.max(-limit, this.elevation + dy * ROTATE_PER_PIXEL));
  }

  /** Move closer (`factor` < 1) or farther (> 1), within MIN/MAX_DISTANCE_RADII. */
  zoom(factor) {
    if (!(factor > 0) || !Number.isFinite(factor)) return;
    const lo = this.radius * MIN_DISTANCE_RADII;
    const hi = this.radius * MAX_DISTANCE_RADII;
    this.distance = Math.min(hi, Math.max(lo, this.distance * factor));
  }

  /** The `view_camera` message for this orbit. */
  camera() {
    const c = Math.cos(this.elevation);
    const eye = [c * Math.cos(this.azimuth), c * Math.sin(this.azimuth), Math.sin(this.elevation)];
    return {
      type: 'view_camera',
      position: this.target.map((t, i) => round(t + eye[i] * this.distance)),
      target: this.target.map(round),
      up: [0, 0, 1],
      fov: this.fov,
    };
  }

  #fitDistance() {
    return (FIT_MARGIN * this.radius) / Math.sin((this.fov * Math.PI) / 360);
  }
}

/** Six significant digits: a camera that did not move sends the same text, so it is not sent again. */
function round(value) {
  return Number(value.toPrecision(6));
}
