// Unit tests of the WebSocket-shaped WebRTC link and the attempt that falls back to a WebSocket
// (node --test). Node has no WebRTC: a scripted peer connection stands in for the browser's; the real
// one is driven against the server in tests/browser/test_webrtc_transport.py.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FragmentJoiner } from '../src/FragmentJoiner.js';
import { PreferredSocket } from '../src/PreferredSocket.js';
import { RtcSocket } from '../src/RtcSocket.js';

class FakeChannel extends EventTarget {
  constructor(label, options) {
    super();
    this.label = label;
    this.options = options;
    this.readyState = 'connecting';
    this.sent = [];
    this.bufferedAmount = 0;
  }

  send(data) {
    this.sent.push(data);
    this.bufferedAmount += typeof data === 'string' ? data.length : data.byteLength;
  }

  close() {
    this.readyState = 'closed';
  }

  openNow() {
    this.readyState = 'open';
    this.dispatchEvent(new Event('open'));
  }

  receive(data) {
    this.dispatchEvent(Object.assign(new Event('message'), { data }));
  }
}

/** The peer connection's part the link uses; `answered` resolves when the answer is set. */
class FakePeer extends EventTarget {
  static last = null;

  constructor(config) {
    super();
    FakePeer.last = this;
    this.config = config;
    this.channels = {};
    this.transceivers = [];
    this.iceGatheringState = 'new';
    this.connectionState = 'new';
    this.localDescription = null;
    this.remoteDescription = null;
    this.closed = false;
    this.answered = new Promise((resolve) => {
      this.resolveAnswered = resolve;
    });
  }

  createDataChannel(label, options) {
    this.channels[label] = new FakeChannel(label, options);
    return this.channels[label];
  }

  addTransceiver(kind, init) {
    this.transceivers.push({ kind, init });
  }

  async createOffer() {
    return { type: 'offer', sdp: 'v=0 offer' };
  }

  async setLocalDescription(description) {
    this.localDescription = description;
    setTimeout(() => {
      this.iceGatheringState = 'complete';
      this.dispatchEvent(new Event('icegatheringstatechange'));
    }, 1);
  }

  async setRemoteDescription(description) {
    this.remoteDescription = description;
    this.resolveAnswered();
  }

  setConnectionState(state) {
    this.connectionState = state;
    this.dispatchEvent(new Event('connectionstatechange'));
  }

  openChannels() {
    this.setConnectionState('connected');
    this.channels.control.openNow();
    this.channels.fields.openNow();
  }

  close() {
    this.closed = true;
  }
}

/** `bytes` as `count` VZC1 pieces of message `id` (vizserver/protocol/fragments.py's layout). */
function split(bytes, id, count, text = false) {
  const room = Math.ceil(bytes.length / count);
  const pieces = [];
  for (let i = 0; i < count; i += 1) {
    const slice = bytes.subarray(i * room, (i + 1) * room);
    const piece = new Uint8Array(16 + slice.length);
    piece.set([0x56, 0x5a, 0x43, 0x31]);
    const view = new DataView(piece.buffer);
    view.setUint32(4, id, true);
    view.setUint16(8, i, true);
    view.setUint16(10, count, true);
    view.setUint8(12, text ? 1 : 0);
    piece.set(slice, 16);
    pieces.push(piece.buffer);
  }
  return pieces;
}

function events(target, types) {
  const seen = [];
  for (const type of types) target.addEventListener(type, (event) => seen.push({ type, event }));
  return seen;
}

function nextEvent(target, type) {
  return new Promise((resolve) => target.addEventListener(type, resolve, { once: true }));
}

const ANSWER = 'v=0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n';

function rtcSocket(options = {}) {
  const offers = [];
  const socket = new RtcSocket({
    PeerConnection: FakePeer,
    signal: async (offer) => {
      offers.push(offer);
      return { type: 'answer', sdp: ANSWER };
    },
    ...options,
  });
  return { socket, peer: FakePeer.last, offers };
}

