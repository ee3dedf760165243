"""The permission matrix on the state machine: every role x every client message type, in each session policy.

The expected matrix is written out here by hand (not read from ``roles.PERMISSIONS``), so a change
to the table that lets a role through shows as a failing case. An allowed message must have its
effect; a refused one must give exactly a ``forbidden`` error to its sender and a :class:`Denied`
for the log, and change nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
from fixtures.sessions import hello, make_registry, series_object

from vizserver.protocol.messages import (
    CLIENT_TYPES,
    AllowSteering,
    AnnotationAdd,
    AnnotationClear,
    AnnotationDelete,
    AnnotationDeleted,
    AnnotationMessage,
    ClientMsg,
    EndSession,
    ErrorMessage,
    FollowRequest,
    FollowState,
    Hello,
    KeyframeRequest,
    LowerHand,
    MembersMessage,
    Ping,
    PlaybackRequest,
    Pong,
    RaiseHand,
    RemoveMember,
    ReturnPresenter,
    SessionEnded,
    SetRole,
    Subscribe,
    TourModeRequest,
    TourMove,
    TourOutline,
    TourStepMessage,
    TwinAction,
    TwinControl,
    TwinParams,
)
from vizserver.scenefile import TourSpec
from vizserver.scenes.objects import BuiltScene
from vizserver.sessions.roles import PERMISSIONS, ROLES, Role
from vizserver.sessions.session import (
    Broadcast,
    Close,
    Connect,
    Delegate,
    Denied,
    Effect,
    Ended,
    Keyframe,
    Received,
    Send,
    Session,
    StreamsChanged,
)
from vizserver.sessions.tours import Tour, TourState

H, P, A, OBS = "host", "presenter", "participant", "observer"
ALL = {H, P, A, OBS}
POLICIES = ("strict", "steering", "open")
"""strict: a session made by POST /api/sessions; steering: the host allows steering; open: the default session."""

ALLOWED: dict[str, tuple[set[str], set[str], set[str]]] = {
    # type: (strict, steering allowed, open)
    "hello": (ALL, ALL, ALL),
    "subscribe": (ALL, ALL, ALL),
    "keyframe": (ALL, ALL, ALL),
    "ping": (ALL, ALL, ALL),
    "playback": ({H, P}, {H, P}, {H, P, A}),
    "twin_params": ({H, P}, {H, P, A}, {H, P, A}),
    "twin_action": ({H, P}, {H, P, A}, {H, P, A}),
    "twin_control": ({H, P}, {H, P, A}, {H, P, A}),
    "set_role": ({H}, {H}, {H}),
    "return_presenter": ({H, P}, {H, P}, {H, P}),
    "remove_member": ({H}, {H}, {H}),
    "allow_steering": ({H}, {H}, {H}),
    "end_session": ({H}, {H}, {H}),
    "raise_hand": ({A}, {A}, {A}),
    "lower_hand": ({H, P, A}, {H, P, A}, {H, P, A}),
    # not a JSON control message (presence is binary): checked with Session.check
    "presence": ({H, P, A}, {H, P, A}, {H, P, A}),
    "annotation_add": ({H, P, A}, {H, P, A}, {H, P, A}),
    "annotation_delete": ({H, P, A}, {H, P, A}, {H, P, A}),
    "annotation_clear": ({H, P, A}, {H, P, A}, {H, P, A}),
    "tour": (ALL, ALL, ALL),
    "tour_mode": ({H, P}, {H, P}, {H, P, A}),
    "follow": ({H, P}, {H, P}, {H, P}),  # not widened in an open session: a participant would lock everyone's view
}

TARGET = "target"
"""A second participant's client: what set_role and remove_member act on."""


def session_with_every_role(policy: str) -> tuple[Session, dict[str, str]]:
    """A session with one connected client per role (client id = role name) and a participant ``target``;
    member ids by client id."""
    reg = make_registry()
    created = reg.create(BuiltScene("t", (series_object(),)), now=0.0, open_to_all=policy == "open")
    session = created.session
    tokens = {H: created.host.token}
    for role in (P, A, OBS):
        tokens[role] = reg.join(session, role, 0.0, role).token
    tokens[TARGET] = reg.join(session, TARGET, 0.0).token
    for client_id, token in tokens.items():
        session.apply(Connect(client_id, token, hello()), 0.0)
    session.steering_allowed = policy == "steering"
    session.tour = TourState(Tour.of_spec(TourSpec.model_validate({"steps": [{"title": "one"}, {"title": "two"}]})))
    ids = {cid: member.id for cid in tokens if (member := session.member(tokens[cid])) is not None}
    return session, ids


