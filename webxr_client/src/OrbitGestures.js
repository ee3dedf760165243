/** Zoom per wheel pixel: a notch (about 100 px) moves about 10 % closer or farther. */
const WHEEL_ZOOM_PER_PIXEL = 0.001;

/**
 * Mouse and touch on the video turned into orbit moves (VideoOrbit): one pointer dragged rotates, two
 * pinched zoom, the wheel zooms. `onChange()` follows every move (the caller throttles what it sends).
 */
export class OrbitGestures {
  /**
   * @param {HTMLElement} element
   * @param {import('./VideoOrbit.js').VideoOrbit} orbit
   * @param {() => void} onChange
   */
  constructor(element, orbit, onChange) {
    this.element = element;
    this.orbit = orbit;
    this.onChange = onChange;
    /** pointerId -> last {x, y} of each pointer down on the element. */
    this.pointers = new Map();
    this.pinch = 0;
    this.handlers = {
      pointerdown: (event) => this.#down(event),
      pointermove: (event) => this.#move(event),
      pointerup: (event) => this.#up(event),
      pointercancel: (event) => this.#up(event),
      wheel: (event) => this.#wheel(event),
    };
    for (const [type, handler] of Object.entries(this.handlers)) {
      element.addEventListener(type, handler, { passive: type !== 'wheel' });
    }
    element.style.touchAction = 'none';
  }

  dispose() {
    for (const [type, handler] of Object.entries(this.handlers)) this.element.removeEventListener(type, handler);
    this.pointers.clear();
  }

  #down(event) {
    if (event.pointerType === 'mouse' && event.button !== 0) return;
    this.element.setPointerCapture?.(event.pointerId);
    this.pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    this.pinch = this.#spread();
    this.element.dataset.dragging = 'true';
  }

  #move(event) {
    const last = this.pointers.get(event.pointerId);
    if (!last) return;
    const dx = event.clientX - last.x;
    const dy = event.clientY - last.y;
    last.x = event.clientX;
    last.y = event.clientY;
    if (this.pointers.size === 1) {
      this.orbit.rotate(dx, dy);
    } else {
      const spread = this.#spread();
      if (this.pinch > 0 && spread > 0) this.orbit.zoom(this.pinch / spread);
      this.pinch = spread;
    }
    this.onChange();
  }

  #up(event) {
    this.pointers.delete(event.pointerId);
    this.pinch = this.#spread();
    if (!this.pointers.size) delete this.element.dataset.dragging;
  }

  #wheel(event) {
    event.preventDefault();
    const pixels = event.deltaMode === 1 ? event.deltaY * 16 : event.deltaY;
    this.orbit.zoom(Math.exp(pixels * WHEEL_ZOOM_PER_PIXEL));
    this.onChange();
  }

  /** Distance between the first two pointers (0 with fewer). */
  #spread() {
    if (this.pointers.size < 2) return 0;
    const [a, b] = this.pointers.values();
    return Math.hypot(a.x - b.x, a.y - b.y);
  }
}
