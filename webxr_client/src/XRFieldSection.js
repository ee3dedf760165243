import { fieldRows, nextChoice } from './XRPanelLayout.js';

const HEADINGS = { object: 'Object', field: 'Field', colormap: 'Colour map' };

/**
 * The field section of a headset panel: which object (when there are several), which of its
 * fields colours it, and with which colour map, each option a button. A second face of the desktop
 * {@link import('./FieldPicker.js').FieldPicker} and {@link import('./ObjectList.js').ObjectList}:
 * it lists their options and picks by setting the select and sending its change (or clicking the
 * object's name), so the app's field and colour-map logic stays in one place. It reads their options
 * again only after the DOM says they changed (a MutationObserver), not every frame.
 */
export class XRFieldSection {
  /**
   * @param {import('./FieldPicker.js').FieldPicker} fieldPicker
   * @param {import('./ObjectList.js').ObjectList} objectList
   */
  constructor(fieldPicker, objectList) {
    this.id = 'field';
    this.picker = fieldPicker;
    this.objectList = objectList;
    this.options = { objects: [], fields: [], colormaps: [] };
    this.optionsKey = '';
    /** Goes up when the options changed (the rows must be laid out again). */
    this.version = 0;
    this.selectedRow = null;
    this.stale = true;
    this.observer = new MutationObserver(() => { this.stale = true; });
    this.observer.observe(fieldPicker.fieldSelect, { childList: true, subtree: true, characterData: true });
    this.observer.observe(fieldPicker.colormapSelect, { childList: true, subtree: true, characterData: true });
    this.observer.observe(objectList.list, { childList: true, subtree: true, attributes: true, attributeFilter: ['class'] });
  }

  /** Something to choose: a field of the selected object, or another object. */
  shown() {
    return this.picker.fieldSelect.options.length > 1 || this.objectList.rows.size > 1;
  }

  key() {
    if (this.stale) this.#refresh();
    return this.version;
  }

  /** What the texts and controls are drawn from: the selected object, field and colour map, and whether each can change. */
  sign(signature) {
    if (this.stale) this.#refresh();
    const { fieldSelect, colormapSelect } = this.picker;
    signature.add(this.version);
    signature.add(this.selectedRow);
    signature.add(fieldSelect.selectedIndex);
    signature.add(fieldSelect.disabled);
    signature.add(colormapSelect.selectedIndex);
    signature.add(colormapSelect.disabled);
  }

  dispose() {
    this.observer.disconnect();
  }

  rows() {
    return fieldRows(this.options);
  }

  text(key) {
    if (key === 'title') {
      const name = this.#selectedRow()?.dataset.objectName;
      return { text: name && this.options.objects.length <= 1 ? `Colour by field · ${name}` : 'Colour by field', tone: 'title' };
    }
    return { text: HEADINGS[key], tone: 'dim' };
  }

  look(control) {
    const current = this.#current(control.choice);
    const enabled = control.choice === 'object' || !this.#select(control.choice).disabled;
    if (control.role === 'option') {
      const label = this.options[`${control.choice}s`].find((o) => o.value === control.value)?.label ?? control.value;
      return { label, active: current === control.value, enabled };
    }
    if (control.by < 0) return { label: '◂', active: false, enabled };
    if (control.name.endsWith(':next')) return { label: '▸', active: false, enabled };
    const label = this.options[`${control.choice}s`].find((o) => o.value === current)?.label ?? '';
    return { label, active: true, enabled };
  }

  press(control) {
    const values = this.options[`${control.choice}s`].map((o) => o.value);
    const value = control.role === 'option' ? control.value : nextChoice(values, this.#current(control.choice), control.by);
    if (value === this.#current(control.choice)) return;
    if (control.choice === 'object') {
      this.objectList.rows.get(Number(value))?.row.querySelector('.object-name')?.click();
      return;
    }
    const select = this.#select(control.choice);
    if (select.disabled) return;
    select.value = value === 'none' ? '' : value;
    select.dispatchEvent(new Event('change'));
  }

  slider() {
    return null;
  }

  values() {
    const field = this.picker.fieldSelect;
    return {
      object: this.#selectedRow()?.dataset.objectName ?? null,
      field: field.value ? field.selectedOptions[0]?.text ?? null : null,
      colormap: this.picker.colormapSelect.disabled ? null : this.picker.colormapSelect.value,
    };
  }

  #select(choice) {
    return choice === 'field' ? this.picker.fieldSelect : this.picker.colormapSelect;
  }

  /** The chosen option's value of `choice` ('object', 'field' or 'colormap'), as the options name it. */
  #current(choice) {
    if (choice === 'object') return this.#selectedRow()?.dataset.objectId ?? null;
    if (choice === 'field') return this.picker.fieldSelect.value || 'none';
    return this.picker.colormapSelect.value;
  }

  /** Read the options and the selected row again (the DOM changed); a new version when the options differ. */
  #refresh() {
    this.stale = false;
    this.selectedRow = this.#selectedRow();
    const options = {
      objects: [...this.objectList.rows.entries()].map(([id, { row }]) => ({ value: String(id), label: row.dataset.objectName })),
      fields: [...this.picker.fieldSelect.options].map((o) => ({ value: o.value || 'none', label: o.value ? o.text : 'none' })),
      colormaps: [...this.picker.colormapSelect.options].map((o) => ({ value: o.value, label: o.text })),
    };
    const key = JSON.stringify(options);
    if (key === this.optionsKey) return;
    this.optionsKey = key;
    this.options = options;
    this.version += 1;
  }

  #selectedRow() {
    for (const { row } of this.objectList.rows.values()) if (row.classList.contains('selected')) return row;
    return null;
  }
}
