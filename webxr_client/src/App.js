import * as THREE from 'three';
import { button } from './button.js';
import { ClipPlane } from './ClipPlane.js';
import { CollabClient } from './CollabClient.js';
import { ColorBar } from './ColorBar.js';
import { ColormapTexture } from './ColormapTexture.js';
import { Connection } from './Connection.js';
import { EndScreen } from './EndScreen.js';
import { FieldDisplay } from './FieldDisplay.js';
import { FieldPicker } from './FieldPicker.js';
import { FieldFrames } from './FieldFrames.js';
import { FrameOverlay } from './FrameOverlay.js';
import { LatencyBadge } from './LatencyBadge.js';
import { LodChooser } from './LodChooser.js';
import { MembersPanel } from './MembersPanel.js';
import { ObjectList } from './ObjectList.js';
import { ObjectView } from './ObjectView.js';
import { resolvePageSession } from './pageSession.js';
import { PresenceAvatars } from './PresenceAvatars.js';
import { PresenceSender } from './PresenceSender.js';
import { Prober } from './Prober.js';
import { SceneLoader } from './SceneLoader.js';
import { ServerApi } from './ServerApi.js';
import { ServerList } from './ServerList.js';
import { SidePanel } from './SidePanel.js';
import { SplitView } from './SplitView.js';
import { StatusBadge } from './StatusBadge.js';
import { TimeControls } from './TimeControls.js';
import { TransportChooser } from './TransportChooser.js';
import { TwinMarkers } from './TwinMarkers.js';
import { TwinPanel } from './TwinPanel.js';
import { TWIN_ERRORS, TwinClient } from './TwinClient.js';
import { UploadDropZone } from './UploadDropZone.js';
import { Viewer } from './Viewer.js';
import { XRView } from './XRView.js';

