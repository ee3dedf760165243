import * as THREE from 'three';
import { AnnotationLayer } from './AnnotationLayer.js';
import { AnnotationTools } from './AnnotationTools.js';
import { FollowControls } from './FollowControls.js';
import { FollowMe } from './FollowMe.js';
import { TourCamera } from './TourCamera.js';
import { TourPanel } from './TourPanel.js';
import { visibility } from './tourSteps.js';

/**
 * This page's side of working together in a session (docs/protocol.md "Annotations and tours",
 * "Follow me"): the annotations drawn and their tools, the guided tour's panel and the views its
 * steps show, and following the presenter. It adds the panel's Annotations, Guided tour and Follow
 * me sections, routes their server messages and runs their per-frame updates.
 */
export class CollabClient {
  /**
   * @param {{ viewer: import('./Viewer.js').Viewer, overlay: HTMLElement,
   *   section: (title: string, id: string) => HTMLElement, views: Map<number, object>, listViews: () => object[],
   *   avatars: import('./PresenceAvatars.js').PresenceAvatars, xr: import('./XRView.js').XRView,
   *   clip: import('./ClipPlane.js').ClipPlane, send: (message: object) => boolean,
   *   bounds: () => THREE.Box3, framed: () => boolean, onVisibility: () => void }} parts
   *   `section`: a new section of the side panel; `framed`: the first scene was fitted;
   *   `onVisibility`: a tour step showed or hid objects
   */
  constructor({ viewer, overlay, section, views, listViews, avatars, xr, clip, send, bounds, framed, onVisibility }) {
    this.viewer = viewer;
    this.views = views;
    this.avatars = avatars;
    this.xr = xr;
    this.clip = clip;
    this.bounds = bounds;
    this.framed = framed;
    this.onVisibility = onVisibility;
    this.sphere = new THREE.Sphere();
    const names = (id) => avatars.members.get(id)?.name ?? '';
    const radius = () => this.#sceneRadius();
    this.tourCamera = new TourCamera(viewer);
    /** A tour step's camera that came before the first scene was fitted (shown right after the fit). */
    this.pendingTourCamera = null;
    this.annotations = new AnnotationLayer(viewer, { views, radius });
    this.follow = new FollowMe(viewer, overlay, {
      avatars,
      bounds,
      names,
      holding: () => xr.grab.holding(),
      release: () => xr.grab.release(),
    });
    this.annotationTools = new AnnotationTools(section('Annotations', 'annotation-section'), overlay, {
      viewer,
      layer: this.annotations,
      views: listViews,
      radius,
      send,
      self: () => ({ member: avatars.selfMember, role: avatars.selfRole }),
      names,
    });
    xr.addPanelToggle({
      name: 'draw',
      label: 'Draw',
      value: () => this.annotationTools.tool === 'draw',
      toggle: () => this.annotationTools.setTool(this.annotationTools.tool === 'draw' ? null : 'draw'),
    });
    this.tourPanel = new TourPanel(section('Guided tour', 'tour-section'), overlay, {
      send,
      onStep: (step) => this.#showTourStep(step),
      names,
    });
    this.followControls = new FollowControls(section('Follow me', 'follow-section'), (request) => send({ type: 'follow', ...request }));
  }

  /** Every frame, after the avatars (the leader's pose as drawn this frame). */
  update() {
    this.follow.update();
    this.annotations.update();
    this.annotationTools.update();
    this.tourCamera.update();
  }

  /** A click in the view: true when an annotation tool took it. */
  click(x, y) {
    return this.annotationTools.click(x, y);
  }

  /** The session this page is in (the annotations export link needs it). */
  setSession(id, token) {
    this.annotationTools.setSession(id, token);
  }

  /** A `welcome`: this page's client id; the server tells the tour again. */
  welcome(clientId) {
    this.follow.setSelf(clientId);
    this.tourPanel.reset();
    this.#refreshFollow();
  }

  onMessage(message) {
    this.annotationTools.onMessage(message); // annotations, annotation, annotation_deleted, members
    this.tourPanel.onMessage(message); // tour, tour_step, tour_progress
    if (message.type === 'follow') this.follow.setLead(message);
    if (message.type === 'follow' || message.type === 'members') this.#refreshFollow(); // a role change may give or take the controls
  }

  /** Whether this page's role may drive the tour (tour_mode follows playback's rule, roles.py). */
  setDrives(drives) {
    this.tourPanel.setDrives(drives);
  }

  /** The scene was loaded and fitted: a tour step's camera that came before now shows. */
  sceneShown() {
    if (this.pendingTourCamera) this.tourCamera.start(this.pendingTourCamera);
    this.pendingTourCamera = null;
  }

  /** For `App.state()`. */
  state() {
    return { follow: this.follow.state(), annotations: this.annotationTools.state(), tour: this.tourPanel.state() };
  }

  dispose() {
    for (const part of [this.follow, this.followControls, this.annotationTools, this.annotations, this.tourPanel]) part.dispose();
  }

  /** Show a tour step's view here: the camera glides to it (in the headset the content moves instead: nothing
   * turns a head), the objects it names show, the clipping plane takes its place. */
  #showTourStep(step) {
    if (step.camera && this.xr.mode.presenting) this.tourCamera.placeHeadset(step.camera);
    else if (step.camera && this.framed()) this.tourCamera.start(step.camera);
    else if (step.camera) this.pendingTourCamera = step.camera; // the first fit would undo it
    for (const [id, shown] of visibility([...this.views.keys()], step.visible)) this.views.get(id).setVisible(shown);
    this.onVisibility();
    this.clip.setState(step.clip);
    this.viewer.requestRender();
  }

  /** The presenter's follow controls show for a role that may lead, and say who leads. */
  #refreshFollow() {
    const role = this.avatars.selfRole;
    const names = (id) => this.avatars.members.get(id)?.name ?? '';
    this.followControls.update(this.follow.lead, role === 'host' || role === 'presenter', this.follow.selfClient, names);
  }

  /** The scene's bounding radius (1 before anything is loaded): sizes annotations. */
  #sceneRadius() {
    const box = this.bounds();
    return box.isEmpty() ? 1 : box.getBoundingSphere(this.sphere).radius || 1;
  }
}
