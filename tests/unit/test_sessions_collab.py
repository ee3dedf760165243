"""Annotations and the guided tour routed through the session state machine, without a network.

Who gets what: an annotation reaches everyone and late joiners, only its author or the host deletes
it; a guided step goes to everyone and applies its time and twin parts once (as the mover's twin
requests), a self-paced step goes to the mover alone and the host and presenter get the progress.
"""

from __future__ import annotations

from dataclasses import replace

from fixtures.sessions import hello, make_registry, series_object, static_object

from vizserver.protocol.messages import (
    AnnotationAdd,
    AnnotationClear,
    AnnotationDelete,
    AnnotationDeleted,
    AnnotationMessage,
    AnnotationsMessage,
    ErrorMessage,
    PinInfo,
    RemoveMember,
    ServerMsg,
    StrokeInfo,
    TourModeRequest,
    TourMove,
    TourOutline,
    TourProgress,
    TourStepMessage,
    TwinAction,
    TwinParams,
)
from vizserver.scenefile import TourSpec
from vizserver.scenes.objects import BuiltScene
from vizserver.sessions.annotations import MAX_ANNOTATION_TEXT_CHARS, MAX_STROKE_POINTS
from vizserver.sessions.collab import TOUR_SEQ
from vizserver.sessions.session import (
    Broadcast,
    Connect,
    Delegate,
    Denied,
    Disconnect,
    Effect,
    Received,
    Send,
    Session,
    StreamsChanged,
)
from vizserver.sessions.tours import Tour, TourState

TOUR = TourSpec.model_validate({
    "title": "Waves",
    "views": {"front": {"position": [0.0, -1.0, 0.0]}},
    "steps": [
        {"title": "Start", "text": "the beginning", "camera": {"view": "front"}, "visible": ["wave"],
         "time": 1.1, "twin": {"cycle_length": 800}, "actions": [{"action": "clear scar"}]},
        {"title": "Middle", "clip": {"axis": "y", "position": 0.25}, "time_step": 4, "playing": True},
        {"title": "End", "visible": ["box"], "actions": [{"action": "pace here", "point": [0, 0, -20]}]},
    ],
})


def session_of_three() -> tuple[Session, dict[str, str]]:
    """Host ``h``, presenter ``p``, participants ``a`` and ``b`` (client id = key), all connected; member ids."""
    reg = make_registry()
    box = replace(static_object(1), name="box/part1")
    created = reg.create(BuiltScene("t", (series_object(), box)), now=0.0)
    session = created.session
    session.wall_offset = 1_700_000_000.0
    session.tour = TourState(Tour.of_spec(TOUR, {"cycle_length": 600}))
    tokens = {"h": created.host.token, "p": reg.join(session, "P", 0.0, "presenter").token,
              "a": reg.join(session, "A", 0.0).token, "b": reg.join(session, "B", 0.0).token}
    for client_id, token in tokens.items():
        session.apply(Connect(client_id, token, hello()), 0.0)
    ids = {cid: m.id for cid, t in tokens.items() if (m := session.member(t)) is not None}
    return session, ids


def pin(text: str = "scar here", **extra: object) -> AnnotationAdd:
    return AnnotationAdd.model_validate({"kind": "pin", "object": 0, "point": (1.0, 2.0, 3.0), "text": text, **extra})


def sent(effects: list[Effect], kind: type[ServerMsg]) -> list[tuple[str, ServerMsg]]:
    """(receiver, message) of every message of ``kind``: ``*`` for a broadcast."""
    out: list[tuple[str, ServerMsg]] = []
    for e in effects:
        if isinstance(e, Send | Broadcast) and isinstance(e.message, kind):
            out.append((e.client_id if isinstance(e, Send) else "*", e.message))
    return out


def error_of(effects: list[Effect]) -> ErrorMessage:
    assert isinstance(effects[0], Send) and isinstance(effects[0].message, ErrorMessage), effects
    return effects[0].message


# --- annotations ---


