import { nextChoice, rangeFraction, timeRows } from './XRPanelLayout.js';

/**
 * Playback's section of a headset panel: play / pause, a step back and on, the scrub slider over the
 * steps, speed and loop. A second face of the desktop {@link import('./TimeControls.js').TimeControls}:
 * it shows what they show and drives them (clicks, the slider's events, the selects' changes), so the
 * requests, the seek throttle and the server's playback state stay in one place. Shown while the scene
 * has a time series.
 */
export class XRTimeSection {
  /** @param {import('./TimeControls.js').TimeControls} timeControls */
  constructor(timeControls) {
    this.id = 'time';
    this.time = timeControls;
  }

  shown() {
    return this.time.state.steps > 1;
  }

  key() {
    return 'time';
  }

  rows() {
    return timeRows();
  }

  /** What the texts and controls are drawn from (the step's label follows the step and the slider). */
  sign(signature) {
    const { state, slider } = this.time;
    signature.add(state.playing);
    signature.add(state.loop);
    signature.add(state.speed);
    signature.add(state.step);
    signature.add(state.steps);
    signature.add(this.time.play.disabled);
    signature.add(slider.value);
    signature.add(slider.max);
  }

  text() {
    return { text: `Time · ${this.time.state.playing ? 'playing' : 'paused'}`, tone: 'title' };
  }

  look(control) {
    const { playing, loop, speed } = this.time.state;
    const enabled = !this.time.play.disabled;
    switch (control.role) {
      case 'play': return { label: playing ? '❚❚  Pause' : '▶  Play', active: playing, enabled };
      case 'step': return { label: control.by < 0 ? '◂  Step' : 'Step  ▸', active: false, enabled };
      case 'speed': return { label: `Speed ${speed}×  ▸`, active: false, enabled };
      case 'loop': return { label: `Loop: ${loop ? 'on' : 'off'}`, active: loop, enabled };
      default: {
        const slider = this.time.slider;
        const [step, time] = this.time.label.textContent.split(' · ');
        return {
          label: step,
          value: time ?? '',
          fraction: rangeFraction(Number(slider.value), Number(slider.min), Number(slider.max)),
          enabled,
        };
      }
    }
  }

  press(control) {
    const time = this.time;
    if (time.play.disabled) return;
    switch (control.role) {
      case 'play': time.play.click(); break;
      case 'step': {
        // the desktop slider's last value, as a release there sends it
        const step = Number(time.slider.value) + control.by;
        if (step < Number(time.slider.min) || step > Number(time.slider.max)) break;
        time.slider.value = String(step);
        time.slider.dispatchEvent(new Event('change'));
        break;
      }
      case 'speed': {
        const speeds = [...time.speed.options].map((o) => o.value);
        time.speed.value = nextChoice(speeds, time.speed.value);
        time.speed.dispatchEvent(new Event('change'));
        break;
      }
      case 'loop': time.loop.click(); break;
      default:
    }
  }

  slider() {
    return this.time.slider;
  }

  values() {
    const { playing, step, speed, loop } = this.time.state;
    return { 'time-play': playing, 'time-step': step, 'time-speed': speed, 'time-loop': loop };
  }
}
