"""The server-rendered video view of a session (issue 8): an aiortc video track showing the session's scene
from the viewer's own camera, for thin clients and volume rendering.

The WebRTC transport (``transports/webrtc.py``) makes one :class:`VideoView` per peer connection that asks for
video (:func:`make_video_view`), adds :attr:`VideoView.track` to it, passes ``view_camera`` control messages to
:meth:`VideoView.set_camera` and the field frames the client's outbox produced to :meth:`VideoView.take_frame`
(instead of sending them), and calls :meth:`VideoView.close` when the peer goes.

Rendering runs in the view's own thread (``render/worker.py``), never on the event loop: a camera change or a
field frame submits a request (the newest replaces one not yet started); the track's ``recv`` paces at the
current frame rate and hands out the newest finished image. ``render/adaptation.py`` steps resolution, then
frame rate, down when a frame's render + encode time passes its budget, and back up when there is room.
While ``view_camera`` messages keep coming, large surfaces are drawn from coarser levels of detail
(``render/detail.py``); :data:`CAMERA_STILL_S` after the last one a full-detail render is submitted by a timer,
so the picture left on screen is full detail.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from vizserver.errors import LimitExceededError
from vizserver.model.volume import Volume
from vizserver.protocol.frames import FrameHeader
from vizserver.protocol.messages import ErrorCode, KeyframeRequest, ProtocolError
from vizserver.render.adaptation import Adapter, Level
from vizserver.render.camera import ViewCamera, parse_view_camera
from vizserver.render.detail import CAMERA_STILL_S, INTERACTIVE_TRIANGLES, CameraMotion, Detail
from vizserver.render.field_frames import FieldFrames
from vizserver.render.scene_renderer import SceneRenderer, SceneState
from vizserver.render.volumes import read_intensity_volume, volume_sources
from vizserver.render.worker import RenderedFrame, RenderRequest, RenderWorker
from vizserver.scenes.objects import StreamObject
from vizserver.sessions.annotations import Pin, Stroke
from vizserver.streaming.hub import SessionHub

log = logging.getLogger("vizserver.video")

DEFAULT_WIDTH = 1280
DEFAULT_HEIGHT = 720
DEFAULT_FPS = 30.0
MAX_VIDEO_SIDE = 3840
MAX_VIDEO_FPS = 60.0
MAX_VIDEO_VIEWS = 8
"""Video views open at once in this process: each holds a render thread and a GL context (~100 MB at 720p)."""
VIDEO_CLOCK_RATE = 90_000
"""RTP's video clock: frame timestamps are in 1/90000 s."""
FIRST_FRAME_TIMEOUT_S = 30.0
"""``recv`` gives up (MediaStreamError) when the renderer has produced nothing for this long since it started."""


def _volumes_of(scene_path: Path | None) -> Callable[[], Mapping[str, Volume]]:
    """Reads the scene's intensity volumes when called (in the render thread: reading is slow)."""

    def read_volumes() -> Mapping[str, Volume]:
        if scene_path is None:
            return {}
        found = {}
        for source in volume_sources(scene_path):
            volume = read_intensity_volume(source.path)
            if volume is not None:
                found[source.name] = volume
        return found

    return read_volumes


class VideoTrack(MediaStreamTrack):
    """The view's video: ``recv`` paces at the adapter's frame rate and returns the newest rendered frame."""

    kind = "video"

    def __init__(self, view: VideoView) -> None:
        super().__init__()
        self._view = view
        self._start: float | None = None
        self._due = 0.0
        self._returned_at: float | None = None
        self._sent_serial = 0
        self.frames_sent = 0

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        called = loop.time()
        # What the sender did between our last frame and this call is encoding it (and packetising).
        encode_s = called - self._returned_at if self._returned_at is not None else 0.0
        level = self._view.level
        if self._start is None:
            self._start = self._due = called
        else:
            # Paced at the level's rate, but a freshly rendered frame (a camera move) may go out up to half an
            # interval before its slot: it shows sooner, and the slots (so the rate) stay where they were.
            self._due = max(self._due + level.interval, called - level.interval)  # late: no burst to catch up
            early = self._due - level.interval / 2
            if early > called:
                await asyncio.sleep(early - called)
            await self._view.wait_fresh(self._sent_serial, self._due - loop.time())
        frame = await self._view.newest_frame()
        if self.readyState != "live":
            raise MediaStreamError
        # A frame sent again (nothing changed) cost its encode only: its render was counted when it was new. A render
        # that read assets (the scene; a level of detail on the first move) and drew them for the first time (GL
        # upload) is a one-off, several frames' worth: counted, it stepped the first window down.
        render_s = frame.render_s if frame.serial != self._sent_serial and frame.load_s == 0 else 0.0
        self._view.observe_cost(render_s + encode_s)
        video = av.VideoFrame.from_ndarray(frame.image, format="rgb24")
        video.pts = int((loop.time() - self._start) * VIDEO_CLOCK_RATE)
        video.time_base = Fraction(1, VIDEO_CLOCK_RATE)
        self._returned_at = loop.time()
        self._sent_serial = frame.serial
        self.frames_sent += 1
        return video


