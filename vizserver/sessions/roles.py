"""Who may send what: the permission table of a session's roles, as data (docs/protocol.md "Roles").

Every client message is checked against :data:`PERMISSIONS` by its wire ``type`` before the session
acts on it; a type missing from the table is refused (deny by default), so a new message type
cannot slip past the check. Pure: no session state beyond the two flags of :class:`Policy`.

- ``host``: owns the session: assigns roles, hands the presenter role over, removes people,
  allows or mutes steering, ends the session; may also do all a presenter does.
- ``presenter``: drives the shared view: playback, the twin, follow-me and tours.
- ``participant``: watches, is seen (presence), annotates, raises a hand; steers the twin
  while the host allows it.
- ``observer``: watches only.

An ``open`` session (the server's default session, where nobody is host) gives participants the
presenter's rights, so the demo stays usable with no host present.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from vizserver.protocol.messages import RoleName

Role = RoleName
ROLES: tuple[Role, ...] = ("host", "presenter", "participant", "observer")

Widening = Literal["never", "open", "steering"]
"""When participants may also send a message: never, in an open session, or while steering is allowed
(an open session allows steering too)."""


@dataclass(frozen=True, slots=True)
class Rule:
    roles: frozenset[Role]
    """Roles that may always send the message."""
    participants: Widening = "never"
    """When participants may send it although ``roles`` leaves them out."""

    def describe(self) -> str:
        """Who may send it, in words (for the ``forbidden`` error)."""
        names = [r for r in ROLES if r in self.roles]
        who = ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]
        if self.participants == "open":
            return f"{who} (and participants in an open session)"
        if self.participants == "steering":
            return f"{who} (and participants while the host allows steering)"
        return f"{who} only"


@dataclass(frozen=True, slots=True)
class Policy:
    """What the host has decided for participants."""

    open: bool = False
    steering: bool = False


EVERYONE = frozenset(ROLES)
DRIVERS: frozenset[Role] = frozenset({"host", "presenter"})
ACTIVE: frozenset[Role] = frozenset({"host", "presenter", "participant"})
HOST: frozenset[Role] = frozenset({"host"})

PERMISSIONS: Mapping[str, Rule] = {
    # connection upkeep: everyone
    "hello": Rule(EVERYONE),
    "subscribe": Rule(EVERYONE),
    "keyframe": Rule(EVERYONE),
    "ping": Rule(EVERYONE),
    # the shared view
    "playback": Rule(DRIVERS, "open"),
    "twin_params": Rule(DRIVERS, "steering"),
    "twin_action": Rule(DRIVERS, "steering"),
    "twin_control": Rule(DRIVERS, "steering"),
    # being seen (the binary presence relay) and marking things; whose annotation one may delete, and
    # whose tour step one may move (self-paced: one's own), is sessions/collab.py's finer check
    "presence": Rule(ACTIVE),
    "annotation_add": Rule(ACTIVE),
    "annotation_delete": Rule(ACTIVE),
    "annotation_clear": Rule(ACTIVE),
    "tour": Rule(EVERYONE),
    "tour_mode": Rule(DRIVERS, "open"),
    # follow me: everyone's view follows the sender's; not widened in an open session, where every member is a
    # participant: one of them locking everyone else's camera would take the demo from the rest
    "follow": Rule(DRIVERS),
    # the hand raise queue; a participant lowers only its own hand
    "raise_hand": Rule(frozenset({"participant"})),
    "lower_hand": Rule(ACTIVE),
    # running the session
    "set_role": Rule(HOST),
    "return_presenter": Rule(DRIVERS),
    "remove_member": Rule(HOST),
    "allow_steering": Rule(HOST),
    "end_session": Rule(HOST),
}
"""Message type -> who may send it. Tests check it covers every client message type."""

UPLOAD = Rule(DRIVERS, "open")
"""Who may add objects to the scene (``POST /api/uploads``): whoever drives the shared view."""


def permits(role: Role, message_type: str, policy: Policy) -> bool:
    rule = PERMISSIONS.get(message_type)
    return rule is not None and allows(rule, role, policy)


def allows(rule: Rule, role: Role, policy: Policy) -> bool:
    if role in rule.roles:
        return True
    if role != "participant":
        return False
    return (rule.participants == "open" and policy.open) or (
        rule.participants == "steering" and (policy.open or policy.steering)
    )


def refusal(role: Role, message_type: str) -> str:
    """Why ``role`` may not send ``message_type``: one line for the ``forbidden`` error and the log."""
    rule = PERMISSIONS.get(message_type)
    if rule is None:
        return f"{message_type}: no role may send this message"
    article = "an" if role[0] in "aeiou" else "a"
    return f"{message_type}: not allowed for {article} {role}; {rule.describe()}"
