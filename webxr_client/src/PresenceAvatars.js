import * as THREE from 'three';
import { canvasSprite } from './canvasSprite.js';
import { LEFT, POINTER, POINTER_FROM_LEFT, POINTER_FROM_RIGHT, POINTER_HIT, RIGHT, XR, emptyPresence, isPresence, readBatch } from './PresenceCodec.js';
import { PresenceTrack } from './PresenceTrack.js';

/** Avatars drawn at most: a session's clients (MAX_CLIENTS_PER_SESSION on the server). */
export const MAX_AVATARS = 64;
const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#bfef45'];
const TAG_WIDTH = 256;
const TAG_HEIGHT = 64;
/** Name tag height, and how far above the head's centre it floats, in head sizes. */
const TAG_SIZE = 0.4;
const TAG_LIFT = 0.85;
const HAND_SIZE = 0.5;
/** A head closer than this many head sizes to this viewer's own eye is not drawn (two desktop users who both
 * fitted the view share a camera position: the other's head would fill the screen). */
const TOO_CLOSE = 2;

/**
 * One avatar per other client of the session, from the server's presence batches: a head (a sphere
 * with a nose that shows where it faces), hands in the headset, a pointer line to where it points,
 * and a name tag. Avatars live in the scene content's coordinates (their root follows the content
 * group), so each appears where its owner is relative to the model. Drawn 100 ms (PresenceTrack's
 * `delay`) behind the newest pose, interpolated between received ones. `presence_peers` says who each
 * slot is and who left; `members` (when the session sends it) gives names and colours.
 *
 * Heads, noses, hands and pointer dots are instanced and every pointer line is one line set, so a full
 * session costs five draw calls plus one per name tag (the headset's budget is under 100).
 */
export class PresenceAvatars {
  /** @param {import('./Viewer.js').Viewer} viewer */
  constructor(viewer) {
    this.viewer = viewer;
    this.root = new THREE.Group();
    this.root.name = 'presence-avatars';
    this.root.matrixAutoUpdate = false;
    viewer.scene.add(this.root);
    /** slot -> peer ({ slot, clientId, member, name, role, track, index, tag, shown }) */
    this.peers = new Map();
    /** member id -> { name, color } from `members` */
    this.members = new Map();
    this.self = null;
    this.selfMember = null;
    this.selfRole = null;
    this.scratch = emptyPresence();
    this.batches = 0;
    this.errors = 0;
    this.freeIndices = Array.from({ length: MAX_AVATARS }, (_, i) => MAX_AVATARS - 1 - i);
    this.up = new THREE.Vector3();
    this.inverse = new THREE.Quaternion();
    this.position = new THREE.Vector3();
    this.quaternion = new THREE.Quaternion();
    this.scale = new THREE.Vector3();
    this.matrix = new THREE.Matrix4();
    this.hidden = new THREE.Matrix4().makeScale(0, 0, 0);
    this.color = new THREE.Color();
    this.eye = new THREE.Vector3();
    this.toContent = new THREE.Matrix4();

    this.material = new THREE.MeshStandardMaterial({ color: 0xffffff, roughness: 0.5 });
    this.noseMaterial = new THREE.MeshStandardMaterial({ color: 0xf2f2f2, roughness: 0.6 });
    this.heads = this.#instanced(new THREE.SphereGeometry(0.5, 20, 14), this.material, MAX_AVATARS, 'presence-heads');
    const nose = new THREE.ConeGeometry(0.2, 0.4, 16).rotateX(-Math.PI / 2).translate(0, 0, -0.6); // faces -z
    this.noses = this.#instanced(nose, this.noseMaterial, MAX_AVATARS, 'presence-noses');
    const hand = new THREE.BoxGeometry(0.35 * HAND_SIZE, 0.15 * HAND_SIZE, 0.5 * HAND_SIZE);
    this.hands = this.#instanced(hand, this.material, 2 * MAX_AVATARS, 'presence-hands');
    this.dots = this.#instanced(new THREE.SphereGeometry(0.08, 12, 8), this.material, MAX_AVATARS, 'presence-dots');
    const lineGeometry = new THREE.BufferGeometry();
    lineGeometry.setAttribute('position', new THREE.BufferAttribute(new Float32Array(MAX_AVATARS * 6), 3));
    lineGeometry.setAttribute('color', new THREE.BufferAttribute(new Float32Array(MAX_AVATARS * 6), 3));
    this.lines = new THREE.LineSegments(lineGeometry, new THREE.LineBasicMaterial({ vertexColors: true }));
    this.lines.name = 'presence-pointers';
    this.lines.frustumCulled = false;
    this.lines.raycast = () => {};
    this.root.add(this.lines);
    /** The instanced parts whose matrices `update` uploads, and its per-peer step (bound once: no allocation per frame). */
    this.instanced = [this.heads, this.noses, this.hands, this.dots];
    this.frame = { now: 0, top: 0, moving: false };
    this.updatePeer = (peer) => this.#updatePeer(peer);

    this.handlePeer = (slot, presence) => {
      const peer = this.peers.get(slot);
      if (peer) peer.track.push(performance.now(), presence);
    };
  }

