"""``vizserver serve [SCENE] [--host] [--port] [--https] [--store PATH | --no-store] [--redis URL]``: build (or
load from the cache) a scene and serve it; sessions are saved to an SQLite file and come back after a restart.

With ``--https`` it serves over TLS with a self-signed certificate (:mod:`vizserver.server.tls`),
listens on every interface unless ``--host`` says otherwise, and prints the LAN address with a QR
code so a headset on the same network can open it (docs/xr.md).
"""

from __future__ import annotations

import dataclasses
import io
import ipaddress
import logging
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer

import vizserver
from vizserver.errors import VizServerError

if TYPE_CHECKING:
    from vizserver.server.tls import ServerCertificate

DEFAULT_SCENE = Path(vizserver.__file__).resolve().parent.parent / "scenes" / "default.yaml"
"""``scenes/default.yaml`` of a source checkout (the package lives beside ``scenes/``)."""

DEFAULT_HOST = "127.0.0.1"
WILDCARD_HOST = "0.0.0.0"


def serve(
    scene: Annotated[
        Path | None,
        typer.Argument(metavar="[SCENE]", help="Scene file (default: the repository's scenes/default.yaml)."),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(
            help="Address to listen on (0.0.0.0: every interface). "
            "Default 127.0.0.1, or 0.0.0.0 with --https so a headset on the network can reach it.",
            show_default=False,
        ),
    ] = None,
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0: any free port).")] = 8000,
    https: Annotated[
        bool,
        typer.Option(
            "--https",
            help="Serve over HTTPS with a self-signed certificate kept in the user's config folder "
            "(WebXR needs a secure context); prints the LAN address and a QR code for a headset.",
        ),
    ] = False,
    store: Annotated[
        Path | None,
        typer.Option(
            help="SQLite file sessions are saved to, so a restart keeps them (also $VIZSERVER_STORE). "
            "Default: sessions.sqlite in the cache folder.",
            show_default=False,
        ),
    ] = None,
    no_store: Annotated[
        bool,
        typer.Option("--no-store", help="Keep sessions in memory only (also VIZSERVER_STORE=none)."),
    ] = False,
    redis: Annotated[
        str | None,
        typer.Option(
            "--redis",
            metavar="URL",
            help="Share sessions, presence, frames and twin jobs with other server processes and "
            "`vizserver worker`s through this Redis (redis://HOST:PORT/DB; also $VIZSERVER_REDIS_URL).",
            show_default=False,
        ),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            "--public-url",
            metavar="URL",
            help="With --redis: the address clients reach this process at (e.g. https://host-2.example:8000), "
            "listed to them for failover (also $VIZSERVER_PUBLIC_URL). Default: the listening address.",
            show_default=False,
        ),
    ] = None,
    no_webrtc: Annotated[
        bool,
        typer.Option("--no-webrtc", help="Turn WebRTC off: clients use the WebSocket only (also VIZSERVER_WEBRTC=0)."),
    ] = False,
) -> None:
    """Serve SCENE to browsers and headsets: the viewer at /, the API at /docs."""
    from vizserver.app import create_app
    from vizserver.cli.progress import DelayedProgress
    from vizserver.scale.redis_link import check_redis_url
    from vizserver.scenes.build import load_or_build
    from vizserver.scenes.cache import AssetStore
    from vizserver.server.rtc import check_rtc_settings
    from vizserver.server.runner import make_server
    from vizserver.server.settings import NO_STORE, ServerSettings

    path = scene if scene is not None else DEFAULT_SCENE
    if scene is None and not path.is_file():
        typer.echo(f"error: no SCENE given and the default scene {path} is missing; pass a scene file", err=True)
        raise typer.Exit(code=1)
    if host is None:
        host = WILDCARD_HOST if https else DEFAULT_HOST
    settings = ServerSettings(scene=path.resolve(), host=host, port=port)
    if no_store or store is not None:
        settings = dataclasses.replace(settings, store=NO_STORE if no_store else str(store))
    if redis is not None:
        try:
            settings = dataclasses.replace(settings, redis_url=check_redis_url(redis))
        except VizServerError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=2) from None
    if public_url is not None:
        settings = dataclasses.replace(settings, public_url=public_url)
    if settings.public_url is not None and urlsplit(settings.public_url).scheme not in ("http", "https"):
        typer.echo(f"error: --public-url {settings.public_url!r}: expected http(s)://HOST:PORT", err=True)
        raise typer.Exit(code=2)
    if no_webrtc:
        settings = dataclasses.replace(settings, webrtc=False)
    try:
        check_rtc_settings(settings)
    except VizServerError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s", stream=sys.stderr)
    try:
        with DelayedProgress() as progress:
            build = load_or_build(settings.scene, AssetStore(settings.cache_dir), progress.update)
    except VizServerError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    how = "from the cache" if build.from_cache else "converted"
    typer.echo(f"vizserver: scene {build.scene.title!r} ({len(build.scene.objects)} objects, {how})")
    tls, lan_ips = _secure_context(host) if https else (None, [])
    app = create_app(settings, prebuilt=build)

    def started(url: str) -> None:
        typer.echo(f"vizserver: open {url} in a browser (Ctrl+C to stop)")
        if tls is not None:
            port_bound = int(url.rsplit(":", 1)[1])
            _print_headset_urls(headset_urls(host, port_bound, lan_ips), wildcard=host == WILDCARD_HOST)

    make_server(app, settings, started, tls=tls).run()


