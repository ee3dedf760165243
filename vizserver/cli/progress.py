"""A progress bar on stderr that appears only once work has run longer than PROGRESS_AFTER_S.

Short conversions print nothing extra; long ones show the stage and a bar, like ParaView's status bar.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from vizserver.config import PROGRESS_AFTER_S


class DelayedProgress:
    """Use as a context manager; pass :meth:`update` as a pipeline progress callback."""

    def __init__(self, *, after_s: float = PROGRESS_AFTER_S, console: Console | None = None) -> None:
        self._after_s = after_s
        self._console = console or Console(stderr=True)
        self._start = time.monotonic()
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self.shown = False

    def update(self, stage: str, fraction: float) -> None:
        if self._progress is None:
            if time.monotonic() - self._start < self._after_s:
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
            self._task = self._progress.add_task(stage, total=1.0)
            self.shown = True
        assert self._task is not None
        self._progress.update(self._task, description=stage, completed=min(max(fraction, 0.0), 1.0))

    def __enter__(self) -> DelayedProgress:
        self._start = time.monotonic()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
