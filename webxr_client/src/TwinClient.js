import * as THREE from 'three';
import { TwinSteering } from './TwinSteering.js';

/** Error codes about twin requests: shown in the twin's section, not the panel's top line. */
export const TWIN_ERRORS = new Set(['bad_parameter', 'rate_limited', 'twin_unavailable']);
const REFUSAL_PREFIX = { bad_parameter: 'Change refused', rate_limited: 'Too many changes', twin_unavailable: 'Twin unavailable' };

/**
 * This page's side of the session's live twin: shows the server's `twin` status in the twin panel,
 * numbers and sends the panel's requests (the steering latency is timed from here to the first
 * frame computed with them), turns a tool click or a headset trigger on the twin into a
 * `twin_action` at that point, and plots the probed value over twin time.
 */
export class TwinClient {
  /**
   * @param {{ viewer: import('./Viewer.js').Viewer, views: Map<number, object>, prober: import('./Prober.js').Prober,
   *   panel: import('./TwinPanel.js').TwinPanel, markers: import('./TwinMarkers.js').TwinMarkers,
   *   latencyBadge: import('./LatencyBadge.js').LatencyBadge, send: (message: object) => boolean,
   *   onShown: () => void }} parts `send`: false when not connected; `onShown`: the session has a twin (show its section)
   */
  constructor({ viewer, views, prober, panel, markers, latencyBadge, send, onShown }) {
    this.viewer = viewer;
    this.views = views;
    this.prober = prober;
    this.panel = panel;
    this.markers = markers;
    this.latencyBadge = latencyBadge;
    this.send = send;
    this.onShown = onShown;
    /** The last `twin` message (null: this session has no twin). */
    this.status = null;
    this.steering = new TwinSteering();
    this.toLocal = new THREE.Matrix4();
    this.localPoint = new THREE.Vector3();
    this.contentPoint = new THREE.Vector3();
  }

  /** A new connection: requests sent before will not be answered. */
  reset() {
    this.steering.reset();
  }

  /** The server's `twin` status. */
  update(message) {
    this.status = message;
    this.onShown();
    this.panel.update(message, this.views.get(message.object)?.name);
    this.probeAxis();
  }

  /** `twin_applied`: the first frame with this page's change is computed. */
  applied(message) {
    const latency = this.steering.applied(message.seq, message.frame, performance.now());
    if (latency !== null) this.latencyBadge.show(latency);
  }

  /** A field frame was decoded: a frame of the twin ends a steering wait and moves the panel's clock. */
  frameArrived(track) {
    if (!this.status || track.object !== this.status.object) return;
    const latency = this.steering.frame(track.step, performance.now());
    if (latency !== null) this.latencyBadge.show(latency);
    this.panel.setTime(track.time);
  }

  /** Send a twin request with the next `seq`, remembering when (for the steering latency). */
  request(message) {
    const numbered = this.steering.number(message);
    if (!this.send(numbered)) {
      this.panel.showError('Not connected: the change was not sent');
      return;
    }
    this.steering.sent(numbered.seq, performance.now());
    if (message.type === 'twin_action' && !message.point) this.markers.undo(message.action);
    if (message.type === 'twin_control' && message.reset) this.markers.clear();
  }

  /** An `error` answering a twin request (its `seq`) or about the twin. */
  refused(message) {
    if (message.seq !== undefined) this.steering.refused(message.seq);
    this.onShown();
    this.panel.showError(`${REFUSAL_PREFIX[message.code] ?? 'Refused'}: ${message.message}`);
  }

  /** With a tool chosen, a click on the twin object acts there; true: the click is taken (no probe). */
  toolClick(clientX, clientY) {
    const action = this.panel.activeTool;
    if (!action || !this.status) return false;
    const view = this.views.get(this.status.object);
    const picked = view ? this.viewer.pick(clientX, clientY, [view]) : null;
    if (picked) this.#actAt(action, view, picked.hit.point);
    return true; // beside the twin: nothing to do, and no probe either while a tool is chosen
  }

  /** A headset controller's trigger on a surface: the active twin tool acts there, else it probes (as a click does). */
  surfaceSelected(picked) {
    const action = this.panel.activeTool;
    if (action && this.status) {
      if (picked.view.id === this.status.object) this.#actAt(action, picked.view, picked.hit.point);
      return;
    }
    this.prober.probeHit(picked);
  }

  /** The probe moved: the chart starts again (or says why it cannot plot). */
  probeMoved() {
    this.probeAxis();
    const probe = this.prober.probe;
    if (!probe || probe.view.id !== this.status?.object) {
      this.panel.chart.clear(probe ? 'The probe is not on the twin' : undefined);
    } else {
      this.panel.chart.clear('Waiting for the next frame…');
    }
  }

  /**
   * A frame now shows on `view` while the probe sits on it: plot the probed value when it is the
   * twin's. The value comes from the frame this client already decoded (no round trip to the server).
   */
  frameShown(view, track) {
    if (view.id !== this.status?.object) return;
    this.probeAxis();
    this.panel.chart.add(track.time, this.prober.probe?.value ?? null);
  }

  /** The chart's y axis: the twin object's shown field and its display range. */
  probeAxis() {
    const view = this.status ? this.views.get(this.status.object) : null;
    const field = view?.activeField;
    if (!field || !view.display) return;
    this.panel.chart.setAxis({
      title: field.name, unit: field.unit || '', lo: view.display.lo, hi: view.display.hi, timeUnit: this.status.time_unit,
    });
  }

  /** For `App.state().twin` (null: no twin). */
  state() {
    const twin = this.status;
    if (!twin) return null;
    return {
      object: twin.object,
      state: twin.state,
      message: twin.message ?? null,
      time: twin.time,
      timeUnit: twin.time_unit,
      speed: twin.speed,
      realtime: twin.realtime,
      stepMs: twin.step_ms ?? null,
      params: { ...twin.params },
      lastLatencyMs: this.steering.lastLatencyMs,
      frame: this.steering.lastStep,
      seq: this.steering.seq,
      error: this.panel.errorText || null,
      tool: this.panel.activeTool,
      markers: this.markers.count,
      probeSamples: this.panel.chart.size,
      probeValue: this.panel.chart.size ? this.panel.chart.latest : null,
    };
  }

  /** Send the twin tool `action` at world point `point` on the twin's `view` (in the object's own coordinates), and mark the spot. */
  #actAt(action, view, point) {
    const local = this.localPoint.copy(point).applyMatrix4(this.toLocal.copy(view.group.matrixWorld).invert());
    this.request({ type: 'twin_action', action, point: [local.x, local.y, local.z] });
    this.markers.add(action, this.viewer.content.worldToLocal(this.contentPoint.copy(point)), view.bounds);
    this.viewer.requestRender();
  }
}
