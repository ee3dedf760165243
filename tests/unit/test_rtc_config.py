"""WebRTC settings (ICE servers, host addresses) and what an offer's SDP says (size limit, media)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aioice
import aioice.ice
import pytest

from vizserver.server.rtc import check_rtc_settings
from vizserver.server.settings import ServerSettings
from vizserver.transports.rtc_config import (
    DEFAULT_REMOTE_MAX_MESSAGE_BYTES,
    MAX_DATA_CHANNEL_MESSAGE_BYTES,
    IceServer,
    RtcConfigError,
    media_kinds,
    parse_host_addresses,
    parse_ice_servers,
    remote_max_message_bytes,
    use_host_addresses,
)


def test_ice_servers_from_json() -> None:
    assert parse_ice_servers("") == ()
    servers = parse_ice_servers(
        '[{"urls": "stun:stun.example.org:3478"},'
        ' {"urls": ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"],'
        ' "username": "u", "credential": "p"}]'
    )
    assert servers == (
        IceServer(("stun:stun.example.org:3478",)),
        IceServer(("turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"), "u", "p"),
    )
    assert servers[0].as_json() == {"urls": ["stun:stun.example.org:3478"]}
    assert servers[1].as_json()["credential"] == "p"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{nope", "not JSON"),
        ('{"urls": "stun:x"}', "JSON list"),
        ('[{"url": "stun:x"}]', "must be an object"),
        ('[{"urls": []}]', "non-empty list"),
        ('[{"urls": "http://x"}]', "not a stun:"),
        ('[{"urls": "turn:x", "username": 5}]', "must be strings"),
        ("[" + ",".join(['{"urls": "stun:x"}'] * 9) + "]", "at most 8"),
    ],
)
def test_bad_ice_servers_are_named(text: str, problem: str) -> None:
    with pytest.raises(RtcConfigError, match=problem) as raised:
        parse_ice_servers(text)
    assert "VIZSERVER_ICE_SERVERS" in str(raised.value)


def test_host_addresses() -> None:
    assert parse_host_addresses("") == ()
    assert parse_host_addresses(" 127.0.0.1, ::1 ") == ("127.0.0.1", "::1")
    with pytest.raises(RtcConfigError, match="'eth0' is not an IP address"):
        parse_host_addresses("127.0.0.1,eth0")


@pytest.fixture
def aioice_default() -> Iterator[None]:
    yield
    use_host_addresses(())


def test_host_addresses_replace_aioices_choice(aioice_default: None) -> None:
    """The candidates a real aioice gathering offers are exactly the chosen addresses."""
    use_host_addresses(("127.0.0.1",))

    async def gather() -> list[str]:
        connection = aioice.Connection(ice_controlling=True)
        try:
            await connection.gather_candidates()
            return [c.host for c in connection.local_candidates]
        finally:
            await connection.close()

    assert asyncio.run(gather()) == ["127.0.0.1"]
    use_host_addresses(())
    assert "127.0.0.1" not in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)


def test_settings_are_checked_before_serving() -> None:
    check_rtc_settings(ServerSettings(scene=Path(__file__), ice_servers="", rtc_host_addresses="127.0.0.1"))
    with pytest.raises(RtcConfigError):
        check_rtc_settings(ServerSettings(scene=Path(__file__), ice_servers="[1]"))
    check_rtc_settings(ServerSettings(scene=Path(__file__), webrtc=False, ice_servers="[1]"))


def test_max_message_size_from_the_offer() -> None:
    chromium = "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=max-message-size:262144\r\n"
    assert remote_max_message_bytes(chromium) == 262144
    assert remote_max_message_bytes(chromium.replace("262144", "1073741823")) == MAX_DATA_CHANNEL_MESSAGE_BYTES
    assert remote_max_message_bytes(chromium.replace("262144", "0")) == MAX_DATA_CHANNEL_MESSAGE_BYTES
    assert remote_max_message_bytes(chromium.replace("262144", "1200")) == 1200
    assert remote_max_message_bytes("v=0\r\nm=application 9 UDP/DTLS/SCTP x\r\n") == DEFAULT_REMOTE_MAX_MESSAGE_BYTES


def test_media_kinds() -> None:
    sdp = "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=x\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
    assert media_kinds(sdp) == ["application", "video"]
    assert media_kinds("v=0\r\n") == []
