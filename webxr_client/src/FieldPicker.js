import { ColormapTexture } from './ColormapTexture.js';

/** Two selects: which field of the selected object colours it, and with which colour map. */
export class FieldPicker {
  /**
   * @param {HTMLElement} parent
   * @param {{onField: (fieldId: number|null) => void, onColormap: (name: string) => void}} callbacks
   */
  constructor(parent, { onField, onColormap }) {
    this.element = document.createElement('div');
    this.element.className = 'field-picker';
    this.fieldSelect = labelled(this.element, 'Field', 'field-select');
    this.colormapSelect = labelled(this.element, 'Colour map', 'colormap-select');
    for (const name of ColormapTexture.names) this.colormapSelect.append(new Option(name, name));
    parent.append(this.element);
    this.fieldSelect.addEventListener('change', this.handleField = () => {
      const value = this.fieldSelect.value;
      onField(value === '' ? null : Number(value));
    });
    this.colormapSelect.addEventListener('change', this.handleColormap = () => onColormap(this.colormapSelect.value));
    this.update(null, null);
  }

  /** Show the fields of `view` (an ObjectView or null) and the colour map of `display`. */
  update(view, display) {
    this.fieldSelect.replaceChildren(new Option('none (plain colour)', ''));
    for (const field of view?.fields ?? []) {
      const label = field.unit ? `${field.name} (${field.unit})` : field.name;
      this.fieldSelect.append(new Option(label, String(field.id)));
    }
    this.fieldSelect.value = view && view.activeFieldId !== null ? String(view.activeFieldId) : '';
    this.fieldSelect.disabled = !view || !view.fields.length;
    this.colormapSelect.disabled = !display;
    if (display) this.colormapSelect.value = display.colormap;
  }

  dispose() {
    this.fieldSelect.removeEventListener('change', this.handleField);
    this.colormapSelect.removeEventListener('change', this.handleColormap);
    this.element.remove();
  }
}

function labelled(parent, text, id) {
  const label = document.createElement('label');
  label.className = 'row';
  const span = document.createElement('span');
  span.textContent = text;
  const select = document.createElement('select');
  select.id = id;
  label.append(span, select);
  parent.append(label);
  return select;
}