def test_a_participant_pin_is_broadcast_with_its_author_colour_and_wall_time() -> None:
    session, ids = session_of_three()
    effects = session.apply(Received("a", pin()), 5.0)
    [(to, message)] = sent(effects, AnnotationMessage)
    assert to == "*" and len(effects) == 1
    assert isinstance(message, AnnotationMessage) and isinstance(message.annotation, PinInfo)
    member = session.roster.by_id(ids["a"])
    assert message.annotation == PinInfo(id=1, author=ids["a"], color=member.color, created=1_700_000_005.0,
                                         object=0, point=(1.0, 2.0, 3.0), normal=None, text="scar here")
    stroke = AnnotationAdd(kind="stroke", points=[(0.0, 0.0, 0.0), (0.0, 0.1, 0.0)], width=0.002, color="#00AAFF")
    [(_, drawn)] = sent(session.apply(Received("p", stroke), 6.0), AnnotationMessage)
    assert isinstance(drawn, AnnotationMessage) and isinstance(drawn.annotation, StrokeInfo)
    assert drawn.annotation.id == 2 and drawn.annotation.color == "#00aaff"


def test_a_late_joiner_gets_every_annotation_on_connect() -> None:
    session, _ = session_of_three()
    session.apply(Received("a", pin("first")), 1.0)
    session.apply(Received("b", pin("second")), 2.0)
    effects = session.apply(Connect("a2", session.clients["a"].token, hello()), 3.0)
    [(to, listed)] = sent(effects, AnnotationsMessage)
    assert to == "a2" and isinstance(listed, AnnotationsMessage)
    assert [(i.id, i.text) for i in listed.items if isinstance(i, PinInfo)] == [(1, "first"), (2, "second")]


def test_oversized_or_misplaced_annotations_are_refused_with_the_reason() -> None:
    session, _ = session_of_three()
    long_text = session.apply(Received("a", pin("x" * (MAX_ANNOTATION_TEXT_CHARS + 1))), 1.0)
    error = error_of(long_text)
    assert error.code == "bad_annotation" and len(long_text) == 1
    assert error.message == f"annotation_add: pin: text is {MAX_ANNOTATION_TEXT_CHARS + 1} characters (limit 500)"
    points = [(0.0, 0.0, float(i)) for i in range(MAX_STROKE_POINTS + 1)]
    too_long = error_of(session.apply(Received("a", AnnotationAdd(kind="stroke", points=points, width=0.01)), 1.0))
    assert too_long.code == "bad_annotation" and f"{MAX_STROKE_POINTS + 1} points" in too_long.message
    nowhere = error_of(session.apply(Received("a", pin(object=7)), 1.0))
    assert nowhere.code == "bad_annotation" and "no object 7" in nowhere.message
    assert not session.annotations.items


def test_only_the_author_or_the_host_deletes_a_pin() -> None:
    session, ids = session_of_three()
    session.apply(Received("h", pin("host's")), 1.0)
    session.apply(Received("a", pin("a's")), 1.0)
    refused = session.apply(Received("a", AnnotationDelete(id=1)), 2.0)
    assert error_of(refused).code == "forbidden" and "only its author or the host" in error_of(refused).message
    assert isinstance(refused[1], Denied) and refused[1].member_id == ids["a"]  # logged
    assert error_of(session.apply(Received("p", AnnotationDelete(id=2)), 2.0)).code == "forbidden"
    assert error_of(session.apply(Received("a", AnnotationDelete(id=9)), 2.0)).code == "unknown_annotation"
    assert sorted(session.annotations.items) == [1, 2]
    assert session.apply(Received("h", AnnotationDelete(id=2)), 3.0) == [
        Broadcast(AnnotationDeleted(ids=[2], by=ids["h"]))]
    assert session.apply(Received("h", AnnotationDelete(id=1)), 3.0) == [
        Broadcast(AnnotationDeleted(ids=[1], by=ids["h"]))]


def test_clear_one_own_annotations_and_only_the_host_clears_all() -> None:
    session, ids = session_of_three()
    for client in ("a", "b", "a"):
        session.apply(Received(client, pin()), 1.0)
    assert error_of(session.apply(Received("a", AnnotationClear(all=True)), 2.0)).code == "forbidden"
    assert error_of(session.apply(Received("a", AnnotationClear(author=ids["b"])), 2.0)).code == "forbidden"
    assert session.apply(Received("a", AnnotationClear()), 2.0) == [Broadcast(AnnotationDeleted(ids=[1, 3],
                                                                                                by=ids["a"]))]
    assert session.apply(Received("a", AnnotationClear()), 2.0) == []  # nothing left to say
    assert session.apply(Received("h", AnnotationClear(all=True)), 3.0) == [
        Broadcast(AnnotationDeleted(ids=[2], by=ids["h"]))]


