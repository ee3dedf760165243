/**
 * Buttons for the twin's actions (ActionInfo: {name, description, needs_point}). An action that
 * needs a point is a tool: choose it, then click the twin object (the app sends the point); it
 * stays chosen until clicked again or Escape. Other actions ("clear scar") act at once.
 */
export class TwinTools {
  /**
   * @param {HTMLElement} parent
   * @param {{onAction: (name: string) => void, onTool: (name: string|null) => void}} callbacks
   */
  constructor(parent, { onAction, onTool }) {
    this.onAction = onAction;
    this.onTool = onTool;
    this.element = document.createElement('div');
    this.element.className = 'twin-tools';
    this.element.id = 'twin-tools';
    this.hint = document.createElement('div');
    this.hint.className = 'twin-hint';
    this.hint.id = 'twin-tool-hint';
    this.hint.hidden = true;
    this.buttons = document.createElement('div');
    this.buttons.className = 'twin-tool-buttons';
    this.element.append(this.buttons, this.hint);
    parent.append(this.element);
    this.actions = [];
    this.active = null;
    this.objectName = 'the object';
    this.handleClick = (event) => {
      const button = event.target.closest('button[data-action]');
      if (!button || button.disabled) return;
      const action = this.actions.find((a) => a.name === button.dataset.action);
      if (!action) return;
      if (action.needs_point) this.choose(this.active === action.name ? null : action.name);
      else this.onAction(action.name);
    };
    this.handleKey = (event) => {
      if (event.key === 'Escape' && this.active) this.choose(null);
    };
    this.buttons.addEventListener('click', this.handleClick);
    window.addEventListener('keydown', this.handleKey);
  }

  /** New actions (from a `twin` message); `objectName` is what the hint tells to click. */
  setActions(actions, objectName) {
    this.actions = actions;
    this.objectName = objectName || 'the object';
    this.buttons.replaceChildren();
    for (const action of actions) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = action.needs_point ? 'twin-tool' : 'twin-action';
      button.dataset.action = action.name;
      button.textContent = action.name;
      button.title = action.description || action.name;
      if (action.needs_point) button.setAttribute('aria-pressed', 'false');
      this.buttons.append(button);
    }
    this.element.hidden = actions.length === 0;
    if (!actions.some((a) => a.name === this.active && a.needs_point)) this.choose(null);
    else this.choose(this.active);
  }

  /** Choose the tool `name` (null: none). */
  choose(name) {
    this.active = name;
    for (const button of this.buttons.querySelectorAll('button.twin-tool')) {
      button.setAttribute('aria-pressed', String(button.dataset.action === name));
    }
    this.hint.hidden = name === null;
    this.hint.textContent = name === null ? '' : `Click ${this.objectName} to ${name} · Esc to stop`;
    this.onTool(name);
  }

  setDisabled(disabled) {
    for (const button of this.buttons.querySelectorAll('button')) button.disabled = disabled;
    if (disabled && this.active) this.choose(null);
  }

  dispose() {
    this.buttons.removeEventListener('click', this.handleClick);
    window.removeEventListener('keydown', this.handleKey);
    this.element.remove();
  }
}