def sample(kind: str, ids: dict[str, str], steering: bool) -> ClientMsg:
    """A well-formed message of ``kind`` that the session would act on if the sender may send it."""
    messages: dict[str, Callable[[], ClientMsg]] = {
        "hello": lambda: Hello(protocol=1, client="again"),
        "subscribe": lambda: Subscribe(object=0, field=2),
        "keyframe": lambda: KeyframeRequest(object=0, field=1),
        "ping": lambda: Ping(t=5.0),
        "playback": lambda: PlaybackRequest(step=3),
        "twin_params": lambda: TwinParams(seq=7, values={"d": 1.0}),
        "twin_action": lambda: TwinAction(seq=7, action="pace"),
        "twin_control": lambda: TwinControl(seq=7, playing=False),
        "set_role": lambda: SetRole(member=ids[TARGET], role="observer"),
        "return_presenter": lambda: ReturnPresenter(),
        "remove_member": lambda: RemoveMember(member=ids[TARGET]),
        "allow_steering": lambda: AllowSteering(allowed=not steering),
        "end_session": lambda: EndSession(),
        "raise_hand": lambda: RaiseHand(),
        "lower_hand": lambda: LowerHand(),
        "annotation_add": lambda: AnnotationAdd(kind="pin", object=0, point=(0.0, 0.0, 0.0), text="here"),
        "annotation_delete": lambda: AnnotationDelete(id=1),
        "annotation_clear": lambda: AnnotationClear(),
        "tour": lambda: TourMove(move="next"),
        "tour_mode": lambda: TourModeRequest(mode="guided"),
        "follow": lambda: FollowRequest(on=True, lock=True),
    }
    return messages[kind]()


def members_broadcast(effects: list[Effect]) -> MembersMessage:
    found = [e.message for e in effects if isinstance(e, Broadcast) and isinstance(e.message, MembersMessage)]
    assert len(found) == 1, effects
    return found[0]


def check_effect(kind: str, sender: str, session: Session, ids: dict[str, str], effects: list[Effect]) -> None:
    """The outcome a client would notice of an allowed ``kind`` from ``sender``."""
    if kind == "hello":
        error = effects[0].message if isinstance(effects[0], Send) else None
        assert isinstance(error, ErrorMessage) and "already connected" in error.message
        assert effects == [Send(sender, ErrorMessage(code="bad_message", message=error.message))]
    elif kind == "subscribe":
        assert effects == [StreamsChanged()] and session.clients[sender].subscriptions[0] == 2
    elif kind == "keyframe":
        assert effects == [Keyframe(sender, (0, 1)), StreamsChanged()]
    elif kind == "ping":
        assert effects == [Send(sender, Pong(t=5.0))]
    elif kind == "playback":
        assert effects == [Broadcast(None), StreamsChanged()] and session.playback_state(1.0).step == 3
    elif kind.startswith("twin_"):
        assert len(effects) == 1 and isinstance(effects[0], Delegate) and effects[0].client_id == sender
    elif kind == "set_role":
        listed = {m.id: m.role for m in members_broadcast(effects).members}
        assert listed[ids[TARGET]] == "observer"
    elif kind == "return_presenter":
        listed = {m.id: m.role for m in members_broadcast(effects).members}
        assert P not in listed.values() and listed[ids[P]] == "participant"
    elif kind == "remove_member":
        assert Close(TARGET, 4011, "removed from the session by the host") in effects
        assert ids[TARGET] not in {m.id for m in members_broadcast(effects).members}
    elif kind == "allow_steering":
        assert members_broadcast(effects).steering is session.steering_allowed or session.open
    elif kind == "end_session" and session.open:  # allowed, but the default session lives as long as the server
        why = "end_session: the server's default session is open to all and cannot be ended"
        assert effects == [Send(sender, ErrorMessage(code="bad_request", message=why))]
    elif kind == "end_session":
        assert effects[0] == Broadcast(SessionEnded(reason="the host ended the session")) and effects[-1] == Ended()
        assert {e.client_id for e in effects if isinstance(e, Close)} == {H, P, A, OBS, TARGET}
        assert session.ended and len(session.roster) == 0 and session.member("secret0") is None  # tokens revoked
    elif kind == "raise_hand":
        assert members_broadcast(effects).hands == [ids[sender]]
    elif kind == "lower_hand":
        assert members_broadcast(effects).hands == []
    elif kind == "annotation_add":
        added = effects[0].message if isinstance(effects[0], Broadcast) else None
        assert len(effects) == 1 and isinstance(added, AnnotationMessage) and added.annotation.author == ids[sender]
    elif kind.startswith("annotation_"):
        assert effects == [Broadcast(AnnotationDeleted(ids=[1], by=ids[sender]))] and not session.annotations.items
    elif kind == "tour":  # self-paced: the sender's own step
        shown = [e for e in effects if isinstance(e, Send) and isinstance(e.message, TourStepMessage)]
        assert [(e.client_id, e.message.step) for e in shown] == [(sender, 1)]  # type: ignore[union-attr]
    elif kind == "tour_mode":
        assert isinstance(effects[0], Broadcast) and isinstance(effects[0].message, TourOutline)
        assert effects[0].message.mode == "guided" and isinstance(effects[1].message, TourStepMessage)  # type: ignore[union-attr]
    elif kind == "follow":
        assert effects == [Broadcast(FollowState(leader=ids[sender], client=sender, lock=True))]
    else:  # pragma: no cover - a new type without a case here fails the coverage test below
        raise AssertionError(kind)


