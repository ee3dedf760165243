import * as THREE from 'three';
import { XRGrabMath } from './XRGrabMath.js';
import { nearQuad, rayToRim } from './XRClipReach.js';

/** The handle's quad is this many times the scene's bounding sphere's diameter across (it covers any cut). */
const QUAD_SCALE = 1.3;
/** The quad's rim that a ray takes, as a share of its side (the middle lets rays through to the model). */
const RIM = 0.12;
/** A controller or hand this close (m) to the quad, over it or just past its edge, takes it. */
export const REACH_M = 0.08;
/** The plane that clips lies this far (m) past the quad on the side it removes, so the quad itself stays. */
const CLEARANCE_M = 0.002;
/** Gamepad button (xr-standard mapping) that turns the plane on and off: B on the right Touch controller, Y on the left. */
const TOGGLE_BUTTON = 5;
const QUAD_COLOR = 0x4cc9f0;
const FRAME_COLOR = 0xe8ebf2;
const REACH_COLOR = 0x4cc9f0;
const HELD_COLOR = 0xffc857;
const QUAD_OPACITY = 0.12;
const Z = new THREE.Vector3(0, 0, 1);

/**
 * The clipping plane in the headset: a translucent quad with a frame (the handle) that a hand takes
 * with the controller's squeeze or a tracked hand's pinch, when it is at the quad or its ray is on
 * the quad's frame, and moves and turns as it moves (XRGrabMath, the model's grab). The model is cut
 * where the quad faces (its +z side), so the quad starts facing the user through the model's centre
 * and the near half goes, showing the inside.
 *
 * The handle lives in the content's coordinates (a child of `viewer.content`), so it follows the model
 * when the model is grabbed, scaled or placed. Only the scene's objects are cut: the plane goes on
 * their materials (`material.clippingPlanes`, local clipping), not on the renderer, so the panels,
 * labels and rays in the headset stay whole. The desktop plane (ClipPlane) is in desktop coordinates;
 * the headset's starts from it when it is on, and the desktop's Clip box turns this one on and off
 * while presenting. Nothing is allocated per frame.
 */
