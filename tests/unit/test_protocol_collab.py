"""The annotation and tour messages on the wire: round trips, the documented shape, strict refusals."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vizserver.config import MAX_CONTROL_MESSAGE_BYTES
from vizserver.protocol.messages import (
    AnnotationAdd,
    AnnotationClear,
    AnnotationDelete,
    AnnotationDeleted,
    AnnotationMessage,
    AnnotationsMessage,
    PinInfo,
    ProtocolError,
    StrokeInfo,
    TourCamera,
    TourClip,
    TourModeRequest,
    TourMove,
    TourOutline,
    TourProgress,
    TourStepMessage,
    decode_client_message,
    decode_server_message,
    encode_client_message,
    encode_server_message,
)

PIN = PinInfo(id=1, author="m1", color="#ffcc00", created=1764118800.5, object=0, point=(9.7, 0.0, -5.0),
              normal=(1.0, 0.0, 0.0), text="scar here")
STROKE = StrokeInfo(id=3, author="m2", color="#00aaff", created=1764118803.0,
                    points=[(0.0, 0.01, 0.0), (0.0, 0.012, 0.001)], width=0.002)

CLIENT = [
    AnnotationAdd(kind="pin", object=0, point=(1.0, 2.0, 3.0), text="here"),
    AnnotationAdd(kind="pin", object=2, point=(1.0, 2.0, 3.0), normal=(0.0, 0.0, 1.0), text="", color="#ff0000"),
    AnnotationAdd(kind="stroke", points=[(0.0, 0.0, 0.0), (1.0, 1.0, 1.0)], width=0.01),
    AnnotationDelete(id=4),
    AnnotationClear(),
    AnnotationClear(author="m3"),
    AnnotationClear(all=True),
    TourMove(move="next"),
    TourMove(move="goto", step=2),
    TourModeRequest(mode="self_paced", start=1),
]

SERVER = [
    AnnotationsMessage(items=[PIN, STROKE]),
    AnnotationMessage(annotation=STROKE),
    AnnotationDeleted(ids=[1, 3], by="m1"),
    TourOutline(title="LV", titles=["a", "b"], count=2, mode="guided", step=1),
    TourStepMessage(mode="guided", step=0, count=2, title="a", caption="text",
                    camera=TourCamera(position=(0.0, -1.0, 0.0), target=(0.0, 0.0, 0.0), up=(0.0, 0.0, 1.0)),
                    visible=[0, 2], clip=TourClip(axis="y", position=0.5, flip=True)),
    TourStepMessage(mode="self_paced", step=1, count=2, title="b", caption="", visible=None, clip=None),
    TourProgress(mode="self_paced", count=2, steps={"m1": 0, "m2": 1}),
]


@pytest.mark.parametrize("msg", CLIENT, ids=lambda m: m.type)
def test_client_messages_round_trip(msg: object) -> None:
    text = encode_client_message(msg)  # type: ignore[arg-type]
    assert decode_client_message(text) == msg


@pytest.mark.parametrize("msg", SERVER, ids=lambda m: m.type)
def test_server_messages_round_trip(msg: object) -> None:
    text = encode_server_message(msg)  # type: ignore[arg-type]
    assert decode_server_message(text) == msg
    assert encode_server_message(decode_server_message(text)) == text


def test_the_documented_shape() -> None:
    assert json.loads(encode_server_message(AnnotationMessage(annotation=PIN)))["annotation"] == {
        "kind": "pin", "id": 1, "author": "m1", "color": "#ffcc00", "created": 1764118800.5, "object": 0,
        "point": [9.7, 0.0, -5.0], "normal": [1.0, 0.0, 0.0], "text": "scar here"}
    step = json.loads(encode_server_message(SERVER[-2]))
    assert "camera" not in step and step["visible"] is None and step["clip"] is None  # null: every object, no clip
    assert encode_client_message(TourMove(move="prev")) == '{"type":"tour","move":"prev"}'


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"type": "annotation_add", "kind": "pin", "object": 0, "point": [0, 0, 0]}, "a pin needs text"),
        ({"type": "annotation_add", "kind": "stroke", "width": 0.1}, "a stroke needs points"),
        ({"type": "annotation_add", "kind": "stroke", "points": [[0, 0, 0]], "width": 0.1, "object": 1},
         "a stroke has no object"),
        ({"type": "annotation_add", "kind": "pin", "object": 0, "point": [0, 0], "text": "x"}, "point"),
        ({"type": "annotation_add", "kind": "pin", "object": 0, "point": [0, 0, 0], "text": 5}, "text"),
        ({"type": "annotation_add", "kind": "pin", "object": "0", "point": [0, 0, 0], "text": "x"}, "object"),
        ({"type": "annotation_add", "kind": "pin", "object": 0, "point": [0, 0, 0], "text": "x", "color": "red"},
         "color"),
        ({"type": "annotation_add", "kind": "arrow"}, "kind"),
        ({"type": "annotation_delete", "id": -1}, "id"),
        ({"type": "annotation_clear", "all": True, "author": "m1"}, "author or all"),
        ({"type": "tour", "move": "goto"}, "step goes with move 'goto'"),
        ({"type": "tour", "move": "next", "step": 1}, "step goes with move 'goto'"),
        ({"type": "tour", "move": "jump"}, "move"),
        ({"type": "tour_mode", "mode": "solo"}, "mode"),
    ],
)
def test_malformed_requests_are_bad_message_with_the_reason(body: dict[str, object], needle: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_client_message(json.dumps(body))
    assert caught.value.code == "bad_message" and needle in str(caught.value)


def test_a_stroke_over_the_message_limit_is_too_large_before_parsing() -> None:
    points = [[0.123456, 0.123456, 0.123456]] * 3000
    text = json.dumps({"type": "annotation_add", "kind": "stroke", "points": points, "width": 0.01})
    assert len(text) > MAX_CONTROL_MESSAGE_BYTES
    with pytest.raises(ProtocolError) as caught:
        decode_client_message(text)
    assert caught.value.code == "too_large"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["annotation_add", "annotation_delete", "annotation_clear", "tour", "tour_mode"]),
    st.dictionaries(
        st.sampled_from(["kind", "object", "point", "normal", "text", "points", "width", "color", "id", "author",
                         "all", "move", "step", "mode", "start"]),
        json_values,
    ),
)
def test_garbage_only_ever_raises_protocol_error(kind: str, body: dict[str, object]) -> None:
    try:
        msg = decode_client_message(json.dumps({"type": kind, **body}))
    except ProtocolError as exc:
        assert exc.code == "bad_message"
    else:
        assert msg.type == kind and decode_client_message(encode_client_message(msg)) == msg
