// Unit tests of the server list a connection fails over through, and of Connection's rotation (node --test).
import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { Connection } from '../src/Connection.js';
import { MAX_SERVERS, ServerList } from '../src/ServerList.js';

const SOCKET = 'ws://127.0.0.1:8001/ws/abc?token=t0k';

test('one server: every attempt goes to the same socket URL, unchanged', () => {
  const list = new ServerList(SOCKET);
  assert.deepEqual(list.urls, ['http://127.0.0.1:8001']);
  assert.equal(list.socketUrl(SOCKET), SOCKET);
  list.advance();
  assert.equal(list.socketUrl(SOCKET), SOCKET);
});

test('round robin over the page query and welcome.servers, path and token kept', () => {
  const list = new ServerList(SOCKET, ServerList.fromSearch('?session=abc&servers=http://127.0.0.1:8002,ws://h:9'));
  list.merge(['http://127.0.0.1:8001', 'http://127.0.0.1:8003/', 'http://127.0.0.1:8002']);
  assert.deepEqual(list.urls, ['http://127.0.0.1:8001', 'http://127.0.0.1:8002', 'http://h:9', 'http://127.0.0.1:8003']);
  assert.equal(list.advance(), 'http://127.0.0.1:8002');
  assert.equal(list.socketUrl(SOCKET), 'ws://127.0.0.1:8002/ws/abc?token=t0k');
  list.advance();
  list.advance();
  assert.equal(list.socketUrl(SOCKET), 'ws://127.0.0.1:8003/ws/abc?token=t0k');
  assert.equal(list.advance(), 'http://127.0.0.1:8001');
});

test('merging keeps the server in use in use', () => {
  const list = new ServerList(SOCKET, ['http://a:1']);
  list.advance();
  list.merge(['http://b:2', 'http://a:1']);
  assert.equal(list.current, 'http://a:1');
  assert.equal(list.advance(), 'http://b:2');
});

test('a secure page keeps only secure servers, and talks wss to them', () => {
  const list = new ServerList('wss://x.example/ws/s?token=k', ['http://plain:80', 'https://y.example:8443']);
  assert.deepEqual(list.urls, ['https://x.example', 'https://y.example:8443']);
  list.advance();
  assert.equal(list.socketUrl('wss://x.example/ws/s?token=k'), 'wss://y.example:8443/ws/s?token=k');
});

test('malformed, foreign-scheme, oversized and too many URLs are left out', () => {
  assert.deepEqual(ServerList.fromSearch('?servers=nonsense,,ftp://h:1,javascript:alert(1)'), []);
  assert.deepEqual(ServerList.fromSearch('?x=1'), []);
  assert.equal(ServerList.baseOf(`http://${'a'.repeat(600)}`), null);
  const list = new ServerList(SOCKET);
  list.merge('http://not-a-list:1');
  list.merge([42, null, 'http://ok:1']);
  assert.deepEqual(list.urls, ['http://127.0.0.1:8001', 'http://ok:1']);
  list.merge(Array.from({ length: 40 }, (_, i) => `http://h${i}:1`));
  assert.equal(list.urls.length, MAX_SERVERS);
  assert.throws(() => new ServerList('not a url'), /not a WebSocket or HTTP URL/);
});

/** A WebSocket stand-in that records what Connection opens; the test drives its events. */
class FakeSocket {
  static OPEN = 1;
  static made = [];

  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.listeners = {};
    FakeSocket.made.push(this);
  }

  addEventListener(kind, fn) {
    this.listeners[kind] = fn;
  }

  send(text) {
    this.sent.push(JSON.parse(text));
  }

  close() {}

  open() {
    this.readyState = FakeSocket.OPEN;
    this.listeners.open();
  }

  receive(message) {
    this.listeners.message({ data: JSON.stringify(message) });
  }

  fail(code = 1006) {
    this.readyState = 3;
    this.listeners.close({ code, reason: '' });
  }
}

test('Connection: a lost server is retried once, then the next one of welcome.servers takes the resume', (t) => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  globalThis.WebSocket = FakeSocket;
  t.after(() => {
    mock.timers.reset();
    delete globalThis.WebSocket;
  });
  const welcomes = [];
  const connection = new Connection({
    url: SOCKET, clientName: 'test', onStatus: () => {}, onMessage: () => {}, onFrame: () => {},
    onWelcome: (welcome, resumed) => welcomes.push({ server: welcome.server, resumed }),
  });
  connection.connect();
  const first = FakeSocket.made.at(-1);
  assert.equal(first.url, SOCKET);
  first.open();
  first.receive({ type: 'welcome', client_id: 'c1', server: 'one', servers: ['http://127.0.0.1:8001', 'http://127.0.0.1:8002'] });
  first.fail(); // the process died: retry the same server first (it may be a network blip)
  mock.timers.tick(60_000);
  const retry = FakeSocket.made.at(-1);
  assert.equal(retry.url, SOCKET);
  retry.fail(); // refused: the next attempt goes to the other server
  mock.timers.tick(60_000);
  const other = FakeSocket.made.at(-1);
  assert.equal(other.url, 'ws://127.0.0.1:8002/ws/abc?token=t0k');
  other.open();
  assert.deepEqual(other.sent[0].resume, { client_id: 'c1' });
  other.receive({ type: 'welcome', client_id: 'c1', server: 'two' });
  assert.deepEqual(welcomes, [{ server: 'one', resumed: false }, { server: 'two', resumed: true }]);
  assert.equal(connection.attempt, 0);
  connection.dispose();
});
