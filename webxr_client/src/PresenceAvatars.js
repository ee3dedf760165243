import * as THREE from 'three';
import { canvasSprite } from './canvasSprite.js';
import { LEFT, POINTER, POINTER_FROM_LEFT, POINTER_FROM_RIGHT, POINTER_HIT, RIGHT, XR, emptyPresence, isPresence, readBatch } from './PresenceCodec.js';
import { PresenceTrack } from './PresenceTrack.js';

const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#bfef45'];
const TAG_WIDTH = 256;
const TAG_HEIGHT = 64;
/** Name tag height, and how far above the head's centre it floats, in head sizes. */
const TAG_SIZE = 0.4;
const TAG_LIFT = 0.85;
const HAND_SIZE = 0.5;

/**
 * One avatar per other client of the session, from the server's presence batches: a head (a sphere
 * with a nose that shows where it faces), hands in the headset, a pointer line to where it points,
 * and a name tag. Avatars live in the scene content's coordinates (their root follows the content
 * group), so each appears where its owner is relative to the model. Drawn 100 ms (PresenceTrack's
 * `delay`) behind the newest pose, interpolated between received ones. `presence_peers` says who each slot
 * is and who left; `members` (when the session sends it) gives names and colours.
 */
export class PresenceAvatars {
  /** @param {import('./Viewer.js').Viewer} viewer */
  constructor(viewer) {
    this.viewer = viewer;
    this.root = new THREE.Group();
    this.root.name = 'presence-avatars';
    this.root.matrixAutoUpdate = false;
    viewer.scene.add(this.root);
    /** slot -> peer ({ slot, clientId, member, name, role, track, avatar }) */
    this.peers = new Map();
    /** member id -> { name, color } from `members` */
    this.members = new Map();
    this.self = null;
    this.selfMember = null;
    this.selfRole = null;
    this.scratch = emptyPresence();
    this.shown = emptyPresence();
    this.batches = 0;
    this.errors = 0;
    this.up = new THREE.Vector3();
    this.inverse = new THREE.Quaternion();
    this.headGeometry = new THREE.SphereGeometry(0.5, 20, 14);
    this.noseGeometry = new THREE.ConeGeometry(0.2, 0.4, 16).rotateX(-Math.PI / 2).translate(0, 0, -0.6);
    this.handGeometry = new THREE.BoxGeometry(0.35 * HAND_SIZE, 0.15 * HAND_SIZE, 0.5 * HAND_SIZE);
    this.dotGeometry = new THREE.SphereGeometry(0.08, 12, 8);
    this.noseMaterial = new THREE.MeshStandardMaterial({ color: 0xf2f2f2, roughness: 0.6 });
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
        this.members.set(m.id, { name: m.name, color: m.color });
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
        peer = { slot: info.slot, clientId: info.client_id, track: new PresenceTrack(), avatar: null };
        this.peers.set(info.slot, peer);
      }
      Object.assign(peer, { member: info.member ?? null, name: info.name || '', role: info.role || '' });
      if (peer.avatar) this.#label(peer);
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

  /** Once per animation frame: move each avatar to its owner's pose of `INTERPOLATION_DELAY_MS` ago. */
  update() {
    const viewer = this.viewer;
    const now = performance.now();
    this.root.matrix.copy(viewer.content.matrixWorld);
    this.root.matrixWorldNeedsUpdate = true;
    viewer.content.getWorldQuaternion(this.inverse).invert();
    this.up.copy(viewer.renderer.xr.isPresenting ? THREE.Object3D.DEFAULT_UP : viewer.camera.up).applyQuaternion(this.inverse);
    let moving = false;
    for (const peer of this.peers.values()) {
      const at = now - peer.track.delay;
      if (peer.clientId === this.self || !peer.track.sample(at, this.shown)) continue;
      if (!peer.avatar) {
        peer.avatar = this.#avatar();
        this.#label(peer);
        moving = true;
      }
      this.#place(peer.avatar, this.shown);
      if (at <= peer.track.latest + 50) moving = true; // one frame after the newest pose is reached
    }
    if (moving) viewer.requestRender();
  }

