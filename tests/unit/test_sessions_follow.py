"""Follow me on the session state machine, without a network: who leads, who hears it, and when it ends."""

from __future__ import annotations

from fixtures.sessions import hello, make_registry, series_object

from vizserver.protocol.messages import FollowRequest, FollowState, RemoveMember, ReturnPresenter, SetRole
from vizserver.scenes.objects import BuiltScene
from vizserver.sessions.session import Broadcast, Connect, Disconnect, Effect, Received, Send, Session

NOBODY = FollowState(leader=None, client=None, lock=False)


def session_of_three() -> tuple[Session, dict[str, str], dict[str, str]]:
    """Host ``h``, presenter ``p`` and participant ``a`` connected (client id = key); member ids and tokens by key."""
    reg = make_registry()
    created = reg.create(BuiltScene("t", (series_object(),)), now=0.0)
    session = created.session
    tokens = {"h": created.host.token}
    tokens |= {key: reg.join(session, name, 0.0).token for key, name in (("p", "Pia"), ("a", "Ana"))}
    for client_id, token in tokens.items():
        session.apply(Connect(client_id, token, hello()), 0.0)
    ids = {key: member.id for key, token in tokens.items() if (member := session.member(token)) is not None}
    session.apply(Received("h", SetRole(member=ids["p"], role="presenter")), 0.0)
    return session, ids, tokens


def follows(effects: list[Effect]) -> list[FollowState]:
    return [e.message for e in effects if isinstance(e, Broadcast) and isinstance(e.message, FollowState)]


def test_the_presenter_leads_everyone_and_a_newcomer_hears_it() -> None:
    session, ids, tokens = session_of_three()
    effects = session.apply(Received("p", FollowRequest(on=True, lock=True)), 1.0)
    assert follows(effects) == [FollowState(leader=ids["p"], client="p", lock=True)]
    assert session.apply(Received("p", FollowRequest(on=True, lock=True)), 1.5) == []  # no change: no news
    joined = session.apply(Connect("a2", tokens["a"], hello()), 2.0)  # a second connection of the participant
    assert Send("a2", FollowState(leader=ids["p"], client="p", lock=True)) in joined
    unlocked = session.apply(Received("p", FollowRequest(on=True, lock=False)), 3.0)
    assert follows(unlocked) == [FollowState(leader=ids["p"], client="p", lock=False)]
    assert follows(session.apply(Received("p", FollowRequest(on=False)), 4.0)) == [NOBODY]
    late = session.apply(Connect("a3", tokens["a"], hello()), 5.0)
    assert not [e for e in late if isinstance(e, Send) and isinstance(e.message, FollowState)]


def test_the_host_takes_the_lead_over_and_releases_it() -> None:
    session, ids, _ = session_of_three()
    session.apply(Received("p", FollowRequest(on=True)), 1.0)
    assert follows(session.apply(Received("h", FollowRequest(on=True, lock=True)), 2.0)) == [
        FollowState(leader=ids["h"], client="h", lock=True)
    ]
    assert follows(session.apply(Received("h", FollowRequest(on=False)), 3.0)) == [NOBODY]
    assert session.following is None


def test_following_ends_when_the_leading_connection_leaves() -> None:
    session, _, _ = session_of_three()
    session.apply(Received("p", FollowRequest(on=True, lock=True)), 1.0)
    assert follows(session.apply(Disconnect("a"), 2.0)) == []  # a follower leaving changes nothing
    assert follows(session.apply(Disconnect("p"), 3.0)) == [NOBODY]
    assert session.following is None


def test_following_ends_when_the_leader_loses_the_presenter_role_or_is_removed() -> None:
    session, ids, _ = session_of_three()
    session.apply(Received("p", FollowRequest(on=True, lock=True)), 1.0)
    effects = session.apply(Received("h", ReturnPresenter()), 2.0)
    assert follows(effects) == [NOBODY]
    session.apply(Received("h", SetRole(member=ids["p"], role="presenter")), 3.0)
    session.apply(Received("p", FollowRequest(on=True)), 4.0)
    assert follows(session.apply(Received("h", RemoveMember(member=ids["p"])), 5.0)) == [NOBODY]


def test_the_hosts_lead_survives_other_role_changes() -> None:
    session, ids, _ = session_of_three()
    session.apply(Received("h", FollowRequest(on=True, lock=True)), 1.0)
    assert follows(session.apply(Received("h", SetRole(member=ids["a"], role="observer")), 2.0)) == []
    assert session.following is not None and session.following.leader == ids["h"]