export class XRClipPlane {
  /**
   * @param {import('./Viewer.js').Viewer} viewer
   * @param {import('./ClipPlane.js').ClipPlane} desktop the desktop clip section (its plane is in the scene's coordinates)
   * @param {() => THREE.Sphere} sphere the scene's bounding sphere (scene coordinates; may allocate: asked on start and scene changes)
   */
  constructor(viewer, desktop, sphere) {
    this.viewer = viewer;
    this.desktop = desktop;
    this.sphere = sphere;
    this.enabled = false;
    this.presenting = false;
    this.grabs = 0;
    this.plane = new THREE.Plane();
    /** What the scene's materials clip with: [plane] when on, [] when off (one array, filled and emptied). */
    this.planes = [];
    this.math = new XRGrabMath();
    this.worldPose = new THREE.Object3D(); // the held handle's pose in the XR space
    this.toContent = new THREE.Matrix4();
    this.toHandle = new THREE.Matrix4();
    this.point = new THREE.Vector3();
    this.direction = new THREE.Vector3();
    this.quaternion = new THREE.Quaternion();
    this.sceneSphere = new THREE.Sphere();
    this.localClippingBefore = false;
    this.handle = this.#handle();
    viewer.content.add(this.handle);
    this.assignPlanes = (object) => this.#assign(object);
    this.clearPlanes = (object) => this.#clear(object);
    this.hands = [0, 1].map((index) => this.#hand(index));
  }

  /** Whether hand `index` is at the handle (its squeeze or pinch takes the handle, not the model). */
  at(index) {
    return this.hands[index].at;
  }

  /** Whether hand `index`'s last pinch went to the handle (its release is not a select). */
  took(index) {
    return this.hands[index].took;
  }

  /** Turn the plane on or off (a controller button, the desktop's Clip box, the headset's panel). */
  setEnabled(on) {
    this.enabled = Boolean(on);
    this.planes.length = 0;
    if (this.enabled) this.planes.push(this.plane);
    if (!this.enabled) for (const hand of this.hands) hand.holding = hand.at = false; // off: every squeeze is the model's again
    this.handle.visible = this.enabled && this.presenting;
  }

  /** The session started: local clipping on, the plane on when the desktop's is, through the model. */
  start() {
    this.presenting = true;
    const renderer = this.viewer.renderer;
    this.localClippingBefore = renderer.localClippingEnabled;
    renderer.localClippingEnabled = true;
    this.reset();
    this.setEnabled(this.desktop.planes.length > 0);
  }

  /** The session ended: let go, take the plane off the scene's materials, the desktop's clipping back. */
  stop() {
    if (!this.presenting) return;
    this.presenting = false;
    for (const hand of this.hands) hand.holding = hand.at = false;
    this.handle.visible = false;
    this.#forScene(this.clearPlanes);
    this.viewer.renderer.localClippingEnabled = this.localClippingBefore;
    this.viewer.setClipping(this.desktop.planes);
  }

  /**
   * Put the handle through the model's centre facing the user, or on the desktop's plane when that is
   * on (the scene's coordinates are the content's, so it carries over). Sized to the scene.
   */
  reset() {
    const sphere = this.sceneSphere.copy(this.sphere());
    const handle = this.handle;
    handle.scale.setScalar(Math.max(sphere.radius, 1e-6) * 2 * QUAD_SCALE);
    const desktop = this.desktop.planes[0];
    if (desktop) {
      // the desktop keeps the plane's normal side; the quad faces (and cuts) the other
      desktop.projectPoint(sphere.center, handle.position);
      handle.quaternion.setFromUnitVectors(Z, this.direction.copy(desktop.normal).negate());
    } else {
      handle.position.copy(sphere.center);
      const content = this.viewer.content;
      content.updateMatrixWorld(true);
      const centre = this.point.copy(sphere.center).applyMatrix4(content.matrixWorld);
      // face the user (near the reference space's origin), about the vertical, in the content's frame
      this.quaternion.setFromAxisAngle(this.direction.set(0, 1, 0), Math.atan2(-centre.x, -centre.z));
      content.getWorldQuaternion(handle.quaternion).invert().multiply(this.quaternion);
    }
    handle.updateMatrixWorld(true);
    for (const hand of this.hands) hand.holding = false;
  }

  /** Once per XR frame, after the model's grab: move the held handle, the plane after it, and see which hands are at it. */
  update() {
    if (!this.presenting) return;
    for (let i = 0; i < this.hands.length; i++) this.#pollToggle(this.hands[i]);
    this.#forScene(this.assignPlanes);
    if (!this.enabled) return;
    const content = this.viewer.content;
    const handle = this.handle;
    const holder = this.hands[0].holding ? this.hands[0] : this.hands[1].holding ? this.hands[1] : null;
    if (holder) {
      holder.controller.updateMatrixWorld(true);
      this.math.updateOne(holder.controller.matrixWorld, this.worldPose);
      this.worldPose.updateMatrix();
      this.toContent.copy(content.matrixWorld).invert().multiply(this.worldPose.matrix);
      this.toContent.decompose(handle.position, handle.quaternion, handle.scale);
    }
    handle.updateMatrixWorld(true);
    const world = handle.matrixWorld;
    // the quad faces +z and cuts that side: the kept side is -z, the plane a little past the quad
    this.direction.setFromMatrixColumn(world, 2).normalize();
    this.point.setFromMatrixPosition(world).addScaledVector(this.direction, CLEARANCE_M);
    this.plane.setFromNormalAndCoplanarPoint(this.direction.negate(), this.point);
    this.toHandle.copy(world).invert();
    const unit = world.getMaxScaleOnAxis(); // metres per unit of the handle's frame
    let reached = false;
    for (let i = 0; i < this.hands.length; i++) {
      const hand = this.hands[i];
      hand.at = hand.connected && this.#reaches(hand, unit);
      reached ||= hand.at;
    }
    const color = holder ? HELD_COLOR : reached ? REACH_COLOR : FRAME_COLOR;
    this.frame.material.color.setHex(color);
  }

  /** For `XRView.state()`: on/off, the plane in the XR space (a point on it, the kept side's normal), who holds it. */
  state() {
    const world = this.handle.matrixWorld;
    return {
      enabled: this.enabled,
      visible: this.handle.visible,
      point: new THREE.Vector3().setFromMatrixPosition(world).toArray(),
      normal: this.plane.normal.toArray(),
      size: world.getMaxScaleOnAxis(),
      at: this.hands.map((h) => h.at),
      holding: this.hands.some((h) => h.holding),
      grabs: this.grabs,
    };
  }

  dispose() {
    this.stop();
    for (const hand of this.hands) {
      for (const [type, handler] of hand.handlers) hand.controller.removeEventListener(type, handler);
    }
    this.handle.removeFromParent();
    this.quad.geometry.dispose();
    this.quad.material.dispose();
    this.frame.geometry.dispose();
    this.frame.material.dispose();
  }

  #handle() {
    const handle = new THREE.Group();
    handle.name = 'xr-clip-handle';
    handle.visible = false;
    this.quad = new THREE.Mesh(
      new THREE.PlaneGeometry(1, 1),
      new THREE.MeshBasicMaterial({
        color: QUAD_COLOR, transparent: true, opacity: QUAD_OPACITY, side: THREE.DoubleSide, forceSinglePass: true, depthWrite: false, toneMapped: false,
      }),
    );
    const corners = [-0.5, -0.5, 0, 0.5, -0.5, 0, 0.5, 0.5, 0, -0.5, 0.5, 0];
    const outline = new THREE.BufferGeometry();
    outline.setAttribute('position', new THREE.Float32BufferAttribute(corners, 3));
    this.frame = new THREE.LineLoop(outline, new THREE.LineBasicMaterial({ color: FRAME_COLOR, toneMapped: false }));
    for (const part of [this.quad, this.frame]) {
      part.raycast = () => {}; // rays find it by XRClipReach, not by the scene's raycast
      handle.add(part);
    }
    return handle;
  }