export const CLIENT_NAME = 'vizserver-desktop/0.1.0';

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
    /** @type {Map<number, ObjectView>} */
    this.views = new Map();
    /** The same views as an array, kept as the scene changes (the headset's parts ask for it every frame). */
    this.viewList = [];
    this.listViews = () => this.viewList;
    /** @type {Map<string, FieldDisplay>} */
    this.displays = new Map();
    /** The field each object shows here, when the user picked one (object id -> field id|null). */
    this.fieldChoice = new Map();
    this.selectedId = null;
    this.session = null;
    this.revision = -1;
    this.frames = new FieldFrames(this.views, {
      onKeyframe: (object, field) => this.connection.send({ type: 'keyframe', object, field }),
      onError: (text) => this.panel.showMessage(text),
      onDrawn: (view, track, shown) => this.#frameDrawn(view, track, shown),
      onTrack: (track) => this.twin.frameArrived(track),
    });
    this.playback = this.frames.playback;
    this.framed = false;
    this.uploadCount = 0;
    /** Whether the scene has a time series (playback controls mean something). */
    this.timed = false;
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
      this.frames.present();
      this.avatars.update();
      this.collab.update(); // after the avatars: the leader's pose as drawn this frame
    };
    this.viewport.append(this.overlay);
    this.prober = new Prober(this.viewer, this.overlay, this.listViews, {
      claimClick: (x, y) => this.collab.click(x, y) || this.twin.toolClick(x, y),
      onProbe: () => this.twin.probeMoved(),
    });
    this.latencyBadge = new LatencyBadge(this.overlay);
    this.frameOverlay = new FrameOverlay(this.viewer, this.overlay);
    if (new URLSearchParams(window.location.search).get('debug') === '1') this.frameOverlay.setEnabled(true);
    this.markers = new TwinMarkers(this.viewer.content);
    const budget = LodChooser.budgetFrom(window.location.search);
    this.lod = new LodChooser(this.viewer.renderer, this.listViews, { budget });
    this.avatars = new PresenceAvatars(this.viewer);
    this.#buildPanel();
    this.endScreen = new EndScreen(document.body);
  }

  /** Following the presenter (tests read its state). */
  get follow() {
    return this.collab.follow;
  }

  /** Find or join the session named in the page URL (or the server's default one) and connect. */
  async start() {
    try {
      this.session = await resolvePageSession(this.api);
    } catch (error) {
      this.#fail(`Cannot join a session: ${error.message}`);
      return;
    }
    const rtc = new URLSearchParams(window.location.search).get('rtc') !== '0';
    this.transports = new TransportChooser({ allowRtc: rtc }); // WebRTC data channels, else the WebSocket
    this.connection = new Connection({
      url: this.api.socketUrl(this.session.id, this.session.token),
      openSocket: (url) => this.transports.open(url),
      servers: ServerList.fromSearch(window.location.search), // more server processes to fail over to
      clientName: CLIENT_NAME,
      onStatus: (status) => {
        this.connectionState = status.state;
        this.badge.update({ ...status, transport: this.transports.current });
        if (status.state === 'closed') this.panel.showMessage(`Disconnected: ${status.detail}`);
        if (status.state === 'closed') this.endScreen.show(status.code); // ended (4010) or removed (4011)
      },
      onWelcome: (welcome, resumed) => this.#onWelcome(welcome, resumed),
      onMessage: (message) => this.#onMessage(message),
      onFrame: (data) => this.#onFrame(data),
    });
    this.collab.setSession(this.session.id, this.session.token);
    this.connection.connect();
    this.presenceSender = new PresenceSender(this.viewer, {
      send: (bytes) => this.connection.sendBinary(bytes),
      views: this.listViews,
      bounds: () => this.#sceneBounds(),
      pointers: () => this.xr.pointers.pointers,
      canSend: () => this.avatars.selfRole !== 'observer', // observers watch; the server refuses theirs
    });
  }

  /** What the page shows, for tests and tools. */
  state() {
    return {
      connection: this.connectionState,
      transport: this.transports?.state() ?? null,
      clientId: this.connection?.clientId ?? null,
      welcomes: this.welcomes,
      resumed: this.resumed,
      sessionId: this.session?.id ?? null,
      revision: this.revision,
      playback: { ...this.playback },
      frames: this.viewer.frames,
      frameErrors: this.frames.errors,
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
        bufferedSteps: this.frames.buffered(v),
        error: v.error,
      })),
      twin: this.twin.state(),
      presence: { ...this.avatars.state(), self: this.presenceSender?.state() ?? null },
      xr: this.xr.state(),
      frame: this.frameOverlay.state(),
      lod: this.lod.state(),
      role: this.people.role,
      handRaised: this.people.handRaised,
      people: this.people.state(),
      denied: { time: this.timeControls.refusal, twin: this.twinPanel.refusal },
      ended: this.endScreen.state(),
      ...this.collab.state(), // follow, annotations, tour
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
      this.panel, this.frameOverlay, this.lod, this.collab]) part.dispose();
    this.people.dispose();
    this.endScreen.dispose();
    this.screenshotButton.removeEventListener('click', this.handleScreenshot);
    this.fitButton.removeEventListener('click', this.handleFit);
    this.colormaps.dispose();
    this.loader.dispose();
    this.viewer.dispose();
  }

  // --- session and messages ---

  #onWelcome(welcome, resumed) {
    this.welcomes += 1;
    this.resumed = resumed;
    this.frames.connected();
    if (!resumed) {
      this.frames.reset();
      this.twin.reset();
    }
    this.panel.showMessage('');
    this.role = welcome.role;
    this.avatars.setSelf(welcome.client_id, welcome.member ?? null, welcome.role);
    this.people.setSelf(welcome.member ?? null, welcome.role);
    this.#applyRights();
    this.collab.welcome(welcome.client_id);
  }

  #onMessage(message) {
    this.avatars.onMessage(message); // presence_peers, members
    this.collab.onMessage(message); // annotations, tour, follow, members
    this.#onPeople(message); // members, session_ended
    switch (message.type) {
      case 'scene':
        this.#onScene(message);
        break;
      case 'playback':
        this.frames.setPlayback(message);
        this.timeControls.update(message);
        break;
      case 'upload':
        this.upload.show(message.upload_id, message.name, message.stage, message.fraction, message.error);
        break;
      case 'twin':
        this.twin.update(message);
        break;
      case 'twin_applied':
        this.twin.applied(message);
        break;
      case 'error':
        if (TWIN_ERRORS.has(message.code) || message.seq !== undefined) this.twin.refused(message);
        else this.panel.showMessage(`Server: ${message.message}`);
        break;
      default:
        break;
    }
  }

  /** `members` (who is here; this page's role, which the controls follow) and `session_ended`. */
  #onPeople(message) {
    if (message.type === 'members') {
      this.people.update(message);
      this.#applyRights();
    } else if (message.type === 'session_ended') {
      this.endScreen.show(4010);
    }
  }

  /** Turn off, with the reason, the controls this page's role may not use (the server refuses them anyway). */
  #applyRights() {
    const rights = this.people.rights;
    this.timeControls.setAllowed(rights.playback === null, rights.playback);
    this.twinPanel.setAllowed(rights.steer === null, rights.steer);
    this.collab.setDrives(rights.playback === null);
  }

  #onFrame(data) {
    if (this.avatars.receive(data)) return; // a presence batch, not a field frame
    this.frames.receive(data);
  }

  /** FieldFrames gave `track` to `view`: a probe on it reads the new values. */
  #frameDrawn(view, track, shown) {
    if (shown && this.prober.probe?.view === view) {
      this.prober.refresh();
      this.twin.frameShown(view, track);
    }
    this.viewer.requestRender();
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
        this.frames.forget(null, id);
        if (this.prober.probe?.view === view) this.prober.clear();
      } else if (JSON.stringify(info.fields) !== JSON.stringify(view.info.fields) || !info.time !== !view.info.time) {
        // Same mesh, other fields (a twin's outputs became live): rebind, and forget frames of the old ones.
        view.setField(null, null);
        view.info = info;
        view.fields = info.fields || [];
        this.fieldChoice.delete(id);
        this.frames.forget(view);
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
    this.viewList = [...this.views.values()];
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
    this.timeSection.hidden = Boolean(this.twin.status) && !this.timed; // a live twin alone has no playback
    this.objectList.update(this.viewList, this.selectedId);
    this.splitView.update(this.viewList);
    this.#refreshFieldPanel();
    Promise.all(loads).then(() => {
      if (!this.framed || first) this.#fit();
      this.collab.sceneShown();
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
    const people = this.panel.section('People', 'people-section');
    this.people = new MembersPanel(people, {
      onRequest: (message) => {
        this.panel.showMessage('');
        this.connection?.send(message);
      },
      loadInvite: () => this.api.joinLink(this.session.id, this.session.token),
    });
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
      onRequest: (message) => this.twin.request(message),
      onTool: (name) => {
        this.viewer.canvas.style.cursor = name ? 'crosshair' : '';
      },
    });
    this.twin = new TwinClient({
      viewer: this.viewer,
      views: this.views,
      prober: this.prober,
      panel: this.twinPanel,
      markers: this.markers,
      latencyBadge: this.latencyBadge,
      send: (message) => Boolean(this.connection?.send(message)),
      onShown: () => {
        this.twinSection.hidden = false;
        this.timeSection.hidden = !this.timed; // a live twin alone has no playback
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
      views: this.listViews,
      bounds: () => this.#sceneBounds(),
      onSelect: (picked) => this.twin.surfaceSelected(picked),
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
    this.collab = new CollabClient({
      viewer: this.viewer,
      overlay: this.overlay,
      section: (title, id) => this.panel.section(title, id),
      views: this.views,
      listViews: this.listViews,
      avatars: this.avatars,
      xr: this.xr,
      clip: this.clip,
      send: (message) => Boolean(this.connection?.send(message)),
      bounds: () => this.#sceneBounds(),
      framed: () => this.framed,
      onVisibility: () => {
        this.objectList.update(this.viewList, this.selectedId);
        this.lod.update();
      },
    });
    const upload = this.panel.section('Add data', 'upload-section');
    this.upload = new UploadDropZone(upload, this.viewport, (files) => this.#upload(files));
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
