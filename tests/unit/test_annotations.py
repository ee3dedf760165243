from __future__ import annotations

import json
import math
from typing import Any

import pytest

from vizserver.errors import InputError
from vizserver.sessions.annotations import (
    ANNOTATIONS_FORMAT,
    ANNOTATIONS_VERSION,
    MAX_ANNOTATION_TEXT_CHARS,
    MAX_ANNOTATIONS_JSON_BYTES,
    MAX_ANNOTATIONS_PER_AUTHOR,
    MAX_ANNOTATIONS_PER_SESSION,
    MAX_STROKE_POINTS,
    MAX_STROKE_POINTS_PER_SESSION,
    MAX_STROKE_WIDTH_M,
    AnnotationError,
    AnnotationStore,
    Pin,
    Stroke,
    annotation_dict,
)

OBJECTS = range(2)
NOW = 1_764_118_800.0


def _pin(store: AnnotationStore, author: str = "m1", **overrides: Any) -> Pin:
    values: dict[str, Any] = {
        "author": author, "object_id": 0, "point": [9.7, 0.0, -5.0], "text": "scar here", "color": "#FFCC00",
        "now": NOW, "objects": OBJECTS, "normal": [2.0, 0.0, 0.0],
    }
    values.update(overrides)
    return store.add_pin(**values)


def _stroke(store: AnnotationStore, author: str = "m1", **overrides: Any) -> Stroke:
    values: dict[str, Any] = {
        "author": author, "points": [[0.0, 0.01, 0.0], [0.0, 0.012, 0.001], [0.001, 0.013, 0.002]],
        "width": 0.002, "color": "#00aaff", "now": NOW + 1,
    }
    values.update(overrides)
    return store.add_stroke(**values)


def _refused(code: str, fragment: str, call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(AnnotationError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert info.value.code == code, message
    assert fragment in message
    assert "\n" not in message
    return message


def test_a_pin_is_stored_with_a_unit_normal_and_a_lower_case_colour() -> None:
    store = AnnotationStore()
    pin = _pin(store)
    assert pin.id == 1
    assert pin.normal == (1.0, 0.0, 0.0)
    assert pin.color == "#ffcc00"
    assert pin.point == (9.7, 0.0, -5.0)
    assert store.list() == [pin]


def test_a_pin_without_a_normal_or_text_is_a_marker() -> None:
    pin = _pin(AnnotationStore(), normal=None, text="")
    assert pin.normal is None and pin.text == ""


def test_ids_increase_and_are_never_reused() -> None:
    store = AnnotationStore()
    first, second = _pin(store), _stroke(store)
    assert (first.id, second.id) == (1, 2)
    store.delete(second.id, by="m1", by_host=False)
    assert _pin(store).id == 3
    assert [a.id for a in store.list()] == [1, 3]


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"object_id": 2}, "no object 2"),
        ({"object_id": True}, "no object True"),
        ({"object_id": "0"}, "no object '0'"),
        ({"point": [0.0, math.nan, 0.0]}, "point has a coordinate that is not finite"),
        ({"point": [0.0, math.inf, 0.0]}, "not finite"),
        ({"point": [0.0, 0.0]}, "point must be three numbers"),
        ({"point": [0.0, "1", 0.0]}, "point must be three numbers"),
        ({"point": [0.0, False, 0.0]}, "point must be three numbers"),
        ({"normal": [0.0, 0.0, 0.0]}, "normal must have a non-zero"),
        ({"normal": [math.nan, 0.0, 1.0]}, "normal has a coordinate that is not finite"),
        ({"text": "x" * (MAX_ANNOTATION_TEXT_CHARS + 1)}, f"text is {MAX_ANNOTATION_TEXT_CHARS + 1} characters"),
        ({"text": "bell\x07"}, "control characters"),
        ({"text": 5}, "text must be a string"),
        ({"color": "red"}, "#rrggbb"),
        ({"author": ""}, "author must be a member id"),
        ({"author": "m" * 65}, "author must be a member id"),
        ({"now": math.nan}, "created must be a finite time"),
    ],
)
def test_bad_pins_are_refused_with_the_reason(overrides: dict[str, Any], fragment: str) -> None:
    store = AnnotationStore()
    _refused("bad_annotation", fragment, _pin, store, **overrides)
    assert store.list() == [] and store.next_id == 1


