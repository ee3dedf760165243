import { button } from './button.js';
import { Connection } from './Connection.js';
import { sceneBounds } from './GlbBounds.js';
import { OrbitGestures } from './OrbitGestures.js';
import { resolvePageSession } from './pageSession.js';
import { rightsOf } from './RoleRights.js';
import { ServerApi } from './ServerApi.js';
import { ServerList } from './ServerList.js';
import { SidePanel } from './SidePanel.js';
import { StatusBadge } from './StatusBadge.js';
import { TimeControls } from './TimeControls.js';
import { TransportChooser } from './TransportChooser.js';
import { TwinThrottle } from './TwinThrottle.js';
import { VideoOrbit } from './VideoOrbit.js';

export const VIDEO_CLIENT_NAME = 'vizserver-video/0.1.0';
/** Most `view_camera` messages a second while the view is dragged (about the video's frame rate). */
export const CAMERA_CHANGES_PER_S = 30;

/**
 * The thin-client page (`?mode=video`): the session's scene rendered by the server and streamed as WebRTC
 * video (docs/protocol.md "Video"), for devices that cannot render it themselves. Drag / pinch / wheel on
 * the video orbit this viewer's own camera (`view_camera` on the `control` channel, throttled, only when it
 * changed); time and field go through the session's normal messages (`playback`, `subscribe`), so the
 * session stays shared. Video needs WebRTC: without it the page says so and links the 3D view.
 *
 * Tests reach it as `window.vizserver` (main.js): `ready` resolves at the first video frame.
 */