  /** A binary message from the socket: true if it was a presence batch (taken here), false for a field frame. */
  receive(data) {
    if (!isPresence(data)) return false;
    try {
      readBatch(data, this.scratch, this.handlePeer);
      this.batches += 1;
    } catch (error) {
      this.errors += 1;
      console.warn(`vizserver: presence batch refused: ${error.message}`);
    }
    return true;
  }

  /** Control messages about people: `presence_peers` (slots) and `members` (names, colours). */
  onMessage(message) {
    if (message.type === 'members') {
      this.members.clear();
      for (const m of message.members) {
        this.members.set(m.id, { name: m.name, color: m.color, role: m.role });
        if (m.id === this.selfMember) this.selfRole = m.role;
      }
      for (const peer of this.peers.values()) this.#label(peer);
      this.viewer.requestRender();
      return;
    }
    if (message.type !== 'presence_peers') return;
    if (message.full) {
      const listed = new Set(message.peers.map((p) => p.slot));
      for (const slot of [...this.peers.keys()]) if (!listed.has(slot)) this.#remove(slot);
    }
    for (const slot of message.left) this.#remove(slot);
    for (const info of message.peers) {
      let peer = this.peers.get(info.slot);
      if (peer && peer.clientId !== info.client_id) {
        this.#remove(info.slot);
        peer = undefined;
      }
      if (!peer) {
        if (info.client_id === this.self || !this.freeIndices.length) continue;
        peer = { slot: info.slot, clientId: info.client_id, track: new PresenceTrack(), index: this.freeIndices.pop(),
          tag: null, shown: emptyPresence(), visible: false, near: false };
        this.peers.set(info.slot, peer);
      }
      Object.assign(peer, { member: info.member ?? null, name: info.name || '', role: info.role || '' });
      this.#label(peer);
    }
    this.viewer.requestRender();
  }

  /** This client (never drawn; the server does not send it anyway), its member id and role (`welcome`). */
  setSelf(clientId, memberId, role) {
    this.self = clientId;
    this.selfMember = memberId;
    /** This client's role now (`members` says when it changes). */
    this.selfRole = role;
  }

  /** Once per animation frame: move each avatar to its owner's pose of `track.delay` ago. */
  update() {
    const viewer = this.viewer;
    const now = performance.now();
    this.root.matrix.copy(viewer.content.matrixWorld);
    this.root.matrixWorldNeedsUpdate = true;
    viewer.content.getWorldQuaternion(this.inverse).invert();
    this.toContent.copy(viewer.content.matrixWorld).invert();
    viewer.camera.getWorldPosition(this.eye).applyMatrix4(this.toContent);
    this.up.copy(viewer.renderer.xr.isPresenting ? THREE.Object3D.DEFAULT_UP : viewer.camera.up).applyQuaternion(this.inverse);
    const frame = this.frame;
    frame.now = now;
    frame.top = 0;
    frame.moving = false;
    this.peers.forEach(this.updatePeer);
    const top = frame.top;
    this.heads.count = top;
    this.noses.count = top;
    this.dots.count = top;
    this.hands.count = 2 * top;
    this.lines.geometry.setDrawRange(0, 2 * top);
    if (!frame.moving) return; // nothing changed since the last upload
    for (let i = 0; i < this.instanced.length; i++) this.instanced[i].instanceMatrix.needsUpdate = true;
    this.lines.geometry.attributes.position.needsUpdate = true;
    viewer.requestRender();
  }

