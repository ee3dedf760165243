"""Converting uploads in a worker process pool, with progress, off the event loop.

One :class:`concurrent.futures.ProcessPoolExecutor` on the ``forkserver`` context (the same
forkserver the isolated readers use, which has the readers preloaded). Workers report progress
through a queue that a small thread forwards to the event loop. A worker that dies makes that
upload fail with a clear message and the pool is rebuilt for the next one.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from vizserver.config import SETTINGS_PREFIX
from vizserver.io.isolation import main_script_hidden
from vizserver.uploads.worker import Converted, Failed, convert_upload, init_worker

log = logging.getLogger("vizserver.uploads")

ProgressListener = Callable[[float], None]


class UploadManager:
    """Start with :meth:`start` (on the event loop), :meth:`convert` per upload, :meth:`close` at shutdown."""

    def __init__(self, cache_dir: Path, workers: int) -> None:
        self._cache_dir = cache_dir
        self._workers = workers
        self._context = multiprocessing.get_context("forkserver")
        self._queue: multiprocessing.Queue[tuple[str, float] | None] = self._context.Queue()
        self._lifeline, self._lifeline_held = self._context.Pipe(duplex=False)  # only this process holds the 2nd
        self._pool: ProcessPoolExecutor | None = None
        self._listeners: dict[str, ProgressListener] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._pump, name="upload progress", daemon=True)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread.start()

    def _make_pool(self) -> ProcessPoolExecutor:
        settings = {k: v for k, v in os.environ.items() if k.startswith(SETTINGS_PREFIX)}
        initializer: Callable[..., None] = init_worker
        initargs: Any = (self._queue, settings, self._lifeline)
        return ProcessPoolExecutor(
            max_workers=self._workers, mp_context=self._context, initializer=initializer, initargs=initargs
        )

    async def convert(self, upload_id: str, path: Path, name: str, on_progress: ProgressListener) -> Converted | Failed:
        """Convert the stored upload at ``path`` in a worker; progress fractions go to ``on_progress``."""
        self._listeners[upload_id] = on_progress
        try:
            if self._pool is None:
                self._pool = self._make_pool()
            with main_script_hidden():  # workers must not re-run `python -m vizserver`
                future = self._pool.submit(convert_upload, upload_id, str(path), name, str(self._cache_dir))
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            log.error("%s: the conversion worker died; starting a new one", name)
            self._pool = None
            return Failed(f"{name}: the conversion worker stopped unexpectedly (the file may be too large or corrupt)")
        finally:
            self._listeners.pop(upload_id, None)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self._lifeline_held.close()  # a conversion still running ends now
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=2.0)

    def _pump(self) -> None:
        """Forward progress from the workers' queue to the listeners, on the event loop."""
        while True:
            item = self._queue.get()
            if item is None or self._loop is None:
                return
            upload_id, fraction = item
            try:
                self._loop.call_soon_threadsafe(self._deliver, upload_id, fraction)
            except RuntimeError:  # the loop is closed: the server is stopping
                return

    def _deliver(self, upload_id: str, fraction: float) -> None:
        listener = self._listeners.get(upload_id)
        if listener is not None:
            listener(fraction)