export class VideoView {
  /** @param {HTMLElement} root the #app element */
  constructor(root) {
    this.root = root;
    this.api = new ServerApi();
    this.orbit = new VideoOrbit();
    this.session = null;
    this.connection = null;
    this.connectionState = 'connecting';
    this.role = null;
    this.member = null;
    this.policy = { open: false, steering: false };
    this.objects = [];
    /** Whether the camera was aimed at the scene once (later scenes, e.g. an upload, leave the user's view). */
    this.fitted = false;
    this.fitSerial = 0;
    this.fieldName = null;
    this.sentCameras = 0;
    this.playback = null;
    this.lastCamera = '';
    this.error = null;
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.cameraThrottle = new TwinThrottle((text) => this.#sendCamera(text), { intervalMs: 1000 / CAMERA_CHANGES_PER_S });

    document.body.classList.add('video-mode');
    this.panel = new SidePanel(root);
    this.badge = new StatusBadge(this.panel.header);
    this.viewport = document.createElement('main');
    this.viewport.id = 'viewport';
    this.video = document.createElement('video');
    this.video.id = 'video-view';
    this.video.autoplay = true;
    this.video.muted = true;
    this.video.playsInline = true;
    this.video.disablePictureInPicture = true;
    this.loading = document.createElement('div');
    this.loading.id = 'video-loading';
    this.loading.className = 'video-loading';
    this.loading.textContent = 'Connecting to the video stream…';
    this.viewport.append(this.video, this.loading);
    root.append(this.viewport);
    this.handleFirstFrame = () => this.#firstFrame();
    this.video.addEventListener('playing', this.handleFirstFrame);
    this.video.addEventListener('resize', this.handleFirstFrame);
    this.gestures = new OrbitGestures(this.video, this.orbit, () => this.#cameraMoved());
    this.#buildPanel();
  }

  async start() {
    if (typeof globalThis.RTCPeerConnection !== 'function') {
      this.#unavailable('This browser has no WebRTC.');
      return;
    }
    try {
      this.session = await resolvePageSession(this.api);
    } catch (error) {
      this.#fail(`Cannot join a session: ${error.message}`);
      return;
    }
    this.threeDLink.href = threeDUrl(); // now with the session and token
    let config;
    try {
      config = await this.api.rtcConfig();
    } catch (error) {
      this.#unavailable(`The server did not say whether it takes WebRTC: ${error.message}.`);
      return;
    }
    if (!config?.enabled) {
      this.#unavailable('WebRTC is turned off on this server.');
      return;
    }
    this.transports = new TransportChooser({ required: true, video: true, onTrack: (event) => this.#track(event) });
    this.connection = new Connection({
      url: this.api.socketUrl(this.session.id, this.session.token),
      servers: ServerList.fromSearch(window.location.search),
      openSocket: (url) => this.transports.open(url),
      clientName: VIDEO_CLIENT_NAME,
      onStatus: (status) => this.#status(status),
      onWelcome: (welcome) => this.#welcome(welcome),
      onMessage: (message) => this.#message(message),
      onFrame: () => {}, // field frames colour the server's render; presence batches are not drawn here
    });
    this.connection.connect();
  }

  /** What the page shows, for tests and tools. */
  state() {
    return {
      mode: 'video',
      connection: this.connectionState,
      transport: this.transports?.state() ?? null,
      clientId: this.connection?.clientId ?? null,
      role: this.role,
      error: this.error,
      video: {
        playing: !this.video.paused && this.video.readyState >= 2,
        width: this.video.videoWidth,
        height: this.video.videoHeight,
        currentTime: this.video.currentTime,
      },
      camera: this.orbit.camera(),
      sentCameras: this.sentCameras,
      field: this.fieldName,
      playback: this.playback,
      objects: this.objects.map((o) => o.name),
    };
  }

  dispose() {
    this.cameraThrottle.cancel();
    this.connection?.dispose();
    this.gestures.dispose();
    this.timeControls.dispose();
    this.badge.dispose();
    this.api.dispose();
    this.video.removeEventListener('playing', this.handleFirstFrame);
    this.video.removeEventListener('resize', this.handleFirstFrame);
    this.fitButton.removeEventListener('click', this.handleFit);
    this.fieldSelect.removeEventListener('change', this.handleField);
    this.video.srcObject = null;
    this.panel.dispose();
    this.viewport.remove();
  }

  #buildPanel() {
    const field = this.panel.section('Field', 'field-section');
    this.fieldSelect = document.createElement('select');
    this.fieldSelect.id = 'video-field-select';
    this.fieldSelect.title = 'The field the video colours the surfaces by';
    field.append(this.fieldSelect);
    this.handleField = () => this.#pickField(this.fieldSelect.value || null);
    this.fieldSelect.addEventListener('change', this.handleField);
    const time = this.panel.section('Time', 'time-section');
    this.timeSection = time.parentElement;
    this.timeSection.hidden = true;
    this.timeControls = new TimeControls(time, (request) => this.connection?.send({ type: 'playback', ...request }));
    const view = this.panel.section('View', 'view-section');
    const buttons = document.createElement('div');
    buttons.className = 'row buttons';
    this.fitButton = button('video-fit-button', 'Fit view', 'Show the whole scene');
    this.handleFit = () => this.#fit();
    this.fitButton.addEventListener('click', this.handleFit);
    const link = document.createElement('a');
    link.id = 'three-d-link';
    link.className = 'button-link';
    link.textContent = '3D view';
    link.title = 'Render the scene in this browser instead (needs WebGL2)';
    link.href = threeDUrl();
    this.threeDLink = link;
    buttons.append(this.fitButton, link);
    view.append(buttons);
    const hint = document.createElement('p');
    hint.className = 'hint';
    hint.textContent = 'Drag to turn the view, wheel or pinch to zoom. The server renders this view for you.';
    view.append(hint);
  }

  #status(status) {
    this.connectionState = status.state;
    this.badge.update({ ...status, transport: this.transports.current });
    if (status.state === 'reconnecting' && !this.video.videoWidth) {
      this.loading.textContent = `Video stream not connected: ${status.detail}. Retrying…`;
    }
    if (status.state === 'closed') {
      this.panel.showMessage(`Disconnected: ${status.detail}`);
      this.loading.textContent = `Disconnected: ${status.detail}`;
      this.loading.dataset.final = 'true'; // no spinner: nothing more will come
      this.loading.hidden = false;
    }
  }

  #welcome(welcome) {
    this.role = welcome.role;
    this.member = welcome.member ?? null;
    this.panel.showMessage('');
    this.lastCamera = ''; // a new peer starts from the server's own camera: send ours again
    this.#applyRights();
    this.#cameraMoved();
  }

  #message(message) {
    switch (message.type) {
      case 'scene':
        this.#scene(message);
        break;
      case 'playback':
        this.playback = message;
        this.timeControls.update(message);
        break;
      case 'members': {
        const self = message.members.find((m) => m.id === this.member);
        if (self) this.role = self.role;
        this.policy = { open: Boolean(message.open), steering: Boolean(message.steering) };
        this.#applyRights();
        break;
      }
      case 'error':
        this.panel.showMessage(`Server: ${message.message}`);
        break;
      default:
        break;
    }
  }

