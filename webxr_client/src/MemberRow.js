import { ConfirmButton } from './ConfirmButton.js';
import { memberActions } from './RoleRights.js';

/**
 * One person of the session in the People list: colour dot, name, "you", raised hand with its place
 * in the queue, role, away; and the controls this page's role may use on them (make presenter, take
 * the role back, participant / observer, lower the hand, remove with a confirmation). The controls
 * send requests through `onRequest`; what the row shows comes only from the server's `members`.
 */
export class MemberRow {
  /**
   * @param {HTMLElement} parent the list
   * @param {string} id the member id
   * @param {(message: object) => void} onRequest
   */
  constructor(parent, id, onRequest) {
    this.id = id;
    this.role = null;
    this.element = document.createElement('li');
    this.element.className = 'member-row';
    this.element.dataset.member = id;

    const line = document.createElement('div');
    line.className = 'member-line';
    this.dot = span('member-dot');
    this.name = span('member-name');
    this.you = span('member-you', 'you');
    this.hand = span('member-hand');
    this.away = span('member-away', 'away');
    this.roleLabel = span('member-role');
    line.append(this.dot, this.name, this.you, this.hand, this.away, this.roleLabel);

    this.actions = document.createElement('div');
    this.actions.className = 'member-actions';
    this.makePresenter = action('make-presenter', 'Make presenter', 'Hand them the presenter role: they drive time, the twin and the view');
    this.takeBack = action('take-back', 'Take back', 'Take the presenter role back');
    this.handBack = action('hand-back', 'Hand back', 'Give the presenter role back to the host');
    this.roleSelect = document.createElement('select');
    this.roleSelect.dataset.action = 'set-role';
    this.roleSelect.title = 'Participants annotate, raise hands and steer when allowed; observers only watch';
    this.presenterOption = new Option('presenter', 'presenter');
    this.presenterOption.disabled = true;
    this.roleSelect.append(this.presenterOption, new Option('participant', 'participant'), new Option('observer', 'observer'));
    this.lowerHand = action('lower-hand', 'Lower hand', 'Lower their hand (take them off the queue)');
    this.remove = new ConfirmButton('remove', 'Remove', 'Remove them from the session: their link stops working', () => {
      onRequest({ type: 'remove_member', member: this.id });
    });
    this.actions.append(this.makePresenter, this.takeBack, this.handBack, this.roleSelect, this.lowerHand, this.remove.element);
    this.element.append(line, this.actions);
    parent.append(this.element);

    this.listeners = [
      [this.makePresenter, 'click', () => onRequest({ type: 'set_role', member: this.id, role: 'presenter' })],
      [this.takeBack, 'click', () => onRequest({ type: 'return_presenter' })],
      [this.handBack, 'click', () => onRequest({ type: 'return_presenter' })],
      [this.lowerHand, 'click', () => onRequest({ type: 'lower_hand', member: this.id })],
      [this.roleSelect, 'change', () => {
        const wanted = this.roleSelect.value;
        this.roleSelect.value = this.role; // the server's answer (a new `members`) moves it
        if (wanted !== this.role) onRequest({ type: 'set_role', member: this.id, role: wanted });
      }],
    ];
    for (const [target, type, handler] of this.listeners) target.addEventListener(type, handler);
  }

  /**
   * Show `member` (an entry of `members`).
   * @param {{id: string, name: string, color: string, role: string, hand_raised: boolean, connected: boolean}} member
   * @param {{selfId: string|null, rights: object, handPlace: number}} context handPlace: 1-based place in the hand queue, 0: none
   */
  update(member, { selfId, rights, handPlace }) {
    this.role = member.role;
    const self = member.id === selfId;
    this.element.dataset.role = member.role;
    this.element.dataset.connected = String(member.connected);
    this.element.classList.toggle('self', self);
    this.dot.style.background = member.color;
    this.name.textContent = member.name;
    this.name.title = member.name;
    this.you.hidden = !self;
    this.hand.hidden = handPlace === 0;
    this.hand.textContent = `✋ ${handPlace}`;
    this.hand.title = `Hand raised: number ${handPlace} in the queue`;
    this.away.hidden = member.connected;
    this.away.title = 'Not connected now (may come back within a minute)';
    this.roleLabel.textContent = member.role;
    this.element.title = `${member.name}: ${member.role}${member.connected ? '' : ', not connected'}`;

    const shown = memberActions(member, selfId, rights);
    this.makePresenter.hidden = !shown.makePresenter;
    this.takeBack.hidden = !shown.takeBack;
    this.handBack.hidden = !shown.handBack;
    this.roleSelect.hidden = !shown.setRole;
    this.presenterOption.hidden = member.role !== 'presenter';
    this.roleSelect.value = member.role;
    this.lowerHand.hidden = !shown.lowerHand;
    this.remove.element.hidden = !shown.remove;
    this.remove.setQuestion(`Remove ${member.name}?`);
    this.actions.hidden = !Object.values(shown).some(Boolean);
  }

  dispose() {
    for (const [target, type, handler] of this.listeners) target.removeEventListener(type, handler);
    this.remove.dispose();
    this.element.remove();
  }
}

function span(className, text = '') {
  const element = document.createElement('span');
  element.className = className;
  element.textContent = text;
  return element;
}

function action(name, text, title) {
  const element = document.createElement('button');
  element.type = 'button';
  element.dataset.action = name;
  element.textContent = text;
  element.title = title;
  return element;
}
