import * as THREE from 'three';
import { OrbitControls } from 'three/addons/controls/OrbitControls.js';
import { FrameStats } from './FrameStats.js';

export const BACKGROUND = '#16181d';
const VIEW_DIRECTION = new THREE.Vector3(0.35, -1, 0.35).normalize(); // front, a little above (z up)

/**
 * The 3D view: renderer, scene, camera, orbit controls and lights, drawn only when something
 * changed (`requestRender`). In split view the canvas shows two viewports side by side, each with
 * one object centred, both following the same orbit (linked cameras).
 */
export class Viewer {
  /**
   * @param {HTMLElement} container element the canvas fills
   * @param {{ onRendered?: () => void }} [hooks] called after each drawn frame
   */
  constructor(container, { onRendered = () => {} } = {}) {
    this.container = container;
    this.onRendered = onRendered;
    this.renderer = new THREE.WebGLRenderer({ antialias: true, powerPreference: 'high-performance' });
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    this.renderer.setClearColor(BACKGROUND, 1);
    this.renderer.domElement.id = 'viewport-canvas';
    // Counted per tick, not per render call: split view and both eyes add up to one frame's work.
    this.renderer.info.autoReset = false;
    container.append(this.renderer.domElement);

    this.scene = new THREE.Scene();
    this.content = new THREE.Group();
    this.content.name = 'content';
    this.scene.add(this.content);
    this.camera = new THREE.PerspectiveCamera(40, 1, 0.001, 100);
    this.camera.up.set(0, 0, 1);
    this.camera.position.set(0, -1, 0);
    this.scene.add(this.camera);
    const sky = new THREE.HemisphereLight(0xffffff, 0x3a3f4b, 1.6);
    sky.position.set(0, 0, 1);
    this.scene.add(sky);
    const headlight = new THREE.DirectionalLight(0xffffff, 1.4);
    headlight.position.set(0.5, 0.6, 1);
    this.camera.add(headlight);
    this.camera.add(headlight.target);
    headlight.target.position.set(0, 0, -1);

    this.controls = new OrbitControls(this.camera, this.renderer.domElement);
    this.controls.enableDamping = true;
    this.controls.dampingFactor = 0.15;
    this.handleControls = () => this.requestRender();
    this.controls.addEventListener('change', this.handleControls);

    /** Split view: two ObjectViews side by side, or null. */
    this.split = null;
    this.sideCameras = [this.camera.clone(false), this.camera.clone(false)];
    this.raycaster = new THREE.Raycaster();
    this.hits = [];
    this.targets = [];
    this.visibility = [];
    this.pointer = new THREE.Vector2();
    this.offset = new THREE.Vector3();
    this.sphere = new THREE.Sphere();
    this.size = new THREE.Vector2();
    this.clipPlanes = [];
    this.needsRender = true;
    this.frames = 0;
    /** Called once per animation frame before rendering (the app presents buffered frames). */
    this.beforeTick = null;
    /** Called once per immersive (WebXR) frame, after `beforeTick`, before rendering. */
    this.xrFrame = null;
    /** JS time, draw calls and triangles of drawn frames (the debug overlay and the benchmark read it). */
    this.frameStats = new FrameStats();
    this.wasPresenting = false;
    /** Called after every drawn frame, desktop or immersive (the frame-time overlay). */
    this.afterFrame = null;

    this.resizeObserver = new ResizeObserver(() => this.#resize());
    this.resizeObserver.observe(container);
    this.#resize();
    this.renderer.setAnimationLoop(() => this.#tick());
  }

  get canvas() {
    return this.renderer.domElement;
  }

  requestRender() {
    this.needsRender = true;
  }

  add(view) {
    this.content.add(view.group);
    this.requestRender();
  }

  /** Planes every material is clipped by (ClipPlane.planes). */
  setClipping(planes) {
    this.clipPlanes = planes;
    this.renderer.clippingPlanes = planes;
    this.requestRender();
  }

  /** Two ObjectViews side by side ([left, right]) or null for the single view. */
  setSplit(views) {
    this.split = views;
    this.#resize();
  }

  /** Point the camera at `box` (world coordinates) from the front, the whole box in view. */
  frame(box) {
    if (box.isEmpty()) return;
    box.getBoundingSphere(this.sphere);
    const radius = Math.max(this.sphere.radius, 1e-6);
    const distance = (radius / Math.sin(THREE.MathUtils.degToRad(this.camera.fov) / 2)) * 1.1;
    this.controls.target.copy(this.sphere.center);
    this.camera.position.copy(this.sphere.center).addScaledVector(VIEW_DIRECTION, distance);
    this.camera.near = distance / 100;
    this.camera.far = distance * 100;
    this.camera.updateProjectionMatrix();
    this.controls.update();
    this.requestRender();
  }

  /**
   * What is under a point of the canvas (client coordinates): the nearest visible, unclipped hit
   * as `{ hit, view, side }` (side: 0 single/left, 1 right), or null. `views` are all ObjectViews.
   */
  pick(clientX, clientY, views) {
    const rect = this.canvas.getBoundingClientRect();
    let x = (clientX - rect.left) / rect.width;
    const y = (clientY - rect.top) / rect.height;
    let side = 0;
    let camera = this.camera;
    this.targets.length = 0;
    if (this.split) {
      side = x < 0.5 ? 0 : 1;
      x = side === 0 ? x * 2 : (x - 0.5) * 2;
      camera = this.sideCameras[side];
      const view = this.split[side];
      if (view?.group.visible) this.targets.push(view.group);
    } else {
      for (const view of views) if (view.group.visible) this.targets.push(view.group);
    }
    this.pointer.set(x * 2 - 1, -(y * 2 - 1));
    this.raycaster.setFromCamera(this.pointer, camera);
    this.hits.length = 0;
    this.raycaster.intersectObjects(this.targets, true, this.hits);
    for (const hit of this.hits) {
      if (this.clipPlanes.some((plane) => plane.distanceToPoint(hit.point) < 0)) continue;
      const view = views.find((v) => isDescendant(hit.object, v.group));
      if (view) return { hit, view, side };
    }
    return null;
  }

  /** Canvas pixel coordinates (CSS px) of world point `point` as drawn on `side`; z > 1 is behind. */
  toScreen(point, side, out) {
    const camera = this.split ? this.sideCameras[side] : this.camera;
    out.copy(point).project(camera);
    const width = this.split ? this.size.x / 2 : this.size.x;
    out.x = (out.x * 0.5 + 0.5) * width + (this.split && side === 1 ? this.size.x / 2 : 0);
    out.y = (-out.y * 0.5 + 0.5) * this.size.y;
    return out;
  }

  /** A PNG of what the view shows now (rendered on the spot, so no buffer needs preserving). */
  screenshot() {
    this.#render();
    return this.canvas.toDataURL('image/png');
  }

  dispose() {
    this.renderer.setAnimationLoop(null);
    this.resizeObserver.disconnect();
    this.controls.removeEventListener('change', this.handleControls);
    this.controls.dispose();
    this.renderer.dispose();
    this.canvas.remove();
  }

  #tick() {
    const start = performance.now();
    const presenting = this.renderer.xr.isPresenting;
    if (presenting !== this.wasPresenting) {
      this.frameStats.clear();
      // The headset's framebuffer needs its own shader programs (another output colour space): make
      // them all now, hidden parts too, not in whichever later frame first shows a ray, reticle or label.
      if (presenting) this.renderer.compileAsync(this.scene, this.camera).catch((error) => console.warn(`shader warm-up: ${error.message}`));
    }
    this.wasPresenting = presenting;
    this.renderer.info.reset();
    if (this.beforeTick) this.beforeTick();
    if (presenting) {
      // The headset needs a frame every time; three.js draws both eyes from the session's views.
      if (this.xrFrame) this.xrFrame();
      this.renderer.render(this.scene, this.camera);
      this.frames += 1;
    } else {
      if (this.controls.update()) this.needsRender = true;
      if (!this.needsRender) return;
      this.needsRender = false;
      this.#render();
    }
    const { calls, triangles } = this.renderer.info.render;
    this.frameStats.record(performance.now() - start, calls, triangles, presenting);
    if (this.afterFrame) this.afterFrame();
  }

  #render() {
    const { x: width, y: height } = this.size;
    const renderer = this.renderer;
    if (!this.split) {
      renderer.setScissorTest(false);
      renderer.setViewport(0, 0, width, height);
      renderer.render(this.scene, this.camera);
    } else {
      const half = Math.floor(width / 2);
      const groups = this.content.children;
      for (let i = 0; i < groups.length; i++) this.visibility[i] = groups[i].visible;
      renderer.setScissorTest(true);
      for (let side = 0; side < 2; side++) {
        const view = this.split[side];
        for (let i = 0; i < groups.length; i++) groups[i].visible = this.visibility[i] && view !== null && groups[i] === view.group;
        const camera = this.sideCameras[side];
        this.#linkCamera(camera, view);
        const x = side === 0 ? 0 : half;
        const w = side === 0 ? half : width - half;
        renderer.setViewport(x, 0, w, height);
        renderer.setScissor(x, 0, w, height);
        renderer.render(this.scene, camera);
      }
      for (let i = 0; i < groups.length; i++) groups[i].visible = this.visibility[i];
      renderer.setScissorTest(false);
    }
    this.frames += 1;
    this.onRendered();
  }

  /** Side camera = the orbit camera moved so that `view`'s centre sits where the orbit target is. */
  #linkCamera(camera, view) {
    camera.copy(this.camera, false);
    if (view && !view.bounds.isEmpty()) {
      view.bounds.getCenter(this.offset).sub(this.controls.target);
      camera.position.add(this.offset);
    }
    camera.updateMatrixWorld();
  }

  #resize() {
    const width = Math.max(1, this.container.clientWidth);
    const height = Math.max(1, this.container.clientHeight);
    this.size.set(width, height);
    this.renderer.setSize(width, height, false);
    this.camera.aspect = (this.split ? width / 2 : width) / height;
    this.camera.updateProjectionMatrix();
    this.requestRender();
  }
}

function isDescendant(object, ancestor) {
  for (let node = object; node; node = node.parent) if (node === ancestor) return true;
  return false;
}
