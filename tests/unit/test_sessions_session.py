"""The session state machine without a network: tokens, join, resume, shared playback, subscriptions, uploads."""

from __future__ import annotations

import pytest
from fixtures.sessions import hello, make_registry, series_object, static_object

from vizserver.config import RESUME_WINDOW_S
from vizserver.errors import LimitExceededError
from vizserver.protocol.messages import Ping, PlaybackRequest, Subscribe, UploadStatus
from vizserver.scenes.objects import BuiltScene
from vizserver.server import settings
from vizserver.sessions import registry as registry_module
from vizserver.sessions.session import (
    Accepted,
    AddObjects,
    Broadcast,
    Connect,
    Disconnect,
    Received,
    Refused,
    Send,
    StreamsChanged,
    UploadProgress,
)
from vizserver.transports.bad_messages import BadMessageWindow


def test_connect_needs_a_known_token_and_sends_welcome_scene_playback() -> None:
    reg = make_registry()
    created = reg.create(BuiltScene("t", (series_object(),)), now=0.0)
    session = created.session
    assert session.apply(Connect("c1", "nope", hello()), 1.0) == [Refused(4004, "unknown session or bad token")]
    effects = session.apply(Connect("c1", created.host.token, hello()), 1.0)
    assert effects[0] == Accepted("c1", "host", False)
    kinds = [type(e.message).__name__ if isinstance(e, Send) and e.message else e for e in effects[1:]]
    assert kinds[:2] == ["Welcome", "SceneMessage"] and effects[3] == Send("c1", None)
    assert isinstance(effects[-1], StreamsChanged)
    assert session.streams() == {(0, 1): ["c1"]}  # the active streamed field by default


def test_playback_from_a_participant_of_an_open_session_is_shared_and_broadcast() -> None:
    reg = make_registry()
    created = reg.create(BuiltScene("t", (series_object(),)), now=0.0, open_to_all=True)
    session = created.session
    member = reg.join(session, "Ana", 0.0)
    session.apply(Connect("host", created.host.token, hello()), 0.0)
    session.apply(Connect("ana", member.token, hello()), 0.0)
    effects = session.apply(Received("ana", PlaybackRequest(step=3)), 1.0)
    assert effects == [Broadcast(None), StreamsChanged()]
    state = session.playback_state(1.0)
    assert state.step == 3 and state.time == 1.5 and state.steps == 5


def test_subscriptions_are_validated_and_change_streams() -> None:
    reg = make_registry()
    created = reg.create(BuiltScene("t", (series_object(), static_object(1))), now=0.0)
    session = created.session
    session.apply(Connect("c", created.host.token, hello()), 0.0)
    session.apply(Received("c", Subscribe(object=0, field=2)), 0.0)
    assert session.streams() == {(0, 2): ["c"]}
    session.apply(Received("c", Subscribe(object=1, field=0)), 0.0)  # a static object streams nothing
    assert session.streams() == {(0, 2): ["c"]}
    bad = session.apply(Received("c", Subscribe(object=0, field=9)), 0.0)
    assert isinstance(bad[0], Send) and "object 0 has no field 9" in bad[0].message.message  # type: ignore[union-attr]
    session.apply(Received("c", Subscribe(object=0, field=None)), 0.0)
    assert session.streams() == {}
    assert session.apply(Received("c", Ping(t=3.0)), 0.0)[0].message.t == 3.0  # type: ignore[union-attr]


def test_resume_within_the_window_keeps_identity_and_subscriptions() -> None:
    reg = make_registry()
    created = reg.create(BuiltScene("t", (series_object(),)), now=0.0)
    session, token = created.session, created.host.token
    session.apply(Connect("c", token, hello()), 0.0)
    session.apply(Received("c", Subscribe(object=0, field=2)), 0.0)
    session.apply(Disconnect("c"), 10.0)
    assert session.streams() == {}
    assert session.apply(Connect("new", token, hello(resume="c")), 20.0)[0] == Accepted("c", "host", True)
    assert session.streams() == {(0, 2): ["c"]}
    session.apply(Disconnect("c"), 30.0)
    late = session.apply(Connect("other", token, hello(resume="c")), 31.0 + RESUME_WINDOW_S)
    assert late[0] == Accepted("other", "host", False)


def test_added_objects_bump_the_revision_and_extend_playback() -> None:
    reg = make_registry()
    created = reg.create(BuiltScene("t", (static_object(),)), now=0.0)
    session = created.session
    session.apply(Connect("c", created.host.token, hello()), 0.0)
    assert session.playback.steps == 0
    effects = session.apply(AddObjects((series_object(object_id=7, steps=8),)), 1.0)
    assert session.revision == 1 and [o.id for o in session.objects] == [0, 1]
    assert isinstance(effects[0], Broadcast) and session.playback.steps == 8
    assert session.streams() == {(1, 1): ["c"]}  # existing clients follow the new object's active field
    status = UploadStatus(upload_id="u", name="x.stl", stage="done", fraction=1.0)
    assert session.apply(UploadProgress(status), 1.0) == [Broadcast(status)]


def test_session_full_and_too_many_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    import vizserver.sessions.session as session_module

    monkeypatch.setattr(session_module, "MAX_CLIENTS_PER_SESSION", 1)
    monkeypatch.setattr(registry_module, "MAX_SESSIONS", 1)
    reg = make_registry()
    created = reg.create(BuiltScene("t", (static_object(),)), now=0.0)
    session = created.session
    session.apply(Connect("a", created.host.token, hello()), 0.0)
    assert isinstance(session.apply(Connect("b", created.host.token, hello()), 0.0)[0], Refused)
    with pytest.raises(LimitExceededError, match="MAX_SESSIONS"):
        reg.create(BuiltScene("t", (static_object(),)), now=0.0)


def test_join_code_finds_the_session_until_it_expires() -> None:
    reg = make_registry()
    session = reg.create(BuiltScene("t", (static_object(),)), now=0.0).session
    assert reg.find("abcdef", 10.0) is session and reg.find(session.id, 10.0) is session
    assert reg.find("ABCDEF", settings.JOIN_CODE_TTL_S + 1.0) is None


def test_bad_message_window_counts_within_the_window_only() -> None:
    window = BadMessageWindow(limit=3, window_s=10.0)
    assert not window.record(0.0) and not window.record(1.0)
    assert window.record(2.0)
    slow = BadMessageWindow(limit=3, window_s=10.0)
    assert not any(slow.record(t) for t in (0.0, 6.0, 12.0, 18.0))


def test_idle_sessions_are_pruned_but_not_the_kept_one() -> None:
    reg = make_registry()
    kept = reg.create(BuiltScene("t", (static_object(),)), now=0.0).session
    idle = reg.create(BuiltScene("t", (static_object(),)), now=0.0).session
    busy = reg.create(BuiltScene("t", (static_object(),)), now=0.0)
    assert [kept.join_code, idle.join_code, busy.session.join_code] == ["ABCDEF", "GHJKLM", "NPQRST"]
    busy.session.apply(Connect("c", busy.host.token, hello()), 1.0)
    later = settings.SESSION_IDLE_TTL_S + 10.0
    assert reg.prune(later, keep=kept.id) == [idle.id]
    assert reg.get(kept.id) is kept and reg.get(busy.session.id) is busy.session and reg.get(idle.id) is None
