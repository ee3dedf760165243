/** How long the offer, the answer and both data channels opening may take before the link counts as failed. */
export const RTC_OPEN_TIMEOUT_MS = 6000;
/** Longest wait for ICE gathering before the offer goes out with the candidates found so far. */
export const ICE_GATHER_TIMEOUT_MS = 2000;
/** A peer connection that stays `disconnected` this long is given up (ICE may recover from a short one). */
export const RTC_DISCONNECTED_GRACE_MS = 3000;
/** The close code of a WebRTC link that failed (the same meaning as a WebSocket's abnormal closure). */
export const RTC_LOST_CODE = 1006;

import { FragmentJoiner } from './FragmentJoiner.js';

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/**
 * A WebSocket-shaped link to one session over a WebRTC peer connection (docs/protocol.md "WebRTC"):
 * text goes on the reliable ordered `control` channel, binary (presence) on the unordered, no-retransmit
 * `fields` channel; what arrives on either comes out as `message` events, as from a WebSocket with
 * `binaryType = 'arraybuffer'` (a message the server split to fit the channel is joined first). So Connection drives it exactly like a WebSocket (hello, resume, pings).
 *
 * This browser is the offerer and does not trickle: it gathers its ICE candidates, then `signal(offer)`
 * (the server's `POST /api/rtc/offer`) answers. `open` fires once both channels are open; a failed offer,
 * channels that do not open within `openTimeoutMs`, or a peer connection that fails later all end in
 * `close` (code 1006, the reason says what happened), `opened` telling the two apart for a fallback.
 * The server's `rtc_close {code, reason}` on `control` closes it with that code, as a WebSocket close would.
 * With `video`, the offer also asks for the server-rendered video track, which comes as a `track` event.
 *
 * Events: `open`, `message` (`data`), `error`, `close` (`code`, `reason`, `wasClean`), `track` (`track`,
 * `streams`), through addEventListener or the `on<type>` properties.
 */
export class RtcSocket extends EventTarget {
  static CONNECTING = CONNECTING;
  static OPEN = OPEN;
  static CLOSING = CLOSING;
  static CLOSED = CLOSED;

