"""Session snapshots without a network: a full session saved and restored, tokens hashed, bad input refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fixtures.sessions import hello, make_registry, series_object, static_object

from vizserver.errors import InputError
from vizserver.protocol.messages import PlaybackRequest
from vizserver.scenefile import TourSpec
from vizserver.scenes.objects import BuiltScene
from vizserver.server.settings import SESSION_IDLE_TTL_S
from vizserver.sessions.members import TOKEN_HASH_PREFIX, token_digest
from vizserver.sessions.session import Connect, Session
from vizserver.sessions.snapshot import (
    SNAPSHOT_VERSION,
    EncodeCache,
    SessionSnapshot,
    SnapshotError,
    capture,
    decode,
    encode,
    peek_version,
    restore,
    restore_tour,
)
from vizserver.sessions.tours import Tour, TourState

NOW, WALL = 1000.0, 1_764_118_800.0
"""The monotonic and epoch clocks at saving; a restart reads monotonic ``LATER`` at epoch ``WALL + 30``."""
LATER = 50.0

SCENE = BuiltScene("Two objects", (series_object(0), static_object(1)))
TOUR = TourSpec.model_validate({"title": "Walk", "steps": [{"title": "a"}, {"title": "b"}, {"title": "c"}]})


def _session() -> tuple[Session, dict[str, str]]:
    """A strict session with a host, a presenter (was participant), a participant with a hand up, an observer,
    a pin and a stroke, a self-paced tour, playback paused at step 3, steering allowed."""
    registry = make_registry()
    created = registry.create(SCENE, NOW - 100.0)
    session = created.session
    tokens = {"host": created.host.token}
    for name, role in (("ann", "participant"), ("bob", "participant"), ("obs", "observer")):
        tokens[name] = registry.join(session, name, NOW - 50.0, role).token
    ann, bob = session.member(tokens["ann"]), session.member(tokens["bob"])
    assert ann is not None and bob is not None
    session.roster.set_role(ann.id, "presenter")
    session.roster.raise_hand(bob.id)
    session.steering_allowed = True
    session.playback = session.playback.change(NOW - 10.0, step=3, speed=2.0, loop=False)
    session.annotations.add_pin(author=ann.id, object_id=1, point=(0.1, 0.2, 0.3), text="scar here",
                                color="#ffcc00", now=WALL - 5.0, objects=range(2), normal=(0.0, 0.0, 2.0))
    session.annotations.add_stroke(author=bob.id, points=[(0, 0, 0), (0.1, 0, 0)], width=0.002, color="#00aaff",
                                   now=WALL - 4.0)
    session.tour = TourState(Tour.of_spec(TOUR))
    session.tour.set_mode("self_paced", driver=True, start=1)
    session.tour.member_steps[bob.id] = 2
    return session, tokens


def _saved(session: Session, cache: EncodeCache | None = None) -> str:
    params = {"cycle_length": np.int64(400), "scar_mode": "slow", "paced": np.bool_(True)}  # as a schema may give
    return encode(capture(session, scene_path="/scenes/two.yaml", default=False, now=NOW, wall=WALL,
                          twin_params=params), cache)


def test_a_session_comes_back_whole_after_a_restart() -> None:
    session, _ = _session()
    text = _saved(session)
    snapshot = decode(text)
    restored, notes = restore(snapshot, SCENE, LATER, WALL + 30.0)
    assert notes == []
    assert (restored.id, restored.join_code, restored.title) == (session.id, session.join_code, session.title)
    assert restored.created == pytest.approx(LATER - 30.0 - 100.0)  # the join code expires when it would have
    assert (restored.open, restored.steering_allowed) == (False, True)
    before = [(m.id, m.role, m.name, m.color, m.role_before_presenter) for m in session.roster]
    assert [(m.id, m.role, m.name, m.color, m.role_before_presenter) for m in restored.roster] == before
    assert restored.roster.hands == session.roster.hands and restored.roster.next_number == 5
    assert [m.created for m in restored.roster] == pytest.approx([LATER - 30.0 - 100.0] + [LATER - 30.0 - 50.0] * 3)
    state = restored.playback_state(LATER)
    assert (state.step, state.playing, state.speed, state.loop) == (3, False, 2.0, False)
    assert restored.annotations.to_json() == session.annotations.to_json()
    assert snapshot.twin_params == {"cycle_length": 400, "scar_mode": "slow", "paced": True}
    assert snapshot.tour is not None and snapshot.tour.mode == "self_paced"
    assert (snapshot.scene_path, snapshot.default) == ("/scenes/two.yaml", False)


def test_tokens_are_stored_as_hashes_and_still_admit_their_members() -> None:
    session, tokens = _session()
    text = _saved(session)
    for token in tokens.values():
        assert token not in text
        assert token_digest(token) in text
    restored, _ = restore(decode(text), SCENE, LATER, WALL + 30.0)
    bob = restored.member(tokens["bob"])
    assert bob is not None and (bob.id, bob.name, bob.token) == ("m3", "bob", tokens["bob"])
    assert restored.member(TOKEN_HASH_PREFIX + token_digest(tokens["host"])) is None  # the digest is no token
    assert restored.member("forged") is None
    effects = restored.apply(Connect("c1", tokens["ann"], hello()), LATER)
    welcome = effects[1]
    assert welcome.message.member == "m2" and welcome.message.role == "presenter"  # type: ignore[attr-defined]
    # saved again before the others came back: every member is still there, by its token's hash
    again, _ = restore(decode(_saved(restored)), SCENE, LATER, WALL + 30.0)
    assert [m.id for m in again.roster] == ["m1", "m2", "m3", "m4"]
    host = again.member(tokens["host"])
    assert host is not None and host.role == "host"


def test_playing_playback_resumes_from_where_it_was_saved() -> None:
    session, _ = _session()
    session.playback = session.playback.apply(PlaybackRequest(playing=True, step=1, speed=1.0, loop=True), NOW - 0.2)
    restored, _ = restore(decode(_saved(session)), SCENE, LATER, WALL + 30.0)
    assert restored.playback.playing
    assert restored.playback.position(LATER) == pytest.approx(3.0)  # step 1 + 0.2 s at 10 steps/s
    assert restored.playback.position(LATER + 0.1) == pytest.approx(4.0)


def test_the_saved_tour_is_put_back_clamped_to_the_tour_as_it_is_now() -> None:
    session, _ = _session()
    snapshot = decode(_saved(session))
    assert snapshot.tour is not None
    shorter = TourState(Tour.of_spec(TourSpec.model_validate({"title": "W", "steps": [{"title": "a"},
                                                                                       {"title": "b"}]})))
    restore_tour(shorter, snapshot.tour)
    assert shorter.mode == "self_paced" and shorter.member_steps == {"m3": 1}


def test_pins_on_objects_that_are_gone_are_dropped_with_a_note() -> None:
    session, _ = _session()
    smaller = BuiltScene("One object", (series_object(0),))
    restored, notes = restore(decode(_saved(session)), smaller, LATER, WALL + 30.0)
    assert [a.id for a in restored.annotations.list()] == [2]  # the stroke stays, the pin on object 1 goes
    assert notes == ["1 pin(s) on objects no longer in the scene (uploads) were dropped"]
    assert restored.annotations.next_id == 3  # ids are not reused


def _mutated(change: Callable[[dict[str, Any]], None]) -> str:
    session, _ = _session()
    document = json.loads(_saved(session))
    change(document)
    return json.dumps(document)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("format", "something-else"), "format is 'something-else'"),
        (_set("id", ""), "id must be a non-empty string"),
        (_set("roster.members.0.role", "king"), "role 'king'"),
        (_set("roster.members.1.role", "host"), "more than one host or presenter"),
        (_set("roster.members.1.id", "m1"), "share an id"),
        (_set("roster.members.0.id", "admin"), "is not m<number>"),
        (_set("roster.members.0.token_sha256", "secret0"), "token_sha256 is not 64"),
        (_set("roster.members.0.color", "red"), "is not #rrggbb"),
        (_set("roster.members", "everyone"), "roster.members must be a list"),
        (_set("roster.hands", ["m9"]), "roster.hands must list distinct ids"),
        (_set("roster.next_number", 2), "next_number 2 is not above"),
        (_set("playback.speed", 1000.0), "playback.speed 1000.0 is outside"),
        (_set("playback.position", -1), "playback.position -1.0 is negative"),
        (_set("playback.playing", "yes"), "playing must be true or false"),
        (_set("created", "yesterday"), "created must be a finite number"),
        (_set("twin", {"params": {"rate": [1, 2]}}), "twin.params['rate'] is not"),
        (_set("tour.mode", "wander"), "tour.mode 'wander'"),
        (_set("tour.member_steps", {"m3": -1}), "member_steps must map"),
        (_set("scene", None), "scene must be an object"),
        (_set("annotations", []), "annotations must be an object"),
    ],
)
def test_a_corrupt_snapshot_is_refused_with_what_is_wrong(change: Callable[[dict[str, Any]], None],
                                                          message: str) -> None:
    with pytest.raises(SnapshotError, match=r"^saved session") as caught:
        decode(_mutated(change))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("text", ["", "{", "[]", "null", '{"format": "vizserver-session"}', '{"a": NaN}',
                                  "[" * 100_000, b"\xff\xfe"])
def test_text_that_is_no_snapshot_is_refused(text: str | bytes) -> None:
    with pytest.raises(SnapshotError, match=r"^saved session"):
        decode(text)


def test_a_snapshot_from_a_newer_server_says_so() -> None:
    text = _mutated(_set("version", SNAPSHOT_VERSION + 1))
    with pytest.raises(SnapshotError, match=r"version 2 is not supported .*newer vizserver"):
        decode(text)
    assert peek_version(text) == SNAPSHOT_VERSION + 1


def test_annotations_that_do_not_check_out_refuse_the_restore() -> None:
    broken = _mutated(_set("annotations.annotations.1.width", 5.0))  # a 5 m wide stroke
    snapshot: SessionSnapshot = decode(broken)
    with pytest.raises(SnapshotError, match="entry 2"):
        restore(snapshot, SCENE, LATER, WALL + 30.0)


def test_the_encode_cache_reuses_unchanged_annotations_and_sees_every_change() -> None:
    session, tokens = _session()
    cache = EncodeCache()
    first = _saved(session, cache=cache)
    assert _saved(session, cache=cache) == first == _saved(session)
    bob = session.member(tokens["bob"])
    assert bob is not None
    session.annotations.delete(2, by=bob.id, by_host=False)
    session.annotations.add_stroke(author=bob.id, points=[(0, 0, 0), (0, 0, 0.1)], width=0.001, color="#00aaff",
                                   now=WALL)
    after = decode(_saved(session, cache=cache)).annotations
    assert [a["id"] for a in after["annotations"]] == [1, 3]  # type: ignore[index]
    session.annotations.delete(3, by=bob.id, by_host=False)  # same count as before the add, other ids
    assert [a["id"] for a in decode(_saved(session, cache=cache)).annotations["annotations"]] == [1]  # type: ignore[index]


def test_a_restored_session_idles_from_its_last_activity_not_from_its_creation() -> None:
    session, _ = _session()
    snapshot = decode(_saved(session))
    registry = make_registry()
    restored, _ = restore(snapshot, SCENE, LATER, WALL + 30.0)
    registry.adopt(restored, active_at=LATER - 30.0)  # someone was there until the server stopped
    assert registry.prune(LATER + SESSION_IDLE_TTL_S - 60.0, keep="") == []  # made long ago, but not idle long
    assert registry.find(restored.join_code, LATER) is restored
    with pytest.raises(InputError, match="already in use"):
        registry.adopt(restored, active_at=LATER)
    assert registry.prune(LATER + SESSION_IDLE_TTL_S + 1.0, keep="") == [restored.id]


def test_a_restored_session_saved_again_before_anyone_rejoined_keeps_its_last_activity() -> None:
    session, _ = _session()
    restored, _ = restore(decode(_saved(session)), SCENE, LATER, WALL + 30.0)
    again = capture(restored, scene_path="/s.yaml", default=False, now=LATER + 5.0, wall=WALL + 35.0,
                    active_at=LATER - 30.0)
    assert again.last_active == pytest.approx(WALL)  # not its creation, 100 s before
    assert capture(restored, scene_path="/s.yaml", default=False, now=LATER + 5.0,
                   wall=WALL + 35.0).last_active == pytest.approx(WALL - 100.0)
