"""The FastAPI application: routes, the runtime's lifespan, the static client. Wiring only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from vizserver import __version__
from vizserver.scenes.build import SceneBuild
from vizserver.server import api, assets, client, metrics, rtc, sessions, uploads
from vizserver.server.runtime import ServerRuntime
from vizserver.server.settings import ServerSettings


def create_app(settings: ServerSettings, prebuilt: SceneBuild | None = None) -> FastAPI:
    """The app serving ``settings.scene``; ``prebuilt``: that scene, already built (the CLI builds before serving)."""
    runtime = ServerRuntime(settings, prebuilt)
    peers = rtc.make_peers(runtime)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            if peers is not None:
                await peers.close()
            await runtime.stop()

    app = FastAPI(title="vizserver", version=__version__, lifespan=lifespan)
    app.state.runtime = runtime
    app.state.rtc = peers
    for module in (api, sessions, assets, uploads, metrics, rtc, client):
        app.include_router(module.router)
    app.mount("/", StaticFiles(directory=client.STATIC_DIR, check_dir=False), name="client")
    return app
