"""The same certificate seen by every source gives the same identifiers (cert-domain §0): SHA-256
lower hex from Zeek, colon SHA-1 from Suricata, upper-case hex from ECS and Splunk, DER itself."""

from __future__ import annotations

import pytest
from intake_data import INTAKE, LEAF_SHA1, LEAF_SHA256, ZEEK

from certsoar.intake import load_alert

SOURCES = {
    "pem": (ZEEK.parent / "x509" / "cryptography.io.chain.pem").read_bytes(),
    "zeek-x509": (INTAKE / "zeek" / "x509.cryptography-io.json").read_bytes(),
    "zeek-ssl": (INTAKE / "zeek" / "ssl.cryptography-io.json").read_bytes(),
    "suricata-tls": (INTAKE / "suricata" / "tls-with-certificate.json").read_bytes(),
    "ecs": (INTAKE / "ecs" / "tls-search-hit.json").read_bytes(),
    "splunk-notable": (INTAKE / "splunk" / "notable-export.json").read_bytes(),
}


@pytest.mark.parametrize("fmt", sorted(SOURCES))
def test_each_source_gives_the_same_hashes_and_serial(fmt: str) -> None:
    alert = load_alert(SOURCES[fmt])
    assert alert.source_format == fmt
    assert alert.sha256 in (None, LEAF_SHA256)
    assert alert.sha1 in (None, LEAF_SHA1)
    assert alert.sha256 or alert.sha1
    if alert.logged_certificate and alert.logged_certificate.serial:
        assert alert.logged_certificate.serial == "3F20"


def test_all_sources_agree_where_they_carry_a_hash() -> None:
    alerts = [load_alert(data) for data in SOURCES.values()]
    assert {a.sha256 for a in alerts if a.sha256} == {LEAF_SHA256}
    assert {a.sha1 for a in alerts if a.sha1} == {LEAF_SHA1}
    assert sum(1 for a in alerts if a.sha256) == 6


@pytest.mark.parametrize(
    ("spelling", "field"),
    [
        ("6e:ce:5e:ce:41:92:68:3d:2d:84:e2:5b:0b:a7:e0:4f:9c:b7:eb:7c", "tls.fingerprint"),
        ("6ECE5ECE4192683D2D84E25B0BA7E04F9CB7EB7C", "tls.server.hash.sha1"),
        ("6E:CE:5E:CE:41:92:68:3D:2D:84:E2:5B:0B:A7:E0:4F:9C:B7:EB:7C", "ssl_hash"),
    ],
)
def test_sha1_spellings_normalize_alike(spelling: str, field: str) -> None:
    documents = {
        "tls.fingerprint": f'{{"event_type":"tls","timestamp":"2026-05-30T10:15:02Z","tls":{{"fingerprint":"{spelling}"}}}}',
        "tls.server.hash.sha1": f'{{"@timestamp":"2026-05-30T10:15:02Z","tls":{{"server":{{"hash":{{"sha1":"{spelling}"}}}}}}}}',
        "ssl_hash": f'{{"result":{{"event_id":"x","_time":"1780000000","ssl_hash":"{spelling}"}}}}',
    }
    assert load_alert(documents[field].encode()).sha1 == "6ece5ece4192683d2d84e25b0ba7e04f9cb7eb7c"


@pytest.mark.parametrize(
    "spelling", ["00:C7:D4:3A:9E:11:5B:02", "c7d43a9e115b02", "00C7D43A9E115B02", "c7 d4 3a 9e 11 5b 02"]
)
def test_serial_spellings_normalize_to_upper_hex(spelling: str) -> None:
    doc = f'{{"event_type":"tls","timestamp":"2026-05-30T10:15:02Z","tls":{{"serial":"{spelling}"}}}}'
    alert = load_alert(doc.encode())
    assert alert.logged_certificate is not None and alert.logged_certificate.serial == "C7D43A9E115B02"


def test_adcs_lower_case_serial_matches_the_certificates_upper_case_one() -> None:
    issued = load_alert((INTAKE / "adcs" / "4887-v1.xml").read_bytes())
    revoked = load_alert((INTAKE / "adcs" / "4870-v0.xml").read_bytes())
    assert issued.logged_certificate and revoked.logged_certificate
    assert (
        issued.logged_certificate.serial
        == revoked.logged_certificate.serial
        == "7A0000114F3C9B2E5D81A6F0C4000000001141"
    )
