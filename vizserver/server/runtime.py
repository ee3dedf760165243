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
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket

from vizserver.errors import VizServerError
from vizserver.io.glb_decode import read_glb_file
from vizserver.protocol.messages import CloseCode, UploadStatus
from vizserver.protocol.outbox import Outbox
from vizserver.scale.redis_link import RedisLink
from vizserver.scale.redis_store import RedisSessionSaver
from vizserver.scale.scale_out import ScaleOut
from vizserver.scale.twin_jobs import RedisTwinHost
from vizserver.scenefile import TourSpec, TwinSpec, load_scene_file, object_path
from vizserver.scenes.build import SceneBuild, load_or_build
from vizserver.scenes.cache import AssetStore
from vizserver.scenes.objects import BuiltScene, StreamObject
from vizserver.server.saving import SessionSaving
from vizserver.server.settings import SESSION_IDLE_TTL_S, ServerSettings
from vizserver.server.store import SavedRow, SessionSaver, StoreError
from vizserver.sessions.registry import Created, SessionRegistry
from vizserver.sessions.session import Session
from vizserver.sessions.snapshot import SessionSnapshot, SnapshotError, capture, decode, restore, restore_tour
from vizserver.sessions.tours import Tour, TourState
from vizserver.streaming.hub import ClientHub, SessionHub
from vizserver.streaming.metrics import Counters
from vizserver.streaming.series import SeriesLoader
from vizserver.streaming.twin import TwinController
from vizserver.twins.base import ParameterError, ParamValue
from vizserver.twins.recipes import TwinRecipe
from vizserver.twins.remote import RemoteTwinLink
from vizserver.twins.runner import LocalTwinRunner, TwinEvent, TwinHost
from vizserver.uploads.manager import UploadManager
from vizserver.uploads.target import UploadTarget
from vizserver.uploads.worker import Converted, Failed

UploadStage = Literal["received", "converting", "done", "failed"]

log = logging.getLogger("vizserver.server")

