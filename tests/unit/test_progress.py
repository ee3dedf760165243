from __future__ import annotations

import io

from rich.console import Console

from vizserver.cli.progress import DelayedProgress


def _console(buffer: io.StringIO) -> Console:
    return Console(file=buffer, force_terminal=True, width=80)


def test_quick_work_shows_no_progress_bar() -> None:
    buffer = io.StringIO()
    with DelayedProgress(after_s=3600.0, console=_console(buffer)) as progress:
        progress.update("reading heart.vtu", 0.5)
        progress.update("encoding", 1.0)
    assert not progress.shown.is_set()
    assert buffer.getvalue() == ""


def test_long_work_shows_stage_and_percentage() -> None:
    buffer = io.StringIO()
    with DelayedProgress(after_s=3600.0, console=_console(buffer)) as progress:
        progress.update("reading heart.vtu", 0.25)
        progress.show()
        progress.update("reading heart.vtu", 0.25)
    assert progress.shown.is_set()
    assert "reading heart.vtu" in buffer.getvalue()
    assert "25%" in buffer.getvalue()


def test_the_bar_appears_during_one_long_stage_without_updates() -> None:
    buffer = io.StringIO()
    with DelayedProgress(after_s=0.05, console=_console(buffer)) as progress:
        progress.update("reading big.vtu", 0.0)
        assert progress.shown.wait(10.0)
    assert "reading big.vtu" in buffer.getvalue()
