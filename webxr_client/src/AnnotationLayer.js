import * as THREE from 'three';
import { canvasSprite } from './canvasSprite.js';
import { labelText } from './StrokeBuilder.js';

const LABEL_WIDTH = 512;
const LABEL_HEIGHT = 80;
/** A pin's marker radius and its label's height, as fractions of the scene's bounding radius. */
const PIN_SIZE = 0.025;
const LABEL_SIZE = 0.07;
const TUBE_SIDES = 6;

/**
 * The session's annotations drawn in the scene, for everyone: a pin is a small ball on the surface point
 * with its text on a label above it (canvasSprite), a stroke is a tube along its points. Everything lives
 * under the content group (scene content coordinates), so it moves with the model in the headset. A pin's
 * point is in its object's own coordinates (before the object's transform) and hides with its object.
 */
export class AnnotationLayer {
  /**
   * @param {import('./Viewer.js').Viewer} viewer
   * @param {{ views: Map<number, import('./ObjectView.js').ObjectView>, radius: () => number }} hooks
   *   `radius`: the scene's bounding radius (sizes markers and labels)
   */
  constructor(viewer, { views, radius }) {
    this.viewer = viewer;
    this.views = views;
    this.radius = radius;
    this.root = new THREE.Group();
    this.root.name = 'annotations';
    viewer.content.add(this.root);
    /** id -> { info, object, dispose } */
    this.items = new Map();
    this.ball = new THREE.SphereGeometry(1, 16, 12);
    this.point = new THREE.Vector3();
  }

  /** Replace everything (the `annotations` message on connect). */
  setAll(items) {
    for (const id of [...this.items.keys()]) this.remove(id);
    for (const info of items) this.add(info);
  }

  /** Draw one annotation (`annotation` message); one already drawn with its id is replaced. */
  add(info) {
    this.remove(info.id);
    const drawn = info.kind === 'pin' ? this.#pin(info) : this.#stroke(info);
    if (!drawn) return;
    drawn.object.userData.annotation = info.id;
    this.root.add(drawn.object);
    this.items.set(info.id, { info, ...drawn });
    this.viewer.requestRender();
  }

  remove(id) {
    const item = this.items.get(id);
    if (!item) return;
    this.items.delete(id);
    item.object.removeFromParent();
    item.dispose();
    this.viewer.requestRender();
  }

  /** Pins follow their object's visibility and place (a scene change may move or hide it). */
  update() {
    for (const item of this.items.values()) {
      if (item.info.kind !== 'pin') continue;
      const view = this.views.get(item.info.object);
      const visible = Boolean(view && view.group.visible);
      if (visible) this.#placePin(item.object, item.info, view);
      if (item.object.visible !== visible) {
        item.object.visible = visible;
        this.viewer.requestRender();
      }
    }
  }

  /** The annotations, oldest first (ids grow). */
  list() {
    return [...this.items.values()].map((item) => item.info).sort((a, b) => a.id - b.id);
  }

  /** For `App.state()`: each annotation and whether it shows, with a pin's point in content coordinates. */
  state() {
    return this.list().map((info) => {
      const item = this.items.get(info.id);
      const state = { id: info.id, kind: info.kind, author: info.author, color: info.color, visible: item.object.visible };
      if (info.kind === 'pin') return { ...state, text: info.text, object: info.object, at: item.object.position.toArray() };
      return { ...state, points: info.points.length };
    });
  }

  dispose() {
    for (const id of [...this.items.keys()]) this.remove(id);
    this.ball.dispose();
    this.root.removeFromParent();
  }

  #pin(info) {
    const size = Math.max(this.radius(), 1e-6);
    const group = new THREE.Group();
    group.name = `annotation-pin-${info.id}`;
    const material = new THREE.MeshStandardMaterial({ color: info.color, roughness: 0.4, emissive: info.color, emissiveIntensity: 0.25 });
    const marker = new THREE.Mesh(this.ball, material);
    marker.scale.setScalar(size * PIN_SIZE);
    marker.raycast = () => {}; // rays hit the model, not the pins on it
    const label = canvasSprite({ width: LABEL_WIDTH, height: LABEL_HEIGHT, heightM: size * LABEL_SIZE, name: 'annotation-label', renderOrder: 9 });
    label.sprite.visible = true;
    label.sprite.center.set(0.5, 0);
    label.sprite.position.set(0, 0, size * PIN_SIZE * 1.5); // above the ball (content is z up)
    drawLabel(label, info);
    group.add(marker, label.sprite);
    const view = this.views.get(info.object);
    group.visible = Boolean(view && view.group.visible);
    if (view) this.#placePin(group, info, view);
    return {
      object: group,
      dispose: () => {
        material.dispose();
        label.texture.dispose();
        label.material.dispose();
      },
    };
  }

  #placePin(group, info, view) {
    this.point.fromArray(info.point).applyMatrix4(view.group.matrix); // object coordinates -> content
    if (!group.position.equals(this.point)) {
      group.position.copy(this.point);
      this.viewer.requestRender();
    }
  }

  #stroke(info) {
    if (info.points.length < 2) return null;
    const curve = new THREE.CatmullRomCurve3(info.points.map((p) => new THREE.Vector3(p[0], p[1], p[2])));
    const geometry = new THREE.TubeGeometry(curve, Math.min(2048, info.points.length * 2), info.width / 2, TUBE_SIDES, false);
    const material = new THREE.MeshStandardMaterial({ color: info.color, roughness: 0.5, emissive: info.color, emissiveIntensity: 0.3 });
    const mesh = new THREE.Mesh(geometry, material);
    mesh.name = `annotation-stroke-${info.id}`;
    mesh.raycast = () => {};
    return {
      object: mesh,
      dispose: () => {
        geometry.dispose();
        material.dispose();
      },
    };
  }
}

/** A pin's label: its author's colour and its text on a dark rounded card. */
function drawLabel({ context, canvas, texture }, info) {
  context.clearRect(0, 0, canvas.width, canvas.height);
  context.font = '34px sans-serif';
  const text = labelText(info.text);
  const width = Math.min(canvas.width - 4, context.measureText(text).width + 70);
  const left = (canvas.width - width) / 2;
  context.fillStyle = 'rgba(20, 22, 28, 0.85)';
  context.beginPath();
  context.roundRect(left, 4, width, canvas.height - 8, 16);
  context.fill();
  context.fillStyle = info.color;
  context.beginPath();
  context.arc(left + 30, canvas.height / 2, 10, 0, Math.PI * 2);
  context.fill();
  context.fillStyle = '#ffffff';
  context.textBaseline = 'middle';
  context.fillText(text, left + 52, canvas.height / 2, width - 62);
  texture.needsUpdate = true;
}
