"""HostState, the runner's sans-I/O bookkeeping: merging, flow control, bounds, what a restart keeps."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures.twins import SCHEMA

from vizserver.twins import wire
from vizserver.twins.base import ParameterError
from vizserver.twins.runner import HostState, TwinEvent, TwinFrame, TwinRefused, TwinState, TwinWasReset

READY = wire.Ready(SCHEMA, "s", 1.0, (wire.OutputInfo("u", "mV", (0.0, 2.0)), wire.OutputInfo("x", "", (0.0, 1.0))),
                   2, 0.0)


def connected(max_pending_actions: int = 8) -> HostState:
    state = HostState({"rate": 3.0}, max_pending_actions=max_pending_actions)
    state.on_connected(READY)
    assert state.sendable() == [wire.Control(True, 1.0)]  # a new worker first gets the wanted play state
    state.received(wire.State("running", 1.0, 0.0))
    return state


def refusal(events: list[TwinEvent]) -> str:
    [event] = events
    assert isinstance(event, TwinRefused)
    return event.message


def frame(*caused_by: int, number: int = 1) -> wire.Frame:
    return wire.Frame(number, 0.5, 1.0, 1.0, caused_by, {"u": np.zeros(2, np.float32), "x": np.ones(2, np.float32)})


def test_changes_waiting_behind_one_in_flight_merge_into_one() -> None:
    state = connected()
    assert state.set_params({"rate": 1.0}, 10) == []
    [first] = state.sendable()
    assert first == wire.SetParams({"rate": 1.0}, 1)
    for tag, values in [(11, {"rate": 2.0}), (12, {"amplitude": 5.0}), (13, {"rate": 4.0})]:
        assert state.set_params(values, tag) == []
    assert state.sendable() == []  # nothing more until the worker answers the first
    [event] = state.received(frame(1))
    assert isinstance(event, TwinFrame) and event.caused_by == (10,)
    assert state.sendable() == [wire.SetParams({"rate": 4.0, "amplitude": 5.0}, 2)]
    [event] = state.received(frame(2, number=2))
    assert isinstance(event, TwinFrame) and event.caused_by == (11, 12, 13)
    assert state.params == {"rate": 4.0, "amplitude": 5.0}  # what a restarted worker starts with


def test_bad_requests_are_refused_at_once_and_do_not_spoil_a_merge() -> None:
    state = connected()
    state.set_params({"rate": 1.0}, 1)
    state.sendable()
    state.set_params({"amplitude": 2.0}, 2)
    assert state.set_params({"rate": -5.0}, 3) == [TwinRefused(3, "rate: -5.0 1/s is outside [0.0, 100.0]")]
    assert refusal(state.set_params({"speed": 1.0}, 4)).startswith("unknown parameter(s) speed")
    assert refusal(state.act("burn", None, 5)).startswith("unknown action 'burn'")
    assert state.act("kick", None, 6) == [TwinRefused(6, "kick: needs a point")]
    assert refusal(state.reset({"explode": "yes"}, 7)).startswith("explode: expected true or false")
    state.received(frame(1))
    assert state.sendable() == [wire.SetParams({"amplitude": 2.0}, 2)]


def test_requests_keep_their_order_and_actions_are_bounded() -> None:
    state = connected(max_pending_actions=2)
    assert state.act("kick", (0.0, 0.0, 0.0), 1) == []
    sent = state.sendable()
    state.set_params({"rate": 1.0}, 2)
    assert state.act("blow up", None, 3) == []
    assert state.reset(None, 4) == []
    assert state.act("kick", (1.0, 0.0, 0.0), 5) == [TwinRefused(5, "too many pending actions (2); wait for the twin")]
    state.set_params({"rate": 2.0}, 6)  # after an action: a new change, not merged into the earlier one
    for number in range(1, 5):
        state.received(frame(number, number=number))
        sent += state.sendable()
    assert sent == [wire.Act("kick", (0.0, 0.0, 0.0), 1), wire.SetParams({"rate": 1.0}, 2),
                    wire.Act("blow up", None, 3), wire.Reset(None, 4), wire.SetParams({"rate": 2.0}, 5)]


def test_a_refused_change_and_a_reset_are_reported_with_the_callers_tags() -> None:
    state = connected()
    state.set_params({"rate": 1.0}, 7)
    state.set_params({"rate": 2.0}, 8)
    state.sendable()
    assert state.received(wire.Refused(1, "rate: the twin refused")) == [TwinRefused(7, "rate: the twin refused"),
                                                                         TwinRefused(8, "rate: the twin refused")]
    assert state.params == {"rate": 3.0}
    state.reset({"amplitude": 4.0}, 9)
    [reset] = state.sendable()
    assert reset == wire.Reset({"amplitude": 4.0}, 2)
    assert state.received(wire.WasReset("reset", (2,))) == [TwinWasReset("reset", (9,))]
    assert state.received(wire.WasReset("NaN at t = 3 s; the twin was reset", ())) == [
        TwinWasReset("NaN at t = 3 s; the twin was reset", ())]
    state.received(frame(2))
    assert state.params == {"amplitude": 4.0}  # a reset with params: defaults plus these


def test_control_is_merged_one_in_flight_and_the_workers_own_pause_is_believed() -> None:
    state = connected()
    state.control(playing=False)
    state.control(speed=2.0)
    assert state.sendable() == [wire.Control(False, 2.0)]
    state.control(speed=4.0)
    assert state.sendable() == []
    assert state.received(wire.State("paused", 2.0, 1.0)) == [TwinState("paused", 2.0, 1.0)]
    assert state.sendable() == [wire.Control(False, 4.0)]
    state.received(wire.State("paused", 4.0, 1.0))
    state.control(playing=True)
    state.sendable()
    state.received(wire.State("running", 4.0, 1.0))
    state.received(wire.State("paused", 4.0, 2.0, "paused after 3 blow-ups in a row"))
    assert (state.playing, state.expects_reply) == (False, False)
    with pytest.raises(ParameterError, match=r"speed 20 is outside \[0.05, 16\]"):
        state.control(speed=20.0)


def test_a_lost_worker_refuses_what_it_had_and_a_new_one_gets_the_rest() -> None:
    state = connected()
    state.act("kick", (0.0, 0.0, 0.0), 1)
    state.sendable()
    state.set_params({"rate": 9.0}, 2)
    assert state.on_lost("the twin raised RuntimeError: boom") == [
        TwinRefused(1, "not applied: the twin raised RuntimeError: boom")]
    assert state.sendable() == [] and not state.expects_reply
    state.on_connected(READY)
    assert state.sendable() == [wire.Control(True, 1.0), wire.SetParams({"rate": 9.0}, 2)]
    state.act("blow up", None, 3)
    assert [e.tag for e in state.on_failed("gave up") if isinstance(e, TwinRefused)] == [2, 3]
