/** Why the page stopped, by the close code the server used (docs/protocol.md "Close codes"). */
export const END_MESSAGES = new Map([
  [4010, {
    title: 'The host ended the session',
    detail: 'Thank you for taking part. This page no longer follows the session; the link no longer works.',
  }],
  [4011, {
    title: 'You were removed',
    detail: 'The host removed you from this session. Ask the host for a new link to come back.',
  }],
]);

/**
 * The full-page message shown when the session is over for this page (the host ended it, or
 * removed this person). It covers the viewer: nothing on the page works any more, and the
 * connection does not try again.
 */
export class EndScreen {
  /** @param {HTMLElement} parent */
  constructor(parent) {
    this.code = null;
    this.element = document.createElement('div');
    this.element.className = 'fatal session-ended';
    this.element.id = 'session-ended';
    this.element.setAttribute('role', 'alert');
    this.element.hidden = true;
    this.heading = document.createElement('h1');
    this.detail = document.createElement('p');
    this.element.append(this.heading, this.detail);
    parent.append(this.element);
  }

  /** Show the message of close code `code` (4010 ended, 4011 removed); the first one shown stays. */
  show(code) {
    const message = END_MESSAGES.get(code);
    if (!message || this.code !== null) return;
    this.code = code;
    this.heading.textContent = message.title;
    this.detail.textContent = message.detail;
    this.element.hidden = false;
    document.body.dataset.session = code === 4010 ? 'ended' : 'removed';
  }

  state() {
    return this.code === null ? null : { code: this.code, title: this.heading.textContent };
  }

  dispose() {
    this.element.remove();
  }
}
