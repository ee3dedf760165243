import { button } from './button.js';

/**
 * The presenter's (and host's) follow-me controls in the side panel: "Bring everyone here" (everyone's
 * view follows this one, and they may stop), "Lock cameras" (they follow and cannot orbit away) and
 * "Release". Shown only to a role that may lead; the line under the buttons says who leads now.
 */
export class FollowControls {
  /**
   * @param {HTMLElement} parent the section's body
   * @param {(request: {on: boolean, lock: boolean}) => void} send a `follow` request to the server
   */
  constructor(parent, send) {
    this.section = parent.parentElement;
    this.section.hidden = true;
    const row = document.createElement('div');
    row.className = 'row buttons follow-buttons';
    this.bring = button('follow-bring', 'Bring everyone here', "Everyone's view follows yours; they may stop following");
    this.lock = button('follow-lock', 'Lock cameras', "Everyone's view follows yours and cannot orbit away");
    this.release = button('follow-release', 'Release', 'Everyone gets their own view back');
    row.append(this.bring, this.lock, this.release);
    this.status = document.createElement('div');
    this.status.className = 'follow-status';
    this.status.id = 'follow-status';
    parent.append(row, this.status);
    this.handlers = [
      [this.bring, () => send({ on: true, lock: false })],
      [this.lock, () => send({ on: true, lock: true })],
      [this.release, () => send({ on: false, lock: false })],
    ];
    for (const [element, handler] of this.handlers) element.addEventListener('click', handler);
    this.update(null, false, null);
  }

  /**
   * @param {{leader: string, client: string, lock: boolean}|null} lead who leads now (FollowMe.lead)
   * @param {boolean} mayLead whether this user's role may lead (host, presenter)
   * @param {string|null} selfClient this connection's id
   * @param {(memberId: string) => string} [names]
   */
  update(lead, mayLead, selfClient, names = (id) => id) {
    this.section.hidden = !mayLead;
    const mine = lead !== null && lead.client === selfClient;
    this.bring.setAttribute('aria-pressed', String(mine && !lead.lock));
    this.lock.setAttribute('aria-pressed', String(mine && lead.lock));
    this.release.disabled = lead === null;
    if (lead === null) this.status.textContent = 'Everyone has their own view.';
    else if (mine) this.status.textContent = lead.lock ? 'Everyone follows you; their cameras are locked.' : 'Everyone follows you.';
    else this.status.textContent = `${names(lead.leader) || 'Someone'} leads${lead.lock ? ' (cameras locked)' : ''}.`;
  }

  dispose() {
    for (const [element, handler] of this.handlers) element.removeEventListener('click', handler);
    this.section.remove();
  }
}
