import * as THREE from 'three';
import {
  LEFT, POINTER, POINTER_FROM_LEFT, POINTER_FROM_RIGHT, POINTER_HIT, RIGHT, XR, PresenceEncoder, emptyPresence,
} from './PresenceCodec.js';

/** Presence messages a second (the server drops what comes faster than 25). */
export const PRESENCE_HZ = 20;
/** A headset user's head, for the avatar others draw (metres). */
export const HEAD_SIZE_M = 0.2;
/** A desktop user's avatar head, as a fraction of the scene's radius. */
const DESKTOP_HEAD_FRACTION = 0.12;
/** The scene's size is measured again every this many ticks (it changes only with the scene). */
const SIZE_EVERY = 20;
/** An unchanged presence still goes out once a second (a reconnected server has forgotten it). */
const KEEPALIVE_TICKS = PRESENCE_HZ;

/**
 * Tells the session where this user is, 20 times a second: the desktop camera, or in the headset
 * the head, both hands' grips and the pointer of a controller that points at the model; the
 * desktop mouse's hit on the model is the pointer too. Poses go in the scene content's coordinates
 * (the content group's), so others see this avatar in the same place relative to the model whatever
 * its own placement or scale. An unchanged presence is sent once a second only (the server keeps the last).
 * Nothing is allocated per send.
 */
export class PresenceSender {
  /**
   * @param {import('./Viewer.js').Viewer} viewer
   * @param {{ send: (bytes: Uint8Array) => boolean, views: () => object[], bounds: () => THREE.Box3,
   *   pointers: () => {connected: boolean, handedness: string|null, hover: {hit: {point: THREE.Vector3}}|null}[] }} hooks
   *   `send`: the binary message out (false: not connected); `pointers`: the headset's controller rays (XRPointers);
   *   `canSend`: false while this user's role may not be seen (an observer)
   */
  constructor(viewer, { send, views, bounds, pointers, canSend = () => true }) {
    this.viewer = viewer;
    this.send = send;
    this.canSend = canSend;
    this.views = views;
    this.bounds = bounds;
    this.pointers = pointers;
    this.encoder = new PresenceEncoder();
    this.presence = emptyPresence();
    this.last = new Uint8Array(this.encoder.bytes.length);
    this.lastLength = 0;
    this.sent = 0;
    this.ticks = 0;
    this.sentAt = -Infinity;
    this.desktopSize = 1;
    this.toContent = new THREE.Matrix4();
    this.matrix = new THREE.Matrix4();
    this.position = new THREE.Vector3();
    this.quaternion = new THREE.Quaternion();
    this.scale = new THREE.Vector3();
    this.sphere = new THREE.Sphere();
    this.mouse = { inside: false, x: 0, y: 0 };
    this.grips = [0, 1].map((index) => {
      const grip = viewer.renderer.xr.getControllerGrip(index);
      const entry = { grip, handedness: null };
      entry.handleConnected = (event) => { entry.handedness = event.data.handedness; };
      entry.handleDisconnected = () => { entry.handedness = null; };
      grip.addEventListener('connected', entry.handleConnected);
      grip.addEventListener('disconnected', entry.handleDisconnected);
      return entry;
    });
    this.handleMove = (event) => {
      this.mouse.inside = true;
      this.mouse.x = event.clientX;
      this.mouse.y = event.clientY;
    };
    this.handleLeave = () => { this.mouse.inside = false; };
    viewer.canvas.addEventListener('pointermove', this.handleMove);
    viewer.canvas.addEventListener('pointerleave', this.handleLeave);
    this.timer = setInterval(() => this.tick(), 1000 / PRESENCE_HZ);
  }

  /** Measure and send this user's presence now (the timer calls it). */
  tick() {
    if (!this.canSend()) return;
    const { viewer, presence } = this;
    viewer.content.updateMatrixWorld();
    this.toContent.copy(viewer.content.matrixWorld).invert();
    const xr = viewer.renderer.xr.isPresenting;
    if (!xr && this.ticks % SIZE_EVERY === 0) {
      const box = this.bounds();
      if (!box.isEmpty()) this.desktopSize = box.getBoundingSphere(this.sphere).radius * DESKTOP_HEAD_FRACTION || 1;
    }
    this.ticks += 1;
    presence.flags = xr ? XR : 0;
    presence.size = xr ? HEAD_SIZE_M / viewer.content.matrixWorld.getMaxScaleOnAxis() : this.desktopSize;
    viewer.camera.updateMatrixWorld();
    this.#pose(viewer.camera.matrixWorld, presence.head);
    if (xr) this.#hands();
    else this.#mousePointer();
    const bytes = this.encoder.encode(presence);
    if (bytes === null || (this.#unchanged(bytes) && this.ticks - this.sentAt < KEEPALIVE_TICKS)) return;
    if (!this.send(bytes)) return;
    this.last.set(bytes);
    this.lastLength = bytes.length;
    this.sentAt = this.ticks;
    this.sent += 1;
  }

  /** For `App.state()`: how many presences went out, and the last head position sent (content coordinates). */
  state() {
    return {
      sent: this.sent,
      head: this.sent ? [...this.presence.head.subarray(0, 3)] : null,
      pointer: Boolean(this.presence.flags & POINTER),
    };
  }

  dispose() {
    clearInterval(this.timer);
    this.viewer.canvas.removeEventListener('pointermove', this.handleMove);
    this.viewer.canvas.removeEventListener('pointerleave', this.handleLeave);
    for (const entry of this.grips) {
      entry.grip.removeEventListener('connected', entry.handleConnected);
      entry.grip.removeEventListener('disconnected', entry.handleDisconnected);
    }
  }

  /** World matrix -> position and orientation in content coordinates, into `out` [x, y, z, qx, qy, qz, qw]. */
  #pose(world, out) {
    this.matrix.multiplyMatrices(this.toContent, world).decompose(this.position, this.quaternion, this.scale);
    this.position.toArray(out, 0);
    this.quaternion.toArray(out, 3);
  }

  #point(world, out) {
    this.position.copy(world).applyMatrix4(this.toContent).toArray(out, 0);
  }

  #hands() {
    const presence = this.presence;
    for (const { grip, handedness } of this.grips) {
      if (!grip.visible || (handedness !== 'left' && handedness !== 'right')) continue;
      presence.flags |= handedness === 'left' ? LEFT : RIGHT;
      this.#pose(grip.matrix, handedness === 'left' ? presence.left : presence.right); // grips live in the reference space
    }
    let chosen = null;
    for (const pointer of this.pointers()) {
      if (!pointer.connected || !pointer.hover) continue;
      if (!chosen || pointer.handedness === 'right') chosen = pointer;
    }
    if (!chosen) return;
    this.#point(chosen.hover.hit.point, presence.pointer);
    presence.flags |= POINTER | POINTER_HIT;
    if (chosen.handedness === 'left' && presence.flags & LEFT) presence.flags |= POINTER_FROM_LEFT;
    if (chosen.handedness === 'right' && presence.flags & RIGHT) presence.flags |= POINTER_FROM_RIGHT;
  }

  #mousePointer() {
    if (!this.mouse.inside) return;
    const picked = this.viewer.pick(this.mouse.x, this.mouse.y, this.views());
    if (!picked) return;
    this.#point(picked.hit.point, this.presence.pointer);
    this.presence.flags |= POINTER | POINTER_HIT;
  }

  #unchanged(bytes) {
    if (bytes.length !== this.lastLength) return false;
    for (let i = 0; i < bytes.length; i++) if (bytes[i] !== this.last[i]) return false;
    return true;
  }
}
