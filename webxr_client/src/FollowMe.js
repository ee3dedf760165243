import * as THREE from 'three';
import { headsetPlacement, orbitFromPose, yawOf } from './FollowMath.js';
import { CLICK_SLOP_PX } from './Prober.js';

/** How quickly a desktop camera closes in on the leader's: the gap shrinks by 1/e every this long (s). */
const GLIDE_S = 0.15;
/** The orbit target is at least this far ahead of the camera (content units). */
const MIN_TARGET_DISTANCE = 1e-3;

/**
 * Follow me, on the follower's side: while the session's `follow` names a leader (another connection),
 * this view takes the leader's view from the presence relay (the leader's avatar as PresenceAvatars
 * draws it: 100 ms behind, interpolated). A desktop camera glides to the leader's camera and stays with
 * it; with `lock` its orbit controls are off, without it a banner offers "Stop following" (orbiting away
 * stops too) and "Follow" again. In the headset nothing turns the user's head: the content is moved and
 * turned about the vertical (FollowMath.headsetPlacement) so the leader's eye sits where the user's head was
 * when following began. A release leaves the view where it is and gives control back.
 */
export class FollowMe {
  /**
   * @param {import('./Viewer.js').Viewer} viewer
   * @param {HTMLElement} overlay the viewport's overlay (the banner goes in it)
   * @param {{ avatars: import('./PresenceAvatars.js').PresenceAvatars, bounds: () => THREE.Box3,
   *   names: (memberId: string) => string, holding: () => number, release: () => void }} hooks
   *   `names`: a member's display name; `holding`/`release`: the headset's grab (a held model is let go while locked)
   */
  constructor(viewer, overlay, { avatars, bounds, names, holding, release }) {
    this.viewer = viewer;
    this.avatars = avatars;
    this.bounds = bounds;
    this.names = names;
    this.holding = holding;
    this.release = release;
    /** The session's follow state: `{ leader, client, lock }` or null (nobody leads). */
    this.lead = null;
    this.selfClient = null;
    /** The user stopped following this lead (unlocked only). */
    this.stopped = false;
    this.following = false;
    this.anchor = null;
    this.anchorYaw = 0;
    this.yaw = 0;
    this.lastTime = 0;
    this.presenting = false;
    this.position = new THREE.Vector3();
    this.target = new THREE.Vector3();
    this.centre = new THREE.Vector3();
    this.headAt = new THREE.Vector3();
    this.headForward = new THREE.Vector3();
    this.controlsWereEnabled = true;

    this.banner = document.createElement('div');
    this.banner.className = 'follow-banner';
    this.banner.id = 'follow-banner';
    this.banner.hidden = true;
    this.bannerText = document.createElement('span');
    this.bannerText.className = 'follow-text';
    this.bannerButton = document.createElement('button');
    this.bannerButton.type = 'button';
    this.bannerButton.id = 'follow-toggle';
    this.banner.append(this.bannerText, this.bannerButton);
    overlay.append(this.banner);
    this.handleButton = () => (this.following ? this.stop() : this.resume());
    this.bannerButton.addEventListener('click', this.handleButton);
    // The user orbits (a drag, not a click that probes) or zooms away: they take their view back.
    this.downAt = null;
    this.handleDown = (event) => { this.downAt = { x: event.clientX, y: event.clientY }; };
    this.handleMove = (event) => {
      if (!event.buttons || !this.downAt) return;
      if (Math.hypot(event.clientX - this.downAt.x, event.clientY - this.downAt.y) > CLICK_SLOP_PX) this.#takeOver();
    };
    this.handleUp = () => { this.downAt = null; };
    this.handleWheel = () => this.#takeOver();
    this.canvasHandlers = [['pointerdown', this.handleDown], ['pointermove', this.handleMove], ['pointerup', this.handleUp],
      ['wheel', this.handleWheel]];
    for (const [type, handler] of this.canvasHandlers) viewer.canvas.addEventListener(type, handler, { passive: true });
  }

  /** This client's id (`welcome`): a lead by this connection is followed by the others, not by it. */
  setSelf(clientId) {
    this.selfClient = clientId;
    this.setLead(null); // the server says again who leads, if anyone does
  }

  /** A `follow` message. */
  setLead(message) {
    const lead = message && message.client ? { leader: message.leader, client: message.client, lock: message.lock } : null;
    const sameLeader = lead && this.lead && lead.client === this.lead.client;
    this.lead = lead;
    if (!sameLeader || lead.lock) this.stopped = false; // a new lead, or a lock, is followed again
    this.#apply();
  }

