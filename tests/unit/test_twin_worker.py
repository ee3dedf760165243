"""The worker loop with a real small twin over an in-memory channel (a pair of queues), in a thread."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np
import pytest
from fixtures.twins import SCHEMA, DecayTwin, expected_u, positions

from vizserver.twins import wire
from vizserver.twins.base import Twin
from vizserver.twins.worker import (
    BLOW_UPS_BEFORE_PAUSE,
    EXIT_BAD_MESSAGE,
    EXIT_OK,
    EXIT_TWIN_FAILED,
    ChannelClosedError,
    Received,
    serve,
)

WAIT_S = 10.0
INTERVAL_S = 0.02
N = 8  # as many targets as DecayTwin has points: sampling is exact
M = TypeVar("M", bound=wire.WorkerMessage)

_CLOSED = object()


class QueueChannel:
    """One end of an in-memory channel: what one end sends, the other receives."""

    def __init__(self, inbox: queue.Queue[Any], outbox: queue.Queue[Any]) -> None:
        self.inbox, self.outbox = inbox, outbox

    def send(self, header: bytes, blobs: Sequence[wire.Buffer] = ()) -> None:
        self.outbox.put((bytes(header), [bytes(b) for b in blobs]))

    def receive(self, timeout: float | None) -> Received | None:
        try:
            item = self.inbox.get(timeout=timeout) if timeout is None or timeout > 0 else self.inbox.get_nowait()
        except queue.Empty:
            return None
        if item is _CLOSED:
            raise ChannelClosedError("closed")
        header, blobs = item
        return header, blobs

    def close(self) -> None:
        self.outbox.put(_CLOSED)


class Server:
    """The test's end: sends server messages, reads worker messages, and knows the worker's exit code."""

    def __init__(self, build: Callable[[], Twin], params: dict[str, Any] | None = None,
                 interval: float = INTERVAL_S) -> None:
        to_worker: queue.Queue[Any] = queue.Queue()
        from_worker: queue.Queue[Any] = queue.Queue()
        self.channel = QueueChannel(from_worker, to_worker)
        worker_end = QueueChannel(to_worker, from_worker)
        self.exit_code: int | None = None

        def run() -> None:
            self.exit_code = serve(worker_end, build, params, interval)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def send(self, message: wire.ServerMessage) -> None:
        self.channel.send(*wire.encode(message))

    def receive(self) -> wire.WorkerMessage:
        received = self.channel.receive(WAIT_S)
        assert received is not None, "the worker sent nothing"
        return wire.decode_from_worker(*received)

    def next(self, kind: type[M], where: Callable[[M], bool] = lambda m: True) -> M:
        """The next message of ``kind`` matching ``where``, skipping others (within WAIT_S)."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            message = self.receive()
            if isinstance(message, kind) and where(message):
                return message
        raise AssertionError(f"no {kind.__name__} within {WAIT_S} s")

    def exit(self) -> int | None:
        self.thread.join(WAIT_S)
        assert not self.thread.is_alive(), "the worker loop did not end"
        return self.exit_code

    def start(self) -> wire.Ready:
        self.send(wire.Bind(positions(N)))
        return self.next(wire.Ready)


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server(lambda: DecayTwin())
    yield s
    s.send(wire.Stop())
    s.exit()


def test_ready_describes_the_bound_twin(server: Server) -> None:
    ready = server.start()
    assert ready.schema == SCHEMA
    assert ready.vertices == N and ready.time == 0.0 and ready.time_unit == "s" and ready.time_per_second == 1.0
    # a range from the schema where given, else the span of the first output values
    assert ready.outputs == (wire.OutputInfo("u", "mV", (0.0, 2.0)), wire.OutputInfo("x", "", (0.0, 1.0)))


