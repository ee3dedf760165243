// Unit tests of what the page lets each role do (a mirror of vizserver/sessions/roles.py; node --test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { memberActions, rightsOf } from '../src/RoleRights.js';

test('the host and the presenter drive time and the twin in any session', () => {
  for (const role of ['host', 'presenter']) {
    const rights = rightsOf(role, { open: false, steering: false });
    assert.equal(rights.playback, null);
    assert.equal(rights.steer, null);
    assert.equal(rights.lowerAnyHand, true);
    assert.equal(rights.raiseHand, false);
  }
  assert.equal(rightsOf('host').manage, true);
  assert.equal(rightsOf('presenter').manage, false);
  assert.equal(rightsOf('presenter').handBack, true);
  assert.equal(rightsOf('host').handBack, false);
});

test('a participant drives time only in an open session, steers while the host allows it, raises a hand', () => {
  const strict = rightsOf('participant', { open: false, steering: false });
  assert.match(strict.playback, /host or the presenter drives time/);
  assert.match(strict.steer, /not allowed participants to steer/);
  assert.equal(strict.raiseHand, true);
  assert.equal(strict.manage || strict.lowerAnyHand || strict.handBack, false);
  const steering = rightsOf('participant', { open: false, steering: true });
  assert.equal(steering.steer, null);
  assert.notEqual(steering.playback, null);
  const open = rightsOf('participant', { open: true, steering: false });
  assert.equal(open.playback, null);
  assert.equal(open.steer, null);
});

test('an observer watches: every control is off with the reason, even in an open session with steering', () => {
  const rights = rightsOf('observer', { open: true, steering: true });
  assert.match(rights.playback, /^Observers watch/);
  assert.match(rights.steer, /^Observers watch/);
  assert.equal(rights.raiseHand || rights.lowerAnyHand || rights.manage || rights.handBack, false);
  assert.notEqual(rightsOf(null).playback, null);
});

test('row controls: the host manages everyone but itself and the host; the presenter hands the role back', () => {
  const host = rightsOf('host');
  const pat = { id: 'm2', role: 'participant', hand_raised: true };
  assert.deepEqual(memberActions(pat, 'm1', host), {
    makePresenter: true, takeBack: false, setRole: true, remove: true, lowerHand: true, handBack: false,
  });
  const presenter = { id: 'm3', role: 'presenter', hand_raised: false };
  assert.deepEqual(memberActions(presenter, 'm1', host), {
    makePresenter: false, takeBack: true, setRole: true, remove: true, lowerHand: false, handBack: false,
  });
  const self = { id: 'm1', role: 'host', hand_raised: false };
  assert.ok(Object.values(memberActions(self, 'm1', host)).every((shown) => !shown));
  assert.ok(Object.values(memberActions(pat, 'm2', rightsOf('participant'))).every((shown) => !shown));
  assert.equal(memberActions(presenter, 'm3', rightsOf('presenter')).handBack, true);
  assert.equal(memberActions(pat, 'm3', rightsOf('presenter')).lowerHand, true);
  assert.equal(memberActions(pat, 'm3', rightsOf('presenter')).remove, false);
});
