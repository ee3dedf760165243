"""One thread per video view that owns a :class:`SceneRenderer` (an OpenGL context is bound to its thread).

Requests are coalesced: :meth:`RenderWorker.submit` replaces a request not yet started, so the thread always
draws the newest camera and fields and never builds a backlog. The newest finished frame is kept in
:attr:`RenderWorker.latest`; ``on_frame`` is called from the render thread after each one (the video view
forwards it to its event loop with ``call_soon_threadsafe``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vizserver.render.camera import ViewCamera
from vizserver.render.detail import Detail
from vizserver.render.scene_renderer import SceneRenderer, SceneState

log = logging.getLogger("vizserver.render")

CLOSE_TIMEOUT_S = 10.0
"""How long :meth:`RenderWorker.close` waits for a frame in progress to finish."""


@dataclass(frozen=True, slots=True)
class RenderRequest:
    """Draw ``state`` from ``camera`` (None: framed like the browser's first view) at ``width`` x ``height``, at
    ``detail`` (interactive while the camera moves)."""

    state: SceneState
    camera: ViewCamera | None
    width: int
    height: int
    serial: int
    detail: Detail = Detail.FULL


@dataclass(frozen=True, slots=True)
class RenderedFrame:
    """An ``(height, width, 3)`` RGB image of request ``serial``; ``render_s`` is what drawing it cost."""

    image: npt.NDArray[np.uint8]
    serial: int
    render_s: float
    finished: float
    """``time.monotonic()`` when it was ready."""
    detail: Detail = Detail.FULL
    triangles: int = 0
    """Surface triangles drawn (the levels of detail shown, at :attr:`Detail.INTERACTIVE`)."""
    load_s: float = 0.0
    """The part of ``render_s`` spent reading assets for the first time (0 when none was read)."""


class RenderWorker:
    """A thread drawing the newest :class:`RenderRequest`; ``make_renderer`` runs in that thread."""

    def __init__(
        self,
        make_renderer: Callable[[], SceneRenderer],
        on_frame: Callable[[RenderedFrame], None] | None = None,
        name: str = "render",
    ) -> None:
        self._make_renderer = make_renderer
        self._on_frame = on_frame
        self._wake = threading.Condition()
        self._pending: RenderRequest | None = None
        self._stopping = False
        self.latest: RenderedFrame | None = None
        self.error: str | None = None
        """The last failure, one line (the thread goes on with the next request)."""
        self.frames = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, request: RenderRequest) -> None:
        """Draw ``request`` next, replacing any request still waiting."""
        with self._wake:
            if self._stopping:
                return
            self._pending = request
            self._wake.notify()

    def stop(self) -> None:
        """Ask the thread to end after the frame in progress (does not wait); later requests are ignored."""
        with self._wake:
            self._stopping = True
            self._pending = None
            self._wake.notify()

    def join(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Wait until the thread has ended and freed its renderer (at most ``timeout`` seconds)."""
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("render thread %s did not stop within %.0f s", self._thread.name, timeout)

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Stop the thread and free the renderer (in its own thread); waits up to ``timeout`` seconds."""
        self.stop()
        self.join(timeout)

    def _next(self) -> RenderRequest | None:
        with self._wake:
            while self._pending is None and not self._stopping:
                self._wake.wait()
            request, self._pending = self._pending, None
            return None if self._stopping else request

    def _run(self) -> None:
        try:
            renderer = self._make_renderer()
        except Exception as exc:  # reported to the view; the thread ends, nothing to free
            self.error = f"renderer could not start: {type(exc).__name__}: {exc}"
            log.exception("render thread %s: renderer could not start", self._thread.name)
            return
        try:
            while (request := self._next()) is not None:
                self._draw(renderer, request)
        finally:
            renderer.close()

    def _draw(self, renderer: SceneRenderer, request: RenderRequest) -> None:
        start = time.monotonic()
        try:
            renderer.update(request.state, request.detail)
            camera = request.camera if request.camera is not None else renderer.fit_camera()
            image = renderer.render(camera, request.width, request.height)
        except Exception as exc:  # one bad frame (an unreadable asset) must not end the view
            message = f"{type(exc).__name__}: {exc}"
            if message != self.error:
                log.exception("render thread %s: frame %d failed", self._thread.name, request.serial)
            self.error = message
            return
        end = time.monotonic()
        frame = RenderedFrame(image, request.serial, end - start, end, request.detail, renderer.triangles_drawn,
                              renderer.load_s)
        self.latest = frame
        self.frames += 1
        if self._on_frame is not None:
            self._on_frame(frame)
