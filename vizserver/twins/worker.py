"""The twin worker loop: one twin, driven by wire messages over a :class:`Channel`, paced to real time.

The loop knows nothing of processes or sockets: a :class:`Channel` moves ``(header, blobs)``
messages (:class:`PipeChannel` over a multiprocessing pipe here; a WebSocket for a remote worker).
Each frame it applies the inputs that arrived, in arrival order, steps the twin by
``speed * time_per_second * frame_interval_s``, sends the outputs, then waits until the next frame
is due (it does not wait when behind). A numerical blow-up resets the twin; any other exception
from the twin ends the loop with a non-zero code after a ``failed`` message (the runner restarts).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from multiprocessing.connection import Connection
from typing import Protocol

import numpy as np
import numpy.typing as npt

from vizserver.errors import InputError, VizServerError
from vizserver.twins import wire
from vizserver.twins.base import ParamValue, Twin, TwinBlowUpError
from vizserver.twins.recipes import TwinRecipe, build_twin

DEFAULT_FRAME_INTERVAL_S = 1 / 30
"""Wall time between frames while running; each frame advances ``speed * time_per_second`` times this."""
REALTIME_WINDOW_S = 2.0
"""``realtime`` in a frame is measured over about this much wall time."""
MAX_INPUTS_PER_FRAME = 64
"""Inputs arriving together are applied as one batch of at most this many (paused: one frame per batch)."""
BLOW_UPS_BEFORE_PAUSE = 3
"""This many blow-ups in a row, with no good frame between them, pause the twin (its parameters diverge)."""
CATCH_UP_INTERVALS = 3.0
"""Late frames are made up (real time kept on average) while the twin is at most this many frames behind."""
MAX_MESSAGE_CHARS = 500
"""Error messages from the twin are cut to this length (they go to users)."""

EXIT_OK = 0
EXIT_TWIN_FAILED = 1
EXIT_BAD_MESSAGE = 2

Received = tuple[bytes, list[bytes]]


class ChannelClosedError(VizServerError):
    """The other end of a channel went away."""


class Channel(Protocol):
    """Moves whole messages: a header and its blobs. Safe to send and receive from two threads."""

    def send(self, header: bytes, blobs: Sequence[wire.Buffer] = ()) -> None:
        """Send one message; blocks while the other side is not reading. Raises ChannelClosedError."""

    def receive(self, timeout: float | None) -> Received | None:
        """The next message, or None if none arrived within ``timeout`` s (None: wait for one).

        Raises :class:`ChannelClosedError` when the other end is gone and WireError on a bad header.
        """

    def close(self) -> None: ...


class PipeChannel:
    """A :class:`Channel` on a duplex multiprocessing connection: ``send_bytes`` per header and per blob."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def send(self, header: bytes, blobs: Sequence[wire.Buffer] = ()) -> None:
        try:
            self.conn.send_bytes(header)
            for blob in blobs:
                self.conn.send_bytes(blob)
        except (OSError, ValueError) as exc:  # ValueError: this end was closed
            raise ChannelClosedError(f"twin channel closed while sending: {exc}") from None

    def receive(self, timeout: float | None) -> Received | None:
        try:
            if timeout is not None and not self.conn.poll(max(timeout, 0.0)):
                return None
            header = self.conn.recv_bytes(wire.MAX_HEADER_BYTES)
            return header, [self.conn.recv_bytes(wire.MAX_BLOB_BYTES) for _ in range(wire.blob_count(header))]
        except EOFError:
            raise ChannelClosedError("twin channel closed by the other end") from None
        except OSError as exc:
            if "bad message length" in str(exc):
                raise wire.WireError("a message part is over the size limit") from None
            raise ChannelClosedError(f"twin channel failed: {exc}") from None

    def close(self) -> None:
        self.conn.close()


def one_line(exc: BaseException) -> str:
    """An exception as one line for users: ``TypeError: bad operand`` (a VizServerError: its message)."""
    text = " ".join(str(exc).split())
    if not isinstance(exc, VizServerError) or not text:
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 3] + "..."


