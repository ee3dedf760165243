/**
 * Compare two objects side by side (a baseline and a variant run): a toggle and one picker per
 * side. Both sides share the orbit (linked cameras), the time slider and the colour scale of a
 * field they have in common; the Viewer does the drawing.
 */
export class SplitView {
  /**
   * @param {HTMLElement} parent
   * @param {(pair: [number, number] | null) => void} onChange object ids shown left and right, or null
   */
  constructor(parent, onChange) {
    this.onChange = onChange;
    this.element = document.createElement('div');
    this.element.className = 'split-view';
    const toggleLabel = document.createElement('label');
    toggleLabel.className = 'inline';
    this.toggle = document.createElement('input');
    this.toggle.type = 'checkbox';
    this.toggle.id = 'split-enabled';
    toggleLabel.append(this.toggle, document.createTextNode(' Side by side'));
    const row = document.createElement('div');
    row.className = 'row split-pickers';
    this.left = document.createElement('select');
    this.left.id = 'split-left';
    this.left.title = 'Left';
    this.right = document.createElement('select');
    this.right.id = 'split-right';
    this.right.title = 'Right';
    row.append(this.left, this.right);
    this.element.append(toggleLabel, row);
    parent.append(this.element);
    this.handler = () => this.#emit();
    for (const input of [this.toggle, this.left, this.right]) input.addEventListener('change', this.handler);
    this.update([]);
  }

  get enabled() {
    return this.toggle.checked;
  }

  /** Offer the scene's objects; keeps the current choice where those objects still exist. */
  update(views) {
    const previous = [this.left.value, this.right.value];
    for (const [k, select] of [this.left, this.right].entries()) {
      select.replaceChildren(...views.map((v) => new Option(v.name, String(v.id))));
      const keep = views.some((v) => String(v.id) === previous[k]);
      const fallback = views[Math.min(k, views.length - 1)];
      select.value = keep ? previous[k] : fallback ? String(fallback.id) : '';
    }
    const usable = views.length >= 2;
    this.toggle.disabled = !usable;
    this.toggle.title = usable ? 'Two viewports, one object each' : 'Needs two objects in the scene (upload a second run)';
    if (!usable && this.toggle.checked) this.toggle.checked = false;
    this.left.disabled = this.right.disabled = !this.toggle.checked;
    this.#emit();
  }

  /** Turn split view on or off from code (the same as clicking the toggle). */
  setEnabled(on) {
    this.toggle.checked = on && !this.toggle.disabled;
    this.#emit();
  }

  dispose() {
    for (const input of [this.toggle, this.left, this.right]) input.removeEventListener('change', this.handler);
    this.element.remove();
  }

  #emit() {
    this.left.disabled = this.right.disabled = !this.toggle.checked;
    this.onChange(this.toggle.checked ? [Number(this.left.value), Number(this.right.value)] : null);
  }
}
