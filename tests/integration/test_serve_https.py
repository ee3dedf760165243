"""``vizserver serve --https`` as a user runs it: real TLS with the stored self-signed certificate, reused, replaced."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import socket
import ssl
import stat
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from fixtures.server import WAIT_S, Client, LiveServer, start_process_server, write_scene

from vizserver.errors import VizServerError
from vizserver.server.tls import (
    CERT_FILE,
    KEY_FILE,
    TLS_SUBDIR,
    build_certificate,
    ensure_certificate,
    format_fingerprint,
    subject_names,
)


def start_https_server(scene: Path, env: dict[str, str]) -> LiveServer:
    """``vizserver serve SCENE --https --host 127.0.0.1``; the line after the URL says where a headset can go."""
    return start_process_server(scene, env, ("--https", "--host", "127.0.0.1"), lines_after=1)


def trusting(cert_path: Path) -> ssl.SSLContext:
    """A client context that trusts exactly this certificate (and verifies host names against it)."""
    return ssl.create_default_context(cafile=str(cert_path))


def get_json(url: str, context: ssl.SSLContext) -> Any:
    with urllib.request.urlopen(url, timeout=WAIT_S, context=context) as response:
        return json.loads(response.read())


def file_fingerprint(cert_path: Path) -> str:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return format_fingerprint(cert.fingerprint(hashes.SHA256()))


def printed_fingerprint(log: list[str]) -> str:
    found = re.search(r"certificate SHA-256 fingerprint ([0-9A-F:]+)", "".join(log))
    assert found, "".join(log)
    return found.group(1)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], Path]:
    root = tmp_path_factory.mktemp("https")
    config = root / "config"
    env = {"VIZSERVER_CACHE_DIR": str(root / "cache"), "VIZSERVER_CONFIG_DIR": str(config)}
    return write_scene(root), env, config / TLS_SUBDIR


@pytest.fixture(scope="module")
def first(setup: tuple[Path, dict[str, str], Path]) -> Iterator[LiveServer]:
    scene, env, _ = setup
    server = start_https_server(scene, env)
    yield server
    server.stop()


def test_first_start_makes_a_certificate_and_serves_https_with_it(
    first: LiveServer, setup: tuple[Path, dict[str, str], Path]
) -> None:
    tls_dir = setup[2]
    text = "".join(first.log)
    assert f"made a self-signed certificate {tls_dir / CERT_FILE}" in text
    assert printed_fingerprint(first.log) == file_fingerprint(tls_dir / CERT_FILE)
    assert "a headset cannot reach it" in text  # --host 127.0.0.1 was given
    assert first.url.startswith("https://127.0.0.1:")
    assert get_json(f"{first.url}/api/health", trusting(tls_dir / CERT_FILE))["sessions"] == 1


def test_default_verification_refuses_the_self_signed_certificate(first: LiveServer) -> None:
    with pytest.raises(urllib.error.URLError) as refused:
        get_json(f"{first.url}/api/health", ssl.create_default_context())
    assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)


def test_plain_http_gets_no_answer_on_the_https_port(first: LiveServer) -> None:
    host, port = first.url.removeprefix("https://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=WAIT_S) as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            answer = sock.recv(1 << 16)
        except ConnectionResetError:
            answer = b""
    assert b'"sessions"' not in answer


def test_the_key_file_is_private(first: LiveServer, setup: tuple[Path, dict[str, str], Path]) -> None:
    assert stat.S_IMODE((setup[2] / KEY_FILE).stat().st_mode) == 0o600


def test_wss_hello_gets_the_scene(first: LiveServer, setup: tuple[Path, dict[str, str], Path]) -> None:
    context = trusting(setup[2] / CERT_FILE)
    session = get_json(f"{first.url}/api/sessions/default", context)
    url = f"{first.url.replace('https://', 'wss://')}/ws/{session['session_id']}?token={session['token']}"

    async def scenario() -> dict[str, Any]:
        client = await Client.open(url, ssl=context)
        try:
            return await client.message("scene")
        finally:
            await client.close()

    scene = asyncio.run(scenario())
    assert {o["name"] for o in scene["objects"]} == {"wave", "box"}


def test_second_start_reuses_the_certificate_and_a_corrupt_one_is_replaced(
    first: LiveServer, setup: tuple[Path, dict[str, str], Path]
) -> None:
    scene, env, tls_dir = setup
    before = file_fingerprint(tls_dir / CERT_FILE)
    second = start_https_server(scene, env)
    try:
        assert f"reusing the self-signed certificate {tls_dir / CERT_FILE}" in "".join(second.log)
        assert printed_fingerprint(second.log) == before
        assert get_json(f"{second.url}/api/health", trusting(tls_dir / CERT_FILE))["sessions"] == 1
    finally:
        second.stop()
    (tls_dir / CERT_FILE).write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    third = start_https_server(scene, env)
    try:
        text = "".join(third.log)
        assert f"replaced the self-signed certificate {tls_dir / CERT_FILE}: it could not be read" in text
        assert printed_fingerprint(third.log) == file_fingerprint(tls_dir / CERT_FILE) != before
        assert get_json(f"{third.url}/api/health", trusting(tls_dir / CERT_FILE))["sessions"] == 1
    finally:
        third.stop()


# --- the stored files, without a server ---


def test_an_expired_certificate_is_replaced(tmp_path: Path) -> None:
    made = ensure_certificate(tmp_path, "box", ["192.168.1.7"], now=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    replaced = ensure_certificate(tmp_path, "box", ["192.168.1.7"])
    assert replaced.note == f"replaced the self-signed certificate {made.cert_path}: it expired on 2022-04-05 00:00 UTC"
    assert replaced.fingerprint != made.fingerprint
    assert ensure_certificate(tmp_path, "box", ["192.168.1.7"]).fingerprint == replaced.fingerprint


def test_a_new_lan_address_replaces_the_certificate(tmp_path: Path) -> None:
    made = ensure_certificate(tmp_path, "box", ["192.168.1.7"])
    moved = ensure_certificate(tmp_path, "box", ["10.0.0.5"])
    assert "does not name this machine's address 10.0.0.5" in moved.note
    assert "10.0.0.5" in moved.names.ips and moved.fingerprint != made.fingerprint


def test_a_key_that_does_not_match_the_certificate_replaces_both(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    made = ensure_certificate(tmp_path, "box", [])
    other = ec.generate_private_key(ec.SECP256R1())
    foreign = build_certificate(other, subject_names("box", []), dt.datetime.now(dt.UTC))
    made.cert_path.write_bytes(foreign.public_bytes(serialization.Encoding.PEM))
    replaced = ensure_certificate(tmp_path, "box", [])
    assert "could not be read or its key does not match" in replaced.note
    assert stat.S_IMODE(replaced.key_path.stat().st_mode) == 0o600


def test_an_unwritable_config_folder_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "config"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(VizServerError, match=r"config/tls: cannot store the HTTPS certificate"):
        ensure_certificate(blocker, "box", [])