def test_pin_text_may_have_line_breaks_and_tabs_up_to_the_limit() -> None:
    text = "line one\nline\ttwo" + "x" * (MAX_ANNOTATION_TEXT_CHARS - 17)
    assert len(text) == MAX_ANNOTATION_TEXT_CHARS
    assert _pin(AnnotationStore(), text=text).text == text


def test_a_stroke_keeps_its_points_as_plain_tuples() -> None:
    stroke = _stroke(AnnotationStore())
    assert stroke.points == ((0.0, 0.01, 0.0), (0.0, 0.012, 0.001), (0.001, 0.013, 0.002))
    assert all(type(v) is float for p in stroke.points for v in p)
    assert stroke.width == 0.002


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"points": [[0.0, 0.0, 0.0]]}, "1 points (a stroke has 2 to"),
        ({"points": [[0.0, 0.0, float(i)] for i in range(MAX_STROKE_POINTS + 1)]}, f"{MAX_STROKE_POINTS + 1} points"),
        ({"points": [[0.0, 0.0, 0.0], [0.0, 0.0]]}, "every point must be three numbers"),
        ({"points": [[0.0, 0.0, 0.0], [0.0, "1", 0.0]]}, "every point must be three numbers"),
        ({"points": [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [math.inf, 0.0, 0.0]]}, "point 2 has a coordinate"),
        ({"points": "0,0,0"}, "points must be a list"),
        ({"width": 0.0}, "width must be a number in (0, "),
        ({"width": MAX_STROKE_WIDTH_M * 2}, "width must be"),
        ({"width": math.nan}, "width must be"),
        ({"width": True}, "width must be"),
        ({"color": "#12345"}, "#rrggbb"),
    ],
)
def test_bad_strokes_are_refused_with_the_reason(overrides: dict[str, Any], fragment: str) -> None:
    store = AnnotationStore()
    _refused("bad_annotation", fragment, _stroke, store, **overrides)
    assert store.list() == []


def test_a_stroke_at_the_point_limit_is_accepted() -> None:
    points = [[0.0, 0.0, i * 1e-3] for i in range(MAX_STROKE_POINTS)]
    assert len(_stroke(AnnotationStore(), points=points).points) == MAX_STROKE_POINTS


