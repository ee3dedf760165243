"""What one ``vizserver serve`` process is configured with, and the server's named limits.

Settings come from the command line (scene, host, port) and ``VIZSERVER_*`` environment variables
(cache folder, upload limit through :func:`vizserver.config.limits`, a few server limits below), so
a test starts a server with small limits the same way an operator does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from vizserver.config import SETTINGS_PREFIX, STALL_TIMEOUT_S, limits

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000

LOD_MIN_TRIANGLES = 200_000
"""Surfaces with more triangles than this get coarser levels of detail (listed in ``lods``)."""

MAX_SESSIONS = 256
"""Sessions one server holds at once; creating one more is refused with 429."""

MAX_CLIENTS_PER_SESSION = 64
"""Connected clients in one session; one more is closed with 4005 ``session full``."""

MAX_TOKENS_PER_SESSION = 1024
"""Tokens one session remembers; beyond it the oldest token with no connected client is forgotten."""

SESSION_IDLE_TTL_S = 24 * 3600.0
"""A session (other than the default one) with nobody connected for this long is forgotten."""

JOIN_CODE_TTL_S = 24 * 3600.0
"""A session's join code works for this long after the session is created."""

WS_MAX_MESSAGE_BYTES = 1 << 20
"""Largest WebSocket message the transport accepts at all (the connection fails with 1009 above it).

Larger than ``MAX_CONTROL_MESSAGE_BYTES`` on purpose: messages between the two get a ``too_large``
error and the connection stays open, as docs/protocol.md promises.
"""

UPLOAD_WORKERS = 1
"""Worker processes converting uploads (the machine we target has 2 cores; the other serves)."""

UPLOAD_CHUNK_BYTES = 1 << 20
"""Uploads are written to disk in pieces of at most this size; never held whole in memory."""

UPLOAD_FORM_OVERHEAD_BYTES = 64 << 10
"""Bytes a multipart body may carry beyond its file (boundaries, headers) before the size check refuses it."""

MAX_UPLOAD_NAME_CHARS = 128
"""An upload's display name (from the client's file name) is cut to this many characters."""

MAX_SCENE_FILES_LISTED = 200
"""``GET /api/scenes`` lists at most this many scene files."""

FINGERPRINT_MAX_FILES = 10_000
"""Files whose size and mtime go into a scene's cache key (a source folder's tree is walked this far)."""

MAX_LIVE_TWINS = 4
"""Sessions with a twin each run a worker process; past this many, new sessions get none (and say why)."""

TWIN_FRAME_INTERVAL_S = 1.0 / 30.0
"""A live twin sends a frame this often (at most)."""

SHUTDOWN_CLOSE_TIMEOUT_S = 2.0
"""On shutdown, clients get this long to receive their 1001 close."""

MAX_SHARED_ASSET_BYTES = 64 << 20
"""With ``--redis``: the largest GLB an upload converted on an edge may put into Redis (``vz:asset:``, held in
Redis's memory); a bigger one fails that upload. ``$VIZSERVER_MAX_SHARED_ASSET_BYTES``."""

MAX_RTC_PEERS_PER_MEMBER = 4
"""WebRTC peer connections one member token may hold at once; one more offer is answered 429."""

MAX_RTC_PEERS = 256
"""WebRTC peer connections one server holds at once (each has its own UDP sockets); past it offers get 429."""


