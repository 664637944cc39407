"""Real and edge-case certificates from cryptography-vectors (tests/data/x509/SOURCE.txt): never raise."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from certsoar.certs import analyze_certificate

DATA = Path(__file__).resolve().parent.parent / "data" / "x509"
AT = datetime(2016, 6, 1, tzinfo=timezone.utc)


def analyze(name: str, at: datetime = AT, domains: list[str] | None = None):
    return analyze_certificate(
        (DATA / name).read_bytes(), at=at, internal_roots=[], managed_cas=[], org_domains=domains or []
    )


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.iterdir() if p.suffix in (".pem", ".der")))
def test_every_vector_is_analyzed_without_raising(name):
    facts = analyze(name)
    assert facts.parsed and facts.sha256 and len(facts.sha256) == 64
    assert facts.serial


def test_cryptography_io_chain_does_not_validate_against_current_certifi():
    facts = analyze("cryptography.io.chain.pem", domains=["cryptography.io"])
    assert facts.names == ["www.cryptography.io", "cryptography.io"]
    assert facts.outside_domains == []
    assert facts.chain.store == "none" and "public:" in (facts.chain.reason or "")
    assert facts.self_signed is False
    assert facts.mimicry.matched is False  # GeoTrust name, intermediate present and it did sign


def test_gost_key_degrades_to_facts():
    facts = analyze("e-trust.ru.der")
    assert facts.key_type == "unsupported (1.2.643.2.2.19)"
    assert "unsupported_key" in facts.anomalies
    assert any("unsupported key type" in e for e in facts.errors)
    assert facts.spki_sha256 is None
    assert facts.self_signed_name is True
    assert facts.mimicry.matched is False  # Cyrillic CA name: script alone never fires


def test_negative_serial_is_reported():
    facts = analyze("custom__negative_serial.pem")
    assert facts.serial == "-4316693ED"
    assert "non_positive_serial" in facts.anomalies


def test_v1_md5_512_bit():
    facts = analyze("v1_cert.pem")
    assert {"x509_v1", "weak_key", "weak_signature_hash"} <= set(facts.anomalies)
    assert facts.key_size == 512


def test_md2_root_cannot_be_verified_and_says_so():
    facts = analyze("verisign_md2_root.pem")
    assert facts.signature_algorithm == "md2WithRSAEncryption"
    assert "weak_signature_hash" in facts.anomalies
    assert facts.self_signed is False and facts.self_signed_name is True
    assert any("not verified" in e for e in facts.errors)


def test_idna_names_are_decoded_and_legit_hungarian_issuer_does_not_fire():
    facts = analyze("utf8-dnsname.pem", at=datetime(2012, 1, 1, tzinfo=timezone.utc))
    assert "biztosítás.hu" in facts.names
    assert facts.issuer_org == "NetLock Kft."
    assert facts.mimicry.matched is False


def test_broken_extensions_become_errors():
    facts = analyze("wosign-bc-invalid.pem")
    assert any(e.startswith("extensions:") for e in facts.errors)
    assert "missing_san" not in facts.anomalies  # unknown, not missing


def test_digicert_root_in_certifi_chains_public():
    facts = analyze("ecdsa_root.pem", at=datetime(2020, 1, 1, tzinfo=timezone.utc))
    assert facts.chain.store == "public"
    assert facts.self_signed is True
    assert facts.mimicry.matched is False  # the real DigiCert root is trusted
    assert "ca_true_on_leaf" not in facts.anomalies


@pytest.mark.parametrize(
    ("name", "tool", "exact"),
    [
        ("custom__ian_uri.pem", "openssl", True),  # issuer C=AU, ST=Some-State, O=Internet Widgits Pty Ltd
        ("custom__dsa_selfsigned_ca.pem", "openssl", False),  # only O= kept the default
    ],
)
def test_openssl_defaults_on_real_certificates(name, tool, exact):
    facts = analyze(name)
    assert [(m.tool, m.exact) for m in facts.tools] == [(tool, exact)]
    assert facts.ioc_reasons == []  # OpenSSL's defaults are never an indicator by themselves


@pytest.mark.parametrize(
    "name", ["cryptography.io.chain.pem", "wildcard_san.pem", "utf8-dnsname.pem", "ecdsa_root.pem", "e-trust.ru.der"]
)
def test_real_certificates_match_no_offensive_tool(name):
    assert analyze(name).tools == []


def test_ca_named_lifetime_on_real_leaves():
    lets_encrypt = analyze("cryptography-scts.pem")
    assert lets_encrypt.public_ca_named and not lets_encrypt.lifetime_exceeded
    trustwave = analyze("wildcard_san.pem")  # 1095 days from 2014-12-15: within the 60-month rule of its day
    assert trustwave.validity_days == 1095 and trustwave.lifetime_exceeded is False
    assert trustwave.ioc_reasons == []
