"""Steering as pure logic: validation, rate limit, tags and who is told a change was applied."""

from __future__ import annotations

import pytest

from vizserver.protocol.messages import (
    ProtocolError,
    TwinAction,
    TwinControl,
    TwinParams,
    decode_client_message,
    decode_server_message,
    encode_server_message,
)
from vizserver.sessions.steering import STEERING_BURST, Forward, Refuse, Steering, TwinOutput
from vizserver.twins.cardiac import SCHEMA


def _steering() -> Steering:
    return Steering(object_id=3, schema=SCHEMA, outputs=(TwinOutput("vm", "mV", (-80.0, 20.0)),), time_unit="ms",
                    initial_params=SCHEMA.defaults(), state="running")


def test_a_valid_change_is_forwarded_with_a_tag_and_followed_by_everyone() -> None:
    s = _steering()
    out = s.request("alice", TwinParams(seq=7, values={"d_par": 2.0}), now=0.0)
    assert isinstance(out, Forward) and out.kind == "params" and out.values == {"d_par": 2.0}
    assert s.status().params["d_par"] == 2.0
    applied = s.applied((out.tag,), frame=42, time=123.0)
    assert [(c, a.seq, a.frame) for c, a in applied] == [("alice", 7, 42)]
    assert s.applied((out.tag,), frame=43, time=124.0) == []  # only the first frame computed with it says so


@pytest.mark.parametrize(
    ("values", "words"),
    [({"d_par": 99.0}, "outside"), ({"nope": 1.0}, "unknown parameter"), ({"scar_mode": "maybe"}, "not one of"),
     ({"d_par": True}, "finite number")],
)
def test_a_bad_change_is_refused_to_its_sender_and_changes_nothing(values: dict[str, object], words: str) -> None:
    s = _steering()
    before = dict(s.params)
    out = s.request("bob", TwinParams(seq=1, values=values), now=0.0)
    assert isinstance(out, Refuse)
    assert out.error.code == "bad_parameter" and out.error.seq == 1 and words in out.error.message
    assert s.params == before


def test_a_flood_is_rate_limited_with_one_error_a_second() -> None:
    s = _steering()
    results = [s.request("eve", TwinParams(seq=i, values={"a": 0.1}), now=0.0) for i in range(STEERING_BURST + 10)]
    assert all(isinstance(r, Forward) for r in results[:STEERING_BURST])
    refused = [r for r in results[STEERING_BURST:] if r is not None]
    assert len(refused) == 1 and isinstance(refused[0], Refuse) and refused[0].error.code == "rate_limited"
    assert isinstance(s.request("other", TwinParams(seq=0, values={"a": 0.1}), now=0.0), Forward)  # per client
    assert isinstance(s.request("eve", TwinParams(seq=99, values={"a": 0.1}), now=1.0), Forward)  # refilled


def test_actions_controls_and_reset() -> None:
    s = _steering()
    act = s.request("a", TwinAction(seq=1, action="pace here", point=(1.0, 2.0, 3.0)), now=0.0)
    assert isinstance(act, Forward) and act.kind == "action" and act.point == (1.0, 2.0, 3.0)
    missing = s.request("a", TwinAction(seq=2, action="pace here"), now=0.0)
    assert isinstance(missing, Refuse) and "needs a point" in missing.error.message
    unknown = s.request("a", TwinAction(seq=3, action="explode", point=(0.0, 0.0, 0.0)), now=0.0)
    assert isinstance(unknown, Refuse) and "unknown action" in unknown.error.message
    pause = s.request("a", TwinControl(seq=4, playing=False, speed=2.0), now=0.0)
    assert isinstance(pause, Forward) and pause.kind == "control" and s.state == "paused" and s.speed == 2.0
    s.request("a", TwinParams(seq=5, values={"k": 9.0}), now=0.0)
    reset = s.request("a", TwinControl(seq=6, reset=True), now=0.0)
    assert isinstance(reset, Forward) and reset.kind == "reset" and s.params["k"] == SCHEMA.defaults()["k"]
    empty = s.request("a", TwinControl(seq=7), now=0.0)
    assert isinstance(empty, Refuse)


def test_a_failed_twin_refuses_changes_and_a_refusal_reaches_its_sender() -> None:
    s = _steering()
    out = s.request("a", TwinParams(seq=9, values={"k": 9.0}), now=0.0)
    assert isinstance(out, Forward)
    refused = s.refused(out.tag, "k: the twin says no")
    assert refused is not None and refused[0] == "a" and refused[1].seq == 9
    s.state, s.message = "failed", "worker crashed 3 times"
    failed = s.request("a", TwinParams(seq=10, values={"k": 9.0}), now=5.0)
    assert isinstance(failed, Refuse) and failed.error.code == "twin_unavailable" and "crashed" in failed.error.message


def test_the_twin_status_round_trips_through_the_protocol() -> None:
    status = _steering().status()
    decoded = decode_server_message(encode_server_message(status))
    assert decoded == status
    names = [p.name for p in status.parameters]
    assert "d_par" in names and status.outputs[0].range == (-80.0, 20.0)


@pytest.mark.parametrize(
    "text",
    [
        '{"type":"twin_params","seq":1,"values":{"a":NaN}}',
        '{"type":"twin_params","seq":1,"values":{"a":[1]}}',
        '{"type":"twin_params","seq":1,"values":{}}',
        '{"type":"twin_params","seq":-1,"values":{"a":1}}',
        '{"type":"twin_action","seq":1,"action":"pace here","point":[1,2]}',
        '{"type":"twin_control","seq":1,"speed":100}',
        '{"type":"twin_control","seq":1,"playing":"yes"}',
    ],
)
def test_malformed_twin_messages_are_protocol_errors(text: str) -> None:
    with pytest.raises(ProtocolError):
        decode_client_message(text)


def test_twin_params_keep_their_json_types() -> None:
    msg = decode_client_message('{"type":"twin_params","seq":1,"values":{"a":0.1,"b":true,"c":"block","d":3}}')
    assert isinstance(msg, TwinParams)
    assert [type(v) for v in msg.values.values()] == [float, bool, str, int]
