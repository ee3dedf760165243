/**
 * A button for something that cannot be undone (remove a person, end the session): the first click
 * asks in place ("Remove Pat?" Yes / No), the second does it. In the page, not a `window.confirm`
 * dialog, so it works the same in a headset's browser and in tests.
 */
export class ConfirmButton {
  /**
   * @param {string} action data-action of the button (tests and styles find it by this)
   * @param {string} label the button's text
   * @param {string} tooltip what it does
   * @param {() => void} onConfirm
   */
  constructor(action, label, tooltip, onConfirm) {
    this.onConfirm = onConfirm;
    this.question = '';
    this.element = document.createElement('span');
    this.element.className = 'confirm-button';
    this.button = document.createElement('button');
    this.button.type = 'button';
    this.button.dataset.action = action;
    this.button.textContent = label;
    this.button.title = tooltip;
    this.ask = document.createElement('span');
    this.ask.className = 'confirm-ask';
    this.ask.hidden = true;
    this.prompt = document.createElement('span');
    this.yes = document.createElement('button');
    this.yes.type = 'button';
    this.yes.dataset.action = `${action}-yes`;
    this.yes.className = 'danger';
    this.yes.textContent = 'Yes';
    this.no = document.createElement('button');
    this.no.type = 'button';
    this.no.dataset.action = `${action}-no`;
    this.no.textContent = 'No';
    this.ask.append(this.prompt, this.yes, this.no);
    this.element.append(this.button, this.ask);
    this.listeners = [
      [this.button, 'click', () => this.#asking(true)],
      [this.no, 'click', () => this.#asking(false)],
      [this.yes, 'click', () => {
        this.#asking(false);
        this.onConfirm();
      }],
    ];
    for (const [target, type, handler] of this.listeners) target.addEventListener(type, handler);
  }

  /** The question asked after the first click ("Remove Pat from the session?"). */
  setQuestion(text) {
    this.question = text;
    this.prompt.textContent = text;
  }

  dispose() {
    for (const [target, type, handler] of this.listeners) target.removeEventListener(type, handler);
    this.element.remove();
  }

  #asking(on) {
    this.button.hidden = on;
    this.ask.hidden = !on;
  }
}
