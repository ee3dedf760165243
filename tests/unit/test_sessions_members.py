"""Members without a network: colours, the members list, role assignment, presenter hand-over, removal, ending,
the hand queue, tokens scoped to one session, and the join rate limits."""

from __future__ import annotations

import pytest
from fixtures.sessions import hello, make_registry, series_object

from vizserver.errors import LimitExceededError
from vizserver.protocol.messages import (
    EndSession,
    ErrorMessage,
    MembersMessage,
    PlaybackRequest,
    RaiseHand,
    RemoveMember,
    ReturnPresenter,
    SessionEnded,
    SetRole,
    TwinParams,
    Welcome,
)
from vizserver.scenes.objects import BuiltScene
from vizserver.sessions import registry as registry_module
from vizserver.sessions.members import PALETTE
from vizserver.sessions.ratelimit import RateLimiter
from vizserver.sessions.registry import SessionRegistry
from vizserver.sessions.session import (
    Accepted,
    Broadcast,
    Close,
    Connect,
    Delegate,
    Disconnect,
    Effect,
    Ended,
    Received,
    Refused,
    Send,
    Session,
)

SCENE = BuiltScene("t", (series_object(),))


def members_of(effects: list[Effect]) -> MembersMessage:
    found = [e.message for e in effects if isinstance(e, Broadcast) and isinstance(e.message, MembersMessage)]
    assert len(found) == 1, effects
    return found[0]


def roles_of(effects: list[Effect]) -> dict[str, str]:
    return {m.name: m.role for m in members_of(effects).members}


def class_session() -> tuple[SessionRegistry, Session, dict[str, str]]:
    """A strict session: the host (client ``host``) and participants ana, ben, cy (client id = name); their tokens."""
    reg = make_registry()
    created = reg.create(SCENE, 0.0)
    tokens = {"host": created.host.token}
    for name in ("ana", "ben", "cy"):
        tokens[name] = reg.join(created.session, name, 0.0).token
    for client_id, token in tokens.items():
        created.session.apply(Connect(client_id, token, hello()), 0.0)
    return reg, created.session, tokens


def member_id(session: Session, token: str) -> str:
    member = session.member(token)
    assert member is not None
    return member.id


def test_members_get_distinct_palette_colours_and_a_public_id_that_is_not_the_token() -> None:
    reg, session, tokens = class_session()
    members = [session.member(t) for t in tokens.values()]
    colours = [m.color for m in members if m is not None]
    assert colours == list(PALETTE[:4])
    assert all(m is not None and m.id != m.token and m.token not in m.id for m in members)
    session.apply(Received("host", RemoveMember(member=member_id(session, tokens["ben"]))), 1.0)
    newcomer = reg.join(session, "dee", 2.0)
    assert newcomer.color == PALETTE[2]  # ben's colour is free again


def test_welcome_names_the_member_and_everyone_hears_of_joins_and_leaves() -> None:
    reg, session, _ = class_session()
    dee = reg.join(session, "Dee", 1.0, "observer")
    effects = session.apply(Connect("dee", dee.token, hello()), 1.0)
    welcome = next(e.message for e in effects if isinstance(e, Send) and isinstance(e.message, Welcome))
    assert welcome.member == dee.id and welcome.role == "observer"
    listed = members_of(effects)
    assert [m.name for m in listed.members] == ["host", "ana", "ben", "cy", "Dee"]
    entry = listed.members[-1]
    assert (entry.id, entry.color, entry.role, entry.hand_raised, entry.connected) == (
        dee.id, dee.color, "observer", False, True)
    second = session.apply(Connect("dee-2", dee.token, hello()), 2.0)  # a second connection of the same member
    assert [m.name for m in members_of(second).members].count("Dee") == 1
    assert not any(isinstance(e, Broadcast) for e in session.apply(Disconnect("dee-2"), 3.0))  # dee is still here
    left = members_of(session.apply(Disconnect("dee"), 4.0))
    assert [m.connected for m in left.members if m.name == "Dee"] == [False]


