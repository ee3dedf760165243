"""Follow me: whose view everyone follows, pure (docs/protocol.md "Follow me").

The presenter (or the host) sends ``follow {on, lock}``: everyone's view then follows the presence of
that connection (the desktop camera, or the headset's head), and with ``lock`` desktop cameras cannot
orbit away. The server keeps only who leads; the view itself travels in the presence relay, and each
client moves its own camera (or, in a headset, its content) to it. Following ends when the leader
sends ``on: false``, another driver takes the lead, or the leading connection stops being able to
lead: it disconnects, is removed, or loses the presenter role.
"""

from __future__ import annotations

from dataclasses import dataclass

from vizserver.protocol.messages import FollowState


@dataclass(frozen=True, slots=True)
class Following:
    leader: str
    """The leader's member id."""
    client: str
    """The leading connection's client id (whose presence is followed)."""
    lock: bool


def follow_message(following: Following | None) -> FollowState:
    """The ``follow`` message for everyone (``None``: nobody leads)."""
    if following is None:
        return FollowState(leader=None, client=None, lock=False)
    return FollowState(leader=following.leader, client=following.client, lock=following.lock)
