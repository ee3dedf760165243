/**
 * The server's HTTP routes the page uses: sessions (create / join / the host's join link) and uploads. Errors become
 * `Error`s whose message is the server's one-line `detail` (or the HTTP status when there is none).
 */
export class ServerApi {
  constructor(origin = window.location.origin) {
    this.origin = origin;
    this.requests = new Set();
  }

  /** Create a session on the server's scene: `{session_id, join_code, host_token, url}`. */
  async createSession() {
    return this.#json('POST', '/api/sessions', {});
  }

  /** A participant token for the session the server opened on its scene: `{session_id, token, ...}`. */
  async defaultSession() {
    return this.#json('GET', '/api/sessions/default');
  }

  /** Join session `id` (with its join code when the link carried one): `{token, ...}`. */
  async join(id, code = null) {
    return this.#json('POST', `/api/sessions/${encodeURIComponent(id)}/join`, code ? { code } : {});
  }

  /** The host's join code, join link and its QR code (SVG text): `{join_code, code_expires_in_s, url, qr_svg}`. */
  async joinLink(sessionId, hostToken) {
    const path = `/api/sessions/${encodeURIComponent(sessionId)}/join-link?token=${encodeURIComponent(hostToken)}`;
    return this.#json('GET', path);
  }

  /** Whether this server takes WebRTC peers, and the ICE servers to use: `{enabled, ice_servers}`. */
  async rtcConfig() {
    return this.#json('GET', '/api/rtc/config');
  }

  /** Send a WebRTC offer (`{type, sdp}`) for session `id`; the server's answer is `{type: 'answer', sdp, peer_id}`. */
  async rtcOffer(id, token, offer, video = false) {
    return this.#json('POST', '/api/rtc/offer', { session_id: id, token, type: offer.type, sdp: offer.sdp, video });
  }

  /** The WebSocket URL of a session for a token. */
  socketUrl(sessionId, token) {
    const url = new URL(`/ws/${encodeURIComponent(sessionId)}`, this.origin);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('token', token);
    return url.href;
  }

  /**
   * Upload `file` into a session; `onProgress(fraction)` follows the bytes sent. Resolves with the
   * server's answer (its `upload_id` matches the `upload` messages that follow on the socket).
   */
  upload(file, sessionId, token, onProgress) {
    return new Promise((resolve, reject) => {
      const url = new URL('/api/uploads', this.origin);
      url.searchParams.set('session', sessionId);
      url.searchParams.set('token', token);
      const form = new FormData();
      form.append('file', file, file.name);
      const request = new XMLHttpRequest();
      this.requests.add(request);
      request.open('POST', url.href);
      request.setRequestHeader('Authorization', `Bearer ${token}`);
      request.upload.addEventListener('progress', (event) => {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      });
      request.addEventListener('loadend', () => {
        this.requests.delete(request);
        if (request.status >= 200 && request.status < 300) {
          resolve(parseJson(request.responseText) ?? {});
        } else if (request.status === 0) {
          reject(new Error(`${file.name}: upload interrupted (server unreachable)`));
        } else {
          reject(new Error(`${file.name}: ${errorText(request.status, request.responseText)}`));
        }
      });
      request.send(form);
    });
  }

  dispose() {
    for (const request of this.requests) request.abort();
    this.requests.clear();
  }

  async #json(method, path, body) {
    const init = { method };
    if (body !== undefined) {
      init.headers = { 'Content-Type': 'application/json' };
      init.body = JSON.stringify(body);
    }
    const response = await fetch(new URL(path, this.origin), init);
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${errorText(response.status, text)}`);
    return parseJson(text);
  }
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** The server's message: FastAPI's `detail` (a string, or a list of validation errors), else the status. */
function errorText(status, text) {
  const body = parseJson(text);
  const detail = body?.detail ?? body?.message ?? body?.error;
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail) && detail.length) return detail.map((d) => d.msg || JSON.stringify(d)).join('; ');
  return `HTTP ${status}`;
}