def test_host_hands_the_presenter_role_over_and_takes_it_back() -> None:
    _, session, tokens = class_session()
    ana, ben = member_id(session, tokens["ana"]), member_id(session, tokens["ben"])
    assert roles_of(session.apply(Received("host", SetRole(member=ana, role="presenter")), 1.0))["ana"] == "presenter"
    assert session.apply(Received("ana", PlaybackRequest(step=2)), 1.5)[0] == Broadcast(None)  # ana drives now
    roles = roles_of(session.apply(Received("host", SetRole(member=ben, role="presenter")), 2.0))
    assert (roles["ana"], roles["ben"]) == ("participant", "presenter")  # one presenter at a time
    roles = roles_of(session.apply(Received("host", ReturnPresenter()), 3.0))
    assert "presenter" not in roles.values()
    refused = session.apply(Received("ben", PlaybackRequest(step=4)), 3.5)
    assert isinstance(refused[0], Send) and refused[0].message.code == "forbidden"  # type: ignore[union-attr]
    nobody = session.apply(Received("host", ReturnPresenter()), 4.0)
    assert nobody == [Send("host", ErrorMessage(code="bad_request",
                                                message="return_presenter: nobody holds the presenter role"))]


def test_the_presenter_hands_it_back_and_returns_to_its_earlier_role() -> None:
    _, session, tokens = class_session()
    cy = member_id(session, tokens["cy"])
    session.apply(Received("host", SetRole(member=cy, role="observer")), 1.0)
    session.apply(Received("host", SetRole(member=cy, role="presenter")), 2.0)
    assert session.apply(Received("cy", TwinParams(seq=1, values={"a": 1})), 2.5) == [
        Delegate("cy", TwinParams(seq=1, values={"a": 1}))]
    assert roles_of(session.apply(Received("cy", ReturnPresenter()), 3.0))["cy"] == "observer"


def test_roles_the_host_cannot_assign() -> None:
    _, session, tokens = class_session()
    host = member_id(session, tokens["host"])
    for request, why in [
        (SetRole(member=host, role="observer"), "set_role: the host's role cannot change"),
        (SetRole(member="m99", role="observer"), "set_role: no member 'm99' in this session"),
        (RemoveMember(member=host), "remove_member: the host cannot be removed"),
    ]:
        assert session.apply(Received("host", request), 1.0) == [
            Send("host", ErrorMessage(code="bad_request", message=why))]


def test_removal_closes_every_connection_of_the_member_and_revokes_its_token() -> None:
    _, session, tokens = class_session()
    session.apply(Connect("ana-phone", tokens["ana"], hello()), 0.5)
    session.apply(Received("ana", RaiseHand()), 0.6)
    effects = session.apply(Received("host", RemoveMember(member=member_id(session, tokens["ana"]))), 1.0)
    closes = {e.client_id: (e.code, e.reason) for e in effects if isinstance(e, Close)}
    assert closes == {"ana": (4011, "removed from the session by the host"),
                      "ana-phone": (4011, "removed from the session by the host")}
    listed = members_of(effects)
    assert "ana" not in [m.name for m in listed.members] and listed.hands == []
    assert session.member(tokens["ana"]) is None
    assert session.apply(Connect("again", tokens["ana"], hello(resume="ana")), 2.0) == [
        Refused(4004, "unknown session or bad token")]
    assert session.apply(Received("ana", PlaybackRequest(step=1)), 2.0) == []  # in flight before the close


def test_ending_tells_everyone_closes_every_connection_and_revokes_every_token() -> None:
    reg, session, tokens = class_session()
    effects = session.apply(Received("host", EndSession()), 1.0)
    assert effects[0] == Broadcast(SessionEnded(reason="the host ended the session"))
    assert {e.client_id: e.code for e in effects if isinstance(e, Close)} == dict.fromkeys(tokens, 4010)
    assert effects[-1] == Ended()
    for token in tokens.values():
        assert session.apply(Connect("x", token, hello()), 2.0) == [Refused(4004, "unknown session or bad token")]
    assert reg.get(session.id) is None and reg.find(session.join_code, 2.0) is None
    assert reg.prune(3.0, keep="") == [session.id]


