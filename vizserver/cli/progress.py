"""A progress bar on stderr that appears only once work has run longer than PROGRESS_AFTER_S.

Short conversions print nothing extra; long ones show the current stage and a bar, like ParaView's
status bar. A timer shows the bar even while one long stage (reading a big file) sends no updates.
"""

from __future__ import annotations

import threading
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from vizserver.config import PROGRESS_AFTER_S


class DelayedProgress:
    """Use as a context manager; pass :meth:`update` as a pipeline progress callback."""

    def __init__(self, *, after_s: float = PROGRESS_AFTER_S, console: Console | None = None) -> None:
        self._after_s = after_s
        self._console = console or Console(stderr=True)
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._stage = "working"
        self._fraction = 0.0
        self._closed = False
        self.shown = threading.Event()

    def update(self, stage: str, fraction: float) -> None:
        with self._lock:
            self._stage, self._fraction = stage, min(max(fraction, 0.0), 1.0)
            if self._progress is not None and self._task is not None:
                self._progress.update(self._task, description=stage, completed=self._fraction)

    def show(self) -> None:
        """Start drawing the bar (the timer calls this after ``after_s``)."""
        with self._lock:
            if self._progress is not None or self._closed:
                return
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeElapsedColumn(),
                console=self._console,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self._stage, total=1.0)
            self._progress.update(self._task, completed=self._fraction)
            self.shown.set()

    def __enter__(self) -> DelayedProgress:
        self._timer = threading.Timer(self._after_s, self.show)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self._closed = True
            if self._progress is not None:
                self._progress.stop()
