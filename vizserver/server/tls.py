"""The self-signed certificate ``vizserver serve --https`` serves with, made once and reused.

WebXR needs a secure context; a headset reaching this machine by its LAN address only gets one
over HTTPS. The certificate names localhost, 127.0.0.1, ::1, the hostname and the LAN IPv4
addresses, so one certificate (and one "Proceed" on the headset) serves every way of reaching the
server. It lives in the user's config folder and is replaced, with a one-line reason, when it has
expired, cannot be read, or no longer names this machine's hostname or LAN addresses.

Which names a certificate needs and whether a stored one still fits are pure functions of plain
data (:func:`subject_names`, :func:`replacement_reason`); reading the network interfaces and the
files are the functions around them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vizserver.config import SETTINGS_PREFIX
from vizserver.errors import VizServerError

CERT_VALID_DAYS = 825
"""Lifetime of a new certificate (the longest Apple platforms accept for a locally trusted one)."""

CERT_RENEW_BEFORE = dt.timedelta(days=1)
"""A certificate this close to its end is replaced rather than reused."""

CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
TLS_SUBDIR = "tls"
NO_CERTIFICATE = "there is none yet"

_PROBE_ADDRESSES = ("10.254.254.254", "192.168.254.254", "172.31.254.254")
"""Private addresses a UDP socket "connects" to (no packet is sent) to learn which local address routes there."""


def default_config_dir() -> Path:
    """``$VIZSERVER_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/vizserver``, else ``~/.config/vizserver``."""
    explicit = os.environ.get(f"{SETTINGS_PREFIX}CONFIG_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "vizserver"


@dataclass(frozen=True, slots=True)
class SubjectNames:
    """What a certificate's subjectAltName lists: DNS names and IP addresses (as text)."""

    dns: tuple[str, ...]
    ips: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    """What decides whether a stored certificate can be reused."""

    not_after: dt.datetime
    names: SubjectNames


@dataclass(frozen=True, slots=True)
class ServerCertificate:
    """The files uvicorn serves with, the fingerprint a user compares on the headset, and what happened."""

    cert_path: Path
    key_path: Path
    fingerprint: str
    names: SubjectNames
    note: str
    """One line: made, reused, or replaced and why."""


# --- pure ---


def lan_candidates(addresses: Iterable[str]) -> list[str]:
    """The IPv4 addresses among ``addresses`` another device could reach: no loopback, link-local or wildcard."""
    found: list[str] = []
    for text in addresses:
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            continue
        if ip.version != 4 or ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast:
            continue
        if str(ip) not in found:
            found.append(str(ip))
    return found


def subject_names(hostname: str, lan_ips: Iterable[str]) -> SubjectNames:
    """localhost, the hostname (if it is a usable DNS name), loopback and the LAN addresses."""
    dns = ["localhost"]
    name = hostname.strip().rstrip(".").lower()
    if name and name != "localhost" and all(part and len(part) <= 63 for part in name.split(".")):
        with contextlib.suppress(ValueError):
            ipaddress.ip_address(name)
            name = ""  # a hostname that is an address belongs in the IP list, not the DNS list
        if name and name.isascii():
            dns.append(name)
    return SubjectNames(dns=tuple(dns), ips=("127.0.0.1", "::1", *lan_candidates(lan_ips)))


def replacement_reason(facts: CertificateFacts | None, wanted: SubjectNames, now: dt.datetime) -> str | None:
    """Why a stored certificate must be replaced (one phrase), or None when it can be reused."""
    if facts is None:
        return NO_CERTIFICATE
    if facts.not_after - CERT_RENEW_BEFORE <= now:
        verb = "expired" if facts.not_after <= now else "expires"
        return f"it {verb} on {facts.not_after:%Y-%m-%d %H:%M} UTC"
    missing_ips = [ip for ip in wanted.ips if ip not in facts.names.ips]
    if missing_ips:
        return f"it does not name this machine's address {', '.join(missing_ips)}"
    missing_dns = [name for name in wanted.dns if name not in facts.names.dns]
    if missing_dns:
        return f"it does not name this machine's hostname {', '.join(missing_dns)}"
    return None


def format_fingerprint(digest: bytes) -> str:
    """``AB:CD:...``, as certificate viewers show a SHA-256 fingerprint."""
    return ":".join(f"{b:02X}" for b in digest)


def certificate_facts(cert: x509.Certificate) -> CertificateFacts:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = SubjectNames(
            dns=tuple(san.get_values_for_type(x509.DNSName)),
            ips=tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress)),
        )
    except x509.ExtensionNotFound:
        names = SubjectNames(dns=(), ips=())
    return CertificateFacts(not_after=cert.not_valid_after_utc, names=names)


def build_certificate(
    key: ec.EllipticCurvePrivateKey, names: SubjectNames, now: dt.datetime, days: int = CERT_VALID_DAYS
) -> x509.Certificate:
    """A self-signed server certificate for ``names``, valid from a minute before ``now`` for ``days``."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "vizserver"),  # browsers match the SAN, never the CN
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vizserver (self-signed)"),
        ]
    )
    alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in names.dns]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in names.ips]
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


# --- I/O ---


def lan_ipv4_addresses() -> list[str]:
    """This machine's LAN IPv4 addresses, found without sending anything; empty when there is no LAN."""
    seen: list[str] = []
    for probe in _PROBE_ADDRESSES:
        with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.connect((probe, 9))  # UDP connect only picks a route; nothing goes on the wire
            seen.append(str(udp.getsockname()[0]))
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            seen.append(str(info[4][0]))
    return lan_candidates(seen)


def _load(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, CertificateFacts] | None:
    """The stored certificate, or None when either file is missing, unreadable, or they do not match."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if key.public_key() != cert.public_key():
            return None
        return cert, certificate_facts(cert)
    except (OSError, ValueError, TypeError):
        return None


def _write_private(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to a new file created with ``mode``, then move it over ``path``."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)


def ensure_certificate(
    config_dir: Path, hostname: str, lan_ips: Iterable[str], now: dt.datetime | None = None
) -> ServerCertificate:
    """Reuse the certificate in ``config_dir/tls`` when it still fits this machine, else make a new one."""
    now = now or dt.datetime.now(dt.UTC)
    folder = config_dir / TLS_SUBDIR
    cert_path, key_path = folder / CERT_FILE, folder / KEY_FILE
    wanted = subject_names(hostname, lan_ips)
    stored = _load(cert_path, key_path)
    reason = replacement_reason(stored[1] if stored else None, wanted, now)
    if stored is not None and reason is None:
        cert = stored[0]
        with contextlib.suppress(OSError):
            key_path.chmod(0o600)
        note = f"reusing the self-signed certificate {cert_path}"
    else:
        if stored is None and (cert_path.exists() or key_path.exists()):
            reason = "it could not be read or its key does not match"
        key = ec.generate_private_key(ec.SECP256R1())
        cert = build_certificate(key, wanted, now)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            _write_private(key_path, key_pem, 0o600)
            _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        except OSError as exc:
            raise VizServerError(f"{folder}: cannot store the HTTPS certificate ({exc.strerror})") from None
        if reason == NO_CERTIFICATE:
            note = f"made a self-signed certificate {cert_path}"
        else:
            note = f"replaced the self-signed certificate {cert_path}: {reason}"
    return ServerCertificate(
        cert_path=cert_path,
        key_path=key_path,
        fingerprint=format_fingerprint(cert.fingerprint(hashes.SHA256())),
        names=certificate_facts(cert).names,
        note=note,
    )