test('the offer goes out once gathered, the link opens with both channels, text and binary take their channel', async () => {
  const { socket, peer, offers } = rtcSocket({ iceServers: [{ urls: 'stun:127.0.0.1:3478' }] });
  assert.deepEqual(peer.config.iceServers, [{ urls: 'stun:127.0.0.1:3478' }]);
  assert.deepEqual(peer.channels.control.options, { ordered: true });
  assert.deepEqual(peer.channels.fields.options, { ordered: false, maxRetransmits: 0 });
  assert.equal(peer.transceivers.length, 0, 'no video asked for');
  const seen = events(socket, ['open', 'message', 'close']);
  await peer.answered;
  assert.deepEqual(offers, [{ type: 'offer', sdp: 'v=0 offer' }]);
  assert.deepEqual(peer.remoteDescription, { type: 'answer', sdp: ANSWER });
  assert.equal(socket.readyState, RtcSocket.CONNECTING);
  peer.channels.control.openNow();
  assert.equal(socket.readyState, RtcSocket.CONNECTING, 'one channel open is not enough');
  peer.channels.fields.openNow();
  assert.equal(socket.readyState, RtcSocket.OPEN);
  assert.equal(socket.opened, true);

  socket.send('{"type":"hello"}');
  const presence = new Uint8Array([1, 2, 3]).buffer;
  socket.send(presence);
  assert.deepEqual(peer.channels.control.sent, ['{"type":"hello"}']);
  assert.deepEqual(peer.channels.fields.sent, [presence]);
  assert.equal(socket.bufferedAmount, 16 + 3);

  const frame = new Uint8Array([9, 9]).buffer;
  peer.channels.control.receive('{"type":"welcome"}');
  peer.channels.fields.receive(frame);
  assert.deepEqual(seen.filter((e) => e.type === 'message').map((e) => e.event.data), ['{"type":"welcome"}', frame]);
  assert.deepEqual(seen.map((e) => e.type), ['open', 'message', 'message']);
});

test('a refused offer closes the link before it opened, with the server\'s reason', async () => {
  const socket = new RtcSocket({
    PeerConnection: FakePeer,
    signal: async () => {
      throw new Error('POST /api/rtc/offer: unknown session');
    },
  });
  const peer = FakePeer.last;
  let onclose = null;
  socket.onclose = (event) => {
    onclose = event;
  };
  const closed = await nextEvent(socket, 'close');
  assert.equal(closed.code, 1006);
  assert.equal(closed.wasClean, false);
  assert.match(closed.reason, /WebRTC offer failed: .*unknown session/);
  assert.equal(onclose, closed, 'the onclose property hears it too');
  assert.equal(socket.opened, false);
  assert.equal(socket.readyState, RtcSocket.CLOSED);
  assert.equal(peer.closed, true);
  assert.throws(() => socket.send('late'), /not open/);
});

test('an answer without ICE candidates ends the attempt at once', async () => {
  const socket = new RtcSocket({ PeerConnection: FakePeer, signal: async () => ({ type: 'answer', sdp: 'v=0\r\n' }) });
  const closed = await nextEvent(socket, 'close');
  assert.match(closed.reason, /no ICE candidates/);
  assert.equal(FakePeer.last.remoteDescription, null);
});

test('channels that never open end the attempt after the open timeout', async () => {
  const { socket, peer } = rtcSocket({ openTimeoutMs: 30 });
  const closed = await nextEvent(socket, 'close');
  assert.match(closed.reason, /did not connect within 0.03 s/);
  assert.equal(socket.opened, false);
  assert.equal(peer.closed, true);
  peer.channels.control.openNow(); // too late: nothing happens
  peer.channels.fields.openNow();
  assert.equal(socket.readyState, RtcSocket.CLOSED);
});

test('a peer connection that fails after opening closes the link as lost', async () => {
  const { socket, peer } = rtcSocket();
  await peer.answered;
  peer.openChannels();
  const closing = nextEvent(socket, 'close');
  peer.setConnectionState('failed');
  const closed = await closing;
  assert.equal(closed.code, 1006);
  assert.match(closed.reason, /connection failed/);
  assert.equal(socket.opened, true);
});

test('a closed channel ends the link; close() is clean and closes the peer once', async () => {
  const lost = rtcSocket();
  await lost.peer.answered;
  lost.peer.openChannels();
  const closing = nextEvent(lost.socket, 'close');
  lost.peer.channels.fields.readyState = 'closed';
  lost.peer.channels.fields.dispatchEvent(new Event('close'));
  assert.match((await closing).reason, /fields channel closed/);

  const { socket, peer } = rtcSocket();
  await peer.answered;
  peer.openChannels();
  const seen = events(socket, ['close']);
  socket.close(1000, 'page closed');
  socket.close(1000, 'twice');
  assert.equal(seen.length, 1);
  assert.deepEqual([seen[0].event.code, seen[0].event.reason, seen[0].event.wasClean], [1000, 'page closed', true]);
  assert.equal(peer.closed, true);
  assert.equal(peer.channels.control.readyState, 'closed');
});

