/**
 * What this page's role may do, so the page shows only the controls it may use and says why the
 * others are off. A mirror of the server's table (vizserver/sessions/roles.py, docs/protocol.md
 * "Roles") for the messages the panel sends; the server stays the authority and refuses whatever
 * this gets wrong. Pure.
 *
 * `policy`: `{open, steering}` from the last `members` message. Returns, for the shared view,
 * `null` where the role may act or the reason in words where it may not (`playback`, `steer`), and
 * booleans for the session's own controls.
 *
 * @param {string|null} role 'host' | 'presenter' | 'participant' | 'observer' (null: not yet known)
 * @param {{open?: boolean, steering?: boolean}} policy
 */
export function rightsOf(role, { open = false, steering = false } = {}) {
  const drives = role === 'host' || role === 'presenter';
  const participant = role === 'participant';
  return {
    playback: drives || (participant && open) ? null : playbackRefusal(role),
    steer: drives || (participant && (open || steering)) ? null : steerRefusal(role),
    raiseHand: participant,
    lowerAnyHand: drives,
    manage: role === 'host',
    handBack: role === 'presenter',
  };
}

function playbackRefusal(role) {
  if (role === 'observer') return 'Observers watch: the host or the presenter drives time';
  if (role === null) return 'Waiting for the server to say what your role may do';
  return 'Only the host or the presenter drives time in this session';
}

function steerRefusal(role) {
  if (role === 'observer') return 'Observers watch: the host or the presenter steers the twin';
  if (role === null) return 'Waiting for the server to say what your role may do';
  return 'The host has not allowed participants to steer the twin';
}

/**
 * Which controls the row of `member` (an entry of `members`) shows to this page, given this page's
 * member id and `rights` (from rightsOf). The host manages everyone but itself; the host and the
 * presenter lower anyone's hand; a presenter who is not the host hands the role back from its own row.
 */
export function memberActions(member, selfId, rights) {
  const other = member.id !== selfId;
  const managed = rights.manage && other && member.role !== 'host';
  return {
    makePresenter: managed && member.role !== 'presenter',
    takeBack: managed && member.role === 'presenter',
    setRole: managed,
    remove: managed,
    lowerHand: rights.lowerAnyHand && member.hand_raised,
    handBack: !other && rights.handBack,
  };
}
