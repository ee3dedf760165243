"""Control messages of protocol v1: every type round-trips; anything malformed is a ProtocolError with its code."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vizserver.config import MAX_CONTROL_MESSAGE_BYTES
from vizserver.errors import InputError
from vizserver.protocol.messages import (
    PROTOCOL_VERSION,
    ErrorCode,
    ErrorMessage,
    FieldInfo,
    Hello,
    KeyframeRequest,
    Ping,
    PlaybackRequest,
    PlaybackState,
    Pong,
    ProtocolError,
    Resume,
    SceneMessage,
    SceneObjectInfo,
    Subscribe,
    TimeInfo,
    UploadStatus,
    Welcome,
    check_hello,
    decode_client_message,
    decode_server_message,
    encode_client_message,
    encode_server_message,
    unexpected_binary,
)

CLIENT_MESSAGES = [
    Hello(protocol=1, client="vizserver-web/0.1"),
    Hello(protocol=1, client="vizserver-web/0.1", resume=Resume(client_id="c-42")),
    Subscribe(object=3, field=1),
    Subscribe(object=3, field=None),
    PlaybackRequest(),
    PlaybackRequest(playing=True, step=12, speed=2.5, loop=False),
    KeyframeRequest(object=0, field=2),
    Ping(t=123456.75),
]

SCENE = SceneMessage(
    revision=2,
    title="LV activation",
    objects=[
        SceneObjectInfo(
            id=0,
            name="ventricle",
            asset="/assets/3f2a.glb",
            lods=["/assets/1b.glb"],
            vertices=52110,
            triangles=104216,
            color="#d98c80",
            opacity=0.5,
            fields=[FieldInfo(id=0, name="vm", unit="mV", range=(-85.0, 40.0), colormap="turbo")],
            active_field=0,
            time=TimeInfo(steps=3, times=[0.0, 2.0, 4.0], unit="ms"),
        ),
        SceneObjectInfo(id=1, name="torso", asset="/assets/aa.glb", vertices=10, triangles=4, visible=False),
    ],
)

SERVER_MESSAGES = [
    Welcome(client_id="c-42", session_id="s-1", role="host", server="0.1.0"),
    SCENE,
    PlaybackState(playing=True, step=4, time=8.0, speed=1.0, loop=True, steps=250, fps=10.0),
    UploadStatus(upload_id="u1", name="heart.vtu", stage="converting", fraction=0.4),
    UploadStatus(upload_id="u1", name="heart.vtu", stage="failed", fraction=1.0, error="heart.vtu: truncated"),
    ErrorMessage(code="bad_message", message="ping.t: Input should be a finite number"),
    Pong(t=1.5),
]


@pytest.mark.parametrize("msg", CLIENT_MESSAGES, ids=lambda m: m.type)
def test_client_messages_round_trip(msg: object) -> None:
    text = encode_client_message(msg)  # type: ignore[arg-type]
    assert decode_client_message(text) == msg
    assert decode_client_message(text.encode()) == msg


@pytest.mark.parametrize("msg", SERVER_MESSAGES, ids=lambda m: m.type)
def test_server_messages_round_trip(msg: object) -> None:
    text = encode_server_message(msg)  # type: ignore[arg-type]
    assert decode_server_message(text) == msg
    assert encode_server_message(decode_server_message(text)) == text  # deterministic


def test_wire_form_is_compact_json_in_the_documented_shape() -> None:
    assert encode_client_message(PlaybackRequest(playing=False)) == '{"type":"playback","playing":false}'
    assert encode_client_message(Hello(protocol=1, client="x")) == '{"type":"hello","protocol":1,"client":"x"}'
    welcome = json.loads(encode_server_message(SERVER_MESSAGES[0]))
    assert welcome == {
        "type": "welcome",
        "protocol": PROTOCOL_VERSION,
        "client_id": "c-42",
        "session_id": "s-1",
        "role": "host",
        "server": "0.1.0",
        "limits": {"control_bytes": 65536, "frame_bytes": 64 << 20},
    }
    obj = json.loads(encode_server_message(SCENE))["objects"][0]
    assert obj["fields"][0]["range"] == [-85.0, 40.0]
    assert len(obj["transform"]) == 16
    assert obj["time"] == {"steps": 3, "times": [0.0, 2.0, 4.0], "unit": "ms"}
    assert "error" not in json.loads(encode_server_message(SERVER_MESSAGES[3]))


def _code(data: str | bytes) -> tuple[str, str]:
    with pytest.raises(ProtocolError) as info:
        decode_client_message(data)
    assert "\n" not in str(info.value)
    return info.value.code, str(info.value)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ("hello", "not JSON"),
        ("{'type': 'ping'}", "not JSON"),
        ("", "not JSON"),
        (b"\xff\xfe\x00garbage", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('"ping"', "not a JSON object"),
        ("{}", "no 'type' field"),
        ('{"type": "launch_missiles"}', "unknown message type 'launch_missiles'"),
        ('{"type": 7}', "unknown message type"),
        ('{"type": "ping"}', "ping.t: Field required"),
        ('{"type": "ping", "t": "now"}', "ping.t"),
        ('{"type": "hello", "protocol": "1", "client": "x"}', "hello.protocol"),  # no coercion
        ('{"type": "hello", "protocol": 1.5, "client": "x"}', "hello.protocol"),
        ('{"type": "hello", "protocol": true, "client": "x"}', "hello.protocol"),
        ('{"type": "hello", "protocol": 1, "client": "x", "admin": true}', "hello.admin: Extra inputs"),
        ('{"type": "hello", "protocol": 1, "client": "' + "x" * 65 + '"}', "hello.client"),
        ('{"type": "hello", "protocol": 1, "client": "x", "resume": {"client_id": 5}}', "hello.resume.client_id"),
        ('{"type": "subscribe", "object": -1, "field": 0}', "subscribe.object"),
        ('{"type": "subscribe", "object": 4294967296, "field": 0}', "subscribe.object"),
        ('{"type": "playback", "speed": 0}', "playback.speed"),
        ('{"type": "playback", "speed": 1e308}', "playback.speed"),
        ('{"type": "playback", "playing": "yes"}', "playback.playing"),
        ('{"type": "ping", "t": NaN}', "ping.t: Input should be a finite number"),
        ('{"type": "ping", "t": Infinity}', "ping.t"),
        ('{"type": "ping", "t": 1e999}', "ping.t"),
        ('{"type": "subscribe", "object": 1' + "0" * 5000 + ', "field": 0}', "not JSON"),
        ('{"type": "keyframe", "object": [[[[[[1]]]]]], "field": 0}', "keyframe.object"),
        ("[" * 5000 + "]" * 5000, "not JSON"),
        ('{"a":' * 3000 + "1" + "}" * 3000, "not JSON"),
    ],
)
def test_malformed_messages_are_bad_message(data: str | bytes, needle: str) -> None:
    code, message = _code(data)
    assert code == ErrorCode.BAD_MESSAGE == "bad_message"
    assert needle in message


def test_oversized_message_is_refused_before_parsing() -> None:
    padding = "x" * MAX_CONTROL_MESSAGE_BYTES
    code, message = _code('{"type": "ping", "t": 1, "pad": "' + padding + '"}')
    assert code == "too_large"
    assert str(MAX_CONTROL_MESSAGE_BYTES) in message
    # counted in UTF-8 bytes, not characters: 30k three-byte characters are 90 KB
    code, _ = _code('{"type": "hello", "protocol": 1, "client": "' + "€" * 30_000 + '"}')
    assert code == "too_large"
    code, _ = _code(b" " * (MAX_CONTROL_MESSAGE_BYTES + 1))
    assert code == "too_large"
    # exactly at the limit is still parsed (and fails for what it is, not for its size)
    at_limit = '{"type": "ping", "t": 1}'.ljust(MAX_CONTROL_MESSAGE_BYTES)
    assert decode_client_message(at_limit) == Ping(t=1.0)


def test_protocol_error_is_an_input_error_with_one_line() -> None:
    with pytest.raises(InputError):
        decode_client_message("nope")
    _, message = _code('{"type": "' + "a\\n" * 1000 + '"}')
    assert len(message) <= 300


def test_hello_version_check() -> None:
    check_hello(Hello(protocol=PROTOCOL_VERSION, client="x"))
    with pytest.raises(ProtocolError) as info:
        check_hello(decode_client_message('{"type": "hello", "protocol": 2, "client": "x"}'))  # type: ignore[arg-type]
    assert info.value.code == "unsupported_protocol"
    assert str(info.value) == "protocol 2 not supported; server speaks 1"


def test_binary_from_client_and_error_message() -> None:
    err = unexpected_binary(12)
    assert err.code == "unexpected_binary"
    reply = json.loads(encode_server_message(ErrorMessage.of(err)))
    assert reply == {"type": "error", "code": "unexpected_binary", "message": str(err)}


def test_server_messages_are_checked_where_they_are_built() -> None:
    with pytest.raises(ValueError, match="not ordered"):
        FieldInfo(id=0, name="vm", range=(1.0, 0.0))
    with pytest.raises(ValueError, match="2 times for 3 steps"):
        TimeInfo(steps=3, times=[0.0, 1.0])
    with pytest.raises(ValueError):
        PlaybackState(playing=True, step=0, time=float("nan"), speed=1.0, loop=True, steps=1, fps=10.0)
    with pytest.raises(ProtocolError) as info:
        decode_server_message('{"type": "pong", "t": 1, "extra": 2}')
    assert info.value.code == "bad_message"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_random_input_only_ever_raises_protocol_error(data: str | bytes) -> None:
    try:
        decode_client_message(data)
    except ProtocolError as exc:
        assert exc.code in ("bad_message", "too_large")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["hello", "subscribe", "playback", "keyframe", "ping", "pong", ""]),
    st.dictionaries(
        st.sampled_from(["protocol", "client", "resume", "object", "field", "t", "step", "x"]), json_values
    ),
)
def test_json_shaped_garbage_only_ever_raises_protocol_error(kind: str, body: dict[str, object]) -> None:
    text = json.dumps({"type": kind, **body})  # NaN/Infinity included: json.dumps writes them
    try:
        msg = decode_client_message(text)
    except ProtocolError as exc:
        assert exc.code == "bad_message"
    else:
        assert msg.type == kind
        assert decode_client_message(encode_client_message(msg)) == msg