  /** For `App.state()`: each other client's avatar as drawn now (content coordinates). */
  state() {
    return {
      batches: this.batches,
      errors: this.errors,
      peers: [...this.peers.values()].map((peer) => ({
        slot: peer.slot,
        clientId: peer.clientId,
        name: this.#name(peer),
        color: this.#color(peer),
        role: this.members.get(peer.member)?.role ?? peer.role,
        visible: peer.visible,
        near: Boolean(peer.near),
        xr: peer.visible && Boolean(peer.shown.flags & XR),
        head: peer.visible ? [...peer.shown.head.subarray(0, 3)] : null,
        hands: peer.visible ? Number(Boolean(peer.shown.flags & LEFT)) + Number(Boolean(peer.shown.flags & RIGHT)) : 0,
        pointer: peer.visible && Boolean(peer.shown.flags & POINTER),
      })),
    };
  }

  dispose() {
    for (const slot of [...this.peers.keys()]) this.#remove(slot);
    this.root.removeFromParent();
    for (const mesh of [this.heads, this.noses, this.hands, this.dots]) {
      mesh.geometry.dispose();
      mesh.dispose();
    }
    this.lines.geometry.dispose();
    this.lines.material.dispose();
    this.material.dispose();
    this.noseMaterial.dispose();
  }

