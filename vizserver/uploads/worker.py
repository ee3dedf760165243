"""What runs in an upload worker process: read a stored upload and build its objects into the cache.

The worker writes GLB assets and tables straight into the shared content-addressed cache (atomic
renames make that safe) and returns the objects' descriptions; progress goes back through the
queue the pool was initialised with. Errors the user can act on come back as their one-line text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.queues import Queue
from pathlib import Path, PurePosixPath

from vizserver.config import SETTINGS_PREFIX
from vizserver.errors import VizServerError
from vizserver.lifeline import end_with
from vizserver.scenes.build import ObjectStyle, build_objects, read_upload
from vizserver.scenes.cache import AssetStore
from vizserver.scenes.objects import StreamObject

_progress: Queue[tuple[str, float]] | None = None


@dataclass(frozen=True, slots=True)
class Converted:
    objects: tuple[StreamObject, ...]


@dataclass(frozen=True, slots=True)
class Failed:
    error: str


def init_worker(progress: Queue[tuple[str, float]], settings: dict[str, str], lifeline: Connection) -> None:
    """Pool initializer: the progress queue, the server's ``VIZSERVER_*`` limits (not the forkserver's), and
    the server's lifeline: the worker ends with the server (:mod:`vizserver.lifeline`)."""
    global _progress
    end_with(lifeline)
    _progress = progress
    for key in [k for k in os.environ if k.startswith(SETTINGS_PREFIX)]:
        del os.environ[key]
    os.environ.update(settings)


def convert_upload(upload_id: str, path: str, name: str, cache_dir: str) -> Converted | Failed:
    def report(_stage: str, fraction: float) -> None:
        if _progress is not None:
            _progress.put((upload_id, min(max(fraction, 0.0), 1.0)))

    try:
        report("reading", 0.05)
        loaded = read_upload(Path(path))
        style = ObjectStyle(name=PurePosixPath(name).stem or name, first_field_by_default=True)
        objects, _ = build_objects(loaded, style, AssetStore(Path(cache_dir)), 0, report)
    except VizServerError as exc:  # readers name the stored file; the user knows it by their own name
        return Failed(str(exc).replace(Path(path).name, name))
    except MemoryError:
        return Failed(f"{name}: converting it needs more memory than this server has")
    if not objects:
        return Failed(f"{name}: nothing to show in this file")
    report("done", 1.0)
    return Converted(tuple(objects))
