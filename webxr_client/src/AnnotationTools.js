import * as THREE from 'three';
import { button } from './button.js';
import { StrokeBuilder, labelText, strokeWidth } from './StrokeBuilder.js';

/** A stroke keeps a point every this fraction of the scene's radius (a still hand or mouse adds none). */
const STROKE_SPACING = 0.005;
/** A desktop stroke floats this fraction of the scene's radius off the surface, so it is not buried in it. */
const SURFACE_LIFT = 0.004;

/**
 * Making and managing annotations: the side panel's Annotations section (the Pin and Draw tools, the list
 * with delete buttons for one's own, or anyone's for the host, Clear mine, Export JSON) and the input that
 * makes them. Desktop: with Pin, a click on a surface asks for the text (a small form at the point) and
 * sends `annotation_add {kind: "pin"}`; with Draw, dragging over the model draws a stroke (the orbit waits).
 * Headset: with Draw (a switch on the headset's panel), holding a trigger draws a stroke in the air where the
 * controller goes. The server's `annotation` messages draw them (AnnotationLayer), for the author too.
 */
export class AnnotationTools {
  /**
   * @param {HTMLElement} parent the section's body
   * @param {HTMLElement} overlay the viewport's overlay (the pin's text form goes in it)
   * @param {{ viewer: import('./Viewer.js').Viewer, layer: import('./AnnotationLayer.js').AnnotationLayer,
   *   views: () => object[], radius: () => number, send: (message: object) => boolean,
   *   self: () => {member: string|null, role: string|null}, names: (memberId: string) => string }} hooks
   */
  constructor(parent, overlay, { viewer, layer, views, radius, send, self, names }) {
    this.viewer = viewer;
    this.layer = layer;
    this.views = views;
    this.radius = radius;
    this.send = send;
    this.self = self;
    this.names = names;
    /** 'pin', 'draw' or null. */
    this.tool = null;
    this.pending = null;
    this.stroke = null;
    this.xrStroke = null;
    this.local = new THREE.Vector3();
    this.normal = new THREE.Vector3();
    this.toLocal = new THREE.Matrix4();

    const tools = document.createElement('div');
    tools.className = 'row buttons annotate-tools';
    this.pinButton = button('annotate-pin', 'Pin', 'Click a surface to pin a note there');
    this.drawButton = button('annotate-draw', 'Draw', 'Drag over the model (or hold a trigger in the headset) to draw');
    tools.append(this.pinButton, this.drawButton);
    this.hint = document.createElement('div');
    this.hint.className = 'annotate-hint';
    this.list = document.createElement('ul');
    this.list.className = 'annotation-list';
    this.list.id = 'annotation-list';
    const actions = document.createElement('div');
    actions.className = 'row annotate-actions';
    this.clearButton = button('annotate-clear', 'Clear mine', 'Delete every annotation you made');
    this.exportLink = document.createElement('a');
    this.exportLink.id = 'annotation-export';
    this.exportLink.className = 'export-link';
    this.exportLink.textContent = 'Export JSON';
    this.exportLink.download = 'annotations.json';
    this.exportLink.title = "Download the session's annotations as JSON";
    actions.append(this.clearButton, this.exportLink);
    parent.append(tools, this.hint, this.list, actions);

    this.form = document.createElement('form');
    this.form.className = 'pin-prompt';
    this.form.id = 'pin-prompt';
    this.form.hidden = true;
    this.input = document.createElement('input');
    this.input.type = 'text';
    this.input.id = 'pin-text';
    this.input.maxLength = 500;
    this.input.placeholder = 'Note for this point';
    const ok = button('pin-ok', 'Pin', 'Pin the note here');
    ok.type = 'submit';
    this.cancelButton = button('pin-cancel', 'Cancel', 'Pin nothing');
    this.form.append(this.input, ok, this.cancelButton);
    overlay.append(this.form);

    this.handlers = [
      [this.pinButton, 'click', () => this.setTool(this.tool === 'pin' ? null : 'pin')],
      [this.drawButton, 'click', () => this.setTool(this.tool === 'draw' ? null : 'draw')],
      [this.clearButton, 'click', () => this.send({ type: 'annotation_clear' })],
      [this.list, 'click', (event) => this.#listClick(event)],
      [this.form, 'submit', (event) => this.#submitPin(event)],
      [this.cancelButton, 'click', () => this.#closeForm()],
      [this.input, 'keydown', (event) => { if (event.key === 'Escape') this.#closeForm(); }],
      [viewer.container, 'pointerdown', (event) => this.#strokeStart(event), true],
      [window, 'pointermove', (event) => this.#strokeMove(event)],
      [window, 'pointerup', () => this.#strokeEnd()],
    ];
    for (const [target, type, handler, capture] of this.handlers) target.addEventListener(type, handler, Boolean(capture));
    this.controllers = [0, 1].map((index) => {
      const controller = viewer.renderer.xr.getController(index);
      const start = () => this.#xrStart(controller);
      const end = () => this.#xrEnd(controller);
      controller.addEventListener('selectstart', start);
      controller.addEventListener('selectend', end);
      return { controller, start, end };
    });
    this.setTool(null);
    this.refresh();
  }

  /** The session whose export the link downloads. */
  setSession(id, token) {
    this.exportLink.href = `/api/sessions/${encodeURIComponent(id)}/annotations?token=${encodeURIComponent(token)}`;
  }

  setTool(tool) {
    this.tool = tool;
    this.pinButton.setAttribute('aria-pressed', String(tool === 'pin'));
    this.drawButton.setAttribute('aria-pressed', String(tool === 'draw'));
    this.viewer.canvas.style.cursor = tool ? 'crosshair' : '';
    this.hint.textContent = tool === 'pin' ? 'Click a surface to pin a note.'
      : tool === 'draw' ? 'Drag over the model to draw; in the headset, hold a trigger.' : '';
    this.hint.hidden = !tool;
    if (tool !== 'pin') this.#closeForm();
  }

  /** Annotation messages from the server, and `members` (names and who may delete). */
  onMessage(message) {
    switch (message.type) {
      case 'annotations':
        this.layer.setAll(message.items);
        break;
      case 'annotation':
        this.layer.add(message.annotation);
        break;
      case 'annotation_deleted':
        for (const id of message.ids) this.layer.remove(id);
        break;
      case 'members':
        break;
      default:
        return;
    }
    this.refresh();
  }

  /** A click on the canvas (Prober's claimClick): true when the Pin or Draw tool takes it (no probe). */
  click(clientX, clientY) {
    if (this.tool === 'draw') return true;
    if (this.tool !== 'pin') return false;
    const picked = this.viewer.pick(clientX, clientY, this.views());
    if (!picked) return true;
    const { hit, view } = picked;
    this.toLocal.copy(view.group.matrixWorld).invert();
    const point = this.local.copy(hit.point).applyMatrix4(this.toLocal).toArray();
    let normal = null;
    if (hit.face) {
      this.normal.copy(hit.face.normal).transformDirection(hit.object.matrixWorld).transformDirection(this.toLocal);
      normal = this.normal.toArray();
    }
    this.pending = { object: view.id, point, normal };
    const rect = this.viewer.canvas.getBoundingClientRect();
    this.form.style.left = `${clientX - rect.left}px`;
    this.form.style.top = `${clientY - rect.top}px`;
    this.form.hidden = false;
    this.input.value = '';
    this.input.focus();
    return true;
  }

  /** Once per frame: a headset stroke takes the controller's position. */
  update() {
    const s = this.xrStroke;
    if (!s) return;
    s.controller.updateMatrixWorld(true);
    this.local.setFromMatrixPosition(s.controller.matrixWorld);
    this.viewer.content.worldToLocal(this.local);
    s.builder.add(this.local.x, this.local.y, this.local.z);
  }

  /** Rebuild the list (after any change). */
  refresh() {
    const { member, role } = this.self();
    const items = this.layer.list();
    this.list.replaceChildren(...items.map((info) => {
      const row = document.createElement('li');
      row.className = 'annotation-row';
      row.dataset.id = String(info.id);
      row.dataset.kind = info.kind;
      const dot = document.createElement('span');
      dot.className = 'annotation-dot';
      dot.style.background = info.color;
      const text = document.createElement('span');
      text.className = 'annotation-text';
      text.textContent = info.kind === 'pin' ? labelText(info.text, 80) : `Stroke · ${info.points.length} points`;
      text.title = info.kind === 'pin' ? info.text : '';
      const who = document.createElement('span');
      who.className = 'annotation-author';
      who.textContent = info.author === member ? 'you' : this.names(info.author) || info.author;
      row.append(dot, text, who);
      if (info.author === member || role === 'host') {
        const del = button(`annotation-delete-${info.id}`, '×', 'Delete this annotation');
        del.className = 'annotation-delete';
        row.append(del);
      }
      return row;
    }));
    this.list.hidden = items.length === 0;
    this.clearButton.disabled = !items.some((info) => info.author === member);
    const observer = role === 'observer';
    this.pinButton.disabled = this.drawButton.disabled = observer;
    if (observer && this.tool) this.setTool(null);
  }

  /** For `App.state()`. */
  state() {
    return { tool: this.tool, prompt: !this.form.hidden, drawing: Boolean(this.stroke || this.xrStroke), items: this.layer.state() };
  }

  dispose() {
    for (const [target, type, handler, capture] of this.handlers) target.removeEventListener(type, handler, Boolean(capture));
    for (const { controller, start, end } of this.controllers) {
      controller.removeEventListener('selectstart', start);
      controller.removeEventListener('selectend', end);
    }
    this.form.remove();
    this.viewer.canvas.style.cursor = '';
  }

  #listClick(event) {
    const del = event.target.closest('.annotation-delete');
    if (!del) return;
    const id = Number(del.closest('.annotation-row').dataset.id);
    this.send({ type: 'annotation_delete', id });
  }

  #submitPin(event) {
    event.preventDefault();
    const text = this.input.value.trim();
    if (text && this.pending) {
      const { object, point, normal } = this.pending;
      this.send({ type: 'annotation_add', kind: 'pin', object, point, ...(normal ? { normal } : {}), text });
    }
    this.#closeForm();
  }

  #closeForm() {
    this.pending = null;
    this.form.hidden = true;
  }

  #strokeStart(event) {
    if (this.tool !== 'draw' || event.button !== 0 || event.target !== this.viewer.canvas) return;
    if (this.viewer.renderer.xr.isPresenting) return;
    if (!this.#strokePoint(event)) return;
    event.stopPropagation(); // the orbit controls and the prober never see this press
    this.stroke = new StrokeBuilder(this.radius() * STROKE_SPACING);
    this.#strokeMove(event);
  }

  #strokeMove(event) {
    if (!this.stroke) return;
    const point = this.#strokePoint(event);
    if (point) this.stroke.add(point.x, point.y, point.z);
  }

  #strokeEnd() {
    if (!this.stroke) return;
    this.#sendStroke(this.stroke);
    this.stroke = null;
  }

  /** Where the mouse meets the model, a little off the surface, in content coordinates (null: off the model). */
  #strokePoint(event) {
    const picked = this.viewer.pick(event.clientX, event.clientY, this.views());
    if (!picked) return null;
    const { hit } = picked;
    this.local.copy(hit.point);
    if (hit.face) {
      this.normal.copy(hit.face.normal).transformDirection(hit.object.matrixWorld);
      this.local.addScaledVector(this.normal, this.radius() * SURFACE_LIFT);
    }
    return this.viewer.content.worldToLocal(this.local);
  }

  #xrStart(controller) {
    if (this.tool !== 'draw' || !this.viewer.renderer.xr.isPresenting || this.xrStroke) return;
    this.xrStroke = { controller, builder: new StrokeBuilder(this.radius() * STROKE_SPACING) };
    this.update();
  }

  #xrEnd(controller) {
    if (!this.xrStroke || this.xrStroke.controller !== controller) return;
    this.#sendStroke(this.xrStroke.builder);
    this.xrStroke = null;
  }

  #sendStroke(builder) {
    if (builder.length < 2) return;
    this.send({ type: 'annotation_add', kind: 'stroke', points: builder.points(), width: strokeWidth(this.radius()) });
  }
}