  #instanced(geometry, material, count, name) {
    const mesh = new THREE.InstancedMesh(geometry, material, count);
    mesh.name = name;
    mesh.count = 0;
    mesh.frustumCulled = false; // instances roam the whole scene; the bounds would need recomputing each frame
    mesh.raycast = () => {};
    mesh.instanceMatrix.setUsage(THREE.DynamicDrawUsage);
    for (let i = 0; i < count; i++) {
      mesh.setMatrixAt(i, this.hidden);
      mesh.setColorAt(i, this.color.set(0xffffff)); // the colour attribute exists from the first frame: one shader
    }
    this.root.add(mesh);
    return mesh;
  }

  #name(peer) {
    return this.members.get(peer.member)?.name || peer.name || peer.clientId.slice(0, 6);
  }

  #color(peer) {
    const known = this.members.get(peer.member)?.color;
    if (known) return known;
    let hash = 0;
    for (let i = 0; i < peer.clientId.length; i++) hash = (hash * 31 + peer.clientId.charCodeAt(i)) >>> 0;
    return PALETTE[hash % PALETTE.length];
  }

  /** Colour the avatar's parts and draw its name tag (on join, and when `members` changes). */
  #label(peer) {
    const color = this.#color(peer);
    this.color.set(color);
    const i = peer.index;
    for (const [mesh, at] of [[this.heads, i], [this.dots, i], [this.hands, 2 * i], [this.hands, 2 * i + 1]]) {
      mesh.setColorAt(at, this.color);
      mesh.instanceColor.needsUpdate = true;
    }
    const colors = this.lines.geometry.attributes.color;
    colors.setXYZ(2 * i, this.color.r, this.color.g, this.color.b);
    colors.setXYZ(2 * i + 1, this.color.r, this.color.g, this.color.b);
    colors.needsUpdate = true;
    if (!peer.tag) {
      peer.tag = canvasSprite({ width: TAG_WIDTH, height: TAG_HEIGHT, heightM: 1, name: 'presence-tag', renderOrder: 10 });
      this.root.add(peer.tag.sprite);
    }
    const { context, canvas, texture } = peer.tag;
    context.clearRect(0, 0, canvas.width, canvas.height);
    context.fillStyle = 'rgba(20, 22, 28, 0.8)';
    context.beginPath();
    context.roundRect(2, 2, canvas.width - 4, canvas.height - 4, 14);
    context.fill();
    context.fillStyle = color;
    context.fillRect(14, 20, 24, 24);
    context.fillStyle = '#ffffff';
    context.font = '32px sans-serif';
    context.textBaseline = 'middle';
    context.fillText(this.#name(peer), 50, canvas.height / 2, canvas.width - 62);
    texture.needsUpdate = true;
  }

  #updatePeer(peer) {
    const frame = this.frame;
    frame.top = Math.max(frame.top, peer.index + 1);
    const at = frame.now - peer.track.delay;
    if (!peer.track.sample(at, peer.shown)) return;
    const near = peer.near;
    if (!peer.visible) frame.moving = true;
    this.#place(peer);
    if (peer.near !== near) frame.moving = true;
    if (at <= peer.track.latest + 50) frame.moving = true; // one frame after the newest pose is reached
  }

  #place(peer) {
    const p = peer.shown;
    const i = peer.index;
    const size = p.size;
    peer.visible = true;
    this.position.fromArray(p.head, 0);
    this.quaternion.fromArray(p.head, 3);
    peer.near = this.position.distanceTo(this.eye) < size * TOO_CLOSE;
    this.matrix.compose(this.position, this.quaternion, this.scale.setScalar(size));
    this.heads.setMatrixAt(i, peer.near ? this.hidden : this.matrix);
    this.noses.setMatrixAt(i, peer.near ? this.hidden : this.matrix);
    const sprite = peer.tag.sprite;
    sprite.visible = !peer.near;
    sprite.position.copy(this.position).addScaledVector(this.up, size * TAG_LIFT);
    sprite.scale.set((size * TAG_SIZE * TAG_WIDTH) / TAG_HEIGHT, size * TAG_SIZE, 1);
    this.#hand(2 * i, p.flags & LEFT, p.left, size);
    this.#hand(2 * i + 1, p.flags & RIGHT, p.right, size);
    const positions = this.lines.geometry.attributes.position;
    if (p.flags & POINTER) {
      const from = p.flags & POINTER_FROM_LEFT ? p.left : p.flags & POINTER_FROM_RIGHT ? p.right : p.head;
      positions.setXYZ(2 * i, from[0], from[1], from[2]);
      positions.setXYZ(2 * i + 1, p.pointer[0], p.pointer[1], p.pointer[2]);
    } else {
      positions.setXYZ(2 * i, 0, 0, 0);
      positions.setXYZ(2 * i + 1, 0, 0, 0);
    }
    if (p.flags & POINTER_HIT) {
      this.position.fromArray(p.pointer, 0);
      this.matrix.compose(this.position, this.quaternion.identity(), this.scale.setScalar(size));
      this.dots.setMatrixAt(i, this.matrix);
    } else {
      this.dots.setMatrixAt(i, this.hidden);
    }
  }

  #hand(at, present, pose, size) {
    if (!present) {
      this.hands.setMatrixAt(at, this.hidden);
      return;
    }
    this.position.fromArray(pose, 0);
    this.quaternion.fromArray(pose, 3);
    this.matrix.compose(this.position, this.quaternion, this.scale.setScalar(size));
    this.hands.setMatrixAt(at, this.matrix);
  }

  #remove(slot) {
    const peer = this.peers.get(slot);
    if (!peer) return;
    this.peers.delete(slot);
    const i = peer.index;
    for (const [mesh, at] of [[this.heads, i], [this.noses, i], [this.dots, i], [this.hands, 2 * i], [this.hands, 2 * i + 1]]) {
      mesh.setMatrixAt(at, this.hidden);
      mesh.instanceMatrix.needsUpdate = true;
    }
    const positions = this.lines.geometry.attributes.position;
    positions.setXYZ(2 * i, 0, 0, 0);
    positions.setXYZ(2 * i + 1, 0, 0, 0);
    positions.needsUpdate = true;
    this.freeIndices.push(i);
    if (peer.tag) {
      peer.tag.sprite.removeFromParent();
      peer.tag.texture.dispose();
      peer.tag.material.dispose();
    }
  }
}
