"""Everything one running server holds: the cache, the sessions and their hubs, uploads, counters.

Routes reach it as ``request.app.state.runtime``. :meth:`ServerRuntime.start` builds (or loads
from the cache) the served scene and opens the default session on it; :meth:`stop` closes every
client with 1001 and stops the upload workers.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Literal

from starlette.requests import HTTPConnection

from vizserver.protocol.messages import UploadStatus
from vizserver.protocol.outbox import Outbox
from vizserver.scenes.build import SceneBuild, load_or_build
from vizserver.scenes.cache import AssetStore
from vizserver.scenes.objects import BuiltScene
from vizserver.server.settings import ServerSettings
from vizserver.sessions.registry import Created, SessionRegistry
from vizserver.streaming.hub import SessionHub
from vizserver.streaming.metrics import Counters
from vizserver.streaming.series import SeriesLoader
from vizserver.uploads.manager import UploadManager
from vizserver.uploads.worker import Converted, Failed

UploadStage = Literal["received", "converting", "done", "failed"]

log = logging.getLogger("vizserver.server")

PROGRESS_LOG_STEP = 0.25
"""Scene building logs its progress every quarter."""


class ServerRuntime:
    def __init__(self, settings: ServerSettings, prebuilt: SceneBuild | None = None) -> None:
        self.settings = settings
        self.store = AssetStore(settings.cache_dir)
        self.upload_dir = settings.cache_dir / "uploads"
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        self.registry = SessionRegistry()
        self.hubs: dict[str, SessionHub] = {}
        self.counters = Counters()
        self.loader = SeriesLoader(self.store)
        self.uploads = UploadManager(settings.cache_dir, settings.upload_workers)
        self.scenes: dict[Path, BuiltScene] = {}
        self.default_session_id = ""
        self.last_build = prebuilt
        if prebuilt is not None:
            self.scenes[settings.scene] = prebuilt.scene
            self.loader.add(prebuilt.series)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._scene_lock = asyncio.Lock()

    async def start(self) -> None:
        scene = await self.scene(self.settings.scene)
        self.default_session_id = self.create_session(scene).session.id
        self.uploads.start()

    async def stop(self) -> None:
        for hub in list(self.hubs.values()):
            await hub.stop()
        for task in list(self._tasks):
            task.cancel()
        self.uploads.close()

    async def scene(self, path: Path) -> BuiltScene:
        """The built scene of ``path``: built once per server (in a thread), from the disk cache if it can."""
        async with self._scene_lock:
            hit = self.scenes.get(path)
            if hit is not None:
                return hit
            started = time.perf_counter()
            build = await asyncio.to_thread(load_or_build, path, self.store, _progress_logger(path.name))
            self.loader.add(build.series)
            self.scenes[path] = build.scene
            self.last_build = build
            how = "loaded from the cache" if build.from_cache else "converted"
            log.info("%s: %s in %.2f s", path.name, how, time.perf_counter() - started)
            return build.scene

    def create_session(self, scene: BuiltScene) -> Created:
        now = time.monotonic()
        for gone in self.registry.prune(now, keep=self.default_session_id):
            hub = self.hubs.pop(gone)
            self.spawn(hub.stop())
        created = self.registry.create(scene, now)
        hub = SessionHub(created.session, self.loader, self.counters)
        hub.start()
        self.hubs[created.session.id] = hub
        return created

    def outboxes(self) -> list[Outbox]:
        return [link.outbox for hub in self.hubs.values() for link in hub.links.values()]

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- uploads ---

    def new_upload_path(self, suffix: str) -> tuple[str, Path]:
        upload_id = uuid.uuid4().hex
        return upload_id, self.upload_dir / f"{upload_id}{suffix}"

    async def convert_upload(self, hub: SessionHub, upload_id: str, path: Path, name: str) -> None:
        """Convert in a worker; everyone in the session hears the progress, then sees the objects or the error."""

        def status(stage: UploadStage, fraction: float, error: str | None = None) -> None:
            hub.upload_status(UploadStatus(upload_id=upload_id, name=name, stage=stage, fraction=fraction, error=error))

        status("converting", 0.0)
        try:
            result = await self.uploads.convert(upload_id, path, name, lambda f: status("converting", f))
        except Exception as exc:  # a server bug, not the file: the upload fails visibly, the server goes on
            log.exception("upload %s (%s): conversion raised", upload_id, name)
            result = Failed(f"{name}: conversion failed on the server ({type(exc).__name__})")
        if isinstance(result, Converted):
            hub.add_objects(result.objects)
            self.counters.upload("done")
            status("done", 1.0)
            log.info("upload %s (%s): %d object(s) added", upload_id, name, len(result.objects))
            return
        self.counters.upload("failed")
        status("failed", 1.0, result.error)
        log.info("upload %s (%s) failed: %s", upload_id, name, result.error)
        path.unlink(missing_ok=True)


def _progress_logger(name: str) -> Any:
    last = [-1.0]

    def report(stage: str, fraction: float) -> None:
        if fraction - last[0] >= PROGRESS_LOG_STEP or fraction >= 1.0:
            last[0] = fraction
            log.info("%s: %s (%d%%)", name, stage, round(fraction * 100))

    return report


def runtime_of(connection: HTTPConnection) -> ServerRuntime:
    """The runtime of the app serving ``connection`` (a request or a WebSocket)."""
    runtime = connection.app.state.runtime
    assert isinstance(runtime, ServerRuntime)
    return runtime
