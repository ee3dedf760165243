import { ConfirmButton } from './ConfirmButton.js';
import { InviteCard } from './InviteCard.js';
import { MemberRow } from './MemberRow.js';
import { rightsOf } from './RoleRights.js';

const SELF_LINES = {
  host: 'You are the host: you run the session',
  presenter: 'You are the presenter: you drive the view',
  participant: 'You are a participant',
  observer: 'You are an observer: you watch',
};

/**
 * The People section: who is in the session (MemberRow each, in join order), this page's role,
 * its raise / lower hand button, the hand queue, and for the host the session's own controls
 * (participants may steer, end the session) and the invite card. It follows the server's `members`
 * broadcasts; requests go out through `onRequest` and the server decides (a refusal comes back as an
 * `error` the app shows).
 */
export class MembersPanel {
  /**
   * @param {HTMLElement} parent the section body
   * @param {{onRequest: (message: object) => void, loadInvite: () => Promise<object>}} options
   */
  constructor(parent, { onRequest, loadInvite }) {
    this.onRequest = onRequest;
    this.selfId = null;
    this.welcomeRole = null;
    this.members = [];
    this.hands = [];
    this.steering = false;
    this.open = false;
    /** @type {Map<string, MemberRow>} */
    this.rows = new Map();

    this.element = document.createElement('div');
    this.element.className = 'members-panel';
    this.element.id = 'members-panel';
    this.selfLine = document.createElement('div');
    this.selfLine.className = 'self-role';
    this.selfLine.id = 'self-role';
    this.handButton = document.createElement('button');
    this.handButton.type = 'button';
    this.handButton.id = 'hand-button';
    this.queue = document.createElement('div');
    this.queue.className = 'hand-queue';
    this.queue.id = 'hand-queue';
    this.list = document.createElement('ul');
    this.list.className = 'member-list';
    this.list.id = 'member-list';

    this.hostControls = document.createElement('div');
    this.hostControls.className = 'host-controls';
    this.hostControls.id = 'host-controls';
    const steerLabel = document.createElement('label');
    steerLabel.className = 'inline';
    this.steerToggle = document.createElement('input');
    this.steerToggle.type = 'checkbox';
    this.steerToggle.id = 'steering-toggle';
    steerLabel.append(this.steerToggle, document.createTextNode(' Participants may steer the twin'));
    this.steerLabel = steerLabel;
    this.endSession = new ConfirmButton('end-session', 'End session',
      'End the session for everyone: every link stops working', () => this.onRequest({ type: 'end_session' }));
    this.endSession.setQuestion('End it for everyone?');
    this.endSession.button.id = 'end-session';
    this.hostControls.append(steerLabel, this.endSession.element);

    this.element.append(this.selfLine, this.handButton, this.queue, this.list, this.hostControls);
    parent.append(this.element);
    this.invite = new InviteCard(this.element, loadInvite);

    this.listeners = [
      [this.handButton, 'click', () => this.onRequest({ type: this.handRaised ? 'lower_hand' : 'raise_hand' })],
      [this.steerToggle, 'change', () => this.onRequest({ type: 'allow_steering', allowed: this.steerToggle.checked })],
    ];
    for (const [target, type, handler] of this.listeners) target.addEventListener(type, handler);
    this.#render();
  }

  /** This page's member id and role, from `welcome`. */
  setSelf(memberId, role) {
    this.selfId = memberId;
    this.welcomeRole = role;
    this.#render();
  }

  /** Follow the server's `members` message. */
  update(message) {
    this.members = message.members;
    this.hands = message.hands;
    this.steering = message.steering;
    this.open = message.open;
    this.#render();
  }

  /** This page's role now (`members` says when it changes; `welcome` until then). */
  get role() {
    return this.members.find((m) => m.id === this.selfId)?.role ?? this.welcomeRole;
  }

  get handRaised() {
    return this.selfId !== null && this.hands.includes(this.selfId);
  }

  /** What this page's role may do (RoleRights.rightsOf). */
  get rights() {
    return rightsOf(this.role, { open: this.open, steering: this.steering });
  }

  state() {
    return {
      self: this.selfId,
      role: this.role,
      handRaised: this.handRaised,
      hands: [...this.hands],
      steering: this.steering,
      open: this.open,
      members: this.members.map((m) => ({
        id: m.id, name: m.name, color: m.color, role: m.role, handRaised: m.hand_raised, connected: m.connected,
      })),
      invite: this.invite.state(),
    };
  }

  dispose() {
    for (const [target, type, handler] of this.listeners) target.removeEventListener(type, handler);
    for (const row of this.rows.values()) row.dispose();
    this.rows.clear();
    this.endSession.dispose();
    this.invite.dispose();
    this.element.remove();
  }

  #render() {
    const role = this.role;
    const rights = this.rights;
    let line = role ? SELF_LINES[role] ?? `You are ${role}` : 'Joining…';
    if (role === 'participant' && this.open) line += ': this open session lets everyone drive';
    else if (role === 'participant' && this.steering) line += ': you may steer the twin';
    this.selfLine.textContent = line;

    this.handButton.hidden = !rights.raiseHand;
    this.handButton.textContent = this.handRaised ? 'Lower hand' : 'Raise hand';
    this.handButton.title = this.handRaised ? 'Take your hand down' : 'Ask to speak or to take over: the host sees the queue';
    this.handButton.dataset.raised = String(this.handRaised);

    const names = new Map(this.members.map((m) => [m.id, m.name]));
    this.queue.hidden = this.hands.length === 0;
    this.queue.textContent = `Hands: ${this.hands.map((id, i) => `${i + 1}. ${names.get(id) ?? id}`).join('  ')}`;

    const seen = new Set();
    for (const member of this.members) {
      seen.add(member.id);
      let row = this.rows.get(member.id);
      if (!row) {
        row = new MemberRow(this.list, member.id, this.onRequest);
        this.rows.set(member.id, row);
      }
      this.list.append(row.element); // keeps join order
      row.update(member, { selfId: this.selfId, rights, handPlace: this.hands.indexOf(member.id) + 1 });
    }
    for (const [id, row] of this.rows) {
      if (seen.has(id)) continue;
      row.dispose();
      this.rows.delete(id);
    }

    this.hostControls.hidden = !rights.manage;
    this.steerToggle.checked = this.steering || this.open;
    this.steerToggle.disabled = this.open;
    this.steerLabel.title = this.open
      ? 'In this open session participants always steer'
      : 'Let participants change the twin\'s parameters and use its tools';
    this.endSession.element.hidden = this.open; // the server's default session cannot be ended
    this.invite.setHost(rights.manage);
  }
}
