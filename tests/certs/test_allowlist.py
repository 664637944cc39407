"""Allowlist entries: each key kind, assets (the server only), expiry (an expired entry no longer suppresses),
and the entries the config refuses to load."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from certfactory import NOW, custom, name, pem_of

from certsoar.alert import CertificateAlert, LoggedCertificate
from certsoar.certs import AnalysisContext, analyze_alert, analyze_certificate
from certsoar.config import AllowlistEntry, load_config
from certsoar.errors import ConfigError
from certsoar.intake import load_alert

INTAKE = Path(__file__).resolve().parents[1] / "data" / "intake"
LEAF_SHA256 = "dc4f4d1400d4526052b5da693394dc8560b29cc21df90b9e2ec7416261c73888"

# A vendor product cert that names a brand (cert-domain §1.6: WRCCDC Symantec endpoint certificate).
SYMANTEC = custom(name(("O", "Symantec Corporation"), ("CN", "cottoncandy-PC")), sans=["cottoncandy-pc"])
PEM = pem_of(SYMANTEC).decode()
FACTS = analyze_certificate(PEM.encode(), at=NOW, internal_roots=[], managed_cas=[], org_domains=[])
LATER = NOW + timedelta(days=30)
EARLIER = NOW - timedelta(days=1)


def entry(**fields) -> AllowlistEntry:
    return AllowlistEntry.model_validate(
        {"owner": "endpoint team", "reason": "SEP manager", "expires": LATER, **fields}
    )


def run(*entries: AllowlistEntry, dst_ip: str | None = "10.20.0.5", src_ip: str | None = None, now=NOW):
    alert = CertificateAlert(id="a", time=NOW, certificate_pem=PEM, dst_ip=dst_ip, src_ip=src_ip)
    return analyze_alert(alert, AnalysisContext(at=NOW, allowlist=list(entries), now=now))


def test_the_vendor_cert_fires_exact_brand_without_an_allowlist():
    assert FACTS.self_signed and FACTS.mimicry.kind == "exact_brand_untrusted"


@pytest.mark.parametrize(
    ("fields", "matched_on"),
    [
        ({"sha256": FACTS.sha256.upper()}, ["sha256"]),
        ({"spki_sha256": FACTS.spki_sha256}, ["spki_sha256"]),
        (
            {"subject": r"CN=cottoncandy-PC", "assets": ["10.20.0.0/24"]},
            ["subject ~ 'CN=cottoncandy-PC'", "server 10.20.0.5 in asset 10.20.0.0/24"],
        ),
        ({"issuer": r"O=Symantec Corporation$", "subject": "cottoncandy", "assets": ["10.0.0.0/8"]}, None),
    ],
)
def test_matching_entries(fields, matched_on):
    facts = run(entry(**fields))
    assert facts.allowlisted is not None
    assert facts.allowlisted.owner == "endpoint team" and facts.allowlisted.reason == "SEP manager"
    if matched_on is not None:
        assert facts.allowlisted.matched_on == matched_on


@pytest.mark.parametrize(
    ("fields", "dst_ip"),
    [
        ({"sha256": "00" * 32}, "10.20.0.5"),
        ({"subject": "cottoncandy", "assets": ["192.0.2.0/24"]}, "10.20.0.5"),  # other network
        ({"subject": "cottoncandy", "assets": ["10.20.0.0/24"]}, None),  # alert has no server
        ({"sha256": FACTS.sha256, "assets": ["10.20.0.0/24"]}, None),
        (
            {"sha256": FACTS.sha256, "subject": "somebody-else", "assets": ["10.20.0.0/24"]},
            "10.20.0.5",
        ),  # every criterion must hold
    ],
)
def test_entries_that_do_not_suppress(fields, dst_ip):
    assert run(entry(**fields), dst_ip=dst_ip).allowlisted is None


@pytest.mark.parametrize(
    "fields",
    [
        {"subject": "cottoncandy", "assets": ["10.20.0.0/16"]},
        {"sha256": FACTS.sha256, "assets": ["10.20.0.0/16"]},
        {"issuer": "Symantec", "assets": ["10.20.0.0/16"]},
    ],
)
def test_assets_match_the_server_never_the_client(fields):
    # an outside server presenting the certificate to an internal client is not an internal server
    assert run(entry(**fields), dst_ip="203.0.113.9", src_ip="10.20.0.5").allowlisted is None
    assert run(entry(**fields), dst_ip="10.20.0.5", src_ip="203.0.113.9").allowlisted is not None


@pytest.mark.parametrize(
    ("path", "server", "client"),
    [
        ("zeek/ssl.cryptography-io.json", "198.51.100.80", "192.0.2.15"),  # id.resp_h / id.orig_h
        ("suricata/tls-with-certificate.json", "198.51.100.80", "192.0.2.15"),  # dest_ip / src_ip
        ("ecs/tls-search-hit.json", "198.51.100.80", "192.0.2.15"),  # destination.ip / source.ip
        ("splunk/notable-export.json", "198.51.100.80", "192.0.2.15"),  # dest_ip / src_ip
    ],
)
def test_each_format_is_matched_by_its_server(path, server, client):
    alert = load_alert((INTAKE / path).read_bytes())
    assert (alert.dst_ip, alert.src_ip) == (server, client)
    by_server = entry(sha256=LEAF_SHA256, assets=[f"{server}/32"])
    by_client = entry(sha256=LEAF_SHA256, assets=[f"{client}/32"])
    assert analyze_alert(alert, AnalysisContext(at=alert.time, allowlist=[by_client])).allowlisted is None
    assert analyze_alert(alert, AnalysisContext(at=alert.time, allowlist=[by_server])).allowlisted is not None


def test_an_issuance_alert_has_no_server_so_no_asset_entry_matches_it():
    alert = load_alert((INTAKE / "adcs" / "4887-v1.xml").read_bytes())
    assert alert.dst_ip is None and alert.src_ip is None
    # the config refuses assets that cover every address beside a pattern; matching must not rely on that
    everywhere = AllowlistEntry.model_construct(
        sha256=None,
        spki_sha256=None,
        subject="micr0soft",
        issuer=None,
        assets=["0.0.0.0/0", "::/0"],
        owner="x",
        reason="y",
        expires=LATER,
    )
    assert analyze_alert(alert, AnalysisContext(at=alert.time, allowlist=[everywhere])).allowlisted is None


VALID = {"owner": "it-ops", "reason": "vCenter", "expires": "2027-06-30T00:00:00Z"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"assets": ["10.20.0.0/16"]}, "allowlist[1]: Value error, names no certificate"),
        ({}, "allowlist[1]: Value error, names no certificate"),
        ({"subject": "cottoncandy"}, "allowlist[1]: Value error, a subject/issuer pattern needs assets"),
        (
            {"subject": "([", "assets": ["10.20.0.0/16"]},
            "allowlist[1].subject: Value error, '([' is not a valid regular expression",
        ),
        (
            {"issuer": "a{2,1}", "assets": ["10.20.0.0/16"]},
            "allowlist[1].issuer: Value error, 'a{2,1}' is not a valid regular expression",
        ),
        (
            {"subject": "", "assets": ["10.20.0.0/16"]},
            "allowlist[1].subject: Value error, an empty pattern matches every name",
        ),
        (
            {"subject": "cottoncandy", "assets": ["10.20.0.0/16", "0.0.0.0/0"]},
            "allowlist[1]: Value error, assets ['10.20.0.0/16', '0.0.0.0/0'] cover every address",
        ),
        (
            {"issuer": "Symantec", "assets": ["0.0.0.0/1", "128.0.0.0/1"]},
            "allowlist[1]: Value error, assets ['0.0.0.0/1', '128.0.0.0/1'] cover every address",
        ),
        ({"subject": "cottoncandy", "assets": ["::/0"]}, "allowlist[1]: Value error, assets ['::/0'] cover every"),
        (
            {"subject": ".*", "assets": ["0.0.0.0/0"]},
            "allowlist[1].subject: Value error, '.*' matches any name (it matches ''",
        ),
        ({"issuer": "x*", "assets": ["10.20.0.0/16"]}, "allowlist[1].issuer: Value error, 'x*' matches any name"),
        ({"subject": "^", "assets": ["10.20.0.0/16"]}, "allowlist[1].subject: Value error, '^' matches any name"),
        ({"subject": "(a|)", "assets": ["10.20.0.0/16"]}, "allowlist[1].subject: Value error, '(a|)' matches any name"),
        ({"subject": ".+", "assets": ["10.20.0.0/16"]}, "allowlist[1].subject: Value error, '.+' matches any name"),
        ({"issuer": "CN=", "assets": ["10.20.0.0/16"]}, "allowlist[1].issuer: Value error, 'CN=' matches any name"),
        (
            {"subject": "x", "assets": ["not-a-network"]},
            "allowlist[1].assets: Value error, 'not-a-network' is not an IP network",
        ),
        (  # certsoar.addresses: a zone id is text from the config that would travel on
            {"subject": "x", "assets": ["fe80::%eth0/64"]},
            "allowlist[1].assets: Value error, 'fe80::%eth0/64' is not an IP network",
        ),
        (
            {"subject": "x", "assets": ["10.20.0.0/33"]},
            "allowlist[1].assets: Value error, '10.20.0.0/33' is not an IP network",
        ),
        ({"sha256": "abc"}, "allowlist[1].sha256: Value error, 'abc' is not a SHA-256 (64 hex digits)"),
        ({"sha256": "g" * 64}, "allowlist[1].sha256: Value error"),
        ({"spki_sha256": "ab" * 20}, "allowlist[1].spki_sha256: Value error"),  # a SHA-1 where a SHA-256 belongs
        ({"spki_sha256": "ab" * 33}, "allowlist[1].spki_sha256: Value error"),
    ],
)
def test_bad_entries_are_refused_when_the_config_loads(tmp_path, fields, message):
    config = tmp_path / "config.yaml"
    good = {"sha256": "AB:" * 31 + "AB", **VALID}
    config.write_text(yaml.safe_dump({"allowlist": [good, {**VALID, **fields}]}), encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_config(config)
    assert message in str(refused.value)
    assert "allowlist[0]" not in str(refused.value)  # the good entry (colon hex, upper case) loads


def test_hashes_are_kept_normalized():
    assert entry(sha256="AB:" * 31 + "AB", spki_sha256=" " + "Cd" * 32).model_dump(
        include={"sha256", "spki_sha256"}
    ) == {"sha256": "ab" * 32, "spki_sha256": "cd" * 32}


def test_expired_entry_no_longer_suppresses_and_says_so():
    facts = run(entry(sha256=FACTS.sha256, expires=EARLIER))
    assert facts.allowlisted is None
    assert any("expired" in n and "endpoint team" in n for n in facts.notes)
    still_valid = run(entry(sha256=FACTS.sha256, expires=EARLIER), entry(spki_sha256=FACTS.spki_sha256, owner="pki"))
    assert still_valid.allowlisted is not None and still_valid.allowlisted.owner == "pki"


def test_expiry_is_judged_at_decision_time_not_observation_time():
    facts = run(entry(sha256=FACTS.sha256, expires=NOW + timedelta(hours=1)), now=NOW + timedelta(hours=2))
    assert facts.allowlisted is None


def test_allowlist_applies_to_log_alerts_by_subject_pattern_and_sha256():
    logged = LoggedCertificate(
        subject="CN=cottoncandy-PC,O=Symantec Corporation",
        issuer="CN=cottoncandy-PC,O=Symantec Corporation",
        serial="0A",
    )
    alert = CertificateAlert(id="l", time=NOW, sha256="cd" * 32, dst_ip="10.20.0.5", logged_certificate=logged)
    by_pattern = analyze_alert(
        alert, AnalysisContext(at=NOW, allowlist=[entry(subject="cottoncandy", assets=["10.20.0.0/16"])])
    )
    assert by_pattern.source == "log" and by_pattern.allowlisted is not None
    by_hash = analyze_alert(alert, AnalysisContext(at=NOW, allowlist=[entry(sha256="CD" * 32)]))
    assert by_hash.allowlisted is not None and by_hash.allowlisted.matched_on == ["sha256"]


NESSUS_CA = name(
    ("C", "US"),
    ("ST", "NY"),
    ("L", "New York"),
    ("O", "Nessus Users United"),
    ("OU", "Nessus Certification Authority"),
    ("CN", "Nessus Certification Authority"),
)


@pytest.mark.parametrize(
    ("subject_cn", "allowlisted"),
    [("nessus-7.corp.example", True), ("nessus-7.corp.example.evil.net", False), ("x.nessus-7.corp.example", False)],
)
def test_the_examples_pattern_entry_allowlists_what_it_says(subject_cn: str, allowlisted: bool) -> None:
    """The example config's subject/issuer entry matches a Nessus scanner's certificate (RFC 4514 DNs, most
    specific attribute first) on the scanners' network, and not a name that merely begins or ends like it."""
    config = load_config(Path(__file__).resolve().parents[2] / "examples" / "config.yaml", with_files=False)
    [pattern_entry] = [e for e in config.allowlist if e.subject]
    cert = custom(name(("O", "Nessus Users United"), ("CN", subject_cn)), issuer=NESSUS_CA)
    alert = CertificateAlert(id="n", time=NOW, certificate_pem=pem_of(cert).decode(), dst_ip="10.20.5.9")
    facts = analyze_alert(alert, AnalysisContext(at=NOW, allowlist=[pattern_entry]))
    assert (facts.allowlisted is not None) is allowlisted, (facts.subject, facts.issuer)
