"""Allowlist entries: each key kind, assets, expiry (an expired entry no longer suppresses)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from certfactory import NOW, custom, name, pem_of

from certsoar.alert import CertificateAlert, LoggedCertificate
from certsoar.certs import AnalysisContext, analyze_alert, analyze_certificate
from certsoar.config import AllowlistEntry

# A vendor product cert that names a brand (cert-domain §1.6: WRCCDC Symantec endpoint certificate).
SYMANTEC = custom(name(("O", "Symantec Corporation"), ("CN", "cottoncandy-PC")), sans=["cottoncandy-pc"])
PEM = pem_of(SYMANTEC).decode()
FACTS = analyze_certificate(PEM.encode(), at=NOW, internal_roots=[], managed_cas=[], org_domains=[])
LATER = NOW + timedelta(days=30)
EARLIER = NOW - timedelta(days=1)


def entry(**fields) -> AllowlistEntry:
    return AllowlistEntry.model_validate({"owner": "endpoint team", "reason": "SEP manager", "expires": LATER, **fields})


def run(*entries: AllowlistEntry, dst_ip: str | None = "10.20.0.5", now=NOW):
    alert = CertificateAlert(id="a", time=NOW, certificate_pem=PEM, dst_ip=dst_ip)
    return analyze_alert(alert, AnalysisContext(at=NOW, allowlist=list(entries), now=now))


def test_the_vendor_cert_fires_exact_brand_without_an_allowlist():
    assert FACTS.self_signed and FACTS.mimicry.kind == "exact_brand_untrusted"


@pytest.mark.parametrize(
    ("fields", "matched_on"),
    [
        ({"sha256": FACTS.sha256.upper()}, ["sha256"]),
        ({"spki_sha256": FACTS.spki_sha256}, ["spki_sha256"]),
        ({"subject": r"CN=cottoncandy-PC", "assets": ["10.20.0.0/24"]}, ["subject ~ 'CN=cottoncandy-PC'", "asset 10.20.0.0/24 contains 10.20.0.5"]),
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
    ("fields", "dst_ip", "note"),
    [
        ({"sha256": "00" * 32}, "10.20.0.5", None),
        ({"subject": "cottoncandy"}, "10.20.0.5", "needs asset networks"),  # pattern without assets never applies
        ({"subject": "cottoncandy", "assets": ["192.0.2.0/24"]}, "10.20.0.5", None),  # other network
        ({"subject": "cottoncandy", "assets": ["10.20.0.0/24"]}, None, None),  # alert has no address
        ({"subject": "([", "assets": ["10.20.0.0/24"]}, "10.20.0.5", "not a valid regular expression"),
        ({"subject": "cottoncandy", "assets": ["not-a-network"]}, "10.20.0.5", "not an IP network"),
        ({"sha256": FACTS.sha256, "subject": "somebody-else"}, "10.20.0.5", None),  # every criterion must hold
    ],
)
def test_entries_that_do_not_suppress(fields, dst_ip, note):
    facts = run(entry(**fields), dst_ip=dst_ip)
    assert facts.allowlisted is None
    if note:
        assert any(note in n for n in facts.notes), facts.notes


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
    logged = LoggedCertificate(subject="CN=cottoncandy-PC,O=Symantec Corporation", issuer="CN=cottoncandy-PC,O=Symantec Corporation", serial="0A")
    alert = CertificateAlert(id="l", time=NOW, sha256="cd" * 32, dst_ip="10.20.0.5", logged_certificate=logged)
    by_pattern = analyze_alert(alert, AnalysisContext(at=NOW, allowlist=[entry(subject="cottoncandy", assets=["10.20.0.0/16"])]))
    assert by_pattern.source == "log" and by_pattern.allowlisted is not None
    by_hash = analyze_alert(alert, AnalysisContext(at=NOW, allowlist=[entry(sha256="CD" * 32)]))
    assert by_hash.allowlisted is not None and by_hash.allowlisted.matched_on == ["sha256"]