  /** Stop following an unlocked lead (the banner's button, or orbiting away). */
  stop() {
    if (!this.lead || this.lead.lock) return;
    this.stopped = true;
    this.#apply();
  }

  resume() {
    this.stopped = false;
    this.#apply();
  }

  /** Whether this view is led by another connection now. */
  get leads() {
    return this.lead !== null && this.lead.client !== this.selfClient;
  }

  /** Once per animation frame, after the avatars have moved: bring this view to the leader's. */
  update() {
    const now = performance.now();
    const dt = Math.min(0.1, (now - this.lastTime) / 1000);
    this.lastTime = now;
    const presenting = this.viewer.renderer.xr.isPresenting;
    if (presenting !== this.presenting) this.anchor = null; // entered or left the headset: anchor again
    this.presenting = presenting;
    if (!this.following) return;
    const pose = this.#leaderPose();
    if (!pose) return;
    if (presenting) this.#moveContent(pose);
    else this.#moveCamera(pose, dt);
  }

  /** For `App.state()`. */
  state() {
    return {
      leader: this.lead?.leader ?? null,
      client: this.lead?.client ?? null,
      lock: this.lead?.lock ?? false,
      following: this.following,
      stopped: this.stopped,
      controls: this.viewer.controls.enabled,
      banner: this.banner.hidden ? null : this.bannerText.textContent,
    };
  }

  dispose() {
    this.lead = null;
    this.#apply();
    this.bannerButton.removeEventListener('click', this.handleButton);
    for (const [type, handler] of this.canvasHandlers) this.viewer.canvas.removeEventListener(type, handler);
    this.banner.remove();
  }

  #takeOver() {
    if (this.following && !this.lead.lock && this.viewer.controls.enabled) this.stop();
  }

  #apply() {
    const following = this.leads && !this.stopped;
    const controls = this.viewer.controls;
    if (following && this.lead.lock) {
      if (controls.enabled) this.controlsWereEnabled = true;
      controls.enabled = false;
    } else if (!controls.enabled) {
      controls.enabled = this.controlsWereEnabled;
    }
    if (following && !this.following) this.anchor = null; // the headset anchors where the head is now
    this.following = following;
    this.#banner();
    this.viewer.requestRender();
  }

  #banner() {
    if (!this.leads) {
      this.banner.hidden = true;
      return;
    }
    const name = this.names(this.lead.leader) || 'the presenter';
    this.banner.hidden = false;
    this.banner.dataset.state = this.following ? (this.lead.lock ? 'locked' : 'following') : 'stopped';
    if (this.following && this.lead.lock) this.bannerText.textContent = `Following ${name} · view locked`;
    else if (this.following) this.bannerText.textContent = `Following ${name}`;
    else this.bannerText.textContent = `${name} is leading`;
    this.bannerButton.hidden = this.lead.lock;
    this.bannerButton.textContent = this.following ? 'Stop following' : 'Follow';
  }

  /** The leader's head (or desktop camera) as its avatar shows it now: [x, y, z, qx, qy, qz, qw] in content coordinates. */
  #leaderPose() {
    for (const peer of this.avatars.peers.values()) {
      if (peer.clientId === this.lead.client) return peer.visible ? peer.shown.head : null;
    }
    return null;
  }

  #moveCamera(pose, dt) {
    const { camera, controls } = this.viewer;
    const box = this.bounds();
    if (box.isEmpty()) this.centre.set(0, 0, 0);
    else box.getCenter(this.centre);
    orbitFromPose(pose, pose.subarray(3, 7), this.centre, MIN_TARGET_DISTANCE, this.position, this.target);
    const k = 1 - Math.exp(-dt / GLIDE_S);
    camera.position.lerp(this.position, k);
    controls.target.lerp(this.target, k);
    this.viewer.requestRender(); // the orbit controls' update turns the camera to the target
  }

  #moveContent(pose) {
    if (this.holding() > 0) {
      if (!this.lead.lock) {
        this.stop(); // grabbing the model takes it back
        return;
      }
      this.release();
    }
    const camera = this.viewer.camera;
    if (this.anchor === null) {
      camera.updateMatrixWorld();
      this.anchor = new THREE.Vector3().setFromMatrixPosition(camera.matrixWorld);
      this.headForward.set(0, 0, -1).transformDirection(camera.matrixWorld);
      this.anchorYaw = yawOf(this.headForward);
      this.yaw = 0;
    }
    const content = this.viewer.content;
    this.yaw = headsetPlacement(pose, pose.subarray(3, 7), this.anchor, this.anchorYaw, content.scale.x, this.yaw, content);
    content.updateMatrixWorld(true);
  }
}
