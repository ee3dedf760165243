/** Most server URLs a page keeps (from `?servers=` and `welcome.servers` together); the rest are ignored. */
export const MAX_SERVERS = 16;
/** Longest server URL accepted. */
export const MAX_SERVER_URL_CHARS = 512;

const SECURE = { 'https:': true, 'wss:': true, 'http:': false, 'ws:': false };

/**
 * The server processes one session can be reached through (docs/architecture.md "Scale-out"), as
 * base URLs (`http://host:port`, origin only), and which one the connection uses now. The first is
 * the server the page's socket URL names. Others come from the page's `?servers=url1,url2` and from
 * each `welcome.servers` (the live processes); new ones are appended, so the round robin order stays
 * stable. A secure page keeps only secure servers (a browser refuses `ws://` from an `https:` page).
 * With one server it always answers that one: single-server behaviour is unchanged.
 */
export class ServerList {
  /**
   * @param {string} socketUrl the first socket URL (`ws[s]://host:port/ws/<session>?token=...`)
   * @param {string[]} extra more base URLs (from the page query)
   */
  constructor(socketUrl, extra = []) {
    const first = ServerList.baseOf(socketUrl);
    if (first === null) throw new Error(`not a WebSocket or HTTP URL: ${socketUrl}`);
    this.secure = SECURE[new URL(first).protocol];
    this.urls = [first];
    this.index = 0;
    this.merge(extra);
  }

  /**
   * The base URLs of a page query's `servers` parameter (comma separated); malformed ones are left out.
   * @param {string} search `window.location.search`
   */
  static fromSearch(search) {
    const text = new URLSearchParams(search).get('servers');
    if (!text) return [];
    return text.split(',').map((s) => ServerList.baseOf(s.trim())).filter((u) => u !== null).slice(0, MAX_SERVERS);
  }

  /** `http[s]://host:port` of an http(s) or ws(s) URL, or null when it is not one. */
  static baseOf(url) {
    if (typeof url !== 'string' || url.length === 0 || url.length > MAX_SERVER_URL_CHARS) return null;
    let parsed;
    try {
      parsed = new URL(url);
    } catch {
      return null;
    }
    if (!(parsed.protocol in SECURE) || !parsed.host) return null;
    return `${SECURE[parsed.protocol] ? 'https:' : 'http:'}//${parsed.host}`;
  }

  /** The base URL in use now. */
  get current() {
    return this.urls[this.index];
  }

  /** Add base URLs not yet known (e.g. `welcome.servers`); the one in use stays in use. */
  merge(urls) {
    if (!Array.isArray(urls)) return;
    for (const url of urls) {
      if (this.urls.length >= MAX_SERVERS) return;
      const base = ServerList.baseOf(url);
      if (base === null || this.urls.includes(base)) continue;
      if (this.secure && !SECURE[new URL(base).protocol]) continue;
      this.urls.push(base);
    }
  }

  /** Move to the next server, round robin; returns its base URL. */
  advance() {
    this.index = (this.index + 1) % this.urls.length;
    return this.current;
  }

  /** `socketUrl` (path and query kept: session and token) pointed at the current server. */
  socketUrl(socketUrl) {
    if (ServerList.baseOf(socketUrl) === this.current) return socketUrl;
    const target = new URL(socketUrl);
    const base = new URL(this.current);
    target.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
    target.host = base.host;
    return target.toString();
  }
}
