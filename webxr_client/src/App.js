import * as THREE from 'three';
import { button } from './button.js';
import { ClipPlane } from './ClipPlane.js';
import { ColorBar } from './ColorBar.js';
import { ColormapTexture } from './ColormapTexture.js';
import { Connection } from './Connection.js';
import { FieldDisplay } from './FieldDisplay.js';
import { FieldPicker } from './FieldPicker.js';
import { FrameDecoder } from './FrameDecoder.js';
import { FrameOverlay } from './FrameOverlay.js';
import { LatencyBadge } from './LatencyBadge.js';
import { LodChooser } from './LodChooser.js';
import { ObjectList } from './ObjectList.js';
import { ObjectView } from './ObjectView.js';
import { PresenceAvatars } from './PresenceAvatars.js';
import { PresenceSender } from './PresenceSender.js';
import { Prober } from './Prober.js';
import { SceneLoader } from './SceneLoader.js';
import { ServerApi } from './ServerApi.js';
import { SidePanel } from './SidePanel.js';
import { SplitView } from './SplitView.js';
import { StatusBadge } from './StatusBadge.js';
import { StepBuffer } from './StepBuffer.js';
import { TimeControls } from './TimeControls.js';
import { TwinMarkers } from './TwinMarkers.js';
import { TwinPanel } from './TwinPanel.js';
import { TwinSteering } from './TwinSteering.js';
import { UploadDropZone } from './UploadDropZone.js';
import { Viewer } from './Viewer.js';
import { XRView } from './XRView.js';

export const CLIENT_NAME = 'vizserver-desktop/0.1.0';
/** Error codes about twin requests: shown in the twin's section, not the panel's top line. */
const TWIN_ERRORS = new Set(['bad_parameter', 'rate_limited', 'twin_unavailable']);
/** A step past every real one: a live object's buffer (one frame) shows whatever it holds. */
const LIVE_STEP = 0xffff_ffff;

/**
 * The desktop viewer: owns the renderer (Viewer), the session's connection, the objects of the
 * scene and the side panel, and wires them. Server state (scene, playback, uploads) flows in
 * through `#onMessage`; the user's choices flow out as protocol messages or local view changes.
 *
 * Tests and tools reach it as `window.vizserver` (see main.js): `ready` resolves once the first
 * scene is drawn, `state()` tells what the page shows.
 */