  #applyRights() {
    const refusal = rightsOf(this.role, this.policy).playback;
    this.timeControls.setAllowed(refusal === null, refusal);
  }

  #scene(message) {
    this.panel.setTitle(message.title);
    this.objects = message.objects;
    const timed = message.objects.find((info) => info.time && info.time.steps > 1);
    this.timeControls.setTimeline(timed?.time ?? null);
    this.timeSection.hidden = !timed;
    this.#fillFields();
    if (!this.fitted) this.#fit();
  }

  /** Aim at the whole scene: its box from the head of each object's GLB (no geometry is loaded). */
  async #fit() {
    const serial = ++this.fitSerial;
    let box = null;
    try {
      box = await sceneBounds(this.objects, fetchHead);
    } catch (error) {
      console.warn(`vizserver: scene bounds: ${error.message}`);
    }
    if (serial !== this.fitSerial) return; // a newer fit started meanwhile
    if (box) {
      this.orbit.fit(box);
      this.fitted = true;
    }
    this.#cameraMoved();
  }

  /** One entry per field name over the scene's objects, plus none; the session's active field first shown. */
  #fillFields() {
    const names = [...new Set(this.objects.flatMap((o) => (o.fields || []).map((f) => f.name)))];
    if (this.fieldName === null || !names.includes(this.fieldName)) {
      const active = this.objects.map((o) => o.fields?.find((f) => f.id === o.active_field)?.name).find(Boolean);
      this.fieldName = active ?? null;
    }
    this.fieldSelect.replaceChildren(new Option('None (plain colours)', ''), ...names.map((n) => new Option(n, n)));
    this.fieldSelect.value = this.fieldName ?? '';
    this.fieldSelect.disabled = names.length === 0;
  }

  /** Colour by field `name` (null: none): every object with a field of that name subscribes to it. */
  #pickField(name) {
    this.fieldName = name;
    for (const info of this.objects) {
      const field = name === null ? null : (info.fields || []).find((f) => f.name === name);
      this.connection?.send({ type: 'subscribe', object: info.id, field: field ? field.id : null });
    }
  }

  #cameraMoved() {
    const text = JSON.stringify(this.orbit.camera());
    if (text !== this.lastCamera) this.cameraThrottle.push(text);
  }

  #sendCamera(text) {
    if (text === this.lastCamera) return;
    if (this.connection?.send(JSON.parse(text))) {
      this.lastCamera = text;
      this.sentCameras += 1;
    }
  }

  #track(event) {
    const stream = event.streams?.[0] ?? new MediaStream([event.track]);
    if (this.video.srcObject !== stream) this.video.srcObject = stream;
    this.video.play().catch(() => {}); // autoplay of a muted video is allowed; a refusal shows in `playing`
  }

  #firstFrame() {
    if (!this.video.videoWidth) return;
    this.loading.hidden = true;
    this.viewport.dataset.video = 'playing';
    this.resolveReady(true);
  }

  #unavailable(why) {
    this.error = why;
    this.loading.hidden = true;
    const message = document.createElement('div');
    message.id = 'video-unavailable';
    message.className = 'video-unavailable';
    message.setAttribute('role', 'alert');
    const title = document.createElement('h2');
    title.textContent = 'Video mode needs WebRTC';
    const detail = document.createElement('p');
    detail.textContent = `${why} The server streams this view as WebRTC video; without it there is nothing to show here.`;
    const link = document.createElement('a');
    link.href = threeDUrl();
    link.textContent = 'Open the 3D view instead';
    message.append(title, detail, link);
    this.viewport.append(message);
    this.badge.update({ state: 'closed', detail: 'video needs WebRTC' });
    this.rejectReady(new Error(why));
  }

  #fail(text) {
    this.error = text;
    this.panel.showMessage(text);
    this.loading.textContent = text;
    this.badge.update({ state: 'closed', detail: text });
    this.rejectReady(new Error(text));
  }
}

/** This page's URL without `mode=video`: the same session in the 3D viewer. */
function threeDUrl() {
  const url = new URL(window.location.href);
  url.searchParams.delete('mode');
  return url.href;
}

/** The first `end` bytes of `url` (a Range request; a server that ignores it sends the whole file). */
async function fetchHead(url, end) {
  const response = await fetch(url, { headers: { Range: `bytes=0-${end - 1}` } });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.arrayBuffer();
}
