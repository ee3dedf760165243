"""Remote twins: a twin in another process or machine, speaking the worker wire protocol over a WebSocket.

Worker side (``vizserver twin-worker``): :func:`run_remote_worker` builds the twin, connects to the
server's ``/ws/twin/{session}`` route with the ``websockets`` client and runs the same worker loop
as a local worker process (:func:`vizserver.twins.worker.serve`) over a :class:`WebSocketChannel`.

Server side: :class:`RemoteTwinLink` is a :class:`~vizserver.twins.runner.TwinHost` over a WebSocket
the server accepted from such a worker. A message is one text WebSocket message (the JSON header)
and then one binary message per blob (docs/twins.md, "Remote twins").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt

from vizserver.errors import VizServerError
from vizserver.twins import wire
from vizserver.twins.host import (
    HostRequests,
    HostState,
    TwinEvent,
    TwinInfo,
    TwinStartError,
    TwinState,
)
from vizserver.twins.recipes import TwinRecipe, TwinRecipeError, build_twin
from vizserver.twins.worker import DEFAULT_FRAME_INTERVAL_S, ChannelClosedError, Received, one_line, serve

if TYPE_CHECKING:
    from starlette.websockets import WebSocket
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import ClientConnection

log = logging.getLogger("vizserver.twins")

CONNECT_TIMEOUT_S = 10.0
"""How long ``twin-worker`` waits for the server to accept the connection."""
BLOB_WAIT_S = 30.0
"""Once a header has arrived, the longest wait for each of its blobs (a stalled peer is a broken one)."""
READY_TIMEOUT_S = 60.0
"""How long the server waits for a remote worker's ``ready`` after ``bind``."""


class RemoteWorkerError(VizServerError):
    """``twin-worker`` could not start: a bad URL, an unimportable twin, a refused connection."""


# --- worker side -----------------------------------------------------------------------------------


class WebSocketChannel:
    """A worker :class:`~vizserver.twins.worker.Channel` over a ``websockets`` sync client connection."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.closed_reason: str | None = None
        self.received_any = False
        """Whether the server sent anything: a close before ``bind`` means it refused the twin."""

    def send(self, header: bytes, blobs: Sequence[wire.Buffer] = ()) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            self.connection.send(bytes(header).decode("utf-8"))
            for blob in blobs:
                self.connection.send(memoryview(blob).cast("B").tobytes())
        except ConnectionClosed as exc:
            raise ChannelClosedError(self._closed(exc)) from None

    def receive(self, timeout: float | None) -> Received | None:
        from websockets.exceptions import ConnectionClosed

        try:
            try:
                header = self.connection.recv(timeout=None if timeout is None else max(timeout, 0.0))
            except TimeoutError:
                return None
            if not isinstance(header, str):
                raise wire.WireError("expected a text message (a header), got a binary one")
            self.received_any = True
            data = header.encode("utf-8")
            blobs: list[bytes] = []
            for i in range(wire.blob_count(data)):
                try:
                    blob = self.connection.recv(timeout=BLOB_WAIT_S)
                except TimeoutError:
                    raise wire.WireError(f"blob {i + 1} of a message did not arrive within {BLOB_WAIT_S:g} s") from None
                if not isinstance(blob, bytes):
                    raise wire.WireError(f"expected blob {i + 1} as a binary message, got a text one")
                blobs.append(blob)
            return data, blobs
        except ConnectionClosed as exc:
            raise ChannelClosedError(self._closed(exc)) from None

    def close(self) -> None:
        self.connection.close()

    def _closed(self, exc: ConnectionClosed) -> str:
        close = exc.rcvd
        if close is None:
            self.closed_reason = f"connection lost ({one_line(exc)})"
        else:
            why = f" ({close.reason})" if close.reason else ""
            self.closed_reason = f"closed by the server: code {close.code}{why}"
        return self.closed_reason


def check_url(url: str) -> str:
    """``url`` if it is a ``ws://`` or ``wss://`` URL with a host, else :class:`RemoteWorkerError`."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise RemoteWorkerError(f"--connect {url!r}: {exc}") from None
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise RemoteWorkerError(f"--connect {url!r}: expected ws://HOST:PORT/ws/twin/SESSION?token=... (or wss://)")
    return url


def connect(url: str) -> WebSocketChannel:
    """Open the WebSocket to the server; :class:`RemoteWorkerError` with one line when that fails."""
    from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI
    from websockets.sync.client import connect as ws_connect

    check_url(url)
    try:
        connection = ws_connect(
            url, open_timeout=CONNECT_TIMEOUT_S, max_size=wire.MAX_BLOB_BYTES, compression=None, proxy=None
        )
    except InvalidStatus as exc:
        raise RemoteWorkerError(f"{_safe(url)}: the server refused the twin: HTTP {exc.response.status_code}") from None
    except InvalidURI as exc:
        raise RemoteWorkerError(f"--connect {url!r}: {exc}") from None
    except (OSError, TimeoutError, InvalidHandshake) as exc:
        raise RemoteWorkerError(f"{_safe(url)}: cannot connect: {one_line(exc)}") from None
    return WebSocketChannel(connection)


