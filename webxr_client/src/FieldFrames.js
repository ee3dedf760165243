import { FrameDecoder } from './FrameDecoder.js';
import { StepBuffer } from './StepBuffer.js';

/** A step past every real one: a live object's buffer (one frame) shows whatever it holds. */
const LIVE_STEP = 0xffff_ffff;

/**
 * Field frames from arrival to screen: decodes each binary frame in arrival order (deltas need
 * it), buffers the decoded tracks by step per object and field, and on {@link present} draws on
 * every object the frame of the session's step now (the shared playback clock, moved on locally
 * since the last `playback` message). A live object (a twin's, no time axis) shows its newest frame.
 */
export class FieldFrames {
  /**
   * @param {Map<number, import('./ObjectView.js').ObjectView>} views the scene's objects by id (the app's map, read live)
   * @param {{ onKeyframe: (object: number, field: number) => void, onError: (text: string) => void,
   *   onDrawn: (view: object, track: object, shown: boolean) => void, onTrack: (track: object) => void }} hooks
   *   `onKeyframe`: a delta came without its base; `onDrawn`: a frame was given to `view` (`shown`: it
   *   draws it now, not waiting for its full level);
   *   `onTrack`: a frame was decoded (before it shows)
   */
  constructor(views, { onKeyframe, onError, onDrawn, onTrack }) {
    this.views = views;
    this.onKeyframe = onKeyframe;
    this.onError = onError;
    this.onDrawn = onDrawn;
    this.onTrack = onTrack;
    this.decoder = new FrameDecoder();
    this.playback = { playing: false, step: 0, time: 0, speed: 1, loop: true, steps: 0, fps: 0 };
    /** performance.now() when the last `playback` message came: the session clock's origin here. */
    this.playbackAt = performance.now();
    /** Decoded frames by step, waiting for the session clock (object id -> field id -> StepBuffer). */
    this.buffers = new Map();
    /** The buffered track each view draws now, so a tick re-uploads nothing unchanged. */
    this.shown = new WeakMap();
    this.errors = 0;
    /** This tick's step and loop period, and the per-view step of `present` (bound once: a Map's forEach allocates no iterator). */
    this.tick = { step: 0, period: 0 };
    this.presentView = (view) => this.#presentView(view);
  }

  /** Every new connection, resumed or not: frame order starts afresh (FrameDecoder.newLink). */
  connected() {
    this.decoder.newLink();
  }

  /** A new connection (not a resumed one): frames decoded before mean nothing now. */
  reset() {
    this.decoder.reset();
    this.buffers.clear();
  }

  /** The server's `playback` message: the session clock starts again from it. */
  setPlayback(message) {
    Object.assign(this.playback, message);
    this.playbackAt = performance.now();
    this.present();
  }

  /** Forget an object's frames (it left the scene, or its fields changed). */
  forget(view, id = view.id) {
    this.decoder.forgetObject(id);
    this.buffers.delete(id);
    if (view) this.shown.delete(view);
  }

  /** How many steps of `view`'s shown field wait in the buffer. */
  buffered(view) {
    return this.buffers.get(view.id)?.get(view.activeFieldId)?.size ?? 0;
  }

  /** One binary field frame from the socket. */
  receive(data) {
    let result;
    try {
      result = this.decoder.decode(data);
    } catch (error) {
      this.errors += 1;
      this.onError(`A field frame could not be shown: ${error.message}`);
      return;
    }
    if (result.kind === 'need-keyframe') {
      this.onKeyframe(result.object, result.field);
      return;
    }
    if (result.kind !== 'frame') return;
    const { track } = result;
    let fields = this.buffers.get(track.object);
    if (!fields) this.buffers.set(track.object, (fields = new Map()));
    let buffer = fields.get(track.field);
    if (!buffer) fields.set(track.field, (buffer = new StepBuffer()));
    const view = this.views.get(track.object);
    if (view && isLive(view)) buffer.clear(); // a live object shows its newest frame, whatever its step
    buffer.put(track.step, track.snapshot());
    // shown on the next animation frame (present), not now: at most one copy into the mesh per drawn frame
    this.onTrack(track);
  }

  /** The session's step now: the last `playback` message's step moved on by the time since (docs/protocol.md). */
  sessionStep() {
    const p = this.playback;
    if (!p.playing || !(p.steps > 1) || !(p.fps > 0)) return p.step;
    const step = Math.floor(p.step + ((performance.now() - this.playbackAt) / 1000) * p.fps * p.speed + 1e-6);
    return p.loop ? step % p.steps : Math.min(step, p.steps - 1);
  }

  /** Draw, per object, the buffered frame of the session's step (or the latest before it). Runs every tick. */
  present() {
    this.tick.step = this.sessionStep();
    this.tick.period = this.playback.playing && this.playback.loop ? this.playback.steps : 0;
    this.views.forEach(this.presentView);
  }

  #presentView(view) {
    const { step, period } = this.tick;
    const buffer = this.buffers.get(view.id)?.get(view.activeFieldId);
    if (!buffer || buffer.size === 0) return;
    let at;
    if (isLive(view)) {
      at = buffer.at(LIVE_STEP);
    } else {
      const wanted = Math.min(step, (view.info.time?.steps ?? 1) - 1);
      at = buffer.at(wanted, period);
      if (at < 0 && view.frameStep === null) at = buffer.next(wanted, period); // nothing drawn yet: the nearest
    }
    const track = at < 0 ? undefined : buffer.value(at);
    if (track === undefined || (this.shown.get(view) === track && view.frameStep !== null)) return;
    this.shown.set(view, track);
    this.onDrawn(view, track, view.applyTrack(track));
  }
}

/** A scene object without a time axis whose fields stream is live (a twin's): its frames' steps are twin frames. */
function isLive(view) {
  return !view.info.time;
}