test('the server\'s rtc_close closes the link with its code and reason, as a WebSocket close would', async () => {
  const { socket, peer } = rtcSocket();
  await peer.answered;
  peer.openChannels();
  const seen = events(socket, ['message', 'close']);
  peer.channels.control.receive('{"type": "rtc_close", "code": 4010, "reason": "the host ended the session"}');
  assert.deepEqual(seen.map((e) => e.type), ['close']);
  assert.deepEqual([seen[0].event.code, seen[0].event.reason], [4010, 'the host ended the session']);
  assert.equal(peer.closed, true);
});

test('messages the server split to fit a channel are joined before they come out', async () => {
  const { socket, peer } = rtcSocket();
  await peer.answered;
  peer.openChannels();
  const seen = events(socket, ['message']);
  const text = JSON.stringify({ type: 'scene', title: 'x'.repeat(40) });
  const pieces = split(new TextEncoder().encode(text), 7, 3, true);
  peer.channels.control.receive(pieces[2]);
  peer.channels.control.receive(pieces[0]);
  assert.equal(seen.length, 0, 'nothing until every piece came');
  peer.channels.control.receive(pieces[1]);
  assert.deepEqual(seen.map((e) => e.event.data), [text]);
  socket.close();
});

test('video asks for a receive-only video transceiver and passes the track on', async () => {
  const { socket, peer } = rtcSocket({ video: true });
  assert.deepEqual(peer.transceivers, [{ kind: 'video', init: { direction: 'recvonly' } }]);
  const track = { kind: 'video' };
  const got = nextEvent(socket, 'track');
  peer.dispatchEvent(Object.assign(new Event('track'), { track, streams: ['stream'] }));
  const event = await got;
  assert.equal(event.track, track);
  assert.deepEqual(event.streams, ['stream']);
  socket.close();
});

// --- PreferredSocket ---

/** A WebSocket stand-in: opens on the next turn, records what is sent. */
class FakeWebSocket extends EventTarget {
  constructor() {
    super();
    this.readyState = 0;
    this.sent = [];
    setTimeout(() => {
      this.readyState = 1;
      this.dispatchEvent(new Event('open'));
    }, 1);
  }

  send(data) {
    this.sent.push(data);
  }

  close(code, reason) {
    this.readyState = 3;
    this.dispatchEvent(Object.assign(new Event('close'), { code, reason, wasClean: true }));
  }
}

/** An RtcSocket stand-in the test opens or fails by hand. */
class ScriptedRtc extends EventTarget {
  constructor() {
    super();
    this.readyState = 0;
    this.sent = [];
  }

  send(data) {
    this.sent.push(data);
  }

  open() {
    this.readyState = 1;
    this.dispatchEvent(new Event('open'));
  }

  close(code = 1000, reason = '') {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.dispatchEvent(Object.assign(new Event('close'), { code, reason, wasClean: code === 1000 }));
  }
}

function preferred(rtc, options = {}) {
  const made = { sockets: [], fallbacks: [], binary: [] };
  const socket = new PreferredSocket({
    tryRtc: async () => (typeof rtc === 'function' ? rtc() : rtc),
    openWebSocket: () => {
      const ws = new FakeWebSocket();
      made.sockets.push(ws);
      return ws;
    },
    onFallback: (reason) => made.fallbacks.push(reason),
    onBinary: (transport) => made.binary.push(transport),
    ...options,
  });
  return { socket, made };
}

test('without WebRTC on offer the attempt is a plain WebSocket', async () => {
  const { socket, made } = preferred(null);
  assert.equal(socket.readyState, 0);
  await nextEvent(socket, 'open');
  assert.equal(socket.transport, 'websocket');
  assert.equal(socket.readyState, 1);
  assert.deepEqual(made.fallbacks, [], 'nothing failed: no fallback');
  socket.send('hello');
  assert.deepEqual(made.sockets[0].sent, ['hello']);
});

test('a WebRTC attempt that fails before opening hands over to the WebSocket in the same attempt', async () => {
  const rtc = new ScriptedRtc();
  const { socket, made } = preferred(rtc);
  const seen = events(socket, ['open', 'close', 'message']);
  await new Promise((resolve) => setTimeout(resolve, 1));
  rtc.close(1006, 'WebRTC did not connect within 6 s');
  await nextEvent(socket, 'open');
  assert.equal(socket.transport, 'websocket');
  assert.deepEqual(made.fallbacks, ['WebRTC did not connect within 6 s']);
  assert.deepEqual(seen.map((e) => e.type), ['open'], 'Connection sees one open and no close');
  made.sockets[0].dispatchEvent(Object.assign(new Event('message'), { data: new ArrayBuffer(4) }));
  assert.deepEqual(made.binary, ['websocket']);
});