def run_remote_worker(
    url: str, recipe: TwinRecipe, frame_interval_s: float = DEFAULT_FRAME_INTERVAL_S
) -> tuple[int, str | None]:
    """Build the twin, connect, and run the worker loop until the server stops it or goes away.

    Returns the worker loop's exit code (:data:`~vizserver.twins.worker.EXIT_OK` when stopped or
    disconnected) and why the connection closed (None when the server sent ``stop``). Building or
    connecting fails with :class:`RemoteWorkerError` before anything is sent.
    """
    check_url(url)
    if not (math.isfinite(frame_interval_s) and frame_interval_s > 0):
        raise RemoteWorkerError(f"--frame-interval must be a positive number of seconds, got {frame_interval_s}")
    try:
        twin = build_twin(recipe)
    except TwinRecipeError as exc:  # names the twin and the problem already
        raise RemoteWorkerError(str(exc)) from None
    except Exception as exc:  # whatever the user's twin raises is reported in one line, not a traceback
        raise RemoteWorkerError(f"twin {recipe.kind!r} could not be built: {one_line(exc)}") from None
    channel = connect(url)
    try:
        code = serve(channel, lambda: twin, recipe.params, frame_interval_s)
    finally:
        channel.close()
    if not channel.received_any and channel.closed_reason is not None:
        raise RemoteWorkerError(f"{_safe(url)}: the server refused the twin: {channel.closed_reason}")
    return code, channel.closed_reason


def parse_option(text: str) -> tuple[str, object]:
    """``key=value`` from the command line: the value as JSON when it parses (numbers, true, "x"), else text."""
    import json

    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise RemoteWorkerError(f"--option {text!r}: expected key=value with a Python identifier as the key")
    try:
        value: object = json.loads(raw)
    except ValueError:
        value = raw
    return key, value


def _safe(url: str) -> str:
    """``url`` without its query (the host token is a secret and must not reach logs)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


# --- server side -----------------------------------------------------------------------------------


class _DisconnectedError(Exception):
    """The worker's WebSocket closed (internal: run() turns it into a failed state)."""


class _WorkerFailedError(Exception):
    """The worker said ``failed`` (its twin could not be built or raised), or never said ``ready``."""


