"""``vizserver worker --redis URL [--name NAME] [--max-twins N]``: run the twins of sessions served with ``--redis``.

Status lines go to stderr; a bad URL or option exits 2 with one line; SIGTERM or Ctrl-C hands the
running twins back to other workers and exits 0 (docs/twins.md, "Twin workers over Redis").
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer


def worker(
    redis: Annotated[
        str | None,
        typer.Option("--redis", help="The Redis the servers use (redis://HOST:PORT/DB; also $VIZSERVER_REDIS_URL)."),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="This worker's name in Redis and in the sessions' messages (default: HOST-PID).")
    ] = None,
    max_twins: Annotated[int, typer.Option(help="Twins this worker runs at once (each in a process of its own).")] = 1,
) -> None:
    """Take twin jobs from Redis and run them: the live twins of `vizserver serve --redis` sessions."""
    from vizserver.scale.twin_worker import TwinWorker, WorkerError, default_name

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does, so a scene's `kind: my_model:Twin` finds ./my_model.py
    url = redis or os.environ.get("VIZSERVER_REDIS_URL")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    def say(line: str) -> None:
        typer.echo(line, err=True)

    try:
        if not url:
            raise WorkerError("--redis URL is required (or set VIZSERVER_REDIS_URL)")
        runner = TwinWorker(url, name or default_name(), max_twins, say)
    except WorkerError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    runner.install_signal_handlers()
    try:
        code = runner.run()
    except WorkerError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    raise typer.Exit(code=code)
