"""LocalTwinRunner with real worker processes running the small twins of ``fixtures/twins.py``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import numpy as np
import psutil
import pytest
from fixtures.twins import SCHEMA, positions

from vizserver.anatomy.lv import lv_tetra
from vizserver.twins.recipes import TwinRecipe
from vizserver.twins.runner import (
    LocalTwinRunner,
    TwinEvent,
    TwinFrame,
    TwinRefused,
    TwinStartError,
    TwinState,
    TwinWasReset,
)

WAIT_S = 15.0
"""Longest a test waits for one event (a worker start on a loaded machine included)."""
N = 8
DECAY = TwinRecipe("fixtures.twins:DecayTwin")
E = TypeVar("E", bound=TwinEvent)


class Events:
    """Records a runner's events (checking they arrive on the loop's thread) and waits for them in order."""

    def __init__(self) -> None:
        self.seen: list[TwinEvent] = []
        self._cursor = 0
        self._arrived = asyncio.Event()
        self._thread = threading.get_ident()

    def __call__(self, event: TwinEvent) -> None:
        assert threading.get_ident() == self._thread, "on_event was called off the event loop thread"
        self.seen.append(event)
        self._arrived.set()

    async def next(self, kind: type[E], where: Callable[[E], bool] = lambda e: True) -> E:
        """The next event of ``kind`` matching ``where`` after the last one returned."""
        deadline = time.monotonic() + WAIT_S
        while True:
            for i in range(self._cursor, len(self.seen)):
                event = self.seen[i]
                if isinstance(event, kind) and where(event):
                    self._cursor = i + 1
                    return event
            self._arrived.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {kind.__name__} within {WAIT_S} s; seen: {self.summary()}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    def summary(self) -> str:
        return ", ".join(type(e).__name__ + (f"({e.state}: {e.message})" if isinstance(e, TwinState) else "")
                         for e in self.seen[-12:])


def run(scenario: Callable[..., Awaitable[None]], recipe: TwinRecipe = DECAY, targets: Any = None,
        **options: Any) -> None:
    """Run ``scenario(runner, events)`` with a started runner, and check that stop() leaves no process."""

    async def main() -> None:
        events = Events()
        where = positions(N) if targets is None else targets
        runner = LocalTwinRunner(recipe, where, events, frame_interval_s=0.02, **options)
        try:
            await runner.start()
            await scenario(runner, events)
        finally:
            pid = runner.pid
            await runner.stop()
            assert pid is None or not alive(pid)

    asyncio.run(main())


def alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def u0(frame: TwinFrame) -> float:
    return float(frame.fields["u"][0])


def test_a_param_change_gives_a_frame_tagged_with_it_that_shows_the_change() -> None:
    async def scenario(runner: LocalTwinRunner, events: Events) -> None:
        assert runner.info is not None and runner.info.schema == SCHEMA and runner.info.vertices == N
        assert (await events.next(TwinState)).state == "starting"
        assert (await events.next(TwinState)).state == "running"
        before = await events.next(TwinFrame)
        assert before.caused_by == () and u0(before) <= 1.0
        runner.set_params({"amplitude": 50.0}, 11)
        changed = await events.next(TwinFrame, lambda f: f.caused_by != ())
        assert changed.caused_by == (11,)
        assert u0(changed) > 40.0 and changed.fields["u"].dtype == np.float32 and changed.fields["u"].shape == (N,)

    run(scenario)


def test_the_cardiac_twin_runs_and_is_steered_on_a_scene_objects_vertices() -> None:
    targets = lv_tetra(12).points

    async def scenario(runner: LocalTwinRunner, events: Events) -> None:
        info = runner.info
        assert info is not None and info.vertices == len(targets) and info.time_unit == "ms"
        assert [(o.name, o.unit) for o in info.outputs] == [("vm", "mV"), ("activation_time", "ms")]
        excited = await events.next(TwinFrame, lambda f: float(np.nanmax(f.fields["vm"])) > 0.0)  # the paced beat
        assert excited.fields["vm"].shape == (len(targets),)
        runner.set_params({"cycle_length": 300.0}, 21)
        changed = await events.next(TwinFrame, lambda f: f.caused_by == (21,))
        assert changed.time > excited.time

    run(scenario, TwinRecipe("cardiac", {"resolution": 12}), targets)


def test_a_flood_of_changes_is_merged_and_every_tag_reported() -> None:
    async def scenario(runner: LocalTwinRunner, events: Events) -> None:
        await events.next(TwinFrame)
        for tag in range(1, 201):  # in one turn of the loop: the first goes out, the rest wait and merge
            runner.set_params({"amplitude": float(tag), "rate": 0.0}, tag)
        first = await events.next(TwinFrame, lambda f: f.caused_by != ())
        merged = await events.next(TwinFrame, lambda f: f.caused_by != ())
        assert first.caused_by == (1,)
        assert merged.caused_by == tuple(range(2, 201))  # one change sent for 199 requests
        assert u0(merged) / u0(first) == pytest.approx(200.0)  # last value wins (rate 0: no decay)

    run(scenario)


def test_a_refused_change_is_reported_and_others_still_apply() -> None:
    async def scenario(runner: LocalTwinRunner, events: Events) -> None:
        await events.next(TwinFrame)
        runner.set_params({"rate": 500.0}, 3)
        runner.set_params({"amplitude": 9.0}, 4)
        refused = await events.next(TwinRefused)
        assert refused.tag == 3 and "rate: 500.0 1/s is outside [0.0, 100.0]" in refused.message
        assert u0(await events.next(TwinFrame, lambda f: 4 in f.caused_by)) > 8.0

    run(scenario)


def test_a_twin_that_raises_is_restarted_with_the_accepted_params() -> None:
    async def scenario(runner: LocalTwinRunner, events: Events) -> None:
        runner.set_params({"amplitude": 50.0}, 1)
        await events.next(TwinFrame, lambda f: f.caused_by == (1,))
        first_pid = runner.pid
        runner.act("crash", None, 2)
        lost = await events.next(TwinRefused)
        assert lost.tag == 2 and "RuntimeError: division by zero in the decay model" in lost.message
        restarting = await events.next(TwinState, lambda s: s.state == "restarting")
        assert restarting.message == "the twin raised RuntimeError: division by zero in the decay model; restarting"
        await events.next(TwinState, lambda s: s.state == "running")
        frame = await events.next(TwinFrame)
        assert runner.pid != first_pid and first_pid is not None and not alive(first_pid)
        assert u0(frame) == pytest.approx(50.0 * np.exp(-frame.time), rel=1e-5)  # amplitude 50 kept, t from 0

    run(scenario)


def test_a_hung_twin_is_killed_and_restarted() -> None:
    async def scenario(runner: LocalTwinRunner, events: Events) -> None:
        await events.next(TwinFrame)
        hung_pid = runner.pid
        runner.act("hang", None, 5)
        restarting = await events.next(TwinState, lambda s: s.state == "restarting")
        assert restarting.message is not None and "the twin stopped answering (nothing for" in restarting.message
        await events.next(TwinState, lambda s: s.state == "running")
        await events.next(TwinFrame)
        assert hung_pid is not None and not alive(hung_pid)

    run(scenario, hang_timeout_s=0.5)


def test_a_blow_up_resets_the_twin_and_frames_go_on() -> None:
    async def scenario(runner: LocalTwinRunner, events: Events) -> None:
        frame = await events.next(TwinFrame, lambda f: f.time > 0.1)
        pid = runner.pid
        runner.act("blow up", None, 6)
        reset = await events.next(TwinWasReset)
        assert reset.tags == () and "decay twin: the state is NaN" in reset.message
        after = await events.next(TwinFrame)
        assert after.time < frame.time and np.isfinite(after.fields["u"]).all()
        assert runner.pid == pid  # no restart for a blow-up

    run(scenario)


def test_a_twin_that_keeps_failing_is_given_up() -> None:
    async def scenario(runner: LocalTwinRunner, events: Events) -> None:
        await events.next(TwinState, lambda s: s.state == "restarting")
        failed = await events.next(TwinState, lambda s: s.state == "failed")
        assert failed.message is not None and "RuntimeError" in failed.message
        assert "2 failures within 60 s" in failed.message
        runner.set_params({"rate": 2.0}, 8)
        refused = await events.next(TwinRefused)
        assert refused.tag == 8 and refused.message.startswith("the twin has failed: ")
        assert runner.pid is None

    run(scenario, TwinRecipe("fixtures.twins:DecayTwin", {"crash_after_steps": 3}), max_restarts=1)


@pytest.mark.parametrize(("kind", "options", "message"), [
    ("no such twin", {}, "twin kind 'no such twin': expected one of cardiac, tumour, replay or 'module:attr'"),
    ("fixtures.twins:Nope", {}, "the twin could not be built: twin kind 'fixtures.twins:Nope': fixtures.twins has "
                                "no callable 'Nope'"),
    ("fixtures.nowhere:Twin", {}, "cannot import 'fixtures.nowhere'"),
    ("fixtures.twins:broken_twin", {}, "the twin could not be built: FileNotFoundError: decay.h5: no such file"),
    ("fixtures.twins:DecayTwin", {"colour": "red"}, "got an unexpected keyword argument 'colour'"),
    ("fixtures.twins:positions", {"n": 3}, "positions returned a ndarray, not a Twin"),
])
def test_a_bad_recipe_fails_start_quickly_with_its_reason(kind: str, options: dict[str, Any], message: str) -> None:
    async def main() -> None:
        events = Events()
        runner = LocalTwinRunner(TwinRecipe(kind, options), positions(N), events)
        started = time.monotonic()
        with pytest.raises(TwinStartError) as caught:
            await runner.start()
        assert time.monotonic() - started < 10.0
        assert message in str(caught.value) and "\n" not in str(caught.value)
        assert (await events.next(TwinState, lambda s: s.state == "failed")).message == str(caught.value)
        assert runner.pid is None
        await runner.stop()

    asyncio.run(main())


def test_a_twin_that_takes_too_long_to_build_fails_start_and_leaves_no_process() -> None:
    def grandchildren() -> set[int]:  # workers are the forkserver's children, the test process's grandchildren
        return {p.pid for p in psutil.Process().children(recursive=True) if p.ppid() != os.getpid()}

    async def main() -> None:
        before = grandchildren()  # earlier tests' servers may hold processes of their own
        runner = LocalTwinRunner(DECAY_SLOW_TO_BUILD, positions(N), Events(), start_timeout_s=0.5)
        with pytest.raises(TwinStartError, match=r"not ready within 0\.5 s"):
            await runner.start()
        assert [pid for pid in grandchildren() - before if alive(pid)] == []

    asyncio.run(main())


DECAY_SLOW_TO_BUILD = TwinRecipe("fixtures.twins:slow_to_build", {"seconds": 30.0})


def test_stop_ends_the_worker_and_its_threads() -> None:
    async def main() -> None:
        events = Events()
        threads_before = threading.active_count()
        runner = LocalTwinRunner(DECAY, positions(N), events)
        await runner.start()
        await events.next(TwinFrame)
        pid = runner.pid
        assert pid is not None and alive(pid)
        await runner.stop()
        assert not alive(pid) and runner.pid is None
        assert threading.active_count() <= threads_before + 1  # asyncio.to_thread's executor thread may remain
        runner.set_params({"rate": 2.0}, 1)
        assert (await events.next(TwinRefused)).message == "the twin was stopped"

    asyncio.run(main())


BIG = 200_000
"""Vertices of the backpressure tests: 1.6 MB per frame, far more than a pipe's buffer."""