def test_frames_are_paced_to_real_time_and_follow_the_model(server: Server) -> None:
    server.start()
    first = server.next(wire.Frame)
    started = time.monotonic()
    frames = [server.next(wire.Frame) for _ in range(30)]
    elapsed = time.monotonic() - started
    assert [f.frame for f in frames] == list(range(first.frame + 1, first.frame + 31))
    # each frame advances speed * time_per_second * interval, and the worker waits for real time
    np.testing.assert_allclose(np.diff([f.time for f in frames]), INTERVAL_S, rtol=1e-9)
    assert elapsed >= 29 * INTERVAL_S
    last = frames[-1]
    np.testing.assert_allclose(last.fields["u"], expected_u(1.0, 1.0, last.time, N), rtol=1e-5)
    assert last.fields["u"].dtype == np.float32 and last.caused_by == ()
    assert 0.7 <= last.realtime <= 1.1


def test_a_param_change_tags_the_next_frame_and_a_bad_one_is_refused(server: Server) -> None:
    server.start()
    server.send(wire.SetParams({"rate": 200.0}, 41))
    refused = server.next(wire.Refused)
    assert refused.tag == 41 and "rate: 200.0 1/s is outside [0.0, 100.0]" in refused.message
    before = server.next(wire.Frame)
    server.send(wire.SetParams({"rate": 20.0}, 42))
    changed = server.next(wire.Frame, lambda f: f.caused_by != ())
    assert changed.caused_by == (42,)
    # from the change on, u decays at the new rate: after the change frame, one frame's worth
    after = server.next(wire.Frame)
    ratio = after.fields["u"] / changed.fields["u"]
    np.testing.assert_allclose(ratio, np.exp(-20.0 * INTERVAL_S), rtol=1e-4)
    assert before.frame < changed.frame


def test_paused_inputs_still_give_a_frame_and_speed_scales_time(server: Server) -> None:
    server.start()
    server.send(wire.Control(playing=False))
    paused = server.next(wire.State)
    assert paused.state == "paused"
    server.send(wire.Act("kick", (0.5, 0.0, 0.0), 7))
    kicked = server.next(wire.Frame, lambda f: f.caused_by == (7,))
    assert kicked.time == paused.time and kicked.realtime == 0.0  # no stepping while paused
    np.testing.assert_allclose(kicked.fields["u"][0], np.exp(-paused.time) + 1.0, rtol=1e-5)
    server.send(wire.Act("kick", None, 8))
    assert "kick: needs a point" in server.next(wire.Refused).message
    server.send(wire.Control(playing=True, speed=4.0))
    running = server.next(wire.State)
    assert (running.state, running.speed) == ("running", 4.0)
    frames = [server.next(wire.Frame) for _ in range(20)]
    np.testing.assert_allclose(np.diff([f.time for f in frames]), 4.0 * INTERVAL_S, rtol=1e-9)
    assert 2.8 <= frames[-1].realtime <= 4.4


def test_a_blow_up_resets_with_the_current_params_and_frames_go_on(server: Server) -> None:
    server.start()
    server.send(wire.SetParams({"amplitude": 3.0}, 1))
    server.next(wire.Frame, lambda f: f.caused_by == (1,))
    server.send(wire.Act("blow up", None, 2))
    reset = server.next(wire.WasReset)
    assert reset.tags == () and "NaN" in reset.message and "reset" in reset.message
    assert server.next(wire.State).state == "running"
    frame = server.next(wire.Frame)
    assert frame.time <= 2 * INTERVAL_S + 1e-9  # started again from t = 0 ...
    np.testing.assert_allclose(frame.fields["u"], expected_u(3.0, 1.0, frame.time, N), rtol=1e-5)  # ... amplitude 3


def test_repeated_blow_ups_pause_the_twin_until_a_reset(server: Server) -> None:
    server.start()
    server.send(wire.SetParams({"explode": True}, 1))
    resets = [server.next(wire.WasReset) for _ in range(BLOW_UPS_BEFORE_PAUSE)]
    assert all(r.tags == () for r in resets)
    paused = server.next(wire.State, lambda s: s.state == "paused")
    assert paused.message is not None and "blow-ups in a row" in paused.message
    server.send(wire.Reset({"rate": 2.0}, 9))  # defaults (explode off) plus rate 2
    assert server.next(wire.WasReset).tags == (9,)
    server.send(wire.Control(playing=True))
    server.next(wire.State, lambda s: s.state == "running")
    frame = server.next(wire.Frame, lambda f: f.time > 0)
    np.testing.assert_allclose(frame.fields["u"], expected_u(1.0, 2.0, frame.time, N), rtol=1e-5)