  /** For `App.state()`: each other client's avatar as drawn now (content coordinates). */
  state() {
    return {
      batches: this.batches,
      errors: this.errors,
      peers: [...this.peers.values()].filter((p) => p.clientId !== this.self).map((peer) => {
        const a = peer.avatar;
        return {
          slot: peer.slot,
          clientId: peer.clientId,
          name: this.#name(peer),
          color: this.#color(peer),
          role: peer.role,
          visible: Boolean(a?.group.visible),
          xr: Boolean(a?.xr),
          head: a ? a.head.position.toArray() : null,
          hands: a ? Number(a.left.visible) + Number(a.right.visible) : 0,
          pointer: Boolean(a?.line.visible),
        };
      }),
    };
  }

  dispose() {
    for (const slot of [...this.peers.keys()]) this.#remove(slot);
    this.root.removeFromParent();
    for (const g of [this.headGeometry, this.noseGeometry, this.handGeometry, this.dotGeometry]) g.dispose();
    this.noseMaterial.dispose();
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

  #avatar() {
    const material = new THREE.MeshStandardMaterial({ color: 0xffffff, roughness: 0.5 });
    const group = new THREE.Group();
    group.name = 'presence-avatar';
    const head = new THREE.Group();
    head.add(new THREE.Mesh(this.headGeometry, material), new THREE.Mesh(this.noseGeometry, this.noseMaterial));
    const left = new THREE.Mesh(this.handGeometry, material);
    const right = new THREE.Mesh(this.handGeometry, material);
    const lineGeometry = new THREE.BufferGeometry();
    lineGeometry.setAttribute('position', new THREE.BufferAttribute(new Float32Array(6), 3));
    const lineMaterial = new THREE.LineBasicMaterial({ color: 0xffffff });
    const line = new THREE.Line(lineGeometry, lineMaterial);
    line.frustumCulled = false;
    const dot = new THREE.Mesh(this.dotGeometry, material);
    const tag = canvasSprite({ width: TAG_WIDTH, height: TAG_HEIGHT, heightM: 1, name: 'presence-tag', renderOrder: 10 });
    tag.sprite.visible = true;
    group.add(head, left, right, line, dot, tag.sprite);
    for (const part of group.children) part.raycast = () => {};
    for (const mesh of head.children) mesh.raycast = () => {};
    this.root.add(group);
    return { group, head, left, right, line, dot, tag, material, lineMaterial, lineGeometry, xr: false };
  }

  #label(peer) {
    const a = peer.avatar;
    if (!a) return;
    const color = this.#color(peer);
    a.material.color.set(color);
    a.lineMaterial.color.set(color);
    const { context, canvas, texture } = a.tag;
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

  #place(a, p) {
    const size = p.size;
    a.xr = Boolean(p.flags & XR);
    a.head.position.fromArray(p.head, 0);
    a.head.quaternion.fromArray(p.head, 3);
    a.head.scale.setScalar(size);
    a.tag.sprite.position.copy(a.head.position).addScaledVector(this.up, size * TAG_LIFT);
    a.tag.sprite.scale.set((size * TAG_SIZE * TAG_WIDTH) / TAG_HEIGHT, size * TAG_SIZE, 1);
    placeHand(a.left, p.flags & LEFT, p.left, size);
    placeHand(a.right, p.flags & RIGHT, p.right, size);
    const pointing = Boolean(p.flags & POINTER);
    a.line.visible = pointing;
    a.dot.visible = pointing && Boolean(p.flags & POINTER_HIT);
    if (pointing) {
      const from = p.flags & POINTER_FROM_LEFT ? p.left : p.flags & POINTER_FROM_RIGHT ? p.right : p.head;
      const positions = a.lineGeometry.attributes.position;
      positions.setXYZ(0, from[0], from[1], from[2]);
      positions.setXYZ(1, p.pointer[0], p.pointer[1], p.pointer[2]);
      positions.needsUpdate = true;
      a.dot.position.fromArray(p.pointer, 0);
      a.dot.scale.setScalar(size);
    }
    a.group.visible = true;
  }

  #remove(slot) {
    const peer = this.peers.get(slot);
    if (!peer) return;
    this.peers.delete(slot);
    const a = peer.avatar;
    if (!a) return;
    a.group.removeFromParent();
    a.material.dispose();
    a.lineMaterial.dispose();
    a.lineGeometry.dispose();
    a.tag.texture.dispose();
    a.tag.material.dispose();
  }
}

function placeHand(mesh, present, pose, size) {
  mesh.visible = Boolean(present);
  if (!present) return;
  mesh.position.fromArray(pose, 0);
  mesh.quaternion.fromArray(pose, 3);
  mesh.scale.setScalar(size);
}
