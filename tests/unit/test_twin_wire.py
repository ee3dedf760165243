"""The twin-worker wire format: every message round-trips; malformed input is a one-line WireError."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from fixtures.twins import SCHEMA
from hypothesis import given, settings
from hypothesis import strategies as st

from vizserver.twins import wire
from vizserver.twins.cardiac import SCHEMA as CARDIAC_SCHEMA
from vizserver.twins.tumour import SCHEMA as TUMOUR_SCHEMA

FIELDS = {"u": np.array([0.5, np.nan, -2.0], dtype=np.float32), "x": np.array([0, 1, 2], dtype=np.float32)}

WORKER_MESSAGES: list[wire.WorkerMessage] = [
    wire.Ready(SCHEMA, "s", 1.0, (wire.OutputInfo("u", "mV", (0.0, 2.0)), wire.OutputInfo("x", "", (0.0, 1.0))),
               3, 0.0),
    wire.State("paused", 2.0, 12.5, "paused after 3 blow-ups"),
    wire.State("running", 1.0, 0.0),
    wire.WasReset("the state is NaN; the twin was reset", ()),
    wire.WasReset("reset", (5,)),
    wire.Refused(9, "rate: 200 1/s is outside [0, 100]"),
    wire.Failed("the twin raised RuntimeError: boom"),
]
SERVER_MESSAGES: list[wire.ServerMessage] = [
    wire.SetParams({"rate": 2.5, "explode": False, "mode": "fast", "count": 3}, 1),
    wire.Act("kick", (1.0, -2.0, 3.5), 2),
    wire.Act("clear scar", None, 3),
    wire.Control(playing=False),
    wire.Control(speed=0.5),
    wire.Control(),
    wire.Reset(None, 4),
    wire.Reset({"rate": 1.0}, 5),
    wire.Stop(),
]


def raw(header: dict[str, Any]) -> bytes:
    return json.dumps(header).encode()


def wire_bytes(message: wire.WorkerMessage | wire.ServerMessage) -> tuple[bytes, list[bytes]]:
    header, blobs = wire.encode(message)
    return header, [bytes(b) for b in blobs]


@pytest.mark.parametrize("message", WORKER_MESSAGES, ids=lambda m: type(m).__name__)
def test_worker_messages_round_trip(message: wire.WorkerMessage) -> None:
    assert wire.decode_from_worker(*wire_bytes(message)) == message


@pytest.mark.parametrize("message", SERVER_MESSAGES, ids=lambda m: type(m).__name__)
def test_server_messages_round_trip(message: wire.ServerMessage) -> None:
    assert wire.decode_from_server(*wire_bytes(message)) == message


def test_frames_and_binds_carry_float32_blobs() -> None:
    frame = wire.Frame(3, 1.5, 2.25, 0.98, (7, 8), FIELDS)
    header, blobs = wire_bytes(frame)
    assert json.loads(header)["blobs"] == 2 and [len(b) for b in blobs] == [12, 12]
    decoded = wire.decode_from_worker(header, blobs, vertices=3)
    assert isinstance(decoded, wire.Frame)
    assert (decoded.frame, decoded.time, decoded.step_ms, decoded.realtime) == (3, 1.5, 2.25, 0.98)
    assert decoded.caused_by == (7, 8)
    for name, values in FIELDS.items():
        np.testing.assert_array_equal(decoded.fields[name], values)  # NaN in a field is data, not an error
        assert decoded.fields[name].dtype == np.float32
    positions = np.arange(12, dtype=np.float32).reshape(4, 3)
    bind = wire.decode_from_server(*wire_bytes(wire.Bind(positions)))
    assert isinstance(bind, wire.Bind)
    np.testing.assert_array_equal(bind.positions, positions)


@pytest.mark.parametrize("schema", [SCHEMA, CARDIAC_SCHEMA, TUMOUR_SCHEMA], ids=["decay", "cardiac", "tumour"])
def test_schemas_round_trip_through_json(schema: Any) -> None:
    text = json.dumps(wire.schema_to_json(schema), allow_nan=False)
    assert wire.schema_from_json(json.loads(text)) == schema


BAD_HEADERS: list[tuple[bytes, str]] = [
    (b"\xff\xfe", "header is not UTF-8 text"),
    (b"{not json", "header is not JSON"),
    (b"[1, 2]", "header is a JSON list, not an object"),
    (b'{"blobs": 0}', "header has no string 'type'"),
    (b'{"type": "frame"}', "frame: 'blobs' must be an integer 0..64, got None"),
    (b'{"type": "frame", "blobs": 65}', "'blobs' must be an integer 0..64"),
    (b'{"type": "frame", "blobs": true}', "'blobs' must be an integer 0..64"),
    (raw({"type": "hello", "blobs": 0}), "unknown message type 'hello' from a twin worker"),
    (raw({"type": "refused", "blobs": 0, "tag": 1}), "refused: missing field(s) message"),
    (raw({"type": "refused", "blobs": 0, "tag": 1, "message": "m", "why": 2}), "refused: unexpected field(s) 'why'"),
    (raw({"type": "refused", "blobs": 0, "tag": -1, "message": "m"}), "refused.tag: expected a tag"),
    (raw({"type": "refused", "blobs": 0, "tag": True, "message": "m"}), "refused.tag: expected a tag"),
    (raw({"type": "refused", "blobs": 0, "tag": 1.0, "message": "m"}), "refused.tag: expected a tag"),
    (raw({"type": "failed", "blobs": 0, "message": 3}), "failed.message: expected a string, got a number"),
    (raw({"type": "failed", "blobs": 0, "message": "x" * 5000}), "failed.message: longer than 2000 characters"),
    (b'{"type": "state", "blobs": 0, "state": "running", "speed": 1, "time": NaN}',
     "header is not usable JSON: NaN is not a finite number"),
    (b'{"type": "state", "blobs": 0, "state": "running", "speed": 1, "time": 1e400}',
     "header is not usable JSON: 1e400 is not a finite number"),
    (raw({"type": "state", "blobs": 0, "state": "gone", "speed": 1, "time": 0}),
     "state.state: expected one of running, paused, got 'gone'"),
    (raw({"type": "state", "blobs": 0, "state": "running", "speed": 100, "time": 0}),
     "state.speed: 100 is outside [0.05, 16]"),
    (raw({"type": "reset", "blobs": 0, "message": "m", "tags": [1, "2"]}), "reset.tags[1]: expected a tag"),
    (raw({"type": "reset", "blobs": 0, "message": "m", "tags": 5}), "reset.tags: expected a list, got a number"),
    (b"[" * 100_000 + b"]" * 100_000, "over the 65,536 byte limit"),
    (b"[" * 30_000 + b"]" * 30_000, "header is not usable JSON"),
]


@pytest.mark.parametrize(("header", "message"), BAD_HEADERS, ids=[m for _, m in BAD_HEADERS])
def test_malformed_headers_are_one_line_wire_errors(header: bytes, message: str) -> None:
    with pytest.raises(wire.WireError) as caught:
        wire.decode_from_worker(header, [])
    assert message in str(caught.value) and "\n" not in str(caught.value)


def frame_header(**changes: Any) -> dict[str, Any]:
    header = {"type": "frame", "blobs": 1, "frame": 1, "time": 0.0, "step_ms": 1.0, "realtime": 1.0,
              "caused_by": [], "fields": ["u"]}
    header.update(changes)
    return header


@pytest.mark.parametrize(("header", "blobs", "vertices", "message"), [
    (frame_header(), [], None, "frame: header announces 1 blob(s), 0 arrived"),
    (frame_header(), [b"\0" * 12, b"\0" * 12], None, "header announces 1 blob(s), 2 arrived"),
    (frame_header(), [b"\0" * 10], None, "frame: field blobs of [10] bytes"),
    (frame_header(), [b""], None, "frame: field blobs of [0] bytes"),
    (frame_header(), [b"\0" * 12], 4, "frame: field blobs of [12] bytes; expected 16 bytes each"),
    (frame_header(blobs=2, fields=["u", "v"]), [b"\0" * 12, b"\0" * 8], None, "field blobs of [8, 12] bytes"),
    (frame_header(blobs=2, fields=["u", "u"]), [b"\0" * 8, b"\0" * 8], None, "frame: duplicate field names"),
    (frame_header(fields=["u", "v"]), [b"\0" * 8], None, "frame: 2 field name(s) but 1 blob(s)"),
    (frame_header(frame=0), [b"\0" * 8], None, "frame.frame: expected a positive integer, got 0"),
    (frame_header(step_ms=-1), [b"\0" * 8], None, "frame.step_ms: -1 is out of range"),
    ({"type": "failed", "blobs": 1, "message": "m"}, [b"x"], None, "failed: carries no blobs, got 1"),
])
def test_blob_counts_and_sizes_are_checked(header: dict[str, Any], blobs: list[bytes], vertices: int | None,
                                           message: str) -> None:
    with pytest.raises(wire.WireError) as caught:
        wire.decode_from_worker(raw(header), blobs, vertices)
    assert message in str(caught.value)


@pytest.mark.parametrize(("header", "blobs", "message"), [
    ({"type": "bind", "blobs": 1, "vertices": 2}, [b"\0" * 12], "bind: expected one blob of 24 bytes"),
    ({"type": "bind", "blobs": 0, "vertices": 2}, [], "bind: expected one blob of 24 bytes (2 float32 xyz), got none"),
    ({"type": "bind", "blobs": 1, "vertices": 1}, [np.array([0, np.inf, 0], np.float32).tobytes()],
     "bind: positions contain NaN or infinity"),
    ({"type": "params", "blobs": 0, "values": {"rate": [1]}, "tag": 1}, [],
     "params.values.rate: expected a number, true/false or a string"),
    ({"type": "params", "blobs": 0, "values": {"rate": None}, "tag": 1}, [], "params.values.rate: expected a number"),
    ({"type": "params", "blobs": 0, "values": [], "tag": 1}, [], "params.values: expected an object, got a list"),
    ({"type": "action", "blobs": 0, "action": "kick", "point": [1, 2], "tag": 1}, [],
     "action.point: expected [x, y, z], got 2 number(s)"),
    ({"type": "action", "blobs": 0, "action": "kick", "point": [1, 2, "3"], "tag": 1}, [],
     "action.point[2]: expected a finite number"),
    ({"type": "control", "blobs": 0, "speed": 0.01}, [], "control.speed: 0.01 is outside [0.05, 16]"),
    ({"type": "control", "blobs": 0, "playing": 1}, [], "control.playing: expected true or false, got a number"),
    ({"type": "reset", "blobs": 0, "tag": 1}, [], "reset: missing field(s) params"),
    ({"type": "stop", "blobs": 0, "now": True}, [], "stop: unexpected field(s) 'now'"),
    ({"type": "frame", "blobs": 0}, [], "unknown message type 'frame' from the server"),
])
def test_server_messages_are_checked(header: dict[str, Any], blobs: list[bytes], message: str) -> None:
    with pytest.raises(wire.WireError) as caught:
        wire.decode_from_server(raw(header), blobs)
    assert message in str(caught.value)


@pytest.mark.parametrize(("change", "message"), [
    ({"outputs": "u"}, "schema.outputs: expected a list, got a string"),
    ({"parameters": [{"name": "r"}]}, "schema.parameters[0]: missing field(s) type, default"),
    ({"parameters": [{"name": "r", "type": "complex", "default": 1, "unit": "", "minimum": None, "maximum": None,
                      "choices": [], "description": ""}]}, "schema.parameters[0].type: expected one of float"),
    ({"parameters": [{"name": "r", "type": "float", "default": 5, "unit": "", "minimum": 0, "maximum": 1,
                      "choices": [], "description": ""}]}, "schema.parameters[0]: default is not valid: r: 5"),
    ({"parameters": [{"name": "r", "type": "bool", "default": True, "unit": "", "minimum": None,
                      "maximum": None, "choices": [], "description": ""}] * 2}, "schema.parameters: duplicate names"),
    ({"ranges": {"u": [2, 1]}}, "schema.ranges.u: expected [low, high] with low <= high"),
    ({"actions": [{"name": "kick", "description": "", "needs_point": "yes"}]},
     "schema.actions[0].needs_point: expected true or false"),
    ({"colour": "red"}, "schema: unexpected field(s) 'colour'"),
])
def test_schema_json_is_checked(change: dict[str, Any], message: str) -> None:
    obj = {**wire.schema_to_json(SCHEMA), **change}
    with pytest.raises(wire.WireError) as caught:
        wire.schema_from_json(obj)
    assert message in str(caught.value)


def test_ready_outputs_must_match_the_schema() -> None:
    header, _ = wire.encode(WORKER_MESSAGES[0])
    obj = json.loads(header)
    obj["outputs"] = obj["outputs"][::-1]
    with pytest.raises(wire.WireError, match="ready: outputs must describe the schema's outputs, in order"):
        wire.decode_from_worker(raw(obj), [])


def test_encoding_refuses_what_the_other_side_would_refuse() -> None:
    with pytest.raises(wire.WireError, match="state: cannot encode: Out of range float values"):
        wire.encode(wire.State("running", 1.0, float("nan")))
    with pytest.raises(wire.WireError, match=r"refused: header of .* bytes is over the 65,536 byte limit"):
        wire.encode(wire.Refused(1, "x" * 70_000))
    with pytest.raises(wire.WireError, match=r"bind: positions must be \(n, 3\)"):
        wire.encode(wire.Bind(np.zeros((4, 2), np.float32)))


@settings(max_examples=300, deadline=None)
@given(header=st.binary(max_size=200), blobs=st.lists(st.binary(max_size=40), max_size=3))
def test_random_bytes_never_escape_as_another_error(header: bytes, blobs: list[bytes]) -> None:
    for decode in (lambda: wire.decode_from_worker(header, blobs, 2), lambda: wire.decode_from_server(header, blobs)):
        try:
            decode()
        except wire.WireError as exc:
            assert "\n" not in str(exc)


@settings(max_examples=200, deadline=None)
@given(obj=st.dictionaries(st.sampled_from(["type", "blobs", "tag", "message", "values", "params", "point",
                                            "speed", "playing", "state", "time", "frame", "fields", "vertices"]),
                           st.one_of(st.none(), st.booleans(), st.integers(-5, 70), st.floats(allow_nan=False),
                                     st.text(max_size=5), st.lists(st.integers(0, 3), max_size=4),
                                     st.sampled_from(["frame", "params", "reset", "state", "bind", "control"]))))
def test_random_headers_never_escape_as_another_error(obj: dict[str, Any]) -> None:
    data = json.dumps(obj).encode()
    for decode in (lambda: wire.decode_from_worker(data, []), lambda: wire.decode_from_server(data, [])):
        try:
            decode()
        except wire.WireError as exc:
            assert "\n" not in str(exc)