def test_a_slow_server_slows_the_worker_instead_of_queueing_frames() -> None:
    async def scenario(runner: LocalTwinRunner, events: Events) -> None:
        frames = [await events.next(TwinFrame) for _ in range(25)]
        # the worker could do 50 frames/s; the server takes 60 ms per frame, so the worker waits on send
        assert frames[-1].realtime < 0.6
        assert frames[-1].frame - frames[0].frame == 24  # every frame it sent arrived, none dropped

    class SlowServer(Events):
        def __call__(self, event: TwinEvent) -> None:
            super().__call__(event)
            if isinstance(event, TwinFrame) and event.frame <= 30:  # then fast again, so a backlog would drain
                time.sleep(0.06)  # stands for a loop busy with other work, not a wait for anything

    async def main() -> None:
        events = SlowServer()
        runner = LocalTwinRunner(TwinRecipe("fixtures.twins:DecayTwin", {"points": BIG}), positions(BIG), events,
                                 frame_interval_s=0.02)
        try:
            await runner.start()
            await scenario(runner, events)
        finally:
            await runner.stop()

    asyncio.run(main())


def test_the_event_loop_stays_responsive_while_big_frames_stream() -> None:
    async def scenario(runner: LocalTwinRunner, events: Events) -> None:
        await events.next(TwinFrame)
        loop = asyncio.get_running_loop()
        lags = []
        for _ in range(100):
            due = loop.time() + 0.01
            await asyncio.sleep(0.01)  # the probe: how late does the loop wake us?
            lags.append(loop.time() - due)
        frames = [e for e in events.seen if isinstance(e, TwinFrame)]
        assert len(frames) > 20 and frames[-1].fields["u"].shape == (BIG,)
        assert max(lags) < 0.25

    run(scenario, TwinRecipe("fixtures.twins:DecayTwin", {"points": BIG}), positions(BIG))