test('an open WebRTC link carries the attempt; losing it later closes the socket for a reconnect', async () => {
  const rtc = new ScriptedRtc();
  const { socket, made } = preferred(rtc);
  const seen = events(socket, ['open', 'close', 'message']);
  await new Promise((resolve) => setTimeout(resolve, 1));
  rtc.open();
  assert.equal(socket.transport, 'webrtc');
  socket.send('hello');
  assert.deepEqual(rtc.sent, ['hello']);
  rtc.dispatchEvent(Object.assign(new Event('message'), { data: new ArrayBuffer(8) }));
  rtc.close(1006, 'the WebRTC connection failed');
  assert.deepEqual(seen.map((e) => e.type), ['open', 'message', 'close']);
  assert.equal(seen[2].event.code, 1006);
  assert.equal(seen[2].event.reason, 'the WebRTC connection failed');
  assert.equal(made.sockets.length, 0, 'no WebSocket inside this attempt: Connection reconnects');
  assert.deepEqual(made.binary, ['webrtc']);
  assert.equal(socket.readyState, 3);
});

test('without fallback a failed WebRTC attempt closes with its reason; an error from tryRtc counts as one', async () => {
  const { socket, made } = preferred(() => {
    throw new Error('the server has WebRTC turned off');
  }, { fallback: false });
  const closed = await nextEvent(socket, 'close');
  assert.equal(closed.code, 1006);
  assert.match(closed.reason, /WebRTC unavailable: the server has WebRTC turned off/);
  assert.equal(made.sockets.length, 0);
  assert.equal(made.fallbacks.length, 1);
});

test('closing while WebRTC is still being tried closes that attempt and never opens a socket', async () => {
  let release;
  const rtc = new ScriptedRtc();
  const { socket, made } = preferred(() => new Promise((resolve) => {
    release = () => resolve(rtc);
  }));
  const seen = events(socket, ['close', 'open']);
  socket.close(1000, 'page closed');
  assert.deepEqual(seen.map((e) => e.type), ['close']);
  release();
  await new Promise((resolve) => setTimeout(resolve, 2));
  assert.equal(rtc.readyState, 3);
  assert.equal(made.sockets.length, 0);
  assert.equal(seen.length, 1);
});

// --- FragmentJoiner ---

test('a joiner passes whole messages through and joins binary pieces in any order', () => {
  const joiner = new FragmentJoiner();
  const frame = new Uint8Array([0x56, 0x5a, 0x46, 0x31, 1, 2, 3]).buffer;
  assert.equal(joiner.add(frame), frame);
  assert.equal(joiner.add('{"type":"pong"}'), '{"type":"pong"}');
  const bytes = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
  const pieces = split(bytes, 1, 4);
  assert.equal(joiner.add(pieces[3]), null);
  assert.equal(joiner.add(pieces[1]), null);
  assert.equal(joiner.add(pieces[1]), null, 'a duplicate piece changes nothing');
  assert.equal(joiner.add(pieces[0]), null);
  const joined = joiner.add(pieces[2]);
  assert.deepEqual(new Uint8Array(joined), bytes);
  assert.equal(joiner.partial.size, 0);
});

test('a joiner is bounded: lost pieces are forgotten, bad and oversized pieces refused', () => {
  const joiner = new FragmentJoiner({ maxPartial: 2, maxBytes: 100 });
  const bytes = new Uint8Array(90);
  joiner.add(split(bytes, 1, 3)[0]); // its other pieces never come
  joiner.add(split(bytes, 2, 3)[0]);
  joiner.add(split(bytes, 3, 3)[0]);
  assert.equal(joiner.partial.size, 2);
  assert.equal(joiner.dropped, 1);
  assert.equal(joiner.add(split(bytes, 1, 3)[1]), null, 'message 1 starts again, its first piece gone');
  assert.throws(() => joiner.add(split(bytes, 3, 2)[1]), /disagrees/); // message 3 had 3 pieces
  const big = split(new Uint8Array(300), 9, 2);
  assert.throws(() => joiner.add(big[0]), /over 100 bytes/);
  const bad = split(bytes, 4, 2)[0];
  new DataView(bad).setUint16(8, 5, true); // index past count
  assert.throws(() => joiner.add(bad), /bad header/);
});