class VideoView:
    """One viewer's rendered view of session ``hub``; ``client_id`` is the viewer's client in the session (its
    subscriptions choose the fields shown). Make it on the event loop; every method is called from the loop."""

    _open: ClassVar[set[VideoView]] = set()

    def __init__(
        self,
        hub: SessionHub,
        client_id: str,
        *,
        asset_path: Callable[[str], Path | None],
        scene_path: Path | None = None,
        width: int = DEFAULT_WIDTH,
        height: int = DEFAULT_HEIGHT,
        fps: float = DEFAULT_FPS,
        camera: ViewCamera | None = None,
        interactive_triangles: int = INTERACTIVE_TRIANGLES,
        still_after_s: float = CAMERA_STILL_S,
    ) -> None:
        if not (0 < width <= MAX_VIDEO_SIDE and 0 < height <= MAX_VIDEO_SIDE and 0 < fps <= MAX_VIDEO_FPS):
            raise ValueError(f"video {width}x{height} at {fps} fps (sides up to {MAX_VIDEO_SIDE}, up to "
                             f"{MAX_VIDEO_FPS:g} fps)")
        if len(VideoView._open) >= MAX_VIDEO_VIEWS:
            raise LimitExceededError(f"{MAX_VIDEO_VIEWS} video views are open (MAX_VIDEO_VIEWS); try again later")
        self.hub = hub
        self.client_id = client_id
        self._loop = asyncio.get_running_loop()
        self._frames = FieldFrames()
        self._camera = camera
        self._adapter = Adapter(width, height, fps)
        self._motion = CameraMotion(still_after_s)
        self._still_timer: asyncio.TimerHandle | None = None
        self._serial = 0
        self._submitted: tuple[Any, ...] | None = None
        self._fresh = asyncio.Event()
        self._closing: asyncio.Future[None] | None = None
        read_volumes = _volumes_of(scene_path)
        self._worker = RenderWorker(
            lambda: SceneRenderer(asset_path, read_volumes(), width, height, interactive_triangles),
            on_frame=self._rendered,
            name=f"render {hub.session.id[:8]} {client_id[:8]}",
        )
        VideoView._open.add(self)
        self.track = VideoTrack(self)
        self.refresh()

    @classmethod
    def open_count(cls) -> int:
        """Views not yet closed (each holds a render thread)."""
        return len(cls._open)

    @property
    def level(self) -> Level:
        """The resolution and frame rate frames are made at now."""
        return self._adapter.level

    @property
    def camera(self) -> ViewCamera | None:
        return self._camera

    @property
    def detail(self) -> Detail:
        """The detail renders are made at now: interactive while the camera moves."""
        return self._motion.detail(self._loop.time())

    # --- what W1's transport feeds in ---

    def set_camera(self, message: Mapping[str, Any]) -> ViewCamera:
        """A ``view_camera`` message; raises ProtocolError ``bad_message`` (the transport answers ``error``)."""
        camera = parse_view_camera(message)
        self._camera = camera
        if not self._closed:
            self._motion.moved(self._loop.time())
            self._when_still()
        self.refresh()
        return camera

    def take_frame(self, data: bytes) -> None:
        """A field frame the viewer's outbox produced; a delta without its base asks the session for a keyframe."""
        try:
            self._frames.take(data)
        except ProtocolError as exc:
            if exc.code == ErrorCode.MISSING_BASE:
                header = FrameHeader.decode(data)  # decoded once already: cannot fail here
                self.hub.receive(self.client_id, KeyframeRequest(object=header.object, field=header.field))
            else:
                log.warning("video view %s: frame dropped: %s", self.client_id, exc)
            return
        self.refresh()

    def close(self) -> asyncio.Future[None]:
        """Stop the track and the render thread; the result completes once the thread has freed its renderer
        (awaiting it is optional: the thread ends either way). Idempotent."""
        if self._closing is None:
            VideoView._open.discard(self)
            if self._still_timer is not None:
                self._still_timer.cancel()
                self._still_timer = None
            self.track.stop()
            self._fresh.set()  # a recv waiting for a first frame wakes and ends
            self._worker.stop()
            self._closing = self._loop.run_in_executor(None, self._worker.join)
        return self._closing

    @property
    def _closed(self) -> bool:
        return self._closing is not None

    # --- rendering ---

    def _when_still(self) -> None:
        """(Re)arm the timer that submits the full-detail render once the camera has stopped."""
        if self._still_timer is not None:
            self._still_timer.cancel()
        self._still_timer = self._loop.call_later(self._motion.still_in(self._loop.time()), self._camera_still)

    def _camera_still(self) -> None:
        self._still_timer = None
        if self._closed:
            return
        if self._motion.still_in(self._loop.time()) > 0:  # the loop may run a timer a clock tick early
            self._when_still()
            return
        self.refresh()

    def refresh(self) -> None:
        """Submit a render if anything shown changed since the last request (camera, fields, scene, pins, size,
        detail)."""
        if self._closed:
            return
        state = self._capture()
        level = self._adapter.level
        detail = self.detail
        pins, strokes = state.pins, state.strokes
        signature = (state.objects, tuple(sorted(state.shown_fields.items(), key=_by_object)),
                     self._frames.version, pins, strokes, self._camera, level.width, level.height, detail)
        if signature == self._submitted:
            return
        self._submitted = signature
        self._serial += 1
        self._worker.submit(RenderRequest(state, self._camera, level.width, level.height, self._serial, detail))

    def _capture(self) -> SceneState:
        session = self.hub.session
        client = session.clients.get(self.client_id)
        subscribed = client.subscriptions if client is not None else {}
        shown = {o.id: _shown_field(o, subscribed.get(o.id)) for o in session.objects}
        items = session.annotations.list()
        pins = tuple(a for a in items if isinstance(a, Pin))
        strokes = tuple(a for a in items if isinstance(a, Stroke))
        return SceneState(session.objects, shown, dict(self._frames.latest), pins, strokes)

    def _rendered(self, frame: RenderedFrame) -> None:
        """From the render thread."""
        with contextlib.suppress(RuntimeError):  # the loop closed while a frame finished
            self._loop.call_soon_threadsafe(self._fresh.set)

    async def newest_frame(self) -> RenderedFrame:
        """The newest finished frame; waits for the first (MediaStreamError if the renderer cannot start)."""
        self.refresh()
        deadline = time.monotonic() + FIRST_FRAME_TIMEOUT_S
        while self._worker.latest is None:
            if self._closed or not self._worker.alive or time.monotonic() > deadline:
                raise MediaStreamError
            self._fresh.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._fresh.wait(), max(0.0, deadline - time.monotonic()))
        return self._worker.latest

    async def wait_fresh(self, after_serial: int, timeout: float) -> None:
        """Return once a frame newer than request ``after_serial`` is rendered, or after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not self._closed and ((latest := self._worker.latest) is None or latest.serial <= after_serial):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._fresh.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._fresh.wait(), remaining)

    async def wait_frame(self, after_serial: int, timeout: float) -> RenderedFrame:
        """The first frame rendered for a request newer than ``after_serial`` (tests and benchmarks)."""
        deadline = time.monotonic() + timeout
        while (latest := self._worker.latest) is None or latest.serial <= after_serial:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._closed:
                raise TimeoutError(f"no frame after request {after_serial} within {timeout} s")
            self._fresh.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._fresh.wait(), remaining)
        return latest

    @property
    def still_pending(self) -> bool:
        """A full-detail render is due once the camera stays still (a timer is armed)."""
        return self._still_timer is not None

    @property
    def serial(self) -> int:
        """Number of the newest render request submitted."""
        return self._serial

    @property
    def render_error(self) -> str | None:
        return self._worker.error

    def observe_cost(self, cost_s: float) -> None:
        before = self._adapter.level
        after = self._adapter.observe(cost_s)
        if after != before:
            log.info("video view %s: %dx%d at %.0f fps", self.client_id, after.width, after.height, after.fps)
            self.refresh()


def _shown_field(obj: StreamObject, subscribed: int | None) -> int | None:
    """The field a browser client with this subscription colours ``obj`` by: the streamed field it subscribed to,
    else the object's default field when that one is static (drawn from the GLB, never subscribed to)."""
    if subscribed is not None:
        return subscribed
    default = obj.field(obj.active_field) if obj.active_field is not None else None
    return default.id if default is not None and not default.streamed else None


def _by_object(item: tuple[int, int | None]) -> int:
    return item[0]


def make_video_view(
    hub: SessionHub,
    client_id: str,
    *,
    asset_path: Callable[[str], Path | None],
    scene_path: Path | None = None,
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
    fps: float = DEFAULT_FPS,
) -> VideoView:
    """A :class:`VideoView` (raises LimitExceededError at ``MAX_VIDEO_VIEWS``, ValueError for a bad size)."""
    return VideoView(hub, client_id, asset_path=asset_path, scene_path=scene_path, width=width, height=height,
                     fps=fps)