CLOSE_NO_REMOTE_TWIN = 4009
"""Close code for a twin worker the session cannot take."""

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
        self.twins: dict[Path, TwinSpec | None] = {}
        """The twin each served scene file asks for."""
        self.tours: dict[Path, TourSpec | None] = {}
        """The guided tour of each served scene file."""
        self.remote_twins: dict[str, tuple[StreamObject, TwinSpec]] = {}
        """Sessions waiting for (or served by) a remote twin worker: the object it draws on and the scene's spec."""
        self.default_session_id = ""
        self.scene_paths: dict[str, Path] = {}
        """The scene file each session shows."""
        self.saver: SessionSaving | None = None
        """Saves sessions to the store file, or to Redis with ``--redis`` (``None``: memory only)."""
        self.restored_twin_params: dict[str, dict[str, ParamValue]] = {}
        """Restored sessions whose twin has not started yet: the parameters it gets once it has."""
        self.redis = RedisLink(settings.redis_url) if settings.redis_url else None
        """This process's Redis connection with ``--redis`` (docs/architecture.md "Scale-out"), else ``None``."""
        self.scale = ScaleOut(self) if self.redis is not None else None
        """With ``--redis``: the sessions this process owns, and those it is an edge for."""
        self.last_build = prebuilt
        if prebuilt is not None:
            self.scenes[settings.scene] = prebuilt.scene
            spec = load_scene_file(settings.scene)
            self.twins[settings.scene], self.tours[settings.scene] = spec.twin, spec.tour
            self.loader.add(prebuilt.series)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._scene_lock = asyncio.Lock()

    async def start(self) -> None:
        if self.redis is not None:
            await self.redis.start()
        scene = await self.scene(self.settings.scene)
        await self._open_store()
        if self.scale is not None:  # sessions are restored when asked for, by the process that takes the lease
            default_id = await self.scale.start(lambda: self._create_default(scene).session.id)
            if default_id is not None:
                self.default_session_id = default_id
                self.uploads.start()
                return
        restored_default = await self._restore_sessions()
        if restored_default is not None:
            self.default_session_id = restored_default.id
            log.info("default session %s restored (links to it keep working)", restored_default.id)
            if restored_default.id in self.remote_twins:
                print(f"vizserver: the scene's twin is remote; the twin-worker command printed when session "
                      f"{restored_default.id} was made still works (its host token is unchanged)", flush=True)
            self.uploads.start()
            return
        created = self._create_default(scene)
        if created.session.id in self.remote_twins:  # only the operator can know this session's host token
            base = self.settings.url.replace("http", "ws", 1) if self.settings.port else "ws://HOST:PORT"
            url = f"{base}/ws/twin/{created.session.id}"
            print(f"vizserver: the scene's twin is remote; run: vizserver twin-worker --connect "
                  f"'{url}?token={created.host.token}' --twin module:attr", flush=True)
        self.uploads.start()

    def _create_default(self, scene: BuiltScene) -> Created:
        created = self.create_session(scene, self.twins.get(self.settings.scene), self.settings.scene, open_to_all=True)
        self.default_session_id = created.session.id
        self._changed(created.session.id)
        return created

    async def find_hub(self, session_id: str) -> ClientHub | None:
        """The hub serving ``session_id`` here; with ``--redis`` also a session another process owns (an edge)."""
        hub = self.hubs.get(session_id)
        if hub is None and self.scale is not None:
            return await self.scale.hub_for(session_id)
        return hub

    async def stop(self) -> None:
        if self.saver is not None:
            await self.saver.close(list(self.hubs))
        for hub in list(self.hubs.values()):
            await hub.stop()
        if self.scale is not None:
            await self.scale.stop()
        for task in list(self._tasks):
            task.cancel()
        self.uploads.close()
        if self.redis is not None:
            await self.redis.close()

    async def scene(self, path: Path) -> BuiltScene:
        """The built scene of ``path``: built once per server (in a thread), from the disk cache if it can."""
        async with self._scene_lock:
            hit = self.scenes.get(path)
            if hit is not None:
                return hit
            started = time.perf_counter()
            build = await asyncio.to_thread(load_or_build, path, self.store, _progress_logger(path.name))
            spec = await asyncio.to_thread(load_scene_file, path)
            self.twins[path], self.tours[path] = spec.twin, spec.tour
            self.loader.add(build.series)
            self.scenes[path] = build.scene
            self.last_build = build
            how = "loaded from the cache" if build.from_cache else "converted"
            log.info("%s: %s in %.2f s", path.name, how, time.perf_counter() - started)
            return build.scene

    def create_session(
        self, scene: BuiltScene, twin: TwinSpec | None = None, scene_path: Path | None = None, open_to_all: bool = False
    ) -> Created:
        """A new session on ``scene``; with ``twin``, its own live twin starts in the background.

        ``open_to_all``: participants have the presenter's rights (the default session, docs/protocol.md "Roles").
        """
        now = time.monotonic()
        for gone in self.registry.prune(now, keep=self.default_session_id):
            hub = self.hubs.pop(gone)
            self.spawn(hub.stop())
            self._changed(gone)  # its row is deleted
        created = self.registry.create(scene, now, open_to_all)
        self._open_hub(created.session, scene, twin, scene_path or self.settings.scene)
        self._changed(created.session.id)
        return created

    def _open_hub(self, session: Session, scene: BuiltScene, twin: TwinSpec | None, scene_path: Path) -> SessionHub:
        """The hub of a new or restored session: its tour, streaming, saved when it changes, its twin starting."""
        tour = self.tours.get(scene_path)
        if tour is not None:
            session.tour = TourState(Tour.of_spec(tour, twin.parameters if twin is not None else None))
        hub = SessionHub(session, self.loader, self.counters)
        hub.start()
        self.hubs[session.id] = hub
        if self.scale is not None:
            self.scale.opened(hub)
        self.scene_paths[session.id] = scene_path
        hub.on_change = lambda: self._changed(session.id)
        if twin is not None:
            self._attach_twin(session.id, hub, scene, twin, scene_path)
        return hub

    # --- persistence (docs/architecture.md "Persistence") ---

    async def _open_store(self) -> None:
        if self.redis is not None:  # shared by every server process: the --store file is not used
            saver = RedisSessionSaver(self.redis, self._snapshot)
            self.saver = saver
            log.info("sessions are saved to %s", saver.where)
            return
        path = self.settings.store_path
        if path is None:
            log.info("sessions are kept in memory only (no store)")
            return
        try:
            self.saver = await SessionSaver.open(path, self._snapshot)
        except StoreError as exc:
            log.error("%s; sessions are kept in memory only this run", exc)
            return
        log.info("sessions are saved to %s", path)

    def saved_soon(self, session_id: str) -> None:
        """Session ``session_id`` changed outside its hub (a member joined over HTTP): save it soon."""
        self._changed(session_id)

    def _changed(self, session_id: str) -> None:
        if self.saver is not None:
            self.saver.changed(session_id)

    def _snapshot(self, session_id: str) -> SessionSnapshot | None:
        session = self.registry.get(session_id)
        path = self.scene_paths.get(session_id)
        if session is None or path is None:
            return None
        hub = self.hubs.get(session_id)
        steering = hub.twin.steering if hub is not None and hub.twin is not None else None
        params = steering.params if steering is not None else self.restored_twin_params.get(session_id)
        return capture(session, scene_path=str(path), default=session_id == self.default_session_id,
                       now=time.monotonic(), wall=time.time(), twin_params=params,
                       active_at=self.registry.active_at(session_id))

    async def _restore_sessions(self) -> Session | None:
        """Bring back the saved sessions on scenes of the served scene's folder; the default session, if saved."""
        if self.saver is None:
            return None
        served = self.settings.scene
        wall = time.time()
        snapshots: list[SessionSnapshot] = []
        stale: list[str] = []
        for row in await self.saver.rows():
            snapshot = _readable(row)
            if snapshot is None:
                continue
            path = Path(snapshot.scene_path)
            if (snapshot.default and path != served) or (not snapshot.default and path.parent != served.parent):
                continue  # another scene's server's: left for it
            if not snapshot.default and wall - snapshot.last_active > SESSION_IDLE_TTL_S:
                stale.append(snapshot.id)
            elif not path.is_file():
                log.warning("saved session %s: its scene %s is gone; not restored", snapshot.id, path)
            else:
                snapshots.append(snapshot)
        defaults = [s for s in snapshots if s.default]
        stale += [s.id for s in defaults[:-1]]  # rows are oldest first: the newest default session wins
        if stale:
            await self.saver.delete(stale)
        default: Session | None = None
        for snapshot in snapshots:
            if snapshot.id in stale:
                continue
            session = await self._restore(snapshot)
            if session is not None and snapshot.default:
                default = session
        return default

    async def _restore(self, snapshot: SessionSnapshot) -> Session | None:
        path = Path(snapshot.scene_path)
        try:
            scene = await self.scene(path)
            wall, now = time.time(), time.monotonic()
            session, notes = restore(snapshot, scene, now, wall)
            self.registry.adopt(session, active_at=snapshot.last_active + now - wall)
        except VizServerError as exc:
            log.warning("saved session %s: not restored: %s", snapshot.id, exc)
            return None
        for note in notes:
            log.warning("saved session %s: %s", snapshot.id, note)
        if snapshot.twin_params:
            self.restored_twin_params[session.id] = dict(snapshot.twin_params)
        self._open_hub(session, scene, self.twins.get(path), path)
        if session.tour is not None and snapshot.tour is not None:
            restore_tour(session.tour, snapshot.tour)
        log.info("session %s restored (%d members, %d annotations)", session.id, len(session.roster),
                 len(session.annotations.items))
        return session

    async def _start_twin(self, session_id: str, controller: TwinController) -> None:
        """Start a twin; a restored session's twin then takes the parameters it had when it was saved."""
        await controller.start()
        steering, host = controller.steering, controller.host
        if steering is None or host is None:
            return  # it did not start: the saved parameters stay saved
        saved = self.restored_twin_params.pop(session_id, None)
        if not saved:
            return
        known = {p.name for p in steering.schema.parameters}
        try:
            values = steering.schema.validate({k: v for k, v in saved.items() if k in known})
        except ParameterError as exc:
            log.warning("session %s: saved twin parameters not applied: %s", session_id, exc)
            return
        steering.params.update(values)
        host.set_params(values, 0)
        hub = self.hubs.get(session_id)
        if hub is not None:
            hub.broadcast(controller.status())

    # --- twins ---

    def _attach_twin(self, session_id: str, hub: SessionHub, scene: BuiltScene, spec: TwinSpec,
                     scene_path: Path) -> None:
        """Give ``hub`` a twin hosted in a worker process; it starts in the background (clients see "starting").

        A ``remote`` twin waits for a ``vizserver twin-worker`` to connect (:meth:`serve_remote_twin`).
        """
        obj = next((o for o in scene.objects if o.name == spec.object or o.name.startswith(f"{spec.object}/")), None)
        if obj is None:
            log.error("%s: twin object %r is not in the scene", scene_path.name, spec.object)
            return
        if spec.kind == "remote":
            url = f"{self.settings.url.replace('http', 'ws', 1)}/ws/twin/{session_id}?token=***"
            hub.twin = TwinController(hub, obj.id, _no_host, spec.parameters, spec.colormap,
                                      message="waiting for a twin worker to connect")
            self.remote_twins[session_id] = (obj, spec)
            log.info("session %s waits for a remote twin: vizserver twin-worker --connect '%s' --twin module:attr "
                     "(token: the session's host token)", session_id, url)
            return
        options = dict(spec.options)
        path_option = {"replay": "path", "cardiac": "mesh"}.get(spec.kind)  # defaults to the object's file
        if path_option is not None and path_option not in options:
            obj_spec = next((o for o in load_scene_file(scene_path).objects if o.name == spec.object), None)
            source = object_path(scene_path, obj_spec) if obj_spec is not None else None
            if source is not None:
                options[path_option] = str(source)
        recipe = TwinRecipe(kind=spec.kind, options=options, params=dict(spec.parameters))
        asset = self.store.glb_path(obj.asset)
        settings = self.settings
        running = sum(1 for h in self.hubs.values() if h.twin is not None and h.twin.status().state != "failed")

        redis = self.redis

        async def make_host(on_event: Callable[[TwinEvent], None]) -> TwinHost:
            if redis is None and running >= settings.max_live_twins:
                raise VizServerError(f"this server already runs {settings.max_live_twins} live twins; "
                                     "close a session or raise VIZSERVER_MAX_LIVE_TWINS")
            if asset is None:
                raise VizServerError(f"{obj.name}: its geometry is missing from the cache")
            targets = await asyncio.to_thread(_vertex_positions, asset)
            if redis is not None:  # a `vizserver worker` runs it (docs/twins.md "Twin workers over Redis")
                return RedisTwinHost(redis, session_id, recipe, targets, on_event, settings.twin_frame_interval_s)
            return LocalTwinRunner(recipe, targets, on_event, frame_interval_s=settings.twin_frame_interval_s)

        hub.twin = TwinController(hub, obj.id, make_host, spec.parameters, spec.colormap)
        self.spawn(self._start_twin(session_id, hub.twin))

    def bound(self, url: str) -> None:
        """The server listens at ``url`` now (with its real port when any free one was asked for): other
        processes list it to clients under that address, unless ``--public-url`` names another."""
        if self.scale is not None and self.settings.public_url is None:
            self.scale.node.advertise(url)

    def outboxes(self) -> list[Outbox]:
        """The outboxes of the clients connected to this process: those of the sessions it owns (not the clients
        of other processes it relays to) and, with ``--redis``, those of sessions it is an edge for."""
        local = [link.outbox for hub in self.hubs.values() for link in hub.links.values() if link.relays_presence]
        if self.scale is not None:
            local += [link.outbox for edge in self.scale.edges.values() for link in edge.links.values()]
        return local

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- uploads ---

    def new_upload_path(self, suffix: str) -> tuple[str, Path]:
        upload_id = uuid.uuid4().hex
        return upload_id, self.upload_dir / f"{upload_id}{suffix}"

    async def convert_upload(self, target: UploadTarget, upload_id: str, path: Path, name: str) -> None:
        """Convert in a worker; everyone in the session hears the progress, then sees the objects or the error.
        ``target``: the session's hub here, or its owner in another process (``scale/shared_assets.py``)."""

        def status(stage: UploadStage, fraction: float, error: str | None = None) -> None:
            target.upload_status(UploadStatus(upload_id=upload_id, name=name, stage=stage, fraction=fraction,
                                              error=error))

        status("converting", 0.0)
        try:
            result = await self.uploads.convert(upload_id, path, name, lambda f: status("converting", f))
        except Exception as exc:  # a server bug, not the file: the upload fails visibly, the server goes on
            log.exception("upload %s (%s): conversion raised", upload_id, name)
            result = Failed(f"{name}: conversion failed on the server ({type(exc).__name__})")
        if isinstance(result, Converted):
            refused = await target.hand_over(result.objects)
            result = Failed(refused) if refused is not None else result
        if isinstance(result, Converted):
            self.counters.upload("done")
            status("done", 1.0)
            log.info("upload %s (%s): %d object(s) added", upload_id, name, len(result.objects))
            return
        self.counters.upload("failed")
        status("failed", 1.0, result.error)
        log.info("upload %s (%s) failed: %s", upload_id, name, result.error)
        path.unlink(missing_ok=True)


    async def serve_remote_twin(self, ws: WebSocket, session_id: str, token: str | None) -> None:
        """A ``vizserver twin-worker`` connected: it becomes the session's twin until it disconnects."""
        await ws.accept()
        hub = self.hubs.get(session_id)
        member = hub.session.member(token) if hub is not None else None
        if hub is None or member is None or member.role != "host":
            await ws.close(int(CloseCode.UNKNOWN_SESSION), "unknown session or not the session's host token")
            return
        slot = self.remote_twins.get(session_id)
        if slot is None:
            await ws.close(CLOSE_NO_REMOTE_TWIN, "this session's scene has no remote twin (twin: kind: remote)")
            return
        if hub.twin is not None and hub.twin.host is not None and hub.twin.status().state != "failed":
            await ws.close(CLOSE_NO_REMOTE_TWIN, "a twin worker is already connected to this session")
            return
        obj, spec = slot
        asset = self.store.glb_path(obj.asset)
        if asset is None:
            await ws.close(CLOSE_NO_REMOTE_TWIN, f"{obj.name}: its geometry is missing from the cache")
            return
        targets = await asyncio.to_thread(_vertex_positions, asset)
        link: RemoteTwinLink | None = None

        async def use_link(on_event: Callable[[TwinEvent], None]) -> TwinHost:
            assert link is not None
            return link

        controller = TwinController(hub, obj.id, use_link, spec.parameters, spec.colormap)
        link = RemoteTwinLink(ws, targets, controller.on_event)
        hub.twin = controller
        hub.broadcast(controller.status())
        starting = asyncio.create_task(self._start_twin(session_id, controller))
        try:
            await link.run()
        finally:
            await starting


def _readable(row: SavedRow) -> SessionSnapshot | None:
    """The snapshot in a saved row; a row that cannot be read is left in the store and said once."""
    try:
        snapshot = decode(row.text)
    except SnapshotError as exc:
        log.warning("session store: row %s skipped: %s", row.session_id, exc)
        return None
    if snapshot.id != row.session_id:
        log.warning("session store: row %s skipped: it holds session %s", row.session_id, snapshot.id)
        return None
    return snapshot


async def _no_host(_on_event: Callable[[TwinEvent], None]) -> TwinHost:
    raise VizServerError("no twin worker has connected")


def _vertex_positions(asset: Path) -> npt.NDArray[np.float32]:
    """The vertices of an object's GLB in its vertex order: where a twin's outputs go."""
    meshes = list(read_glb_file(asset).meshes.values())
    return np.ascontiguousarray(np.concatenate([m.positions for m in meshes]), dtype=np.float32)


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
