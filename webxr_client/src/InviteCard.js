/**
 * The host's way to bring people in (GET /api/sessions/{id}/join-link): the join code in large
 * letters to read aloud, the short address to type it into, the full link with a Copy button, and
 * the link as a QR code for a phone or a headset's camera. Everyone who opens the link joins as a
 * participant with a token of their own.
 */
export class InviteCard {
  /**
   * @param {HTMLElement} parent
   * @param {() => Promise<{join_code: string|null, code_expires_in_s: number, url: string, qr_svg: string}>} load
   */
  constructor(parent, load) {
    this.load = load;
    this.card = null;
    this.pending = false;
    this.error = '';
    this.element = document.createElement('details');
    this.element.className = 'invite-card';
    this.element.id = 'invite-card';
    this.element.open = true;
    this.element.hidden = true;
    const summary = document.createElement('summary');
    summary.textContent = 'Invite people';
    this.code = document.createElement('div');
    this.code.className = 'join-code';
    this.code.id = 'join-code';
    this.typeHint = document.createElement('div');
    this.typeHint.className = 'invite-hint';
    this.typeHint.id = 'join-code-hint';
    const linkRow = document.createElement('div');
    linkRow.className = 'row';
    this.link = document.createElement('input');
    this.link.type = 'text';
    this.link.readOnly = true;
    this.link.id = 'join-link';
    this.link.className = 'join-link';
    this.link.title = 'The link that joins this session';
    this.copy = document.createElement('button');
    this.copy.type = 'button';
    this.copy.id = 'join-link-copy';
    this.copy.textContent = 'Copy';
    this.copy.title = 'Copy the link';
    linkRow.append(this.link, this.copy);
    this.qr = document.createElement('img');
    this.qr.className = 'join-qr';
    this.qr.id = 'join-qr';
    this.qr.alt = 'QR code of the join link';
    this.qr.hidden = true;
    this.message = document.createElement('div');
    this.message.className = 'invite-hint';
    this.message.id = 'invite-message';
    this.element.append(summary, this.code, this.typeHint, linkRow, this.qr, this.message);
    parent.append(this.element);
    this.handleCopy = () => this.#copy();
    this.copy.addEventListener('click', this.handleCopy);
  }

  /** Show the card (asking the server once) when this page is the host's; hide it otherwise. */
  setHost(isHost) {
    this.element.hidden = !isHost;
    if (isHost && !this.card && !this.pending && !this.error) this.refresh(); // once; a failure stays shown
  }

  async refresh() {
    this.pending = true;
    try {
      this.#show(await this.load());
    } catch (error) {
      this.error = error.message;
      this.message.textContent = `No join link: ${error.message}`;
    } finally {
      this.pending = false;
    }
  }

  state() {
    if (!this.card) return this.error ? { error: this.error } : null;
    return { joinCode: this.card.join_code, url: this.card.url, qr: !this.qr.hidden && this.qr.naturalWidth > 0 };
  }

  dispose() {
    this.copy.removeEventListener('click', this.handleCopy);
    this.element.remove();
  }

  #show(card) {
    this.card = card;
    this.error = '';
    const code = card.join_code;
    this.code.textContent = code ?? 'expired';
    this.code.title = code ? `Join code, valid ${hours(card.code_expires_in_s)} more` : 'The join code has expired; use the link';
    this.typeHint.hidden = !code;
    if (code) this.typeHint.textContent = `or open ${new URL(card.url).origin}/?session=${code}`;
    this.link.value = card.url;
    this.qr.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(card.qr_svg)}`;
    this.qr.hidden = false;
    this.message.textContent = '';
  }

  async #copy() {
    this.link.select();
    try {
      await navigator.clipboard.writeText(this.link.value);
    } catch {
      document.execCommand('copy'); // http:// pages other than localhost have no clipboard API
    }
    this.message.textContent = 'Link copied';
  }
}

function hours(seconds) {
  const h = Math.floor(seconds / 3600);
  return h >= 1 ? `${h} h` : `${Math.max(1, Math.round(seconds / 60))} min`;
}