export class App {
  /** @param {HTMLElement} root the #app element: the panel goes in it, then the viewport */
  constructor(root) {
    this.root = root;
    this.api = new ServerApi();
    this.colormaps = new ColormapTexture();
    this.loader = new SceneLoader();
    this.decoder = new FrameDecoder();
    /** @type {Map<number, ObjectView>} */
    this.views = new Map();
    /** @type {Map<string, FieldDisplay>} */
    this.displays = new Map();
    /** The field each object shows here, when the user picked one (object id -> field id|null). */
    this.fieldChoice = new Map();
    this.selectedId = null;
    this.session = null;
    this.revision = -1;
    this.playback = { playing: false, step: 0, time: 0, speed: 1, loop: true, steps: 0, fps: 0 };
    /** performance.now() when the last `playback` message came: the session clock's origin here. */
    this.playbackAt = performance.now();
    /** Decoded frames by step, waiting for the session clock (object id -> field id -> StepBuffer). */
    this.buffers = new Map();
    /** The buffered track each view draws now, so a tick re-uploads nothing unchanged. */
    this.shown = new WeakMap();
    this.framed = false;
    this.frameErrors = 0;
    this.uploadCount = 0;
    /** Whether the scene has a time series (playback controls mean something). */
    this.timed = false;
    /** The last `twin` message (null: this session has no twin). */
    this.twin = null;
    this.steering = new TwinSteering();
    this.toWorld = new THREE.Matrix4();
    this.localPoint = new THREE.Vector3();
    this.connectionState = 'connecting';
    this.welcomes = 0;
    this.resumed = false;
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });

    this.panel = new SidePanel(root);
    this.badge = new StatusBadge(this.panel.header);
    this.viewport = document.createElement('main');
    this.viewport.id = 'viewport';
    this.overlay = document.createElement('div');
    this.overlay.className = 'viewport-overlay';
    root.append(this.viewport);
    this.viewer = new Viewer(this.viewport, { onRendered: () => this.prober.place() });
    this.viewer.beforeTick = () => {
      this.#present();
      this.avatars.update();
    };
    this.viewport.append(this.overlay);
    this.prober = new Prober(this.viewer, this.overlay, () => [...this.views.values()], {
      claimClick: (x, y) => this.#twinToolClick(x, y),
      onProbe: () => this.#probeMoved(),
    });
    this.latencyBadge = new LatencyBadge(this.overlay);
    this.frameOverlay = new FrameOverlay(this.viewer, this.overlay);
    if (new URLSearchParams(window.location.search).get('debug') === '1') this.frameOverlay.setEnabled(true);
    this.markers = new TwinMarkers(this.viewer.content);
    const budget = LodChooser.budgetFrom(window.location.search);
    this.lod = new LodChooser(this.viewer.renderer, () => [...this.views.values()], { budget });
    this.avatars = new PresenceAvatars(this.viewer);
    this.contentPoint = new THREE.Vector3();
    this.#buildPanel();
  }

  /** Find or join the session named in the page URL (or the server's default one) and connect. */
  async start() {
    try {
      this.session = await this.#resolveSession();
    } catch (error) {
      this.#fail(`Cannot join a session: ${error.message}`);
      return;
    }
    this.connection = new Connection({
      url: this.api.socketUrl(this.session.id, this.session.token),
      clientName: CLIENT_NAME,
      onStatus: (status) => {
        this.connectionState = status.state;
        this.badge.update(status);
        if (status.state === 'closed') this.panel.showMessage(`Disconnected: ${status.detail}`);
      },
      onWelcome: (welcome, resumed) => this.#onWelcome(welcome, resumed),
      onMessage: (message) => this.#onMessage(message),
      onFrame: (data) => this.#onFrame(data),
    });
    this.connection.connect();
    this.presenceSender = new PresenceSender(this.viewer, {
      send: (bytes) => this.connection.sendBinary(bytes),
      views: () => [...this.views.values()],
      bounds: () => this.#sceneBounds(),
      pointers: () => this.xr.pointers.pointers,
      canSend: () => this.avatars.selfRole !== 'observer', // observers watch; the server refuses theirs
    });
  }

  /** What the page shows, for tests and tools. */
  state() {
    return {
      connection: this.connectionState,
      clientId: this.connection?.clientId ?? null,
      welcomes: this.welcomes,
      resumed: this.resumed,
      sessionId: this.session?.id ?? null,
      revision: this.revision,
      playback: { ...this.playback },
      frames: this.viewer.frames,
      frameErrors: this.frameErrors,
      split: this.viewer.split ? this.viewer.split.map((v) => v?.id ?? null) : null,
      clipping: this.clip.planes.length > 0,
      objects: [...this.views.values()].map((v) => ({
        id: v.id,
        name: v.name,
        level: v.level,
        levels: [...v.levels],
        levelIndex: v.levelIndex,
        levelTriangles: [...v.levelTriangles],
        triangles: v.triangles,
        asset: v.info.asset,
        lods: [...(v.info.lods || [])],
        visible: v.group.visible,
        opacity: v.opacity,
        field: v.activeField?.name ?? null,
        fieldId: v.activeFieldId,
        liveField: v.streamField === null ? null : v.fields.find((f) => f.id === v.streamField)?.name ?? null,
        colormap: v.display?.colormap ?? null,
        range: v.display ? [v.display.lo, v.display.hi] : null,
        frameStep: v.frameStep,
        frameCount: v.frameCount,
        bufferedSteps: this.buffers.get(v.id)?.get(v.activeFieldId)?.size ?? 0,
        error: v.error,
      })),
      twin: this.twin && {
        object: this.twin.object,
        state: this.twin.state,
        message: this.twin.message ?? null,
        time: this.twin.time,
        timeUnit: this.twin.time_unit,
        speed: this.twin.speed,
        realtime: this.twin.realtime,
        stepMs: this.twin.step_ms ?? null,
        params: { ...this.twin.params },
        lastLatencyMs: this.steering.lastLatencyMs,
        frame: this.steering.lastStep,
        seq: this.steering.seq,
        error: this.twinPanel.errorText || null,
        tool: this.twinPanel.activeTool,
        markers: this.markers.count,
        probeSamples: this.twinPanel.chart.size,
        probeValue: this.twinPanel.chart.size ? this.twinPanel.chart.latest : null,
      },
      presence: { ...this.avatars.state(), self: this.presenceSender?.state() ?? null },
      xr: this.xr.state(),
      frame: this.frameOverlay.state(),
      lod: this.lod.state(),
    };
  }

  dispose() {
    this.connection?.dispose();
    this.presenceSender?.dispose();
    this.avatars.dispose();
    this.api.dispose();
    for (const view of this.views.values()) view.dispose();
    this.views.clear();
    for (const part of [this.xr, this.prober, this.objectList, this.fieldPicker, this.colorBar, this.timeControls,
      this.twinPanel, this.clip, this.splitView, this.upload, this.badge, this.latencyBadge, this.markers,
      this.panel, this.frameOverlay, this.lod]) part.dispose();
    this.screenshotButton.removeEventListener('click', this.handleScreenshot);
    this.fitButton.removeEventListener('click', this.handleFit);
    this.colormaps.dispose();
    this.loader.dispose();
    this.viewer.dispose();
  }

  // --- session and messages ---

  async #resolveSession() {
    const params = new URLSearchParams(window.location.search);
    let id = params.get('session');
    let token = params.get('token');
    if (!id || !token) {
      const answer = id ? await this.api.join(id, params.get('code')) : await this.api.defaultSession();
      id = answer.session_id;
      token = answer.token;
      const url = new URL(window.location.href);
      url.searchParams.set('session', id);
      url.searchParams.set('token', token);
      url.searchParams.delete('code');
      window.history.replaceState(null, '', url.href);
    }
    return { id, token };
  }

  #onWelcome(welcome, resumed) {
    this.welcomes += 1;
    this.resumed = resumed;
    if (!resumed) {
      this.decoder.reset();
      this.buffers.clear();
      this.steering.reset();
    }
    this.panel.showMessage('');
    this.role = welcome.role;
    this.avatars.setSelf(welcome.client_id, welcome.member ?? null, welcome.role);
  }

  #onMessage(message) {
    this.avatars.onMessage(message); // presence_peers, members
    switch (message.type) {
      case 'scene':
        this.#onScene(message);
        break;
      case 'playback':
        Object.assign(this.playback, message);
        this.playbackAt = performance.now();
        this.#present();
        this.timeControls.update(message);
        break;
      case 'upload':
        this.upload.show(message.upload_id, message.name, message.stage, message.fraction, message.error);
        break;
      case 'twin':
        this.#onTwin(message);
        break;
      case 'twin_applied': {
        const latency = this.steering.applied(message.seq, message.frame, performance.now());
        if (latency !== null) this.latencyBadge.show(latency);
        break;
      }
      case 'error':
        if (TWIN_ERRORS.has(message.code) || message.seq !== undefined) this.#twinRefused(message);
        else this.panel.showMessage(`Server: ${message.message}`);
        break;
      default:
        break;
    }
  }

  #onFrame(data) {
    if (this.avatars.receive(data)) return; // a presence batch, not a field frame
    let result;
    try {
      result = this.decoder.decode(data);
    } catch (error) {
      this.frameErrors += 1;
      this.panel.showMessage(`A field frame could not be shown: ${error.message}`);
      return;
    }
    if (result.kind === 'need-keyframe') {
      this.connection.send({ type: 'keyframe', object: result.object, field: result.field });
      return;
    }
    if (result.kind !== 'frame') return;
    const { track } = result; // decoded in arrival order (deltas need it); shown when its step is due
    let fields = this.buffers.get(track.object);
    if (!fields) this.buffers.set(track.object, (fields = new Map()));
    let buffer = fields.get(track.field);
    if (!buffer) fields.set(track.field, (buffer = new StepBuffer()));
    const view = this.views.get(track.object);
    if (view && isLive(view)) buffer.clear(); // a live object shows its newest frame, whatever its step
    buffer.put(track.step, track.snapshot());
    this.#present();
    if (this.twin && track.object === this.twin.object) {
      const latency = this.steering.frame(track.step, performance.now());
      if (latency !== null) this.latencyBadge.show(latency);
      this.twinPanel.setTime(track.time);
    }
  }

  /** The session's step now: the last `playback` message's step moved on by the time since (docs/protocol.md). */
  #sessionStep() {
    const p = this.playback;
    if (!p.playing || !(p.steps > 1) || !(p.fps > 0)) return p.step;
    const step = Math.floor(p.step + ((performance.now() - this.playbackAt) / 1000) * p.fps * p.speed + 1e-6);
    return p.loop ? step % p.steps : Math.min(step, p.steps - 1);
  }

  /** Draw, per object, the buffered frame of the session's step (or the latest before it). Runs every tick. */
  #present() {
    const step = this.#sessionStep();
    const period = this.playback.playing && this.playback.loop ? this.playback.steps : 0;
    for (const view of this.views.values()) {
      const buffer = this.buffers.get(view.id)?.get(view.activeFieldId);
      if (!buffer || buffer.size === 0) continue;
      let at;
      if (isLive(view)) {
        at = buffer.at(LIVE_STEP);
      } else {
        const wanted = Math.min(step, (view.info.time?.steps ?? 1) - 1);
        at = buffer.at(wanted, period);
        if (at < 0 && view.frameStep === null) at = buffer.next(wanted, period); // nothing drawn yet: the nearest
      }
      const track = at < 0 ? undefined : buffer.value(at);
      if (track === undefined || (this.shown.get(view) === track && view.frameStep !== null)) continue;
      this.shown.set(view, track);
      if (view.applyTrack(track) && this.prober.probe?.view === view) {
        this.prober.refresh();
        if (view.id === this.twin?.object) this.#sampleProbe(track);
      }
      this.viewer.requestRender();
    }
  }

  #onScene(message) {
    const first = this.revision < 0;
    this.revision = message.revision;
    this.panel.setTitle(message.title);
    const incoming = new Map(message.objects.map((info) => [info.id, info]));
    for (const [id, view] of this.views) {
      const info = incoming.get(id);
      if (!info || info.asset !== view.info.asset) {
        view.dispose();
        this.views.delete(id);
        this.decoder.forgetObject(id);
        this.buffers.delete(id);
        if (this.prober.probe?.view === view) this.prober.clear();
      } else if (JSON.stringify(info.fields) !== JSON.stringify(view.info.fields) || !info.time !== !view.info.time) {
        // Same mesh, other fields (a twin's outputs became live): rebind, and forget frames of the old ones.
        view.setField(null, null);
        view.info = info;
        view.fields = info.fields || [];
        this.fieldChoice.delete(id);
        this.decoder.forgetObject(id);
        this.buffers.delete(id);
        this.shown.delete(view);
      }
    }
    const loads = [];
    for (const info of message.objects) {
      if (this.views.has(info.id)) continue;
      const view = new ObjectView(info, this.loader, () => this.#objectChanged(view));
      this.views.set(info.id, view);
      this.viewer.add(view);
      loads.push(view.load().catch((error) => this.panel.showMessage(error.message)));
    }
    this.lod.update(); // new objects load the level chosen for them
    this.#rebuildDisplays(message.objects);
    for (const info of message.objects) {
      const view = this.views.get(info.id);
      const chosen = this.fieldChoice.has(info.id) ? this.fieldChoice.get(info.id) : info.active_field ?? null;
      this.#showField(view, chosen, chosen !== (info.active_field ?? null));
    }
    if (!this.views.has(this.selectedId)) this.selectedId = message.objects[0]?.id ?? null;
    const timed = message.objects.find((info) => info.time && info.time.steps > 1);
    this.timeControls.setTimeline(timed?.time ?? null);
    this.timed = Boolean(timed);
    this.timeSection.hidden = Boolean(this.twin) && !this.timed; // a live twin alone has no playback
    this.objectList.update([...this.views.values()], this.selectedId);
    this.splitView.update([...this.views.values()]);
    this.#refreshFieldPanel();
    Promise.all(loads).then(() => {
      if (!this.framed || first) this.#fit();
      this.clip.setBounds(this.#sceneBounds());
      this.xr.place();
      this.viewer.requestRender();
      requestAnimationFrame(() => requestAnimationFrame(() => this.resolveReady(true)));
    });
  }

  /** One FieldDisplay per field name, its default range the union over objects (kept across scenes). */
  #rebuildDisplays(objects) {
    for (const info of objects) {
      for (const field of info.fields || []) {
        const display = this.displays.get(field.name);
        if (display) display.include(field.range);
        else this.displays.set(field.name, new FieldDisplay(field, this.colormaps));
      }
    }
  }

  /** Show `fieldId` on `view` (null: plain colour); `subscribe` tells the server this client wants its frames. */
  #showField(view, fieldId, subscribe) {
    const field = view.fields.find((f) => f.id === fieldId) ?? null;
    view.setField(field ? field.id : null, field ? this.displays.get(field.name) : null);
    if (subscribe) this.connection?.send({ type: 'subscribe', object: view.id, field: field ? field.id : null });
  }

  #objectChanged(view) {
    if (this.prober.probe?.view === view && !view.owns(this.prober.probe.mesh)) this.prober.clear(); // another level shows
    this.objectList.setState(view);
    this.viewer.requestRender();
  }

  // --- panel ---

  #buildPanel() {
    const objects = this.panel.section('Objects', 'objects-section');
    this.objectList = new ObjectList(objects, {
      onVisible: (id, visible) => {
        this.views.get(id)?.setVisible(visible);
        this.lod.update();
      },
      onOpacity: (id, opacity) => this.views.get(id)?.setOpacity(opacity),
      onSelect: (id) => {
        this.selectedId = id;
        this.#refreshFieldPanel();
      },
    });
    const field = this.panel.section('Field', 'field-section');
    this.fieldPicker = new FieldPicker(field, {
      onField: (fieldId) => this.#pickField(fieldId),
      onColormap: (name) => this.#changeDisplay((display) => display.setColormap(name)),
    });
    this.colorBar = new ColorBar(field, {
      onRange: (lo, hi) => this.#changeDisplay((display) => display.setRange(lo, hi)),
      onReset: () => this.#changeDisplay((display) => display.resetRange()),
    });
    const twin = this.panel.section('Live twin', 'twin-section');
    this.twinSection = twin.parentElement;
    this.twinSection.hidden = true;
    this.twinPanel = new TwinPanel(twin, {
      onRequest: (message) => this.#sendTwin(message),
      onTool: (name) => {
        this.viewer.canvas.style.cursor = name ? 'crosshair' : '';
      },
    });
    const time = this.panel.section('Time', 'time-section');
    this.timeSection = time.parentElement;
    this.timeControls = new TimeControls(time, (request) => this.connection?.send({ type: 'playback', ...request }));
    const clip = this.panel.section('Clipping plane', 'clip-section');
    this.clip = new ClipPlane(clip, () => {
      // the desktop plane is in desktop coordinates: in the headset its Clip box turns the headset's plane on and off
      if (this.xr.mode.presenting) this.xr.clip.setEnabled(this.clip.planes.length > 0);
      else this.viewer.setClipping(this.clip.planes);
    });
    const view = this.panel.section('View', 'view-section');
    this.splitView = new SplitView(view, (pair) => {
      this.viewer.setSplit(pair ? pair.map((id) => this.views.get(id) ?? null) : null);
    });
    const buttons = document.createElement('div');
    buttons.className = 'row buttons';
    this.fitButton = button('fit-button', 'Fit view', 'Show the whole scene');
    this.screenshotButton = button('screenshot-button', 'Screenshot', 'Save the view as a PNG image');
    buttons.append(this.fitButton, this.screenshotButton);
    view.append(buttons);
    this.xr = new XRView(this.viewer, this.prober, view, {
      views: () => [...this.views.values()],
      bounds: () => this.#sceneBounds(),
      onSelect: (picked) => this.#surfaceSelected(picked),
      twinPanel: this.twinPanel,
      clip: this.clip,
      display: () => this.#selectedDisplay(),
      timeControls: this.timeControls,
      fieldPicker: this.fieldPicker,
      objectList: this.objectList,
    });
    this.handleFit = () => this.#fit();
    this.handleScreenshot = () => this.#screenshot();
    this.fitButton.addEventListener('click', this.handleFit);
    this.screenshotButton.addEventListener('click', this.handleScreenshot);
    const upload = this.panel.section('Add data', 'upload-section');
    this.upload = new UploadDropZone(upload, this.viewport, (files) => this.#upload(files));
  }

  // --- live twin ---

  #onTwin(message) {
    this.twin = message;
    const view = this.views.get(message.object);
    this.twinSection.hidden = false;
    this.timeSection.hidden = !this.timed; // a live twin alone has no playback
    this.twinPanel.update(message, view?.name);
    this.#probeAxis();
  }

  /** Send a twin request with the next `seq`, remembering when (for the steering latency). */
  #sendTwin(message) {
    const numbered = this.steering.number(message);
    if (!this.connection?.send(numbered)) {
      this.twinPanel.showError('Not connected: the change was not sent');
      return;
    }
    this.steering.sent(numbered.seq, performance.now());
    if (message.type === 'twin_action' && !message.point) this.markers.undo(message.action);
    if (message.type === 'twin_control' && message.reset) this.markers.clear();
  }

  #twinRefused(message) {
    if (message.seq !== undefined) this.steering.refused(message.seq);
    const prefix = { bad_parameter: 'Change refused', rate_limited: 'Too many changes', twin_unavailable: 'Twin unavailable' };
    this.twinSection.hidden = false;
    this.twinPanel.showError(`${prefix[message.code] ?? 'Refused'}: ${message.message}`);
  }

  /** With a tool chosen, a click on the twin object acts there (the point in the object's own coordinates). */
  #twinToolClick(clientX, clientY) {
    const action = this.twinPanel.activeTool;
    if (!action || !this.twin) return false;
    const view = this.views.get(this.twin.object);
    const picked = view ? this.viewer.pick(clientX, clientY, [view]) : null;
    if (picked) this.#twinActAt(action, view, picked.hit.point);
    return true; // beside the twin: nothing to do, and no probe either while a tool is chosen
  }

  /** Send the twin tool `action` at world point `point` on the twin's `view`, and mark the spot. */
  #twinActAt(action, view, point) {
    const local = this.localPoint.copy(point).applyMatrix4(this.toWorld.copy(view.group.matrixWorld).invert());
    this.#sendTwin({ type: 'twin_action', action, point: [local.x, local.y, local.z] });
    this.markers.add(action, this.viewer.content.worldToLocal(this.contentPoint.copy(point)), view.bounds);
    this.viewer.requestRender();
  }

  /** A headset controller's trigger on a surface: the active twin tool acts there, else it probes (as a click does). */
  #surfaceSelected(picked) {
    const action = this.twinPanel.activeTool;
    if (action && this.twin) {
      if (picked.view.id === this.twin.object) this.#twinActAt(action, picked.view, picked.hit.point);
      return;
    }
    this.prober.probeHit(picked);
  }

  #probeMoved() {
    this.#probeAxis();
    const probe = this.prober.probe;
    if (!probe || probe.view.id !== this.twin?.object) {
      this.twinPanel.chart.clear(probe ? 'The probe is not on the twin' : undefined);
    } else {
      this.twinPanel.chart.clear('Waiting for the next frame…');
    }
  }

  /** The chart's y axis: the twin object's shown field and its display range. */
  #probeAxis() {
    const view = this.twin ? this.views.get(this.twin.object) : null;
    const field = view?.activeField;
    if (!field || !view.display) return;
    this.twinPanel.chart.setAxis({
      title: field.name, unit: field.unit || '', lo: view.display.lo, hi: view.display.hi, timeUnit: this.twin.time_unit,
    });
  }

  /**
   * A live frame of the twin was drawn while the probe sits on it: plot the probed value. The
   * value comes from the frame this client already decoded (no round trip to the server).
   */
  #sampleProbe(track) {
    this.#probeAxis();
    this.twinPanel.chart.add(track.time, this.prober.probe?.value ?? null);
  }

  /** The field picker chose a field for the selected object: every object with a field of that name follows. */
  #pickField(fieldId) {
    const selected = this.views.get(this.selectedId);
    if (!selected) return;
    const name = selected.fields.find((f) => f.id === fieldId)?.name ?? null;
    for (const view of this.views.values()) {
      const match = name === null ? null : view.fields.find((f) => f.name === name);
      if (view !== selected && !match) continue;
      const id = match ? match.id : null;
      this.fieldChoice.set(view.id, id);
      this.#showField(view, id, true);
    }
    this.prober.refresh();
    this.#refreshFieldPanel();
  }

  /** Change the selected object's FieldDisplay, then redraw every object showing that field. */
  #changeDisplay(change) {
    const display = this.views.get(this.selectedId)?.display;
    if (!display) return false;
    const accepted = change(display) !== false;
    for (const view of this.views.values()) if (view.display === display) view.applyDisplay(display);
    this.#refreshFieldPanel();
    return accepted;
  }

  #refreshFieldPanel() {
    const view = this.views.get(this.selectedId) ?? null;
    this.fieldPicker.update(view, this.#selectedDisplay());
    this.colorBar.update(this.#selectedDisplay());
  }

  /** How the selected object's field is shown (null: it shows none); the colour bars show it. */
  #selectedDisplay() {
    const view = this.views.get(this.selectedId);
    return view && view.activeFieldId !== null ? view.display : null;
  }

  #upload(files) {
    if (!this.session) return;
    for (const file of files) {
      const key = `local-${++this.uploadCount}`;
      this.upload.show(key, file.name, 'sending', 0);
      this.api
        .upload(file, this.session.id, this.session.token, (fraction) => this.upload.show(key, file.name, 'sending', fraction))
        .then((answer) => {
          if (answer?.upload_id) this.upload.rekey(key, answer.upload_id);
          if (answer?.upload_id && this.upload.has(answer.upload_id)) return;
          this.upload.show(key, file.name, 'received', 1);
        })
        .catch((error) => this.upload.show(key, file.name, 'failed', 1, error.message));
    }
  }

  #sceneBounds() {
    const box = new THREE.Box3();
    for (const view of this.views.values()) if (view.group.visible && view.loaded) box.union(view.bounds);
    return box;
  }

  #fit() {
    const box = this.#sceneBounds();
    if (box.isEmpty()) return;
    this.viewer.frame(box);
    this.framed = true;
  }

  #screenshot() {
    const link = document.createElement('a');
    link.href = this.viewer.screenshot();
    const title = (this.panel.title.textContent || 'vizserver').replace(/[^\w.-]+/g, '-').toLowerCase();
    link.download = `${title}-step${this.playback.step}.png`;
    link.click();
  }

  #fail(text) {
    this.panel.showMessage(text);
    this.badge.update({ state: 'closed', detail: text });
    this.rejectReady(new Error(text));
  }
}

/** A scene object without a time axis whose fields stream is live (a twin's): its frames' steps are twin frames. */
function isLive(view) {
  return !view.info.time;
}
