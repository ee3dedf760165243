import { PreferredSocket } from './PreferredSocket.js';
import { RTC_LOST_CODE, RtcSocket } from './RtcSocket.js';
import { ServerApi } from './ServerApi.js';

/** Names the status badge shows for each transport. */
export const TRANSPORT_LABELS = { webrtc: 'WebRTC', websocket: 'WebSocket' };

/**
 * Which transport each connection attempt of the page uses (docs/protocol.md "WebRTC", the web client's choice): WebRTC
 * data channels when the server offers them (`GET /api/rtc/config`), this browser has RTCPeerConnection
 * and the page does not say `?rtc=0`; else, and for the rest of the page's life once a WebRTC link
 * failed to open or was lost, the WebSocket. `open(url)` is Connection's socket factory: the session,
 * token and server come from the WebSocket URL, so a reconnect to another server signals that server.
 *
 * `required` (the video view): WebRTC or nothing; a failure closes the attempt with its reason.
 */
export class TransportChooser {
  /**
   * @param {{allowRtc?: boolean, required?: boolean, video?: boolean, onTrack?: (event: Event) => void}} [options]
   *   `onTrack`: the video track of a `video` peer connection arrived
   */
  constructor({ allowRtc = true, required = false, video = false, onTrack = () => {} } = {}) {
    this.required = required;
    this.video = video;
    this.onTrack = onTrack;
    /** Why WebRTC is not used for the rest of the page's life (null while it may be). */
    this.rtcOff = null;
    /** Why the newest attempt did not try WebRTC (null: it did). */
    this.skipped = null;
    if (!allowRtc) this.rtcOff = 'turned off by the page (?rtc=0)';
    else if (typeof globalThis.RTCPeerConnection !== 'function') this.rtcOff = 'this browser has no WebRTC';
    /** The server's `/api/rtc/config` per server origin (a promise, asked once). */
    this.configs = new Map();
    this.socket = null;
    this.fallbacks = 0;
    this.lastFallback = null;
    this.received = { webrtc: 0, websocket: 0 };
  }

  /** The transport of the newest attempt: 'webrtc' | 'websocket' | null while it is still choosing. */
  get current() {
    return this.socket?.transport ?? null;
  }

  /** A socket for the session WebSocket `url`. */
  open(url) {
    const socket = new PreferredSocket({
      tryRtc: () => this.#tryRtc(url),
      openWebSocket: () => new WebSocket(url),
      onFallback: (reason) => this.#fellBack(reason),
      fallback: !this.required,
      onBinary: (transport) => {
        this.received[transport] += 1;
      },
    });
    socket.addEventListener('track', (event) => this.onTrack(event));
    socket.addEventListener('close', (event) => {
      const lost = socket.transport === 'webrtc' && !socket.closedByUser && event.code === RTC_LOST_CODE;
      if (lost) this.#fellBack(event.reason || 'the WebRTC link was lost');
    });
    this.socket = socket;
    return socket;
  }

  /** For tests and the page: what is used and why. */
  state() {
    return {
      transport: this.current,
      rtcOff: this.rtcOff ?? this.skipped,
      fallbacks: this.fallbacks,
      lastFallback: this.lastFallback,
      received: { ...this.received },
    };
  }

  async #tryRtc(url) {
    if (this.rtcOff !== null) return this.#noRtc(this.rtcOff);
    const target = new URL(url);
    target.protocol = target.protocol === 'wss:' ? 'https:' : 'http:';
    const api = new ServerApi(target.origin);
    let config;
    try {
      config = await this.#config(api);
    } catch (error) {
      return this.#noRtc(`the server did not say whether it takes WebRTC (${error.message})`);
    }
    if (!config?.enabled) return this.#noRtc('the server has WebRTC turned off');
    const sessionId = decodeURIComponent(target.pathname.split('/').pop());
    const token = target.searchParams.get('token');
    this.skipped = null;
    return new RtcSocket({
      iceServers: config.ice_servers ?? [],
      video: this.video,
      signal: (offer) => api.rtcOffer(sessionId, token, offer, this.video),
    });
  }

  #config(api) {
    if (!this.configs.has(api.origin)) {
      const asked = api.rtcConfig();
      asked.catch(() => this.configs.delete(api.origin)); // ask again next time
      this.configs.set(api.origin, asked);
    }
    return this.configs.get(api.origin);
  }

  /** No WebRTC for this attempt: the WebSocket, or (required) a closed attempt that says why. */
  #noRtc(reason) {
    this.skipped = reason;
    if (!this.required) return null;
    throw new Error(reason);
  }

  #fellBack(reason) {
    this.lastFallback = reason;
    if (this.required) return;
    this.fallbacks += 1;
    this.rtcOff = `WebRTC failed (${reason}); using the WebSocket`;
  }
}
