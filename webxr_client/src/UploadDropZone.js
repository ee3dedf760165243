const STAGE_TEXT = { sending: 'Sending', received: 'Received', converting: 'Converting', done: 'Added to the scene', failed: 'Failed' };

/**
 * Add files to the session: a button with a file dialog, or drag and drop anywhere on the page.
 * Each upload gets a row with a progress bar: the bytes sent, then the server's conversion stages
 * (`upload` messages, which every participant sees); errors show in the row, in red.
 */
export class UploadDropZone {
  /**
   * @param {HTMLElement} parent panel section body
   * @param {HTMLElement} dropTarget element over which a drop overlay appears (the viewport)
   * @param {(files: File[]) => void} onFiles
   */
  constructor(parent, dropTarget, onFiles) {
    this.onFiles = onFiles;
    this.element = document.createElement('div');
    this.element.className = 'upload';
    this.input = document.createElement('input');
    this.input.type = 'file';
    this.input.id = 'upload-input';
    this.input.multiple = true;
    this.input.hidden = true;
    this.button = document.createElement('button');
    this.button.type = 'button';
    this.button.id = 'upload-button';
    this.button.textContent = 'Add a file…';
    this.button.title = 'Meshes and simulation output (STL, OBJ, PLY, GLB, VTK, VTU, PVD, XDMF, ...); or drop files on the view';
    this.list = document.createElement('ul');
    this.list.id = 'upload-list';
    this.list.className = 'upload-list';
    this.element.append(this.button, this.input, this.list);
    parent.append(this.element);
    this.overlay = document.createElement('div');
    this.overlay.className = 'drop-overlay';
    this.overlay.id = 'drop-overlay';
    this.overlay.textContent = 'Drop to add to this session';
    this.overlay.hidden = true;
    dropTarget.append(this.overlay);
    this.rows = new Map();
    this.depth = 0;
    this.listeners = [
      [this.button, 'click', () => this.input.click()],
      [this.input, 'change', () => {
        const files = [...this.input.files];
        this.input.value = '';
        if (files.length) this.onFiles(files);
      }],
      [window, 'dragenter', (event) => {
        if (!hasFiles(event)) return;
        event.preventDefault();
        this.depth += 1;
        this.overlay.hidden = false;
      }],
      [window, 'dragover', (event) => {
        if (!hasFiles(event)) return;
        event.preventDefault();
        event.dataTransfer.dropEffect = 'copy';
      }],
      [window, 'dragleave', () => {
        this.depth = Math.max(0, this.depth - 1);
        if (this.depth === 0) this.overlay.hidden = true;
      }],
      [window, 'drop', (event) => {
        if (!hasFiles(event)) return;
        event.preventDefault();
        this.depth = 0;
        this.overlay.hidden = true;
        const files = [...event.dataTransfer.files];
        if (files.length) this.onFiles(files);
      }],
    ];
    for (const [target, type, handler] of this.listeners) target.addEventListener(type, handler);
  }

  /** Show an upload (by key: a local key first, the server's upload_id later) at `stage` and `fraction`. */
  show(key, name, stage, fraction = 0, error = '') {
    let entry = this.rows.get(key);
    if (!entry) {
      const row = document.createElement('li');
      row.className = 'upload-row';
      const label = document.createElement('div');
      label.className = 'upload-name';
      const bar = document.createElement('progress');
      bar.max = 1;
      const status = document.createElement('div');
      status.className = 'upload-status';
      row.append(label, bar, status);
      this.list.prepend(row);
      entry = { row, label, bar, status };
      this.rows.set(key, entry);
    }
    entry.row.dataset.uploadId = key;
    entry.row.dataset.stage = stage;
    entry.label.textContent = name;
    entry.bar.value = stage === 'done' ? 1 : Math.max(0, Math.min(1, fraction));
    entry.bar.hidden = stage === 'done' || stage === 'failed';
    const percent = stage === 'sending' || stage === 'converting' ? ` ${Math.round(fraction * 100)} %` : '';
    entry.status.textContent = stage === 'failed' ? error || 'Upload failed' : `${STAGE_TEXT[stage] ?? stage}${percent}`;
    entry.row.classList.toggle('failed', stage === 'failed');
  }

  /** The server named a local upload: later `upload` messages use `uploadId`. */
  rekey(localKey, uploadId) {
    const entry = this.rows.get(localKey);
    if (!entry) return;
    this.rows.delete(localKey);
    if (this.rows.has(uploadId)) {
      entry.row.remove(); // the server's messages got here first and have their own row
      return;
    }
    this.rows.set(uploadId, entry);
    entry.row.dataset.uploadId = uploadId;
  }

  has(key) {
    return this.rows.has(key);
  }

  dispose() {
    for (const [target, type, handler] of this.listeners) target.removeEventListener(type, handler);
    this.element.remove();
    this.overlay.remove();
  }
}

function hasFiles(event) {
  return Boolean(event.dataTransfer) && [...event.dataTransfer.types].includes('Files');
}