# --- the tour ---


def test_connect_sends_the_tour_outline_and_no_step_while_it_is_off() -> None:
    session, _ = session_of_three()
    effects = session.apply(Connect("late", session.clients["b"].token, hello()), 1.0)
    [(to, outline)] = sent(effects, TourOutline)
    assert to == "late" and outline == TourOutline(title="Waves", titles=["Start", "Middle", "End"], count=3,
                                                   mode="off", step=0)
    assert sent(effects, TourStepMessage) == []
    assert isinstance(effects[-1], StreamsChanged)


def test_guided_the_presenter_moves_everyone_and_the_shared_parts_apply_once() -> None:
    session, _ = session_of_three()
    effects = session.apply(Received("p", TourModeRequest(mode="guided")), 1.0)
    assert [to for to, _ in sent(effects, TourOutline)] == ["*"]
    [(to, step)] = sent(effects, TourStepMessage)
    assert to == "*" and isinstance(step, TourStepMessage)
    assert (step.step, step.title, step.caption, step.visible, step.clip) == (0, "Start", "the beginning", [0], None)
    assert step.camera is not None and step.camera.position == (0.0, -1.0, 0.0)
    assert session.playback_state(1.0).step == 2  # time 1.1 ms: the nearest of 0, 0.5, 1.0, 1.5, 2.0
    assert Broadcast(None) in effects  # everyone hears the new playback
    delegated = [e for e in effects if isinstance(e, Delegate)]
    assert delegated == [Delegate("p", TwinParams(seq=TOUR_SEQ, values={"cycle_length": 800})),
                         Delegate("p", TwinAction(seq=TOUR_SEQ, action="clear scar"))]

    moved = session.apply(Received("p", TourMove(move="next")), 2.0)
    [(to, middle)] = sent(moved, TourStepMessage)
    assert to == "*" and isinstance(middle, TourStepMessage) and middle.step == 1 and middle.camera is None
    assert middle.clip is not None and (middle.clip.axis, middle.clip.position, middle.clip.flip) == ("y", 0.25, False)
    state = session.playback_state(2.0)
    assert state.step == 4 and state.playing
    # step 2 of the tour keeps the earlier parameter (in force), and its point travels as floats
    last = session.apply(Received("h", TourMove(move="goto", step=2)), 3.0)
    assert [e for e in last if isinstance(e, Delegate)] == [
        Delegate("h", TwinParams(seq=TOUR_SEQ, values={"cycle_length": 800})),
        Delegate("h", TwinAction(seq=TOUR_SEQ, action="pace here", point=(0.0, 0.0, -20.0)))]
    [(_, end)] = sent(last, TourStepMessage)
    assert isinstance(end, TourStepMessage) and end.visible == [1]  # "box" names its part "box/part1"
    assert session.apply(Received("h", TourMove(move="next")), 4.0) == []  # at the end: nothing


def test_guided_a_participant_cannot_move_the_tour() -> None:
    session, ids = session_of_three()
    session.apply(Received("p", TourModeRequest(mode="guided")), 1.0)
    refused = session.apply(Received("a", TourMove(move="next")), 2.0)
    assert error_of(refused) == ErrorMessage(code="forbidden", message="tour: the presenter moves a guided tour")
    assert isinstance(refused[1], Denied) and refused[1].member_id == ids["a"]
    assert session.tour is not None and session.tour.guided_index == 0
    assert error_of(session.apply(Received("a", TourModeRequest(mode="off")), 2.0)).code == "forbidden"


def test_a_guided_tour_is_shown_to_a_joiner_without_applying_it_again() -> None:
    session, _ = session_of_three()
    session.apply(Received("p", TourModeRequest(mode="guided", start=1)), 1.0)
    effects = session.apply(Connect("late", session.clients["a"].token, hello()), 2.0)
    [(to, step)] = sent(effects, TourStepMessage)
    assert to == "late" and isinstance(step, TourStepMessage) and step.step == 1
    assert not any(isinstance(e, Delegate) for e in effects)


