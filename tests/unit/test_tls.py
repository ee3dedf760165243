"""The pure parts of ``serve --https``: which names a certificate needs, when a stored one is replaced, the URLs."""

from __future__ import annotations

import datetime as dt
import ipaddress

from cryptography.hazmat.primitives.asymmetric import ec

from vizserver.cli.serve import headset_urls, qr_code_text
from vizserver.server.tls import (
    CERT_VALID_DAYS,
    NO_CERTIFICATE,
    CertificateFacts,
    SubjectNames,
    build_certificate,
    certificate_facts,
    format_fingerprint,
    lan_candidates,
    lan_ipv4_addresses,
    replacement_reason,
    subject_names,
)

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def test_lan_candidates_keep_reachable_ipv4_only_once() -> None:
    found = lan_candidates(["192.168.1.7", "127.0.1.1", "169.254.3.4", "fe80::1", "0.0.0.0", "nonsense", "192.168.1.7"])
    assert found == ["192.168.1.7"]


def test_subject_names_cover_localhost_hostname_loopback_and_lan() -> None:
    names = subject_names("Workstation.lan.", ["10.0.0.5", "127.0.1.1"])
    assert names.dns == ("localhost", "workstation.lan")
    assert names.ips == ("127.0.0.1", "::1", "10.0.0.5")


def test_subject_names_leave_out_hostnames_that_are_not_dns_names() -> None:
    assert subject_names("192.168.0.2", []).dns == ("localhost",)
    assert subject_names("bad..name", []).dns == ("localhost",)
    assert subject_names("", []).dns == ("localhost",)
    assert subject_names("localhost", []).dns == ("localhost",)


def facts(not_after: dt.datetime, names: SubjectNames) -> CertificateFacts:
    return CertificateFacts(not_after=not_after, names=names)


def test_a_fitting_certificate_is_reused() -> None:
    wanted = subject_names("box", ["192.168.1.7"])
    assert replacement_reason(facts(NOW + dt.timedelta(days=400), wanted), wanted, NOW) is None


def test_a_certificate_naming_more_than_needed_is_reused() -> None:
    stored = subject_names("box", ["192.168.1.7", "10.0.0.5"])
    wanted = subject_names("box", ["10.0.0.5"])
    assert replacement_reason(facts(NOW + dt.timedelta(days=400), stored), wanted, NOW) is None


def test_no_certificate_expired_expiring_new_address_and_new_hostname_are_replaced() -> None:
    wanted = subject_names("box", ["192.168.1.7"])
    later = NOW + dt.timedelta(days=400)
    assert replacement_reason(None, wanted, NOW) == NO_CERTIFICATE
    assert "expired on 2026-11-24" in str(replacement_reason(facts(NOW - dt.timedelta(days=1), wanted), wanted, NOW))
    assert "expires on" in str(replacement_reason(facts(NOW + dt.timedelta(hours=2), wanted), wanted, NOW))
    moved = subject_names("box", ["10.0.0.5"])
    assert "address 192.168.1.7" in str(replacement_reason(facts(later, moved), wanted, NOW))
    renamed = subject_names("other", ["192.168.1.7"])
    assert "hostname box" in str(replacement_reason(facts(later, renamed), wanted, NOW))


def test_built_certificate_names_what_was_asked_for_and_lasts_825_days() -> None:
    names = subject_names("box", ["192.168.1.7"])
    cert = build_certificate(ec.generate_private_key(ec.SECP256R1()), names, NOW)
    read_back = certificate_facts(cert)
    assert read_back.names == names
    assert read_back.not_after == NOW + dt.timedelta(days=CERT_VALID_DAYS)
    assert cert.not_valid_before_utc < NOW
    assert replacement_reason(read_back, names, NOW) is None


def test_fingerprint_is_colon_separated_upper_hex() -> None:
    assert format_fingerprint(bytes([0, 171, 255])) == "00:AB:FF"


def test_lan_addresses_of_this_machine_are_never_loopback() -> None:
    for text in lan_ipv4_addresses():
        ip = ipaddress.ip_address(text)
        assert ip.version == 4 and not ip.is_loopback


def test_headset_urls_for_wildcard_specific_and_loopback_binds() -> None:
    lan = ["192.168.1.7", "10.0.0.5"]
    assert headset_urls("0.0.0.0", 8443, lan) == ["https://192.168.1.7:8443", "https://10.0.0.5:8443"]
    assert headset_urls("0.0.0.0", 8443, []) == []
    assert headset_urls("10.0.0.5", 8443, lan) == ["https://10.0.0.5:8443"]
    assert headset_urls("127.0.0.1", 8443, lan) == []
    assert headset_urls("localhost", 8443, lan) == []
    assert headset_urls("box.lan", 8443, lan) == ["https://box.lan:8443"]


def test_qr_code_is_a_square_block_drawing_that_changes_with_the_url() -> None:
    drawing = qr_code_text("https://192.168.1.7:8443")
    rows = drawing.splitlines()
    assert set(drawing) <= {"█", "▀", "▄", " ", "\n"}
    assert len({len(row) for row in rows}) == 1
    assert abs(len(rows[0]) - 2 * len(rows)) <= 2  # two modules per character row
    assert qr_code_text("https://10.0.0.5:8443") != drawing
