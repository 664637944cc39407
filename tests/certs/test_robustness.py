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


# --- analyze_alert: arbitrary PEM bodies, logged attributes and DN strings --------------------------

from datetime import timedelta  # noqa: E402

from pydantic import ValidationError  # noqa: E402

from certsoar.alert import CertificateAlert, LoggedCertificate  # noqa: E402
from certsoar.certs import AnalysisContext, analyze_alert  # noqa: E402
from certsoar.certs.dn import parse_dn, rfc4514  # noqa: E402

CTX = AnalysisContext(at=AT, org_domains=["example.com"])
_dn_text = st.one_of(
    st.text(max_size=200),
    st.lists(
        st.tuples(st.sampled_from(["C", "CN", "O", "OU", "ST", "L", "E", "1.2.3", "x"]), st.text(max_size=30)),
        max_size=6,
    ).map(lambda pairs: ",".join(f"{k}={v}" for k, v in pairs)),
    st.lists(st.tuples(st.sampled_from(["C", "CN", "O"]), st.text(max_size=30)), max_size=6).map(
        lambda pairs: "".join(f"/{k}={v}" for k, v in pairs)
    ),
)


@settings(max_examples=200, deadline=None)
@given(_dn_text)
def test_dn_parser_never_raises_and_round_trips(text):
    attrs = parse_dn(text)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in attrs)
    if attrs and all(v == v.strip() and v and "\\" not in v for _, v in attrs):
        assert sorted(parse_dn(rfc4514(attrs))) == sorted(attrs)  # order may flip: RFC 4514 vs X.500 is a guess


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subject=st.one_of(st.none(), _dn_text),
    issuer=st.one_of(st.none(), _dn_text),
    serial=st.one_of(st.none(), st.text(max_size=40), st.from_regex(r"-?[0-9A-F]{1,40}", fullmatch=True)),
    key_type=st.one_of(st.none(), st.sampled_from(["rsa", "ecdsa", "dsa", "gost", ""])),
    key_length=st.one_of(st.none(), st.integers(min_value=0, max_value=100_000)),
    days=st.one_of(st.none(), st.integers(min_value=-100_000, max_value=3_000_000)),
    ca=st.one_of(st.none(), st.booleans()),
    status=st.one_of(
        st.none(),
        st.sampled_from(["ok", "self signed certificate", "self signed certificate in certificate chain"]),
        st.text(max_size=20),
    ),
    source_format=st.sampled_from(["zeek-x509", "suricata-tls", "adcs-4887", "generic"]),
)
def test_logged_certificates_give_facts_or_alert_errors(
    subject, issuer, serial, key_type, key_length, days, ca, status, source_format
):
    try:
        logged = LoggedCertificate(
            subject=subject,
            issuer=issuer,
            serial=serial or "01",
            key_type=key_type,
            key_length=key_length,
            not_before=AT if days is not None else None,
            not_after=AT + timedelta(days=days) if days is not None else None,
            basic_constraints_ca=ca,
            validation_status=status,
        )
        alert = CertificateAlert(id="h", time=AT, source_format=source_format, logged_certificate=logged)
    except (ValidationError, OverflowError):
        return
    try:
        facts = analyze_alert(alert, CTX)
    except AlertError:
        return
    assert facts.source == "log"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600), st.booleans())
def test_arbitrary_pem_bodies_into_analyze_alert(body, with_hash):
    import base64

    pem = "-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(body).decode() + "-----END CERTIFICATE-----\n"
    # built without intake's validation (which refuses a certificate that does not parse): analysis copes alone
    alert = CertificateAlert.model_construct(
        id="p", time=AT, certificate_pem=pem, sha1="ab" * 20 if with_hash else None
    )
    try:
        facts = analyze_alert(alert, CTX)
    except AlertError:
        assert not with_hash  # with a hash to fall back on, damaged PEM still gives facts
        return
    assert facts.source in ("certificate", "fingerprint")


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=len(DER) - 1), st.integers(min_value=0, max_value=255))
def test_damaged_der_through_analyze_alert(position, value):
    import base64

    damaged = bytearray(DER)
    damaged[position] = value
    pem = "-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(bytes(damaged)).decode() + "-----END CERTIFICATE-----\n"
    try:
        facts = analyze_alert(CertificateAlert.model_construct(id="d", time=AT, certificate_pem=pem), CTX)
    except AlertError:
        return
    assert facts.sha256


def test_only_hex_escapes_are_decoded_as_utf8() -> None:
    # found by the property test above: literal non-ASCII characters were re-decoded as UTF-8 too
    assert parse_dn("A=Â\x80;") == [("A", "Â\x80;")]
    assert parse_dn(r"CN=caf\C3\A9") == [("CN", "café")]
    assert parse_dn(r"CN=Ã©\C3\A9") == [("CN", "Ã©é")]
    assert parse_dn(r"CN=a\\0D") == [("CN", "a\\0D")]
    assert parse_dn(r"CN=\FF") == [("CN", "ÿ")]
