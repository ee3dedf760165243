import { toggleRows } from './XRPanelLayout.js';

/**
 * On/off switches other parts of the headset view put on a panel (a clipping plane, say), each
 * `{name, label, value: () => boolean, toggle: () => void, enabled?: () => boolean}`: the section
 * shows `value()` and calls `toggle()` when pressed. Shown while it holds at least one.
 */
export class XRToggleSection {
  constructor(title = 'View') {
    this.id = 'toggles';
    this.title = title;
    /** @type {Map<string, {name: string, label: string, value: () => boolean, toggle: () => void, enabled?: () => boolean}>} */
    this.toggles = new Map();
    /** The switches in an array (walked every frame) and a count that goes up when they change. */
    this.list = [];
    this.version = 0;
  }

  /** Add a switch (a second with the same name replaces the first); returns a function that removes it. */
  add(toggle) {
    this.toggles.set(toggle.name, toggle);
    this.#listChanged();
    return () => {
      if (this.toggles.get(toggle.name) !== toggle) return;
      this.toggles.delete(toggle.name);
      this.#listChanged();
    };
  }

  shown() {
    return this.toggles.size > 0;
  }

  key() {
    return this.version;
  }

  rows() {
    return toggleRows([...this.toggles.keys()]);
  }

  sign(signature) {
    for (let i = 0; i < this.list.length; i++) {
      const toggle = this.list[i];
      signature.add(Boolean(toggle.value()));
      signature.add(toggle.enabled ? toggle.enabled() : true);
    }
  }

  text() {
    return { text: this.title, tone: 'title' };
  }

  look(control) {
    const toggle = this.toggles.get(control.name);
    const on = Boolean(toggle?.value());
    const enabled = Boolean(toggle) && (toggle.enabled ? toggle.enabled() : true);
    return { label: `${toggle?.label ?? control.name}: ${on ? 'on' : 'off'}`, active: on, enabled };
  }

  press(control) {
    const toggle = this.toggles.get(control.name);
    if (toggle && (toggle.enabled ? toggle.enabled() : true)) toggle.toggle();
  }

  slider() {
    return null;
  }

  values() {
    return Object.fromEntries([...this.toggles.values()].map((t) => [t.name, Boolean(t.value())]));
  }

  #listChanged() {
    this.list = [...this.toggles.values()];
    this.version += 1;
  }
}
