"""``vizserver serve [SCENE] [--host] [--port]``: build (or load from the cache) a scene and serve it."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

import vizserver
from vizserver.errors import VizServerError

DEFAULT_SCENE = Path(vizserver.__file__).resolve().parent.parent / "scenes" / "default.yaml"
"""``scenes/default.yaml`` of a source checkout (the package lives beside ``scenes/``)."""


def serve(
    scene: Annotated[
        Path | None,
        typer.Argument(metavar="[SCENE]", help="Scene file (default: the repository's scenes/default.yaml)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0: any free port).")] = 8000,
) -> None:
    """Serve SCENE to browsers and headsets: the viewer at /, the API at /docs."""
    from vizserver.app import create_app
    from vizserver.cli.progress import DelayedProgress
    from vizserver.scenes.build import load_or_build
    from vizserver.scenes.cache import AssetStore
    from vizserver.server.runner import make_server
    from vizserver.server.settings import ServerSettings

    path = scene if scene is not None else DEFAULT_SCENE
    if scene is None and not path.is_file():
        typer.echo(f"error: no SCENE given and the default scene {path} is missing; pass a scene file", err=True)
        raise typer.Exit(code=1)
    settings = ServerSettings(scene=path.resolve(), host=host, port=port)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s", stream=sys.stderr)
    try:
        with DelayedProgress() as progress:
            build = load_or_build(settings.scene, AssetStore(settings.cache_dir), progress.update)
    except VizServerError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    how = "from the cache" if build.from_cache else "converted"
    typer.echo(f"vizserver: scene {build.scene.title!r} ({len(build.scene.objects)} objects, {how})")
    app = create_app(settings, prebuilt=build)

    def started(url: str) -> None:
        typer.echo(f"vizserver: open {url} in a browser (Ctrl+C to stop)")

    make_server(app, settings, started).run()