  /**
   * @param {{signal: (offer: {type: string, sdp: string}) => Promise<{type: string, sdp: string}>,
   *   iceServers?: RTCIceServer[], video?: boolean, openTimeoutMs?: number, gatherTimeoutMs?: number,
   *   PeerConnection?: typeof RTCPeerConnection}} options
   */
  constructor({ signal, iceServers = [], video = false, openTimeoutMs = RTC_OPEN_TIMEOUT_MS,
    gatherTimeoutMs = ICE_GATHER_TIMEOUT_MS, PeerConnection = globalThis.RTCPeerConnection }) {
    super();
    this.readyState = CONNECTING;
    this.binaryType = 'arraybuffer';
    this.onopen = null;
    this.onmessage = null;
    this.onerror = null;
    this.onclose = null;
    this.ontrack = null;
    /** Whether the link was open once (a failure after that is a lost link, before it a failed attempt). */
    this.opened = false;
    this.gatherTimeoutMs = gatherTimeoutMs;
    this.disconnectTimer = null;
    this.peer = new PeerConnection({ iceServers });
    this.control = this.peer.createDataChannel('control', { ordered: true });
    this.fields = this.peer.createDataChannel('fields', { ordered: false, maxRetransmits: 0 });
    if (video) this.peer.addTransceiver('video', { direction: 'recvonly' });
    for (const channel of [this.control, this.fields]) {
      channel.binaryType = 'arraybuffer';
      channel.addEventListener('open', () => this.#channelOpen());
      const joiner = new FragmentJoiner();
      channel.addEventListener('message', (event) => this.#receive(joiner, event.data));
      channel.addEventListener('close', () => this.#lost(`the ${channel.label} channel closed`));
    }
    this.peer.addEventListener('connectionstatechange', () => this.#peerState());
    this.peer.addEventListener('track', (event) => this.#emit('track', { track: event.track, streams: event.streams }));
    this.openTimer = setTimeout(() => this.#lost(`WebRTC did not connect within ${openTimeoutMs / 1000} s`), openTimeoutMs);
    this.#negotiate(signal).catch((error) => this.#lost(`WebRTC offer failed: ${error.message}`));
  }

  /** Bytes queued on both channels and not yet handed to the network. */
  get bufferedAmount() {
    return this.control.bufferedAmount + this.fields.bufferedAmount;
  }

  /** Text on `control` (in order, reliably); binary on `fields` (only the newest presence matters). */
  send(data) {
    if (this.readyState !== OPEN) throw new Error('RtcSocket is not open');
    if (typeof data === 'string') this.control.send(data);
    else this.fields.send(data);
  }

  close(code = 1000, reason = '') {
    this.#finish(code, reason, true);
  }

  async #negotiate(signal) {
    await this.peer.setLocalDescription(await this.peer.createOffer());
    await this.#gathered();
    if (this.readyState !== CONNECTING) return;
    const answer = await signal({ type: 'offer', sdp: this.peer.localDescription.sdp });
    if (this.readyState !== CONNECTING) return;
    // The server gathers before it answers (no trickle): an answer without candidates can never connect.
    if (!/^a=candidate:/m.test(answer.sdp)) throw new Error('the server offered no ICE candidates');
    await this.peer.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
  }

  /** Resolves when ICE gathering is complete, or after `gatherTimeoutMs` with what was found by then. */
  #gathered() {
    if (this.peer.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.peer.removeEventListener('icegatheringstatechange', check);
        resolve();
      };
      const check = () => {
        if (this.peer.iceGatheringState === 'complete') done();
      };
      const timer = setTimeout(done, this.gatherTimeoutMs);
      this.peer.addEventListener('icegatheringstatechange', check);
    });
  }

  #channelOpen() {
    if (this.readyState !== CONNECTING) return;
    if (this.control.readyState !== 'open' || this.fields.readyState !== 'open') return;
    clearTimeout(this.openTimer);
    this.readyState = OPEN;
    this.opened = true;
    this.#emit('open', {});
  }

  /** A message from a channel; a piece of a split one waits for the rest (FragmentJoiner). */
  #receive(joiner, data) {
    if (this.readyState !== OPEN) return;
    let message;
    try {
      message = joiner.add(data);
    } catch (error) {
      console.warn(`vizserver: dropped a split message: ${error.message}`);
      return;
    }
    if (message === null) return;
    if (typeof message === 'string' && message.includes('"rtc_close"') && this.#serverClosed(message)) return;
    this.#emit('message', { data: message });
  }

  /** The server's `rtc_close {code, reason}`: where a WebSocket would close with a code, it says this. */
  #serverClosed(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return false;
    }
    if (message?.type !== 'rtc_close') return false;
    this.#finish(Number.isInteger(message.code) ? message.code : 1000, String(message.reason ?? ''), true);
    return true;
  }

  #peerState() {
    const state = this.peer.connectionState;
    if (state === 'failed') {
      this.#lost('the WebRTC connection failed');
    } else if (state === 'disconnected') {
      clearTimeout(this.disconnectTimer);
      this.disconnectTimer = setTimeout(() => this.#lost('the WebRTC connection was interrupted'), RTC_DISCONNECTED_GRACE_MS);
    } else if (state === 'connected') {
      clearTimeout(this.disconnectTimer);
    } else if (state === 'closed') {
      this.#lost('the WebRTC connection closed');
    }
  }

  #lost(reason) {
    if (this.readyState === CLOSED) return;
    this.#emit('error', { message: reason });
    this.#finish(RTC_LOST_CODE, reason, false);
  }

  #finish(code, reason, wasClean) {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    clearTimeout(this.openTimer);
    clearTimeout(this.disconnectTimer);
    for (const channel of [this.control, this.fields]) {
      if (channel.readyState === 'open' || channel.readyState === 'connecting') channel.close();
    }
    this.peer.close();
    this.#emit('close', { code, reason, wasClean });
  }

  #emit(type, fields) {
    const event = Object.assign(new Event(type), fields);
    this[`on${type}`]?.(event);
    this.dispatchEvent(event);
  }
}
