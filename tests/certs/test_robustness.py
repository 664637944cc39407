"""Analysis degrades on damaged input: it returns facts or raises AlertError, nothing else."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certsoar.certs import analyze_certificate
from certsoar.certs.fingerprints import normalize_digest, normalize_serial
from certsoar.errors import AlertError

DER = (Path(__file__).resolve().parent.parent / "data" / "x509" / "e-trust.ru.der").read_bytes()
AT = datetime(2020, 1, 1, tzinfo=timezone.utc)


def run(data: bytes) -> None:
    try:
        facts = analyze_certificate(data, at=AT, internal_roots=[], managed_cas=[], org_domains=["example.com"])
    except AlertError:
        return
    assert facts.parsed and facts.sha256


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_random_bytes(data):
    run(data)


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=len(DER) - 1), st.integers(min_value=0, max_value=255))
def test_one_damaged_byte_of_a_real_certificate(position, value):
    damaged = bytearray(DER)
    damaged[position] = value
    run(bytes(damaged))


def test_serial_and_digest_spellings():
    assert normalize_serial("00:C7:D4:3A") == "C7D43A"
    assert normalize_serial(" c7 d4 3a ") == "C7D43A"
    assert normalize_serial("-4316693ED") == "-4316693ED"
    assert normalize_serial("00") == "0"
    assert normalize_serial("xyz") is None and normalize_serial("") is None
    assert normalize_digest("6E:CE:5E") == "6ece5e"
    assert normalize_digest("zz") is None