  #hand(index) {
    const controller = this.viewer.renderer.xr.getController(index);
    const hand = { index, controller, connected: false, tracked: false, gamepad: null, toggleDown: false, at: false, holding: false, took: false };
    const begin = () => this.#begin(hand);
    const end = () => {
      hand.holding = false;
    };
    hand.handlers = [
      ['connected', (event) => {
        hand.connected = event.data.targetRayMode === 'tracked-pointer';
        hand.tracked = Boolean(event.data.hand);
        hand.gamepad = event.data.gamepad ?? null;
      }],
      ['disconnected', () => {
        end();
        hand.connected = hand.at = false;
        hand.gamepad = null;
      }],
      ['squeezestart', begin],
      ['squeezeend', end],
      ['selectstart', () => {
        hand.took = hand.tracked && hand.at;
        if (hand.took) begin();
      }],
      ['selectend', () => { if (hand.tracked) end(); }],
    ];
    for (const [type, handler] of hand.handlers) controller.addEventListener(type, handler);
    return hand;
  }

  #begin(hand) {
    if (!this.enabled || !hand.at || this.hands.some((h) => h.holding)) return;
    hand.holding = true;
    this.grabs += 1;
    hand.controller.updateMatrixWorld(true);
    this.handle.matrixWorld.decompose(this.worldPose.position, this.worldPose.quaternion, this.worldPose.scale);
    this.math.startOne(hand.controller.matrixWorld, this.worldPose);
  }

  /** Whether `hand` is at the quad or its ray is on the quad's frame (`unit`: metres per handle unit). */
  #reaches(hand, unit) {
    hand.controller.updateMatrixWorld(true);
    const world = hand.controller.matrixWorld;
    this.point.setFromMatrixPosition(world).applyMatrix4(this.toHandle);
    if (nearQuad(this.point, REACH_M / unit)) return true;
    this.direction.setFromMatrixColumn(world, 2).negate().transformDirection(this.toHandle);
    return rayToRim(this.point, this.direction, RIM) < Infinity;
  }

  #pollToggle(hand) {
    const down = Boolean(hand.gamepad?.buttons[TOGGLE_BUTTON]?.pressed);
    if (down && !hand.toggleDown) this.setEnabled(!this.enabled);
    hand.toggleDown = down;
  }

  /** Call `visit` on every object of the scene's content but the handle. */
  #forScene(visit) {
    const children = this.viewer.content.children;
    for (let i = 0; i < children.length; i++) if (children[i] !== this.handle) children[i].traverse(visit);
  }

  #assign(object) {
    const material = object.material;
    if (!material) return;
    if (Array.isArray(material)) for (let i = 0; i < material.length; i++) material[i].clippingPlanes = this.planes;
    else if (material.clippingPlanes !== this.planes) material.clippingPlanes = this.planes;
  }

  #clear(object) {
    const material = object.material;
    if (!material) return;
    if (Array.isArray(material)) for (const m of material) m.clippingPlanes = null;
    else if (material.clippingPlanes === this.planes) material.clippingPlanes = null;
  }
}
