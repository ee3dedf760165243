import { ServerList } from './ServerList.js';

/** Protocol version this client speaks (docs/protocol.md). */
export const PROTOCOL_VERSION = 1;
/** First reconnect delay; each failed attempt doubles it, up to RECONNECT_MAX_MS. */
export const RECONNECT_BASE_MS = 500;
export const RECONNECT_MAX_MS = 15000;
/** A ping every PING_INTERVAL_MS; no answer within PONG_TIMEOUT_MS means the link is dead. */
export const PING_INTERVAL_MS = 5000;
export const PONG_TIMEOUT_MS = 15000;
/** Close codes after which reconnecting cannot help: the server refused us, not the network. */
const FINAL_CLOSE_CODES = new Map([
  [4002, 'the server speaks another protocol version'],
  [4004, 'unknown session or invalid token'],
  [4010, 'the host ended the session'],
  [4011, 'removed from the session by the host'],
]);

/**
 * The WebSocket to one session: handshake (`hello` / `welcome`), JSON control messages, binary
 * field frames, keep-alive pings, and automatic reconnection with exponential backoff that
 * resumes the same client identity (`hello.resume`). With several server processes (`servers`: base
 * URLs from the page's `?servers=`, plus each `welcome.servers`), an attempt that fails before its
 * welcome moves the next attempt to the next server, round robin (ServerList.js).
 *
 * Callbacks: `onStatus({state, detail, retryInMs, rttMs, code})` with state 'connecting' | 'open' |
 * 'reconnecting' | 'closed' (`code`: the close code that stopped it for good, such as 4010 the session
 * ended or 4011 removed, else null); `onWelcome(welcome, resumed)`; `onMessage(message)` for every other
 * control message; `onFrame(arrayBuffer)` for binary frames.
 */
export class Connection {
  constructor({ url, servers = [], clientName, onStatus, onWelcome, onMessage, onFrame, openSocket = null }) {
    /** Makes the socket of an attempt from its URL (TransportChooser: WebRTC or WebSocket); default a WebSocket. */
    this.openSocket = openSocket ?? ((socketUrl) => new WebSocket(socketUrl));
    this.socketUrl = url;
    this.servers = new ServerList(url, servers);
    this.url = url;
    this.clientName = clientName;
    this.onStatus = onStatus;
    this.onWelcome = onWelcome;
    this.onMessage = onMessage;
    this.onFrame = onFrame;
    this.socket = null;
    this.clientId = null;
    this.attempt = 0;
    this.open = false;
    this.stopped = false;
    this.retryTimer = null;
    this.pingTimer = null;
    this.lastPong = 0;
    this.rttMs = null;
  }

  connect() {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.#status('connecting', this.attempt ? `attempt ${this.attempt + 1}` : '');
    this.url = this.servers.socketUrl(this.socketUrl);
    const socket = this.openSocket(this.url);
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    this.welcomed = false;
    socket.addEventListener('open', () => {
      const hello = { type: 'hello', protocol: PROTOCOL_VERSION, client: this.clientName };
      if (this.clientId) hello.resume = { client_id: this.clientId };
      socket.send(JSON.stringify(hello));
    });
    socket.addEventListener('message', (event) => this.#receive(socket, event.data));
    socket.addEventListener('close', (event) => this.#closed(socket, event));
  }

  /** Send a control message; dropped while not connected (state resyncs on reconnect). */
  send(message) {
    if (!this.open || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  /** Send a binary message (presence); dropped while not connected. */
  sendBinary(bytes) {
    if (!this.open || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(bytes);
    return true;
  }

  /** Drop the link as if the network failed (reconnects like any other loss). */
  drop() {
    if (this.socket) this.socket.close(4000, 'client dropped the link');
  }

  dispose() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    if (this.socket) this.socket.close(1000, 'page closed');
    this.socket = null;
  }

  #receive(socket, data) {
    if (socket !== this.socket) return;
    if (typeof data !== 'string') {
      if (this.open) this.onFrame(data);
      return;
    }
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      console.warn('vizserver: server sent text that is not JSON');
      return;
    }
    if (message.type === 'welcome') {
      const resumed = this.clientId !== null && message.client_id === this.clientId;
      this.clientId = message.client_id;
      this.servers.merge(message.servers);
      this.welcomed = true;
      this.open = true;
      this.attempt = 0;
      this.#startPings();
      this.#status('open', '');
      this.onWelcome(message, resumed);
    } else if (message.type === 'pong') {
      this.lastPong = performance.now();
      if (typeof message.t === 'number') this.rttMs = this.lastPong - message.t;
      this.#status('open', '');
    } else {
      this.onMessage(message);
    }
  }

  #closed(socket, event) {
    if (socket !== this.socket) return;
    this.open = false;
    clearInterval(this.pingTimer);
    if (this.stopped) return;
    const final = FINAL_CLOSE_CODES.get(event.code);
    if (final) {
      this.stopped = true;
      this.#status('closed', `${final}${event.reason && event.reason !== final ? `: ${event.reason}` : ''}`, 0, event.code);
      return;
    }
    if (!this.welcomed) this.servers.advance(); // this server did not take us: try the next one
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** this.attempt) * (0.8 + 0.4 * Math.random());
    this.attempt += 1;
    const why = event.reason || (event.code === 1006 ? 'connection lost' : `closed (${event.code})`);
    this.#status('reconnecting', why, delay);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  #startPings() {
    clearInterval(this.pingTimer);
    this.lastPong = performance.now();
    this.pingTimer = setInterval(() => {
      if (performance.now() - this.lastPong > PONG_TIMEOUT_MS) {
        this.socket.close(4000, 'no answer to pings');
        return;
      }
      this.send({ type: 'ping', t: performance.now() });
    }, PING_INTERVAL_MS);
  }

  #status(state, detail, retryInMs = 0, code = null) {
    this.onStatus({ state, detail, retryInMs, rttMs: this.rttMs, code });
  }
}