CASES = [(kind, role, policy) for kind in CLIENT_TYPES for role in ROLES for policy in POLICIES]


@pytest.mark.parametrize(("kind", "role", "policy"), CASES, ids=[f"{k}-{r}-{p}" for k, r, p in CASES])
def test_every_role_and_client_message(kind: str, role: Role, policy: str) -> None:
    session, ids = session_with_every_role(policy)
    if kind == "lower_hand" and role in (H, P, A):
        session.roster.hands.append(ids[role])  # someone's own hand to lower
    if kind in ("annotation_delete", "annotation_clear"):  # the sender's own pin (id 1) to delete
        session.annotations.add_pin(author=ids[role], object_id=0, point=(0, 0, 0), text="mine", color="#ffffff",
                                    now=0.0, objects=range(1))
    if kind == "tour" and session.tour is not None:
        session.tour.set_mode("self_paced", driver=True)
    message = sample(kind, ids, session.steering_allowed)
    before = copy.deepcopy((session.roster, session.playback, session.steering_allowed, session.annotations,
                            session.tour, session.following))
    effects = session.apply(Received(role, message), 1.0)
    if role in ALLOWED[kind][POLICIES.index(policy)]:
        assert not any(isinstance(e, Denied) for e in effects), effects
        check_effect(kind, role, session, ids, effects)
        return
    seq = getattr(message, "seq", None)
    error = effects[0].message if isinstance(effects[0], Send) else None
    assert isinstance(error, ErrorMessage) and error.code == "forbidden" and error.seq == seq
    assert kind in error.message and role in error.message
    assert effects == [Send(role, error), Denied(role, ids[role], role, error.message)]  # to the sender only
    assert (session.roster, session.playback, session.steering_allowed, session.annotations, session.tour,
            session.following) == before


PASSIVE_CASES = [(k, r, p) for k in ALLOWED if k not in CLIENT_TYPES for r in ROLES for p in POLICIES]


@pytest.mark.parametrize(("kind", "role", "policy"), PASSIVE_CASES, ids=[f"{k}-{r}-{p}" for k, r, p in PASSIVE_CASES])
def test_message_types_outside_the_control_protocol_are_checked_too(kind: str, role: Role, policy: str) -> None:
    """Presence (binary) goes through Session.check."""
    session, _ = session_with_every_role(policy)
    refused = session.check(role, kind, 1.0)
    if role in ALLOWED[kind][POLICIES.index(policy)]:
        assert refused is None
    else:
        assert refused is not None and len(refused) == 2 and isinstance(refused[1], Denied)
        assert refused[0] == Send(role, ErrorMessage(code="forbidden", message=refused[1].reason))


def test_the_table_and_this_matrix_cover_every_client_message_type() -> None:
    assert set(CLIENT_TYPES) <= set(PERMISSIONS), "a client message type has no permission rule"
    assert set(PERMISSIONS) == set(ALLOWED), "the permission table and the tested matrix differ"


def test_an_unknown_message_type_is_refused_for_every_role() -> None:
    session, _ = session_with_every_role("open")
    for role in ROLES:
        refused = session.check(role, "brand_new_type", 0.0)
        assert refused is not None and "no role may send" in refused[1].reason  # type: ignore[union-attr]


def test_a_refused_flood_is_answered_once_a_second() -> None:
    session, _ = session_with_every_role("strict")
    first = session.apply(Received(OBS, PlaybackRequest(step=1)), 10.0)
    assert len(first) == 2
    assert session.apply(Received(OBS, PlaybackRequest(step=2)), 10.5) == []
    assert len(session.apply(Received(OBS, PlaybackRequest(step=2)), 11.1)) == 2
    assert session.playback_state(12.0).step == 0


def test_a_participant_lowers_only_its_own_hand_host_and_presenter_any() -> None:
    session, ids = session_with_every_role("strict")
    session.apply(Received(TARGET, RaiseHand()), 1.0)
    session.apply(Received(A, RaiseHand()), 2.0)
    refused = session.apply(Received(A, LowerHand(member=ids[TARGET])), 3.0)
    assert isinstance(refused[0], Send) and refused[0].message.code == "forbidden"  # type: ignore[union-attr]
    assert session.roster.hands == [ids[TARGET], ids[A]]
    assert members_broadcast(session.apply(Received(P, LowerHand(member=ids[TARGET])), 4.0)).hands == [ids[A]]
    assert members_broadcast(session.apply(Received(H, LowerHand(member=ids[A])), 5.0)).hands == []
