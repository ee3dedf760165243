/**
 * The scene's objects: a visibility checkbox and an opacity slider each; clicking a name selects
 * the object whose field the field section shows. Visibility and opacity are this viewer's own.
 */
export class ObjectList {
  /**
   * @param {HTMLElement} parent
   * @param {{onVisible: (id: number, visible: boolean) => void, onOpacity: (id: number, opacity: number) => void,
   *          onSelect: (id: number) => void}} callbacks
   */
  constructor(parent, { onVisible, onOpacity, onSelect }) {
    this.list = document.createElement('ul');
    this.list.id = 'object-list';
    this.list.className = 'object-list';
    parent.append(this.list);
    this.onVisible = onVisible;
    this.onOpacity = onOpacity;
    this.onSelect = onSelect;
    this.rows = new Map();
    this.list.addEventListener('input', this.handleInput = (event) => this.#input(event));
    this.list.addEventListener('click', this.handleClick = (event) => this.#click(event));
  }

  /** Rebuild the rows for `views` (ObjectView[]); `selectedId` is highlighted. */
  update(views, selectedId) {
    this.list.replaceChildren();
    this.rows.clear();
    for (const view of views) {
      const row = document.createElement('li');
      row.className = 'object-row';
      row.dataset.objectId = String(view.id);
      row.dataset.objectName = view.name;
      const visible = document.createElement('input');
      visible.type = 'checkbox';
      visible.className = 'object-visible';
      visible.checked = view.group.visible;
      visible.title = 'Show or hide';
      const name = document.createElement('button');
      name.type = 'button';
      name.className = 'object-name';
      name.textContent = view.name;
      name.title = `${view.info.vertices ?? '?'} vertices, ${view.info.triangles ?? '?'} triangles`;
      const state = document.createElement('span');
      state.className = 'object-state';
      const opacity = document.createElement('input');
      opacity.type = 'range';
      opacity.className = 'object-opacity';
      opacity.min = '0';
      opacity.max = '1';
      opacity.step = '0.05';
      opacity.value = String(view.opacity);
      opacity.title = 'Opacity';
      row.append(visible, name, state, opacity);
      this.list.append(row);
      this.rows.set(view.id, { row, state });
      this.setState(view);
    }
    this.select(selectedId);
  }

  /** Show an object's loading state (coarse LOD, loaded, failed). */
  setState(view) {
    const entry = this.rows.get(view.id);
    if (!entry) return;
    const text = { none: 'loading', lod: 'coarse', full: '', failed: 'failed' }[view.level] ?? '';
    entry.state.textContent = text;
    entry.state.title = view.error || '';
    entry.row.dataset.level = view.level;
  }

  select(id) {
    for (const [rowId, { row }] of this.rows) row.classList.toggle('selected', rowId === id);
  }

  dispose() {
    this.list.removeEventListener('input', this.handleInput);
    this.list.removeEventListener('click', this.handleClick);
    this.list.remove();
  }

  #input(event) {
    const row = event.target.closest('.object-row');
    if (!row) return;
    const id = Number(row.dataset.objectId);
    if (event.target.classList.contains('object-visible')) this.onVisible(id, event.target.checked);
    if (event.target.classList.contains('object-opacity')) this.onOpacity(id, Number(event.target.value));
  }

  #click(event) {
    if (!event.target.classList.contains('object-name')) return;
    const id = Number(event.target.closest('.object-row').dataset.objectId);
    this.select(id);
    this.onSelect(id);
  }
}
