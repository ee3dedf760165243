"""What a WebRTC peer is configured with, checked from settings, and what an offer's SDP says.

Pure functions apart from :func:`use_host_addresses`, the one place that changes aioice: it picks the
addresses ICE offers as host candidates (aioice leaves loopback out, so a test on 127.0.0.1 needs it,
and a server with several interfaces can name the one its clients reach).
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any

import aioice.ice

from vizserver.errors import InputError

MAX_ICE_SERVERS = 8
"""STUN/TURN servers a setting may list (each costs a gathering round trip per offer)."""

DEFAULT_REMOTE_MAX_MESSAGE_BYTES = 65536
"""What a peer whose SDP states no ``a=max-message-size`` accepts (RFC 8841, section 6)."""

MAX_DATA_CHANNEL_MESSAGE_BYTES = 256 << 10
"""Largest message the server sends on a data channel: what Chromium and Firefox advertise, and aiortc too.

A peer that advertises less (or nothing: 64 KiB) gets less; one that advertises 0 (any size) still
gets this, so one message never holds the SCTP association for long.
"""

MIN_PEER_MESSAGE_BYTES = 1200
"""Offers stating a smaller ``a=max-message-size`` are refused: below it a 64 MiB field frame would need more
than 65535 pieces (``vizserver.protocol.fragments``), and no browser states less than 64 KiB."""

_MAX_MESSAGE_SIZE = re.compile(r"^a=max-message-size:(\d+)\s*$", re.MULTILINE)
_MEDIA = re.compile(r"^m=(\w+) ", re.MULTILINE)


class RtcConfigError(InputError):
    """A WebRTC setting that cannot be used; the message names the setting and the problem."""


@dataclass(frozen=True, slots=True)
class IceServer:
    """One STUN or TURN server, as the browser's ``RTCIceServer`` and aiortc's take it."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"urls": list(self.urls)}
        if self.username is not None:
            out["username"] = self.username
        if self.credential is not None:
            out["credential"] = self.credential
        return out


def parse_ice_servers(text: str) -> tuple[IceServer, ...]:
    """``VIZSERVER_ICE_SERVERS``: a JSON list of ``{urls: str | [str], username?, credential?}``; empty: none."""
    if not text.strip():
        return ()
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RtcConfigError(f"VIZSERVER_ICE_SERVERS: not JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(raw, list) or len(raw) > MAX_ICE_SERVERS:
        raise RtcConfigError(f"VIZSERVER_ICE_SERVERS: must be a JSON list of at most {MAX_ICE_SERVERS} servers")
    return tuple(_ice_server(i, entry) for i, entry in enumerate(raw))


def _ice_server(index: int, entry: object) -> IceServer:
    where = f"VIZSERVER_ICE_SERVERS[{index}]"
    if not isinstance(entry, dict) or not set(entry) <= {"urls", "username", "credential"}:
        raise RtcConfigError(f"{where}: must be an object with urls and optionally username, credential")
    urls = entry.get("urls")
    listed = [urls] if isinstance(urls, str) else urls
    if not isinstance(listed, list) or not listed or not all(isinstance(u, str) for u in listed):
        raise RtcConfigError(f"{where}: urls must be a string or a non-empty list of strings")
    for url in listed:
        if not url.startswith(("stun:", "stuns:", "turn:", "turns:")):
            raise RtcConfigError(f"{where}: {url!r} is not a stun:, stuns:, turn: or turns: URL")
    username, credential = entry.get("username"), entry.get("credential")
    if not isinstance(username, str | None) or not isinstance(credential, str | None):
        raise RtcConfigError(f"{where}: username and credential must be strings")
    return IceServer(tuple(listed), username, credential)


def parse_host_addresses(text: str) -> tuple[str, ...]:
    """``VIZSERVER_RTC_HOST_ADDRESSES``: comma-separated IP addresses; empty: aioice's own choice."""
    addresses = tuple(a.strip() for a in text.split(",") if a.strip())
    for address in addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise RtcConfigError(f"VIZSERVER_RTC_HOST_ADDRESSES: {address!r} is not an IP address") from None
    return addresses


def use_host_addresses(addresses: tuple[str, ...]) -> None:
    """Make ICE offer exactly ``addresses`` as host candidates in this process (empty: aioice's default).

    aioice looks its host addresses up through the module function ``aioice.ice.get_host_addresses``
    on every gathering; replacing that function is the only hook it has. Process-wide, as the
    interfaces are.
    """
    if not addresses:
        aioice.ice.get_host_addresses = _AIOICE_HOST_ADDRESSES
        return

    def chosen(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in addresses if (use_ipv6 if ":" in a else use_ipv4)]

    aioice.ice.get_host_addresses = chosen


_AIOICE_HOST_ADDRESSES = aioice.ice.get_host_addresses


def remote_max_message_bytes(sdp: str) -> int:
    """The largest data channel message the SDP's author accepts, capped at ``MAX_DATA_CHANNEL_MESSAGE_BYTES``."""
    found = _MAX_MESSAGE_SIZE.search(sdp)
    stated = int(found.group(1)) if found else DEFAULT_REMOTE_MAX_MESSAGE_BYTES
    return MAX_DATA_CHANNEL_MESSAGE_BYTES if stated == 0 else min(stated, MAX_DATA_CHANNEL_MESSAGE_BYTES)


def media_kinds(sdp: str) -> list[str]:
    """The kinds of the SDP's media sections in order (``application`` for data channels, ``video``, ...)."""
    return _MEDIA.findall(sdp)
