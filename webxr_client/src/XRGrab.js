import * as THREE from 'three';
import { XRGrabMath } from './XRGrabMath.js';

/** A hand pinch that moves more than this (m) while held is a drag (a grab), not a select. */
export const DRAG_THRESHOLD_M = 0.02;

/**
 * Grabbing the model in the headset: squeeze (grip button) on a controller, or pinch with a tracked
 * hand while its ray is on the model, and the scene's content follows that hand (XRGrabMath); with
 * both hands grabbing, it scales by their distance and turns about the vertical. Releasing keeps the
 * pose. A hand pinch that moved more than DRAG_THRESHOLD_M is a drag: `dragged(index)` tells the
 * pointers not to treat its release as a select.
 */
export class XRGrab {
  /**
   * @param {import('./Viewer.js').Viewer} viewer
   * @param {{ hovering: (index: number) => boolean, yields?: (index: number) => boolean }} hooks `hovering`: whether
   *   controller `index`'s ray is on the model; `yields`: whether its squeeze or pinch goes to something else (the clip plane's handle)
   */
  constructor(viewer, { hovering, yields = () => false }) {
    this.viewer = viewer;
    this.hovering = hovering;
    this.yields = yields;
    this.math = new XRGrabMath();
    this.grabs = 0;
    this.a = new THREE.Vector3();
    this.b = new THREE.Vector3();
    this.hands = [0, 1].map((index) => this.#hand(index));
  }

  /** Whether hand `index`'s pinch has moved the model (its release is not a select). */
  dragged(index) {
    return this.hands[index].dragged;
  }

  /** Number of hands holding the model now (0, 1 or 2). */
  holding() {
    return this.hands.filter((h) => h.holding).length;
  }

  /** Once per XR frame: move the model with the hands that hold it. */
  update() {
    const first = this.hands[0];
    const second = this.hands[1];
    if (!first.holding && !second.holding) return;
    const content = this.viewer.content;
    for (let i = 0; i < this.hands.length; i++) {
      const hand = this.hands[i];
      if (!hand.holding) continue;
      hand.controller.updateMatrixWorld(true);
      if (hand.tracked && !hand.dragged && hand.start.distanceTo(this.a.setFromMatrixPosition(hand.controller.matrixWorld)) > DRAG_THRESHOLD_M) {
        hand.dragged = true;
      }
    }
    if (first.holding && second.holding) {
      this.a.setFromMatrixPosition(first.controller.matrixWorld);
      this.b.setFromMatrixPosition(second.controller.matrixWorld);
      this.math.updateTwo(this.a, this.b, content);
    } else {
      this.math.updateOne((first.holding ? first : second).controller.matrixWorld, content);
    }
    content.updateMatrixWorld(true);
  }

  /** Let go with every hand (the session ended or the model was placed again). */
  release() {
    for (const hand of this.hands) {
      hand.holding = false;
      hand.dragged = false;
    }
  }

  dispose() {
    for (const hand of this.hands) {
      for (const [type, handler] of hand.handlers) hand.controller.removeEventListener(type, handler);
    }
  }

  #hand(index) {
    const controller = this.viewer.renderer.xr.getController(index);
    const hand = { controller, index, holding: false, dragged: false, tracked: false, start: new THREE.Vector3() };
    const begin = () => this.#begin(hand);
    const end = () => this.#end(hand);
    hand.handlers = [
      ['connected', (event) => { hand.tracked = Boolean(event.data.hand); }],
      ['disconnected', end],
      ['squeezestart', begin],
      ['squeezeend', end],
      ['selectstart', () => { if (hand.tracked && this.hovering(index)) begin(); }],
      // 'select' comes before 'selectend': the pointers can still ask `dragged` when it fires
      ['selectend', () => { if (hand.tracked) end(); }],
    ];
    for (const [type, handler] of hand.handlers) controller.addEventListener(type, handler);
    return hand;
  }

  #begin(hand) {
    if (hand.holding || !this.viewer.renderer.xr.isPresenting || this.yields(hand.index)) return;
    hand.holding = true;
    hand.dragged = false;
    hand.controller.updateMatrixWorld(true);
    hand.start.setFromMatrixPosition(hand.controller.matrixWorld);
    this.grabs += 1;
    this.restart();
  }

  #end(hand) {
    if (!hand.holding) return;
    hand.holding = false;
    this.restart();
  }

  /** A hand joined or let go, or the model was placed again: start from the poses now, so it does not jump. */
  restart() {
    const [first, second] = this.hands;
    const content = this.viewer.content;
    first.controller.updateMatrixWorld(true);
    second.controller.updateMatrixWorld(true);
    if (first.holding && second.holding) {
      this.math.startTwo(this.a.setFromMatrixPosition(first.controller.matrixWorld),
        this.b.setFromMatrixPosition(second.controller.matrixWorld), content);
    } else if (first.holding || second.holding) {
      this.math.startOne((first.holding ? first : second).controller.matrixWorld, content);
    }
  }
}
