import { TRIANGLE_BUDGET, pickLevels } from './LodBudget.js';

/**
 * Picks the level of detail each object shows: in the headset, the finest levels whose visible
 * triangles fit the budget (LodBudget.pickLevels; Quest 3 keeps 72-90 Hz under about 1M); on the
 * desktop, the full assets (a desktop GPU draws them, and the desktop is where detail is inspected).
 *
 * It chooses again only when something the choice depends on changes: the scene (App calls
 * `update` after a `scene`), an object's visibility (App, from the object list) and entering or
 * leaving the headset (the renderer's `sessionstart` / `sessionend`), never per frame. A level
 * not loaded yet shows once fetched (ObjectView.setLevel); until then the old one stays.
 */
export class LodChooser {
  /**
   * The budget a page asks for with `?triangles=N` (a positive integer; tests use small ones), else the default.
   * @param {string} search `window.location.search`
   */
  static budgetFrom(search) {
    const text = new URLSearchParams(search).get('triangles');
    const value = text === null ? NaN : Number(text);
    return Number.isInteger(value) && value > 0 ? value : TRIANGLE_BUDGET;
  }

  /**
   * @param {import('three').WebGLRenderer} renderer its `xr` says whether the headset presents
   * @param {() => import('./ObjectView.js').ObjectView[]} views the scene's objects
   * @param {{ budget?: number }} [options] visible triangles allowed in the headset
   */
  constructor(renderer, views, { budget = TRIANGLE_BUDGET } = {}) {
    this.xr = renderer.xr;
    this.views = views;
    this.budget = budget;
    this.presenting = false;
    /** Triangles of the chosen levels of the visible objects. */
    this.chosen = 0;
    /** How many times levels were chosen (tests see that it is not every frame). */
    this.updates = 0;
    this.handleSession = () => this.update();
    this.xr.addEventListener('sessionstart', this.handleSession);
    this.xr.addEventListener('sessionend', this.handleSession);
  }

  /** Choose every object's level again and ask the objects to show it. */
  update() {
    const views = this.views();
    this.presenting = this.xr.isPresenting;
    const levels = views.map((view) => view.levelTriangles);
    const visible = views.map((view) => view.group.visible);
    const { picks, triangles } = pickLevels(levels, visible, this.presenting ? this.budget : Infinity);
    for (let i = 0; i < views.length; i++) views[i].setLevel(picks[i]);
    this.chosen = triangles;
    this.updates += 1;
  }

  /** For `App.state().lod`: the budget in force (null on the desktop) and the triangles chosen and shown. */
  state() {
    let shown = 0;
    for (const view of this.views()) if (view.group.visible) shown += view.triangles;
    return {
      budget: this.budget,
      limit: this.presenting ? this.budget : null,
      presenting: this.presenting,
      chosen: this.chosen,
      shown,
      updates: this.updates,
    };
  }

  dispose() {
    this.xr.removeEventListener('sessionstart', this.handleSession);
    this.xr.removeEventListener('sessionend', this.handleSession);
  }
}