def _secure_context(host: str) -> tuple[ServerCertificate, list[str]]:
    """The certificate to serve with (made, reused or replaced, said in one line) and the LAN addresses."""
    from vizserver.server.tls import default_config_dir, ensure_certificate, lan_candidates, lan_ipv4_addresses

    lan_ips = lan_ipv4_addresses()
    try:
        tls = ensure_certificate(default_config_dir(), socket.gethostname(), lan_candidates([*lan_ips, host]))
    except VizServerError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(f"vizserver: {tls.note}")
    typer.echo(f"vizserver: certificate SHA-256 fingerprint {tls.fingerprint}")
    if host == WILDCARD_HOST:
        typer.echo(
            "vizserver: listening on every interface (0.0.0.0) so a headset can join (--host 127.0.0.1: only here)"
        )
    return tls, lan_ips


def headset_urls(host: str, port: int, lan_ips: Sequence[str]) -> list[str]:
    """Where another device reaches a server bound to ``host``: every LAN address for a wildcard
    bind, the bound address itself when it is not loopback, nothing for loopback."""
    if host in (WILDCARD_HOST, "::", ""):
        addresses = list(lan_ips)
    else:
        try:
            addresses = [] if ipaddress.ip_address(host).is_loopback else [host]
        except ValueError:  # a name: the headset resolves it as well as we do
            addresses = [] if host == "localhost" else [host]
    return [f"https://{f'[{a}]' if ':' in a else a}:{port}" for a in addresses]


def qr_code_text(url: str) -> str:
    """``url`` as a QR code drawn with Unicode half blocks, for a terminal."""
    import segno

    out = io.StringIO()
    segno.make(url, error="m").terminal(out=out, compact=True)
    return out.getvalue()


def _print_headset_urls(urls: list[str], wildcard: bool) -> None:
    if not urls and wildcard:
        typer.echo("vizserver: no LAN address found; a headset cannot reach this machine until it joins a network")
        return
    if not urls:
        typer.echo("vizserver: listening on this machine only; a headset cannot reach it (leave out --host)")
        return
    for url in urls:
        typer.echo(f"vizserver: on a headset on this network open {url} (accept the certificate, docs/xr.md)")
    try:
        typer.echo(qr_code_text(urls[0]), nl=False)
    except UnicodeEncodeError:
        typer.echo("vizserver: this terminal cannot draw the QR code; type the address instead")