def test_the_session_limit_counts_everyone() -> None:
    store = AnnotationStore()
    authors = [f"m{i}" for i in range(MAX_ANNOTATIONS_PER_SESSION // MAX_ANNOTATIONS_PER_AUTHOR + 1)]
    for i in range(MAX_ANNOTATIONS_PER_SESSION):
        _pin(store, author=authors[i // MAX_ANNOTATIONS_PER_AUTHOR])
    _refused("annotation_limit", f"{MAX_ANNOTATIONS_PER_SESSION} annotations (the limit)", _pin, store,
             author=authors[-1])
    assert len(store.list()) == MAX_ANNOTATIONS_PER_SESSION
    store.delete(1, by="host", by_host=True)
    assert _pin(store, author=authors[-1]).id == MAX_ANNOTATIONS_PER_SESSION + 1


def test_one_member_cannot_fill_the_session() -> None:
    store = AnnotationStore()
    for _ in range(MAX_ANNOTATIONS_PER_AUTHOR):
        _stroke(store, author="m1")
    _refused("annotation_limit", "'m1' has 200 annotations (the limit per member)", _pin, store, author="m1")
    assert _pin(store, author="m2").author == "m2"


def test_the_session_limit_on_stroke_points() -> None:
    store = AnnotationStore()
    full = [[0.0, 0.0, i * 1e-3] for i in range(MAX_STROKE_POINTS)]
    strokes = MAX_STROKE_POINTS_PER_SESSION // MAX_STROKE_POINTS
    for i in range(strokes):
        _stroke(store, author=f"m{i // MAX_ANNOTATIONS_PER_AUTHOR}", points=full)
    left = MAX_STROKE_POINTS_PER_SESSION - store.stroke_points()
    _refused("annotation_limit", "delete some first", _stroke, store, author="late", points=full[: left + 1])
    assert len(_stroke(store, author="late", points=full[:left]).points) == left
    assert store.stroke_points() == MAX_STROKE_POINTS_PER_SESSION


def test_the_author_or_the_host_deletes() -> None:
    store = AnnotationStore()
    mine, theirs = _pin(store, author="m1"), _pin(store, author="m2")
    _refused("forbidden", "only its author or the host", store.delete, theirs.id, by="m1", by_host=False)
    assert store.delete(mine.id, by="m1", by_host=False) == mine
    assert store.delete(theirs.id, by="m9", by_host=True) == theirs
    assert store.list() == []


@pytest.mark.parametrize("annotation_id", [7, True, "1"])
def test_deleting_an_unknown_annotation_says_so(annotation_id: Any) -> None:
    store = AnnotationStore()
    _pin(store)
    _refused("unknown_annotation", "no such annotation", store.delete, annotation_id, by="m1", by_host=True)
    assert len(store.list()) == 1


def test_clear_by_author() -> None:
    store = AnnotationStore()
    a1, b1, a2 = _pin(store, author="a"), _stroke(store, author="b"), _stroke(store, author="a")
    _refused("forbidden", "only the host may clear the annotations of 'a'", store.clear, "a", by="b", by_host=False)
    _refused("forbidden", "only the host may clear everyone's", store.clear, None, by="b", by_host=False)
    assert store.clear("a", by="a", by_host=False) == (a1.id, a2.id)
    assert store.list() == [b1]
    assert store.clear("b", by="host", by_host=True) == (b1.id,)
    _pin(store, author="c")
    _pin(store, author="d")
    assert len(store.clear(None, by="host", by_host=True)) == 2
    assert store.list() == []


def test_export_follows_the_documented_schema() -> None:
    store = AnnotationStore()
    pin, stroke = _pin(store), _stroke(store)
    store.delete(pin.id, by="m1", by_host=False)
    _pin(store, normal=None)
    document = json.loads(store.to_json())
    assert document["format"] == ANNOTATIONS_FORMAT == "vizserver-annotations"
    assert document["version"] == ANNOTATIONS_VERSION == 1
    assert document["next_id"] == 4
    assert [a["id"] for a in document["annotations"]] == [2, 3]
    assert document["annotations"][0] == {
        "kind": "stroke", "id": 2, "author": "m1", "color": "#00aaff", "created": NOW + 1,
        "points": [list(p) for p in stroke.points], "width": 0.002,
    }
    assert document["annotations"][1] == {
        "kind": "pin", "id": 3, "author": "m1", "color": "#ffcc00", "created": NOW, "object": 0,
        "point": [9.7, 0.0, -5.0], "normal": None, "text": "scar here",
    }


def test_import_gives_back_what_was_exported() -> None:
    store = AnnotationStore()
    _pin(store)
    _stroke(store, author="m2")
    _pin(store, author="m2", object_id=1, text="über\nzwei Zeilen")
    store.delete(1, by="host", by_host=True)
    restored = AnnotationStore.from_json(store.to_json(), OBJECTS)
    assert restored.list() == store.list()
    assert restored.next_id == store.next_id == 4
    assert _pin(restored).id == 4
    assert AnnotationStore.from_json(store.to_json().encode("utf-8"), OBJECTS).list() == store.list()


def test_an_empty_store_round_trips() -> None:
    restored = AnnotationStore.from_json(AnnotationStore().to_json(), OBJECTS)
    assert restored.list() == [] and restored.next_id == 1


def _export(*entries: dict[str, Any], **top: Any) -> str:
    document: dict[str, Any] = {"format": ANNOTATIONS_FORMAT, "version": 1, "next_id": 10, "annotations": list(entries)}
    document.update(top)
    return json.dumps(document)


def _pin_entry(**overrides: Any) -> dict[str, Any]:
    store = AnnotationStore()
    entry = annotation_dict(_pin(store))
    entry.update(overrides)
    return entry


def _stroke_entry(**overrides: Any) -> dict[str, Any]:
    entry = annotation_dict(_stroke(AnnotationStore()))
    entry.update(overrides)
    return entry


@pytest.mark.parametrize(
    ("text", "code", "fragment"),
    [
        ("{not json", "bad_annotation", "not valid JSON"),
        ("[" * 100_000, "bad_annotation", "annotations: not valid JSON"),
        ("[]", "bad_annotation", "annotations: expected an object, not list"),
        (_export(format="other"), "bad_annotation", "format is 'other'"),
        (_export(version=2), "bad_annotation", "version 2 is not supported (this server reads 1)"),
        (_export(version=True), "bad_annotation", "version True is not supported"),
        (_export(extra=1), "bad_annotation", "unknown extra"),
        (json.dumps({"format": ANNOTATIONS_FORMAT, "version": 1}), "bad_annotation", "missing annotations, next_id"),
        (_export(annotations={}), "bad_annotation", "'annotations' must be a list"),
        (_export({"kind": "arrow"}), "bad_annotation", "entry 1: 'kind' must be 'pin' or 'stroke'"),
        (_export(_pin_entry(id=0)), "bad_annotation", "entry 1: id must be a positive integer"),
        (_export(_pin_entry(id=1), _pin_entry(id=1)), "bad_annotation", "entry 2: id 1 is used twice"),
        (_export(_pin_entry(object=5)), "bad_annotation", "entry 1: pin: no object 5"),
        (_export(_pin_entry(text="x" * 501)), "bad_annotation", "entry 1: pin: text is 501 characters"),
        (_export(_pin_entry(shape="round")), "bad_annotation", "entry 1: pin: unknown shape"),
        (_export(_stroke_entry(points=[[0, 0, 0]])), "bad_annotation", "entry 1: stroke: 1 points"),
        (_export(_stroke_entry(width="thin")), "bad_annotation", "entry 1: stroke: width"),
        (_export(_pin_entry(created="yesterday")), "bad_annotation", "created must be a finite time"),
        (_export(_pin_entry(id=3), next_id=3), "bad_annotation", "next_id 3 must be an integer >= 4"),
        (_export(next_id=1.5), "bad_annotation", "next_id 1.5 must be an integer"),
        (_export(_pin_entry()).replace("9.7", "NaN"), "bad_annotation", "NaN is not a finite number"),
        (_export(_pin_entry()).replace("9.7", "1e999"), "bad_annotation", "point has a coordinate that is not finite"),
    ],
)
def test_import_checks_everything(text: str, code: str, fragment: str) -> None:
    message = _refused(code, fragment, AnnotationStore.from_json, text, OBJECTS)
    assert message.startswith("annotations: ")


def test_import_applies_the_limits() -> None:
    entries = [_pin_entry(id=i + 1, author="m1") for i in range(MAX_ANNOTATIONS_PER_AUTHOR + 1)]
    _refused("annotation_limit", f"entry {MAX_ANNOTATIONS_PER_AUTHOR + 1}: 'm1' has", AnnotationStore.from_json,
             _export(*entries, next_id=len(entries) + 1), OBJECTS)
    _refused("annotation_limit", "over", AnnotationStore.from_json, " " * (MAX_ANNOTATIONS_JSON_BYTES + 1), OBJECTS)


def test_errors_are_input_errors() -> None:
    with pytest.raises(InputError):
        _pin(AnnotationStore(), object_id=9)
