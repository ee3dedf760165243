import { TwinSliderScale } from './TwinSliderScale.js';
import { prettyUnit } from './TwinParameterControl.js';
import { nextChoice, rangeFraction, twinRows } from './XRPanelLayout.js';

const STATE_LABELS = { starting: 'Starting…', running: 'Running', paused: 'Paused', restarting: 'Restarting', failed: 'Failed' };

/**
 * The live twin's section of a headset panel: a second face of the desktop {@link
 * import('./TwinPanel.js').TwinPanel}. It reads what the desktop controls show and drives them (the
 * buttons' clicks; a slider is dragged by the panel through `slider()`), so throttling, holds,
 * refusals and requests stay in one place. Shown while the session has a twin.
 */
export class XRTwinSection {
  /** @param {import('./TwinPanel.js').TwinPanel} twinPanel */
  constructor(twinPanel) {
    this.id = 'twin';
    this.twinPanel = twinPanel;
    /** Slider scales by parameter name, for the values the sliders' positions mean. */
    this.scales = new Map();
    /** The desktop parameter controls, in an array (walked every frame), and the schema they are for. */
    this.desktops = [];
    this.desktopsFor = null;
  }

  shown() {
    return Boolean(this.twinPanel.status);
  }

  /** Changes when the rows must be laid out again. */
  key() {
    return this.twinPanel.schemaKey;
  }

  rows() {
    const status = this.twinPanel.status;
    this.scales.clear();
    for (const info of status.parameters || []) {
      if (info.type !== 'bool' && info.type !== 'choice') this.scales.set(info.name, new TwinSliderScale(info));
    }
    return twinRows(status.parameters || [], status.actions || []);
  }

  /** What the texts and controls are drawn from: the twin's state, its message and tool, the controls' values. */
  sign(signature) {
    const panel = this.twinPanel;
    signature.add(panel.status?.state);
    signature.add(panel.errorText);
    signature.add(panel.activeTool);
    if (this.desktopsFor !== panel.schemaKey) {
      this.desktopsFor = panel.schemaKey;
      this.desktops = [...panel.controls.values()];
    }
    for (let i = 0; i < this.desktops.length; i++) {
      const desktop = this.desktops[i];
      if (desktop.checkbox) signature.add(desktop.checkbox.checked);
      else if (desktop.select) signature.add(desktop.select.value);
      else {
        signature.add(desktop.slider.value);
        signature.add(desktop.number.value);
      }
    }
  }

  text(key) {
    const panel = this.twinPanel;
    if (key === 'title') return { text: `Live twin · ${STATE_LABELS[this.#state()] || this.#state() || ''}`, tone: 'title' };
    if (key === 'message') return { text: panel.errorText, tone: 'error' };
    const hint = panel.activeTool ? `Tool: ${panel.activeTool} — point at the heart and pull the trigger` : 'Actions';
    return { text: hint, tone: 'dim' };
  }

  look(control) {
    const panel = this.twinPanel;
    const state = this.#state();
    const usable = state === 'running' || state === 'paused';
    switch (control.role) {
      case 'play': return { label: state === 'running' ? '❚❚  Pause' : '▶  Play', active: false, enabled: usable };
      case 'reset': return { label: 'Reset', active: false, enabled: state !== 'starting' };
      case 'tool': return { label: control.name, active: panel.activeTool === control.name, enabled: usable };
      case 'action': return { label: control.name, active: false, enabled: usable };
      case 'toggle': {
        const on = Boolean(this.#value(control));
        return { label: `${control.name}: ${on ? 'on' : 'off'}`, active: on, enabled: usable };
      }
      case 'choice': return { label: `${control.name}: ${this.#value(control)}  ▸`, active: false, enabled: usable };
      default: {
        const desktop = this.#desktop(control);
        const unit = prettyUnit(control.info.unit);
        const slider = desktop?.slider;
        return {
          label: control.name,
          value: `${desktop ? desktop.number.value : this.#value(control)}${unit ? ` ${unit}` : ''}`,
          fraction: slider ? rangeFraction(Number(slider.value), Number(slider.min), Number(slider.max)) : 0,
          enabled: usable,
        };
      }
    }
  }

  /** A button was pressed: the desktop control's click (or a choice's next value). */
  press(control) {
    const panel = this.twinPanel;
    const desktop = this.#desktop(control);
    switch (control.role) {
      case 'play': panel.play.click(); break;
      case 'reset': panel.reset.click(); break;
      case 'tool':
      case 'action':
        for (const button of panel.tools.buttons.querySelectorAll('button[data-action]')) {
          if (button.dataset.action === control.name) button.click();
        }
        break;
      case 'toggle': desktop?.checkbox?.click(); break;
      case 'choice':
        if (desktop?.select && !desktop.select.disabled) {
          desktop.select.value = nextChoice(control.info.choices, desktop.select.value);
          desktop.select.dispatchEvent(new Event('change'));
        }
        break;
      default:
    }
  }

  /** The desktop range input a slider control drags. */
  slider(control) {
    return this.#desktop(control)?.slider ?? null;
  }

  /** The parameters' values as the desktop controls show them, by name. */
  values() {
    const values = {};
    for (const name of this.twinPanel.controls.keys()) values[name] = this.#value({ name });
    return values;
  }

  #state() {
    return this.twinPanel.status?.state;
  }

  /** The desktop TwinParameterControl behind a parameter's control (undefined for buttons). */
  #desktop(control) {
    return this.twinPanel.controls.get(control.name);
  }

  #value(control) {
    const desktop = this.#desktop(control);
    if (!desktop) return null;
    if (desktop.checkbox) return desktop.checkbox.checked;
    if (desktop.select) return desktop.select.value;
    return this.scales.get(control.name)?.toValue(desktop.slider.value) ?? null;
  }
}