def test_self_paced_each_member_moves_alone_and_the_host_and_presenter_see_progress() -> None:
    session, ids = session_of_three()
    started = session.apply(Received("h", TourModeRequest(mode="self_paced")), 1.0)
    assert [(to, s.step) for to, s in sent(started, TourStepMessage)] == [("*", 0)]  # type: ignore[attr-defined]
    assert session.playback_state(1.0).step == 0 and not any(isinstance(e, Delegate) for e in started)

    effects = session.apply(Received("a", TourMove(move="next")), 2.0)
    assert [(to, s.step) for to, s in sent(effects, TourStepMessage)] == [("a", 1)]  # type: ignore[attr-defined]
    progress = sent(effects, TourProgress)
    assert sorted(to for to, _ in progress) == ["h", "p"]
    expected = {ids["h"]: 0, ids["p"]: 0, ids["a"]: 1, ids["b"]: 0}
    assert all(isinstance(m, TourProgress) and m.steps == expected and m.mode == "self_paced" for _, m in progress)
    assert session.playback_state(2.0).step == 0  # a self-paced step leaves the shared time alone
    assert not any(isinstance(e, Delegate) for e in effects)

    session.apply(Received("b", TourMove(move="goto", step=2)), 3.0)
    session.apply(Received("b", TourMove(move="prev")), 3.0)
    assert session.tour is not None and session.tour.progress()[ids["b"]] == 1


def test_self_paced_a_member_who_leaves_and_comes_back_resumes_their_step() -> None:
    session, ids = session_of_three()
    session.apply(Received("h", TourModeRequest(mode="self_paced")), 1.0)
    session.apply(Received("b", TourMove(move="goto", step=2)), 2.0)
    left = session.apply(Disconnect("b"), 3.0)
    [(_, progress)] = [(to, m) for to, m in sent(left, TourProgress) if to == "h"]
    assert isinstance(progress, TourProgress) and ids["b"] not in progress.steps
    back = session.apply(Connect("b2", session.clients["b"].token, hello()), 4.0)
    assert [(to, s.step) for to, s in sent(back, TourStepMessage)] == [("b2", 2)]  # type: ignore[attr-defined]
    [(_, again)] = [(to, m) for to, m in sent(back, TourProgress) if to == "h"]
    assert isinstance(again, TourProgress) and again.steps[ids["b"]] == 2


def test_a_scene_without_a_tour_says_so() -> None:
    session, _ = session_of_three()
    session.tour = None
    error = error_of(session.apply(Received("p", TourModeRequest(mode="guided")), 1.0))
    assert error == ErrorMessage(code="tour_off", message="tour_mode: this session's scene has no tour")
    assert error_of(session.apply(Received("a", TourMove(move="next")), 1.0)).code == "tour_off"


def test_a_tour_that_is_off_refuses_moves() -> None:
    session, _ = session_of_three()
    assert error_of(session.apply(Received("a", TourMove(move="next")), 1.0)).code == "tour_off"


def test_the_tour_state_survives_a_snapshot() -> None:
    session, ids = session_of_three()
    session.apply(Received("h", TourModeRequest(mode="self_paced")), 1.0)
    session.apply(Received("a", TourMove(move="next")), 2.0)
    assert session.tour is not None
    snapshot = session.tour.snapshot()
    restored = TourState(Tour.of_spec(TOUR))
    restored.restore(snapshot)
    assert (restored.mode, restored.guided_index, restored.member_steps[ids["a"]]) == ("self_paced", 0, 1)


def test_a_removed_member_leaves_the_progress_map_and_their_step_is_forgotten() -> None:
    session, ids = session_of_three()
    session.apply(Received("h", TourModeRequest(mode="self_paced")), 1.0)
    session.apply(Received("b", TourMove(move="next")), 2.0)
    effects = session.apply(Received("h", RemoveMember(member=ids["b"])), 3.0)
    [(_, progress)] = [(to, m) for to, m in sent(effects, TourProgress) if to == "h"]
    assert isinstance(progress, TourProgress) and ids["b"] not in progress.steps
    assert session.tour is not None and ids["b"] not in session.tour.member_steps
