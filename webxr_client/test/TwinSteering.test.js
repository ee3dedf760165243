// Unit tests of the client's pure twin-steering logic: seq numbering and latency, the send
// throttle of dragged sliders, the slider scales (node --test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TwinSliderScale } from '../src/TwinSliderScale.js';
import { TwinSteering } from '../src/TwinSteering.js';
import { TwinThrottle } from '../src/TwinThrottle.js';

test('requests get increasing seqs; latency runs from sending to the first frame at or past the applied frame', () => {
  const steering = new TwinSteering();
  const a = steering.number({ type: 'twin_params', values: { d_par: 2 } });
  const b = steering.number({ type: 'twin_action', action: 'pace here', point: [0, 0, 0] });
  assert.deepEqual([a.seq, b.seq], [1, 2]);
  assert.equal(a.values.d_par, 2);
  steering.sent(a.seq, 1000);
  steering.sent(b.seq, 1010);
  steering.frame(40, 1012); // computed before the change: no latency yet
  assert.equal(steering.applied(a.seq, 41, 1015), null);
  assert.equal(steering.frame(40, 1016), null); // an older frame (another field) does not count
  assert.equal(steering.frame(41, 1023), 23);
  assert.equal(steering.lastLatencyMs, 23);
  assert.equal(steering.lastStep, 41);
  // twin_applied can come after the frame it names: measured at that frame's arrival
  steering.frame(42, 1030);
  assert.equal(steering.applied(b.seq, 42, 1031), 20);
  assert.equal(steering.applied(b.seq, 42, 1032), null); // answered once
});

test('refused and unknown seqs measure nothing; a new connection forgets what waited', () => {
  const steering = new TwinSteering();
  const a = steering.number({ type: 'twin_params', values: { k: 99 } });
  steering.sent(a.seq, 0);
  steering.refused(a.seq);
  assert.equal(steering.applied(a.seq, 1, 5), null);
  assert.equal(steering.applied(77, 1, 5), null);
  const b = steering.number({ type: 'twin_control', reset: true });
  steering.sent(b.seq, 10);
  steering.applied(b.seq, 500, 12);
  steering.reset();
  assert.equal(steering.frame(900, 20), null);
  assert.equal(steering.lastLatencyMs, null);
  assert.equal(steering.number({ type: 'twin_control', playing: true }).seq, 3); // seq keeps increasing
});

test('a frame from before the request never completes it, even with a larger frame number (the twin restarted)', () => {
  const steering = new TwinSteering();
  steering.frame(9000, 100); // old run
  const a = steering.number({ type: 'twin_control', reset: true });
  steering.sent(a.seq, 200);
  assert.equal(steering.applied(a.seq, 3, 210), null); // the newest frame (9000) came before the request
  assert.equal(steering.frame(3, 260), 60);
});

function fakeClock() {
  const clock = { t: 0, timers: [] };
  clock.now = () => clock.t;
  clock.schedule = (fn, ms) => {
    const timer = { at: clock.t + ms, fn };
    clock.timers.push(timer);
    return timer;
  };
  clock.cancel = (timer) => {
    clock.timers = clock.timers.filter((x) => x !== timer);
  };
  clock.advance = (ms) => {
    clock.t += ms;
    for (const timer of clock.timers.filter((x) => x.at <= clock.t)) {
      clock.cancel(timer);
      timer.fn();
    }
  };
  return clock;
}

test('a dragged slider sends at most once per interval, the newest value, and its final value at release', () => {
  const clock = fakeClock();
  const sent = [];
  const throttle = new TwinThrottle((v) => sent.push([clock.t, v]), { intervalMs: 66, ...clock });
  for (let i = 1; i <= 60; i++) { // a second of input events at 60 Hz
    throttle.push(i);
    clock.advance(1000 / 60);
  }
  assert.ok(sent.length >= 14 && sent.length <= 16, `${sent.length} sends in a second`);
  for (let i = 1; i < sent.length; i++) assert.ok(sent[i][0] - sent[i - 1][0] >= 66 - 1e-9);
  assert.deepEqual(sent[0], [0, 1]); // the first goes at once
  const before = sent.length;
  throttle.push(61, true); // released right after a send was due: goes at once
  assert.deepEqual(sent.at(-1), [clock.t, 61]);
  assert.equal(sent.length, before + 1);
  throttle.push(61, true); // the same final value again: nothing new to say
  assert.equal(sent.length, before + 1);
  clock.advance(1000);
  assert.equal(sent.length, before + 1); // no timer left behind
});

test('a cancelled throttle sends nothing more', () => {
  const clock = fakeClock();
  const sent = [];
  const throttle = new TwinThrottle((v) => sent.push(v), { intervalMs: 100, ...clock });
  throttle.push(1);
  throttle.push(2);
  throttle.cancel();
  clock.advance(500);
  assert.deepEqual(sent, [1]);
});

test('slider scales: linear, logarithmic over wide positive ranges, integers; ends exact', () => {
  const cycle = new TwinSliderScale({ type: 'float', minimum: 100, maximum: 5000 });
  assert.equal(cycle.log, false);
  assert.equal(cycle.toValue(0), 100);
  assert.equal(cycle.toValue(cycle.steps), 5000);
  assert.equal(cycle.toPosition(800), Math.round(((800 - 100) / 4900) * cycle.steps));
  assert.ok(Math.abs(cycle.toValue(cycle.toPosition(800)) - 800) <= 5);

  const d = new TwinSliderScale({ type: 'float', minimum: 0.01, maximum: 10 });
  assert.equal(d.log, true);
  assert.equal(d.toPosition(1), Math.round(d.steps * (2 / 3))); // 0.01 .. 10 is three decades
  assert.equal(d.toValue(d.toPosition(1)), 1);
  assert.equal(d.toValue(-5), 0.01);
  assert.equal(d.toValue(1e9), 10);
  assert.equal(d.toPosition(1000), d.steps); // out of range: clamped

  const zeroMin = new TwinSliderScale({ type: 'float', minimum: 0, maximum: 100 });
  assert.equal(zeroMin.log, false);

  const days = new TwinSliderScale({ type: 'int', minimum: 1, maximum: 7 });
  assert.equal(days.steps, 6);
  assert.deepEqual([0, 1, 2, 6].map((p) => days.toValue(p)), [1, 2, 3, 7]);
  const many = new TwinSliderScale({ type: 'int', minimum: 0, maximum: 3650 });
  assert.ok(Number.isInteger(many.toValue(333)));
});