class RemoteTwinLink(HostRequests):
    """A :class:`~vizserver.twins.runner.TwinHost` for a ``twin-worker`` connected over ``websocket``.

    The server accepts the worker's WebSocket, makes a link with the target vertex positions and
    the event callback, and awaits :meth:`run`, which binds the twin, serves it and returns when the
    worker disconnects. :meth:`start` waits for the worker's ``ready``. What waits to be sent, merging
    and flow control are the local runner's (:class:`~vizserver.twins.runner.HostState`). A worker
    that disconnects or sends a malformed message ends the link with ``TwinState("failed")`` (before
    it was ready, :meth:`start` raises :class:`TwinStartError` instead); no exception leaves
    :meth:`run`. A remote twin is not restarted: its worker has to connect again.
    """

    def __init__(
        self,
        websocket: WebSocket,
        targets: npt.ArrayLike,
        on_event: Callable[[TwinEvent], None],
        *,
        ready_timeout_s: float = READY_TIMEOUT_S,
    ) -> None:
        self.info: TwinInfo | None = None
        self._ws = websocket
        self._targets = np.ascontiguousarray(targets, dtype=np.float32).reshape(-1, 3)
        self._on_event = on_event
        self._ready_timeout_s = ready_timeout_s
        self._state = HostState({})
        self._outgoing: deque[wire.ServerMessage] = deque()
        self._wake = asyncio.Event()
        self._ready = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self._failure: str | None = None
        self._stopping = False

    # --- TwinHost ------------------------------------------------------------------------------

    async def start(self) -> TwinInfo:
        """The twin's description once the worker is ready; :class:`TwinStartError` if it never is."""
        await self._ready.wait()
        if self.info is None:
            raise TwinStartError(self._failure or "the remote twin went away before it was ready")
        return self.info

    async def stop(self) -> None:
        """Tell the worker to stop and close the socket; :meth:`run` then returns without a failure."""
        if self._stopping:
            return
        self._stopping = True
        with contextlib.suppress(_DisconnectedError):
            await self._send(wire.Stop())
        await self._close(1000, "stopped")

    # --- serving -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Bind the twin, then pass its messages on as events until the worker disconnects."""
        sender: asyncio.Task[None] | None = None
        try:
            await self._send(wire.Bind(self._targets))
            await self._handshake()
            sender = asyncio.create_task(self._send_outgoing(), name="remote twin sender")
            self._flush()
            while True:
                message = await self._receive()
                if isinstance(message, wire.Failed):
                    raise _WorkerFailedError(message.message)
                if isinstance(message, wire.Ready):
                    raise wire.WireError("ready: sent twice")
                for event in self._state.received(message):
                    self._emit(event)
                self._flush()
        except _DisconnectedError as exc:
            self._end(f"remote twin disconnected: {exc}")
        except wire.WireError as exc:
            self._end(f"remote twin sent a bad message: {one_line(exc)}")
            await self._close(1008, "bad twin message")
        except _WorkerFailedError as exc:
            self._end(f"remote twin failed: {exc}")
            await self._close(1000, "twin failed")
        finally:
            if sender is not None:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, _DisconnectedError):
                    await sender
            self._ready.set()

    async def _handshake(self) -> None:
        try:
            async with asyncio.timeout(self._ready_timeout_s):
                message = await self._receive()
        except TimeoutError:
            raise _WorkerFailedError(f"no ready within {self._ready_timeout_s:g} s of bind") from None
        if isinstance(message, wire.Failed):
            raise _WorkerFailedError(message.message)
        if not isinstance(message, wire.Ready):
            raise wire.WireError(f"expected ready after bind, got {type(message).__name__.lower()}")
        if message.vertices != len(self._targets):
            raise wire.WireError(f"ready: {message.vertices} vertices, but {len(self._targets)} were bound")
        self.info = TwinInfo(message.schema, message.time_unit, message.time_per_second, message.outputs,
                             message.vertices)
        self._state.on_connected(message)
        self._ready.set()

    def _refusal(self) -> str | None:
        if self._failure is not None or self._stopping:
            return self._failure or "the twin was stopped"
        return None

    def _flush(self) -> None:
        """Hand what may go to the worker now to the sender task (HostState bounds it: one input in flight)."""
        messages = self._state.sendable()
        if messages:
            self._outgoing.extend(messages)
            self._wake.set()

    async def _send_outgoing(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outgoing:
                await self._send(self._outgoing.popleft())

    def _end(self, message: str) -> None:
        if self._stopping:
            return
        self._failure = message
        log.warning("%s", message)
        events = self._state.on_failed(message)
        if self.info is not None:  # before ready, start() raises with this message instead
            events.append(TwinState("failed", self._state.speed, self._state.time, message))
        for event in events:
            self._emit(event)

    def _emit(self, event: TwinEvent) -> None:
        try:
            self._on_event(event)
        except Exception:  # a listener's bug must not end the link
            log.exception("remote twin: the event listener failed on %s", type(event).__name__)

    # --- the socket ----------------------------------------------------------------------------

    async def _receive(self) -> wire.WorkerMessage:
        header = await self._receive_part()
        if header.get("text") is None:
            raise wire.WireError("expected a text message (a header), got a binary one")
        data = str(header["text"]).encode("utf-8")
        blobs: list[bytes] = []
        for i in range(wire.blob_count(data)):
            try:
                async with asyncio.timeout(BLOB_WAIT_S):
                    part = await self._receive_part()
            except TimeoutError:
                raise wire.WireError(f"blob {i + 1} of a message did not arrive within {BLOB_WAIT_S:g} s") from None
            blob = part.get("bytes")
            if not isinstance(blob, bytes):
                raise wire.WireError(f"expected blob {i + 1} as a binary message, got a text one")
            blobs.append(blob)
        return wire.decode_from_worker(data, blobs, None if self.info is None else self.info.vertices)

    async def _receive_part(self) -> Mapping[str, object]:
        from starlette.websockets import WebSocketDisconnect

        try:
            message = await self._ws.receive()
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            raise _DisconnectedError(one_line(exc)) from None
        if message["type"] == "websocket.disconnect":
            code = message.get("code", 1005)
            reason = message.get("reason") or ""
            raise _DisconnectedError(f"code {code}" + (f" ({reason})" if reason else ""))
        return message

    async def _send(self, message: wire.ServerMessage) -> None:
        from starlette.websockets import WebSocketDisconnect

        header, blobs = wire.encode(message)
        async with self._send_lock:  # a header and its blobs are never interleaved with another message
            try:
                await self._ws.send_text(header.decode("utf-8"))
                for blob in blobs:
                    await self._ws.send_bytes(memoryview(blob).cast("B").tobytes())
            except (WebSocketDisconnect, RuntimeError, OSError) as exc:
                raise _DisconnectedError(one_line(exc)) from None

    async def _close(self, code: int, reason: str) -> None:
        from starlette.websockets import WebSocketDisconnect

        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await self._ws.close(code, reason)
