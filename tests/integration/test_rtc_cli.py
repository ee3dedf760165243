"""``vizserver serve`` and WebRTC: ``--no-webrtc`` / ``VIZSERVER_WEBRTC=0`` turn it off, ICE servers from the
environment reach ``/api/rtc/config``, and a bad WebRTC setting stops the server before it starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures.cli import run_cli
from fixtures.server import http, start_process_server, write_scene


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_scene(tmp_path_factory.mktemp("rtc-cli"))


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One cache folder for the module's servers: the scene is converted once."""
    return str(tmp_path_factory.mktemp("rtc-cli-cache"))


@pytest.mark.parametrize(("args", "env"), [(("--no-webrtc",), {}), ((), {"VIZSERVER_WEBRTC": "0"})])
def test_webrtc_off(scene: Path, cache: str, args: tuple[str, ...], env: dict[str, str]) -> None:
    live = start_process_server(scene, {"VIZSERVER_CACHE_DIR": cache, **env}, args)
    try:
        assert http(f"{live.url}/api/rtc/config").json() == {"enabled": False, "ice_servers": []}
        assert http(f"{live.url}/api/health").json()["webrtc"] == {"enabled": False, "peers": 0}
    finally:
        live.stop()


def test_ice_servers_from_the_environment(scene: Path, cache: str) -> None:
    servers = [{"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "c"}]
    env = {"VIZSERVER_CACHE_DIR": cache, "VIZSERVER_ICE_SERVERS": json.dumps(servers)}
    live = start_process_server(scene, env)
    try:
        assert http(f"{live.url}/api/rtc/config").json() == {"enabled": True, "ice_servers": servers}
    finally:
        live.stop()


def test_a_bad_webrtc_setting_is_named_before_serving(scene: Path, cache: str) -> None:
    result = run_cli("serve", str(scene), "--port", "0",
                     env={"VIZSERVER_CACHE_DIR": cache, "VIZSERVER_RTC_HOST_ADDRESSES": "eth0"})
    assert result.returncode == 2
    assert "VIZSERVER_RTC_HOST_ADDRESSES: 'eth0' is not an IP address" in result.stderr
    assert "Traceback" not in result.stderr