def test_the_hand_queue_keeps_the_order_hands_went_up() -> None:
    _, session, tokens = class_session()
    ids = {name: member_id(session, tokens[name]) for name in ("ana", "ben", "cy")}
    for name in ("cy", "ana", "ben"):
        last = session.apply(Received(name, RaiseHand()), 1.0)
    assert members_of(last).hands == [ids["cy"], ids["ana"], ids["ben"]]
    assert session.apply(Received("ana", RaiseHand()), 2.0) == []  # already up: nothing changes
    listed = members_of(session.apply(Received("host", SetRole(member=ids["ana"], role="observer")), 3.0))
    assert listed.hands == [ids["cy"], ids["ben"]]  # an observer only watches
    raised = {m.name: m.hand_raised for m in listed.members}
    assert raised == {"host": False, "ana": False, "ben": True, "cy": True}
    listed = members_of(session.apply(Received("host", SetRole(member=ids["ben"], role="presenter")), 4.0))
    assert listed.hands == [ids["cy"]]


def test_a_token_works_only_in_the_session_that_gave_it() -> None:
    reg = make_registry()
    a = reg.create(SCENE, 0.0)
    b = reg.create(SCENE, 0.0)
    guest = reg.join(a.session, "guest", 0.0)
    for token in (a.host.token, guest.token):
        assert b.session.apply(Connect("c", token, hello()), 1.0) == [Refused(4004, "unknown session or bad token")]
        assert b.session.member(token) is None
    forged = a.host.token[:-1] + "x"
    assert a.session.apply(Connect("c", forged, hello()), 1.0) == [Refused(4004, "unknown session or bad token")]
    accepted = a.session.apply(Connect("c", guest.token, hello()), 1.0)[0]
    assert accepted == Accepted("c", "participant", False)


def test_joins_are_rate_limited_per_session_and_per_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "JOIN_BURST", 3)
    monkeypatch.setattr(registry_module, "JOIN_BURST_PER_ADDRESS", 2)
    reg = make_registry()
    one = reg.create(SCENE, 0.0).session
    two = reg.create(SCENE, 0.0).session
    for _ in range(3):
        reg.join(one, "x", 0.0)
    with pytest.raises(LimitExceededError, match="too many joins to this session"):
        reg.join(one, "x", 0.0)
    reg.join(two, "x", 0.0)  # another session has its own budget
    reg.join(one, "x", 1.0 / registry_module.JOIN_RATE_PER_S)  # the bucket refills
    reg.join(two, "x", 0.0, address="10.0.0.1")
    reg.join(two, "x", 0.0, address="10.0.0.1")
    with pytest.raises(LimitExceededError, match=r"too many joins from 10\.0\.0\.1"):
        reg.join(two, "x", 0.0, address="10.0.0.1")
    assert len(one.roster) == 1 + 4


def test_the_default_session_is_open_and_cannot_be_ended() -> None:
    reg = make_registry()
    created = reg.create(SCENE, 0.0, open_to_all=True)
    guest = reg.join(created.session, "guest", 0.0)
    created.session.apply(Connect("host", created.host.token, hello()), 0.0)
    created.session.apply(Connect("guest", guest.token, hello()), 0.0)
    assert created.session.apply(Received("guest", PlaybackRequest(step=2)), 1.0)[0] == Broadcast(None)
    refused = created.session.apply(Received("host", EndSession()), 1.0)
    assert isinstance(refused[0], Send) and "cannot be ended" in refused[0].message.message  # type: ignore[union-attr]
    assert reg.get(created.session.id) is created.session


def test_rate_limiter_forgets_the_least_recently_used_key_past_its_bound() -> None:
    limiter = RateLimiter(1.0, 1, max_keys=2)
    assert limiter.take("a", 0.0) and not limiter.take("a", 0.0)
    assert limiter.take("b", 0.0) and limiter.take("c", 0.0)
    assert len(limiter) == 2
    assert limiter.take("a", 0.0)  # "a" was forgotten: a fresh bucket
    assert limiter.take("a", 2.0) and not limiter.take("a", 2.5)
    with pytest.raises(ValueError, match="rate_per_s"):
        RateLimiter(0.0, 1)