def serve(
    channel: Channel,
    build: Callable[[], Twin],
    params: Mapping[str, ParamValue] | None = None,
    frame_interval_s: float = DEFAULT_FRAME_INTERVAL_S,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Build the twin and run it until ``stop`` or until the channel closes; the process exit code.

    ``params`` are the parameters ``build`` applied; a blow-up resets to them (plus later changes).
    """
    try:
        twin = build()
        loop = TwinLoop(channel, twin, params or {}, frame_interval_s, clock)
    except Exception as exc:  # whatever a twin's constructor raises becomes the start error users see
        return _fail(channel, f"the twin could not be built: {one_line(exc)}", EXIT_TWIN_FAILED)
    try:
        return loop.run()
    except ChannelClosedError:
        return EXIT_OK
    except wire.WireError as exc:
        return _fail(channel, f"the worker received a bad message: {exc}", EXIT_BAD_MESSAGE)
    except Exception as exc:  # the twin raised: report it, exit non-zero, the runner restarts us
        return _fail(channel, f"the twin raised {one_line(exc)}", EXIT_TWIN_FAILED)


def _fail(channel: Channel, message: str, code: int) -> int:
    with contextlib.suppress(ChannelClosedError, wire.WireError):  # nobody to tell: the exit code says it
        channel.send(*wire.encode(wire.Failed(message)))
    return code


class TwinLoop:
    """Runs one built twin over ``channel`` (see :func:`serve`)."""

    def __init__(
        self,
        channel: Channel,
        twin: Twin,
        params: Mapping[str, ParamValue],
        frame_interval_s: float = DEFAULT_FRAME_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not frame_interval_s > 0:
            raise ValueError(f"frame_interval_s must be positive, got {frame_interval_s}")
        self.channel = channel
        self.twin = twin
        self.schema = twin.schema
        self.params: dict[str, ParamValue] = {**self.schema.defaults(), **self.schema.validate(params)}
        self.interval = frame_interval_s
        self.clock = clock
        self.playing = True
        self.speed = 1.0
        self.frame = 0
        self.tags: list[int] = []
        """Tags of the inputs applied since the last frame."""
        self.samples: deque[tuple[float, float]] = deque()
        self.blow_ups = 0
        self.vertices = 0

    def run(self) -> int:
        bind = self._decode(self.channel.receive(None))
        if isinstance(bind, wire.Stop):
            return EXIT_OK
        if not isinstance(bind, wire.Bind):
            raise wire.WireError(f"expected bind first, got {type(bind).__name__}")
        self.twin.bind_outputs(bind.positions)
        self.vertices = len(bind.positions)
        self._send(self._ready(self._outputs()))
        due = self.clock()
        while True:
            if self.playing and self.clock() >= due:
                self._send_frame()
                due = self._next_due(due)
            # The real wait until the next frame is due (or, paused, until an input arrives).
            received = self.channel.receive(max(0.0, due - self.clock()) if self.playing else None)
            if received is None:
                continue
            changed = False
            for batch in range(1, MAX_INPUTS_PER_FRAME + 1):
                message = self._decode(received)
                if isinstance(message, wire.Stop):
                    return EXIT_OK
                changed |= self._handle(message)
                received = self.channel.receive(0.0) if batch < MAX_INPUTS_PER_FRAME else None
                if received is None:
                    break
            if (changed or self.tags) and not self.playing:
                self._send_frame()  # paused: still show what an input did (and answer its tags)
            elif changed and self.playing:
                # Steering latency: compute the frame with the change now rather than at ``due``; that
                # frame takes the place of the one due, so frames still come once an interval on average.
                self._send_frame()
                due = self._next_due(due)

    def _next_due(self, due: float) -> float:
        """One interval on; a frame that came late is made up by the next ones coming sooner, unless the
        twin is more than ``CATCH_UP_INTERVALS`` behind (slower than real time): then it just falls behind."""
        now = self.clock()
        due += self.interval
        return now if now - due > CATCH_UP_INTERVALS * self.interval else due

    # --- inputs ----------------------------------------------------------------------------------

    def _decode(self, received: Received | None) -> wire.ServerMessage:
        assert received is not None  # receive(None) waits for a message
        return wire.decode_from_server(*received)

    def _handle(self, message: wire.ServerMessage) -> bool:
        """Apply one input; True if it changed the twin (its tag goes into the next frame's caused_by)."""
        if isinstance(message, wire.Control):
            self._control(message)
            return False
        if isinstance(message, wire.Bind | wire.Stop):
            raise wire.WireError(f"{type(message).__name__.lower()} is not an input")
        try:
            self._apply(message)
        except TwinBlowUpError as exc:
            self._blow_up(exc)
        except InputError as exc:
            self._send(wire.Refused(message.tag, one_line(exc)))
            return False
        self.tags.append(message.tag)
        return True

    def _apply(self, message: wire.SetParams | wire.Act | wire.Reset) -> None:
        if isinstance(message, wire.SetParams):
            values = self.schema.validate(message.values)
            self.twin.set_params(values)
            self.params.update(values)
        elif isinstance(message, wire.Act):
            point = self.schema.action_point(message.action, message.point)
            self.twin.act(message.action, point)
        else:
            if message.params is None:
                params = self.params
            else:
                params = {**self.schema.defaults(), **self.schema.validate(message.params)}
            self.twin.reset(params)
            self.params = dict(params)
            self.samples.clear()
            self.blow_ups = 0
            self._send(wire.WasReset("reset", (message.tag,)))
            self._send_state()

    def _control(self, message: wire.Control) -> None:
        if message.playing is not None and message.playing != self.playing:
            self.playing = message.playing
            self.samples.clear()
        if message.speed is not None and message.speed != self.speed:
            self.speed = message.speed
            self.samples.clear()
        self._send_state()

    def _blow_up(self, exc: TwinBlowUpError) -> None:
        self.twin.reset(self.params)
        self.samples.clear()
        self.blow_ups += 1
        self._send(wire.WasReset(f"{one_line(exc)}; the twin was reset", ()))
        if self.blow_ups >= BLOW_UPS_BEFORE_PAUSE:
            self.playing = False
            self._send_state(f"paused after {self.blow_ups} blow-ups in a row: change the parameters or reset")
        else:
            self._send_state()

    # --- outputs ---------------------------------------------------------------------------------

    def _send_frame(self) -> None:
        started = self.clock()
        if self.playing:
            try:
                self.twin.step(self.speed * self.twin.time_per_second * self.interval)
                self.blow_ups = 0
            except TwinBlowUpError as exc:
                self._blow_up(exc)
        fields = self._outputs()
        now = self.clock()
        self.frame += 1
        self._send(wire.Frame(self.frame, float(self.twin.time), (now - started) * 1000.0,
                              self._realtime(now, now - started), tuple(self.tags), fields))
        self.tags.clear()

    def _outputs(self) -> dict[str, npt.NDArray[np.float32]]:
        values = self.twin.outputs()
        fields: dict[str, npt.NDArray[np.float32]] = {}
        for name in self.schema.outputs:
            if name not in values:
                raise ValueError(f"the twin's outputs lack {name!r}, which its schema lists")
            array = np.asarray(values[name], dtype=np.float32).reshape(-1)
            if len(array) != self.vertices:
                raise ValueError(f"output {name!r} has {len(array)} values for {self.vertices} bound vertices")
            fields[name] = array
        return fields

    def _realtime(self, now: float, step_s: float) -> float:
        """Simulated time per wall second over the last ~REALTIME_WINDOW_S, over ``time_per_second``."""
        if not self.playing:
            return 0.0
        samples = self.samples
        samples.append((now, float(self.twin.time)))
        while len(samples) > 2 and samples[1][0] <= now - REALTIME_WINDOW_S:
            samples.popleft()
        (wall0, time0), (wall1, time1) = samples[0], samples[-1]
        if wall1 <= wall0:  # first frame of a run: what this step's cost allows
            return self.speed * min(1.0, self.interval / max(step_s, 1e-9))
        return max(0.0, (time1 - time0) / (wall1 - wall0) / self.twin.time_per_second)

    def _ready(self, fields: Mapping[str, npt.NDArray[np.float32]]) -> wire.Ready:
        schema = self.schema
        outputs = tuple(
            wire.OutputInfo(name, schema.units.get(name, ""), schema.ranges.get(name) or _span(fields[name]))
            for name in schema.outputs)
        return wire.Ready(schema, self.twin.time_unit, float(self.twin.time_per_second), outputs, self.vertices,
                          float(self.twin.time))

    def _send_state(self, message: str | None = None) -> None:
        self._send(wire.State("running" if self.playing else "paused", self.speed, float(self.twin.time), message))

    def _send(self, message: wire.WorkerMessage) -> None:
        self.channel.send(*wire.encode(message))


def _span(values: npt.NDArray[np.float32]) -> tuple[float, float]:
    """A colour range for an output whose schema gives none: the finite values' span now."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    return (lo, hi) if hi > lo else (lo - 0.5, lo + 0.5)


def process_main(conn: Connection, recipe: TwinRecipe, frame_interval_s: float) -> None:
    """Entry point of a local worker process (started by :class:`vizserver.twins.runner.LocalTwinRunner`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle; it stops us
    channel = PipeChannel(conn)
    code = serve(channel, lambda: build_twin(recipe), recipe.params, frame_interval_s)
    channel.close()
    sys.exit(code)
