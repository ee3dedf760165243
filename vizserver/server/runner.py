"""Running the app under uvicorn, with the server's limits and a clean goodbye to clients.

uvicorn closes open WebSockets with 1012 when it stops; docs/protocol.md promises 1001 ("server
shutting down"), so :class:`VizServer` asks every client to close with 1001 first.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

import uvicorn
from fastapi import FastAPI

from vizserver.server.runtime import ServerRuntime
from vizserver.server.settings import SHUTDOWN_CLOSE_TIMEOUT_S, WS_MAX_MESSAGE_BYTES, ServerSettings

if TYPE_CHECKING:
    from vizserver.server.tls import ServerCertificate

CLOSE_POLL_S = 0.05

_TOKEN = re.compile(r"(token=)[^&\s\"]+")


class RedactTokens(logging.Filter):
    """Access logs print request paths; session tokens in their query strings become ``token=***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(_TOKEN.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        return True


class VizServer(uvicorn.Server):
    """A uvicorn server that reports its bound address and says goodbye (1001) to clients on shutdown."""

    def __init__(self, config: uvicorn.Config, runtime: ServerRuntime, on_started: Callable[[str], None]) -> None:
        super().__init__(config)
        self._runtime = runtime
        self._on_started = on_started
        self.bound_port: int | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Stop gracefully and exit with status 0 (uvicorn would re-raise the signal after shutting down)."""
        super().handle_exit(sig, frame)
        self._captured_signals.clear()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.servers and self.servers[0].sockets:
            self.bound_port = int(self.servers[0].sockets[0].getsockname()[1])
            settings = self._runtime.settings
            host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
            scheme = "https" if self.config.is_ssl else "http"
            url = f"{scheme}://{f'[{host}]' if ':' in host else host}:{self.bound_port}"
            self._runtime.bound(url)
            self._on_started(url)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for hub in list(self._runtime.hubs.values()):
            await hub.stop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SHUTDOWN_CLOSE_TIMEOUT_S
        while self._runtime.outboxes() and loop.time() < deadline:
            await asyncio.sleep(CLOSE_POLL_S)
        await super().shutdown(sockets)


def make_server(
    app: FastAPI,
    settings: ServerSettings,
    on_started: Callable[[str], None],
    log_level: str = "info",
    tls: ServerCertificate | None = None,
) -> VizServer:
    """The app under uvicorn on the settings' address; over HTTPS with ``tls``'s key and certificate when given."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ws="websockets-sansio",
        ws_max_size=WS_MAX_MESSAGE_BYTES,
        # Frames are quantized and zstd-compressed once for every client; permessage-deflate would
        # compress each copy again per connection (it was the server's whole CPU with 10 clients).
        ws_per_message_deflate=False,
        log_level=log_level,
        lifespan="on",
        timeout_graceful_shutdown=round(SHUTDOWN_CLOSE_TIMEOUT_S),
        ssl_keyfile=None if tls is None else str(tls.key_path),
        ssl_certfile=None if tls is None else str(tls.cert_path),
    )
    for name in ("uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).addFilter(RedactTokens())
    runtime = app.state.runtime
    assert isinstance(runtime, ServerRuntime)
    return VizServer(config, runtime, on_started)