def default_cache_dir() -> Path:
    """``$VIZSERVER_CACHE_DIR``, else ``$XDG_CACHE_HOME/vizserver/server``, else ``~/.cache/vizserver/server``."""
    explicit = os.environ.get(f"{SETTINGS_PREFIX}CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vizserver" / "server"


STORE_FILE_NAME = "sessions.sqlite"
"""The session store's file name in the cache folder (the default place, beside the scene cache and uploads)."""

NO_STORE = "none"
"""``VIZSERVER_STORE=none``: sessions are kept in memory only."""


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(f"{SETTINGS_PREFIX}{name}")
    return default if raw is None else float(raw)


def _env_flag(name: str, default: bool) -> bool:
    raw = os.environ.get(f"{SETTINGS_PREFIX}{name}")
    return default if raw is None or not raw.strip() else raw.strip().lower() not in ("0", "false", "no", "off")


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """One server's configuration. ``scene`` is the served scene file (absolute)."""

    scene: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    cache_dir: Path = field(default_factory=default_cache_dir)
    max_upload_bytes: int = field(default_factory=lambda: limits().max_input_bytes)
    stall_timeout_s: float = field(default_factory=lambda: _env_float("STALL_TIMEOUT_S", STALL_TIMEOUT_S))
    upload_workers: int = UPLOAD_WORKERS
    max_live_twins: int = field(default_factory=lambda: int(_env_float("MAX_LIVE_TWINS", MAX_LIVE_TWINS)))
    twin_frame_interval_s: float = TWIN_FRAME_INTERVAL_S
    store: str | None = field(default_factory=lambda: os.environ.get(f"{SETTINGS_PREFIX}STORE") or None)
    """Where sessions are saved (``--store``, ``$VIZSERVER_STORE``): a file path, ``none`` for memory only,
    unset for ``sessions.sqlite`` in ``cache_dir``."""
    redis_url: str | None = field(default_factory=lambda: os.environ.get(f"{SETTINGS_PREFIX}REDIS_URL") or None)
    """``--redis`` / ``$VIZSERVER_REDIS_URL``: share sessions with other server processes through this Redis
    (docs/architecture.md "Scale-out"); unset: one process, in-memory fan-out, the SQLite store."""
    public_url: str | None = field(default_factory=lambda: os.environ.get(f"{SETTINGS_PREFIX}PUBLIC_URL") or None)
    """``--public-url`` / ``$VIZSERVER_PUBLIC_URL``: the address clients reach this process at, listed to them in
    ``welcome.servers`` for failover with ``--redis``; unset: :attr:`url`."""
    webrtc: bool = field(default_factory=lambda: _env_flag("WEBRTC", True))
    """WebRTC signaling and peers (``--no-webrtc`` / ``VIZSERVER_WEBRTC=0``: off; offers get 503)."""
    ice_servers: str = field(default_factory=lambda: os.environ.get(f"{SETTINGS_PREFIX}ICE_SERVERS", ""))
    """``$VIZSERVER_ICE_SERVERS``: STUN/TURN servers as a JSON list of ``{urls, username?, credential?}``
    (checked by :func:`vizserver.transports.rtc_config.parse_ice_servers`); empty: host candidates only."""
    rtc_host_addresses: str = field(default_factory=lambda: os.environ.get(f"{SETTINGS_PREFIX}RTC_HOST_ADDRESSES", ""))
    """``$VIZSERVER_RTC_HOST_ADDRESSES``: comma-separated addresses ICE offers as host candidates (e.g.
    ``127.0.0.1`` in tests, or the LAN interface); empty: every interface but loopback (aioice's choice)."""
    max_shared_asset_bytes: int = field(
        default_factory=lambda: int(_env_float("MAX_SHARED_ASSET_BYTES", MAX_SHARED_ASSET_BYTES))
    )
    max_rtc_peers_per_member: int = field(
        default_factory=lambda: int(_env_float("MAX_RTC_PEERS_PER_MEMBER", MAX_RTC_PEERS_PER_MEMBER))
    )

    @property
    def advertised_url(self) -> str:
        """The base URL other processes list to clients for this one (``public_url``, else :attr:`url`)."""
        return (self.public_url or self.url).rstrip("/")

    @property
    def store_path(self) -> Path | None:
        """The session store file, or ``None`` when sessions are kept in memory only."""
        if self.store is None:
            return self.cache_dir / STORE_FILE_NAME
        return None if self.store.strip().lower() == NO_STORE else Path(self.store).expanduser()

    @property
    def url(self) -> str:
        """The address a person opens (the bind address, or loopback for a wildcard bind)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"