def test_reset_without_params_keeps_the_current_ones(server: Server) -> None:
    server.start()
    server.send(wire.SetParams({"amplitude": 5.0}, 1))
    server.next(wire.Frame, lambda f: f.caused_by == (1,))
    server.send(wire.Reset(None, 2))
    reset = server.next(wire.WasReset)
    assert reset.tags == (2,)
    frame = server.next(wire.Frame, lambda f: f.caused_by == (2,))
    np.testing.assert_allclose(frame.fields["u"], expected_u(5.0, 1.0, frame.time, N), rtol=1e-5)


def test_a_slow_twin_falls_behind_and_says_so_in_realtime() -> None:
    step_s = 3 * INTERVAL_S
    server = Server(lambda: DecayTwin(step_s=step_s))
    server.start()
    frames = [server.next(wire.Frame) for _ in range(12)]
    # no waiting when behind: each frame costs one step, and realtime is interval / step
    assert frames[-1].step_ms >= step_s * 1000
    assert 0.2 <= frames[-1].realtime <= 0.4
    server.send(wire.Stop())
    assert server.exit() == EXIT_OK


class UnevenTwin(DecayTwin):
    """Every other step costs 1.6 frame intervals, the others 0.2: fast enough on average, late every other frame."""

    def step(self, dt: float) -> None:
        self.step_s = (1.6 if self.steps % 2 == 0 else 0.2) * INTERVAL_S
        super().step(dt)


def test_late_frames_are_made_up_so_an_uneven_twin_keeps_real_time() -> None:
    server = Server(UnevenTwin)
    server.start()
    frames = [server.next(wire.Frame) for _ in range(60)]
    # without making up late frames each slow step would lose 0.6 interval: realtime about 0.77
    assert frames[-1].realtime >= 0.95
    server.send(wire.Stop())
    assert server.exit() == EXIT_OK


def test_a_twin_that_raises_ends_the_loop_with_its_reason() -> None:
    server = Server(lambda: DecayTwin())
    server.start()
    server.send(wire.Act("crash", None, 3))
    failed = server.next(wire.Failed)
    assert failed.message == "the twin raised RuntimeError: division by zero in the decay model"
    assert server.exit() == EXIT_TWIN_FAILED


def test_a_twin_that_cannot_be_built_says_why() -> None:
    def build() -> Twin:
        return DecayTwin(points=0)

    server = Server(build)
    failed = server.next(wire.Failed)
    assert failed.message == "the twin could not be built: ValueError: points must be at least 1, got 0"
    assert server.exit() == EXIT_TWIN_FAILED


def test_bad_initial_params_fail_the_build() -> None:
    server = Server(lambda: DecayTwin(), params={"rate": -1.0})
    assert "rate: -1.0 1/s is outside" in server.next(wire.Failed).message
    assert server.exit() == EXIT_TWIN_FAILED


def test_a_malformed_message_ends_the_worker_with_a_one_line_reason() -> None:
    server = Server(lambda: DecayTwin())
    server.start()
    server.channel.send(b'{"type": "params", "blobs": 0, "values": {"rate": 1}}')  # no tag
    failed = server.next(wire.Failed)
    assert failed.message == "the worker received a bad message: params: missing field(s) tag"
    assert server.exit() == EXIT_BAD_MESSAGE


def test_the_loop_ends_on_stop_before_bind_and_when_the_server_goes_away() -> None:
    server = Server(lambda: DecayTwin())
    server.send(wire.Stop())
    assert server.exit() == EXIT_OK
    gone = Server(lambda: DecayTwin())
    gone.start()
    gone.channel.close()
    assert gone.exit() == EXIT_OK
