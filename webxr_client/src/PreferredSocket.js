const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

/**
 * One connection attempt that tries WebRTC first and falls back to a WebSocket before anyone notices:
 * WebSocket-shaped (`readyState`, `send`, `close`, `open` / `message` / `close` / `error` / `track`
 * events), so Connection treats it as a socket. `tryRtc()` resolves to an RtcSocket to try, or null to
 * go straight to the WebSocket; an RtcSocket that closes before it opens hands over to
 * `openWebSocket()` within the same attempt (`onFallback(reason)` is told why). Once a link is open,
 * its events pass through unchanged, so a WebRTC link lost later closes this socket like a lost
 * WebSocket would, and Connection reconnects (TransportChooser then picks the WebSocket).
 */
export class PreferredSocket extends EventTarget {
  /**
   * @param {{tryRtc: () => Promise<EventTarget|null>, openWebSocket: () => EventTarget,
   *   onFallback: (reason: string) => void, onBinary?: (transport: string) => void, fallback?: boolean}} options
   *   `fallback: false`: a failed WebRTC attempt closes this socket (code 1006, its reason) instead
   */
  constructor({ tryRtc, openWebSocket, onFallback, onBinary = () => {}, fallback = true }) {
    super();
    this.fallback = fallback;
    this.openWebSocket = openWebSocket;
    this.onFallback = onFallback;
    this.onBinary = onBinary;
    this.binaryType = 'arraybuffer';
    this.inner = null;
    /** 'webrtc' | 'websocket' once a link is chosen (the WebRTC one only once it opened). */
    this.transport = null;
    this.closedByUser = false;
    this.done = false;
    this.#start(tryRtc).catch((error) => {
      if (!this.closedByUser && this.inner === null) this.#rtcFailed(`WebRTC unavailable: ${error.message}`);
    });
  }

  get readyState() {
    if (this.done) return CLOSED;
    return this.transport && this.inner ? this.inner.readyState : CONNECTING;
  }

  get bufferedAmount() {
    return this.inner?.bufferedAmount ?? 0;
  }

  send(data) {
    if (this.readyState !== OPEN) throw new Error('socket is not open');
    this.inner.send(data);
  }

  close(code = 1000, reason = '') {
    this.closedByUser = true;
    if (this.inner) {
      this.inner.close(code, reason);
    } else if (!this.done) {
      this.#emit('close', { code, reason, wasClean: true });
    }
  }

  async #start(tryRtc) {
    const rtc = await tryRtc();
    if (this.closedByUser) {
      rtc?.close();
      return;
    }
    if (!rtc) {
      this.#useWebSocket();
      return;
    }
    this.inner = rtc;
    rtc.addEventListener('open', () => {
      this.transport = 'webrtc';
      this.#emit('open', {});
    });
    rtc.addEventListener('close', (event) => {
      if (this.transport === 'webrtc' || this.closedByUser) this.#emit('close', event);
      else this.#rtcFailed(event.reason || 'WebRTC did not connect');
    });
    this.#pass(rtc, 'webrtc', ['message', 'track']);
  }

  #rtcFailed(reason) {
    this.onFallback(reason);
    if (this.fallback) {
      this.#useWebSocket();
    } else {
      this.inner = null;
      this.#emit('close', { code: 1006, reason, wasClean: false });
    }
  }

  #useWebSocket() {
    const socket = this.openWebSocket();
    socket.binaryType = this.binaryType;
    this.inner = socket;
    this.transport = 'websocket';
    this.#pass(socket, 'websocket', ['open', 'message', 'error', 'close']);
  }

  #pass(source, transport, types) {
    for (const type of types) {
      source.addEventListener(type, (event) => {
        if (source !== this.inner) return;
        if (type === 'message' && typeof event.data !== 'string') this.onBinary(transport);
        this.#emit(type, event);
      });
    }
  }

  #emit(type, event) {
    if (this.done) return;
    if (type === 'close') this.done = true;
    const copy = new Event(type);
    for (const key of ['data', 'code', 'reason', 'wasClean', 'message', 'track', 'streams']) {
      if (event[key] !== undefined) copy[key] = event[key];
    }
    this[`on${type}`]?.(copy);
    this.dispatchEvent(copy);
  }
}
