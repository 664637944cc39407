from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certsoar.actions.certificate import AnalyzeInput, analyze
from certsoar.alert import CertificateAlert
from certsoar.config import Config
from certsoar.connections import Connections
from certsoar.context import ActionContext
from certsoar.errors import ConfigError
from certsoar.registry import get_action

SEEN = datetime(2026, 5, 30, 10, 15, tzinfo=timezone.utc)


def make(
    cn: str,
    *,
    org: str | None = None,
    signer: tuple[x509.Certificate, Any] | None = None,
    ca: bool = False,
    sans: list[str] | None = None,
) -> tuple[x509.Certificate, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)] + (
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)] if org else []
    )
    name = x509.Name(attrs)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(signer[0].subject if signer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(SEEN - timedelta(days=10))
        .not_valid_after(SEEN + timedelta(days=80))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
    return builder.sign(signer[1] if signer else key, hashes.SHA256()), key


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class FakeCa:
    def __init__(self, cas: list[x509.Certificate]) -> None:
        self.cas = cas
        self.calls = 0

    async def ca_certificates(self) -> list[str]:
        self.calls += 1
        return [pem(c) for c in self.cas]


def context(tmp_path: Path, overrides: dict[str, Any] | None = None, **config: Any) -> ActionContext:
    cfg = Config.model_validate({"state_dir": str(tmp_path / "state"), "config_dir": tmp_path, **config})
    return ActionContext(
        run_id="r1",
        step_id="analyze",
        dry_run=False,
        now=SEEN,
        config=cfg,
        connectors=Connections(cfg, overrides=overrides),
        ledger=None,
        templates=None,  # type: ignore[arg-type]
    )


def alert(**fields: Any) -> CertificateAlert:
    return CertificateAlert.model_validate({"id": "a-1", "time": SEEN, **fields})


def test_registered():
    spec = get_action("certificate.analyze")
    assert spec.input_model is AnalyzeInput and spec.mutates is False


async def test_uses_internal_roots_org_domains_and_managed_ca(tmp_path):
    root = make("Corp Root CA", org="Corp", ca=True)
    leaf = make("vpn.corp.example", signer=root, sans=["vpn.corp.example", "vpn.evil.example"])
    (tmp_path / "roots.pem").write_text(pem(root[0]))
    ca = FakeCa([root[0]])
    ctx = context(
        tmp_path,
        overrides={"ca": ca},
        trust={"internal_roots": ["roots.pem"]},
        organization={"domains": ["Corp.Example"]},
    )
    facts = await analyze(AnalyzeInput(alert=alert(certificate_pem=pem(leaf[0]))), ctx)
    assert facts.parsed and facts.chain.store == "internal"
    assert facts.issued_by_managed_ca and facts.managed_ca == "O=Corp,CN=Corp Root CA"
    assert facts.outside_domains == ["vpn.evil.example"]
    assert ca.calls == 1


async def test_self_signed_brand_impersonation_without_connectors(tmp_path):
    fake = make("Microsoft Update Secure Server CA 2.1", org="Micr0soft Corporation", sans=["update.example.net"])
    facts = await analyze(AnalyzeInput(alert=alert(certificate_pem=pem(fake[0]))), context(tmp_path))
    assert facts.self_signed and facts.chain.store == "none"
    assert facts.mimicry.kind == "homoglyph" and facts.mimicry.brand == "Microsoft Corporation"
    assert facts.issued_by_managed_ca is False


async def test_hash_only_alert(tmp_path):
    facts = await analyze(
        AnalyzeInput(alert=alert(sha1="6E:CE:5E:CE:41:92:68:3D:2D:84:E2:5B:0B:A7:E0:4F:9C:B7:EB:7C")), context(tmp_path)
    )
    assert facts.parsed is False and facts.sha1 == "6ece5ece4192683d2d84e25b0ba7e04f9cb7eb7c"


async def test_alert_hash_that_disagrees_with_the_certificate_is_recorded(tmp_path):
    cert = make("x.example.net", sans=["x.example.net"])
    facts = await analyze(AnalyzeInput(alert=alert(certificate_pem=pem(cert[0]), sha256="00" * 32)), context(tmp_path))
    assert any("does not match the certificate" in e for e in facts.errors)


async def test_unreadable_internal_roots_is_a_config_error(tmp_path):
    cert = make("x.example.net", sans=["x.example.net"])
    (tmp_path / "bad.pem").write_text("garbage")
    for roots, message in ((["missing.pem"], "cannot read"), (["bad.pem"], "not a PEM")):
        ctx = context(tmp_path, trust={"internal_roots": roots})
        with pytest.raises(ConfigError, match=message):
            await analyze(AnalyzeInput(alert=alert(certificate_pem=pem(cert[0]))), ctx)


PKITS = Path(__file__).resolve().parent.parent / "data" / "pkits"
SSLBL = Path(__file__).resolve().parent.parent / "data" / "sslbl" / "sslblacklist-excerpt.csv"


async def test_crls_sslbl_and_allowlist_come_from_the_config(tmp_path):
    import shutil

    from cryptography.hazmat.primitives.serialization import Encoding

    anchor = x509.load_der_x509_certificate((PKITS / "TrustAnchorRootCertificate.crt").read_bytes())
    good_ca = x509.load_der_x509_certificate((PKITS / "GoodCACert.crt").read_bytes())
    revoked = x509.load_der_x509_certificate((PKITS / "InvalidRevokedEETest3EE.crt").read_bytes())
    (tmp_path / "anchor.pem").write_bytes(anchor.public_bytes(Encoding.PEM))
    shutil.copy(PKITS / "GoodCACRL.crl", tmp_path / "good.crl")
    shutil.copy(SSLBL, tmp_path / "sslbl.csv")
    ctx = context(
        tmp_path,
        overrides={"ca": FakeCa([good_ca])},
        trust={"internal_roots": ["anchor.pem"], "crls": ["good.crl"]},
        intel={"sslbl": "sslbl.csv"},
        allowlist=[{"spki_sha256": "00" * 32, "owner": "pki", "reason": "x", "expires": "2020-01-01T00:00:00Z"}],
    )
    old = datetime(2020, 1, 1, tzinfo=timezone.utc)
    facts = await analyze(AnalyzeInput(alert=CertificateAlert(id="r", time=old, certificate_pem=pem(revoked))), ctx)
    assert facts.issued_by_managed_ca and facts.chain.store == "internal"
    assert facts.revocation is not None and facts.revocation.revoked and facts.revocation.reason == "keyCompromise"
    assert facts.sslbl is None and facts.allowlisted is None

    listed = await analyze(AnalyzeInput(alert=alert(sha1="2e3519b7cb61a3cd6167f727df993f68311085ea")), ctx)
    assert listed.source == "fingerprint" and listed.sslbl is not None and listed.sslbl.reason == "DCRat C&C"
    assert listed.ioc_reasons


async def test_allowlist_expiry_uses_the_run_clock(tmp_path):
    cert = make("sep.corp.example", org="Symantec Corporation", sans=["sep.corp.example"])
    entry = {
        "subject": "sep",
        "assets": ["10.0.0.0/8"],
        "owner": "endpoint",
        "reason": "SEP",
        "expires": (SEEN + timedelta(days=1)).isoformat(),
    }
    facts = await analyze(
        AnalyzeInput(alert=alert(certificate_pem=pem(cert[0]), dst_ip="10.1.2.3")), context(tmp_path, allowlist=[entry])
    )
    assert facts.allowlisted is not None and facts.allowlisted.owner == "endpoint"
    expired = {**entry, "expires": (SEEN - timedelta(minutes=1)).isoformat()}
    facts = await analyze(
        AnalyzeInput(alert=alert(certificate_pem=pem(cert[0]), dst_ip="10.1.2.3")),
        context(tmp_path, allowlist=[expired]),
    )
    assert facts.allowlisted is None and any("expired" in n for n in facts.notes)


async def test_logged_certificate_alert(tmp_path):
    from certsoar.alert import LoggedCertificate

    logged = LoggedCertificate(
        subject="O=Mythic C2",
        issuer="O=Mythic C2",
        serial="00:C7:D4",
        not_before=SEEN - timedelta(days=5),
        not_after=SEEN + timedelta(days=360),
    )
    facts = await analyze(AnalyzeInput(alert=alert(logged_certificate=logged, sha256="ab" * 32)), context(tmp_path))
    assert facts.source == "log" and facts.serial == "C7D4"
    assert [m.tool for m in facts.tools] == ["mythic"] and facts.tools[0].exact
    assert any("mythic" in r for r in facts.ioc_reasons)


async def test_unreadable_or_bad_crl_is_a_config_error(tmp_path):
    cert = make("x.example.net", sans=["x.example.net"])
    (tmp_path / "bad.crl").write_bytes(b"not a crl")
    for crls, message in ((["missing.crl"], "cannot read"), (["bad.crl"], "not a PEM or DER CRL")):
        with pytest.raises(ConfigError, match=message):
            await analyze(
                AnalyzeInput(alert=alert(certificate_pem=pem(cert[0]))), context(tmp_path, trust={"crls": crls})
            )


async def test_without_intel_config_the_shipped_sslbl_and_catalogue_apply(tmp_path):
    # a ServHelper certificate of the shipped snapshot, neither in the tests' excerpt nor in the catalogue
    facts = await analyze(AnalyzeInput(alert=alert(sha1="bf4d87aba677c15c9a34630f8baa0ede663a115b")), context(tmp_path))
    assert facts.sslbl is not None and facts.sslbl.reason == "ServHelper C&C"
    assert facts.tools == []
    async_rat = make_named("AsyncRAT Server")
    facts = await analyze(AnalyzeInput(alert=alert(certificate_pem=pem(async_rat))), context(tmp_path))
    assert [m.tool for m in facts.tools if m.exact] == ["asyncrat"] and facts.ioc_reasons


def make_named(common_name: str) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(SEEN - timedelta(days=2))
        .not_valid_after(SEEN + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )


def _user_certificate(signer: tuple[x509.Certificate, Any], upn: str) -> x509.Certificate:
    """A User-template certificate our CA issued: subject CN=Mallory, the SAN a UPN otherName (UTF8String)."""
    key = ec.generate_private_key(ec.SECP256R1())
    value = upn.encode()
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Mallory")]))
        .issuer_name(signer[0].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(SEEN - timedelta(days=1))
        .not_valid_after(SEEN + timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.OtherName(x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3"), bytes([0x0C, len(value)]) + value)]
            ),
            critical=False,
        )
        .sign(signer[1], hashes.SHA256())
    )


def _issued_event(cert: x509.Certificate, requester: str, subject: str = "CN=Mallory") -> dict[str, Any]:
    """The CA's 4887 as Splunk WinEventLog writes it (OSSEM-DD field names, AD CS's lower-case serial)."""
    return {
        "_time": (SEEN - timedelta(hours=2)).isoformat(),
        "EventCode": "4887",
        "ComputerName": "ca01.corp.example",
        "RecordNumber": "77120",
        "RequestId": "5120",
        "Requester": requester,
        "Attributes": "CertificateTemplate:User\nccm:ws-0199.corp.example",
        "Disposition": "3",
        "Subject": subject,
        "SubjectAlternativeName": "Other Name:\n     Principal Name=administrator@corp.example\n",
        "CertificateTemplate": "User",
        "SerialNumber": format(cert.serial_number, "x"),
    }


@pytest.mark.parametrize(
    ("requester", "subject", "expected_requester", "others"),
    [
        ("CORP\\mallory", "CN=Mallory", "CORP\\mallory", ["administrator@corp.example"]),
        ("CORP\\Administrator", "CN=Mallory", "CORP\\Administrator", []),
        # the event names another certificate under the serial: it is not this certificate's request
        ("CORP\\mallory", "CN=Someone Else", None, []),
    ],
)
async def test_the_requester_comes_from_the_cas_issuance_event_in_the_siem(
    tmp_path, requester: str, subject: str, expected_requester: str | None, others: list[str]
):
    root = make("Corp Issuing CA", org="Corp", ca=True)
    leaf = _user_certificate(root, "administrator@corp.example")
    (tmp_path / "security.jsonl").write_text(json.dumps(_issued_event(leaf, requester, subject)) + "\n")
    ctx = context(
        tmp_path,
        overrides={"ca": FakeCa([root[0]])},
        connectors={"siem": {"type": "files", "paths": ["security.jsonl"]}},
        organization={"domains": ["corp.example"]},
    )
    facts = await analyze(AnalyzeInput(alert=alert(certificate_pem=pem(leaf))), ctx)
    assert facts.issued_by_managed_ca and facts.upns == ["administrator@corp.example"]
    assert facts.requester == expected_requester and facts.names_others == others
    if expected_requester:
        assert any("the CA's issuance event (request 5120" in n for n in facts.notes)


async def test_a_certificate_no_internal_ca_issued_is_not_joined_to_an_issuance_event(tmp_path):
    stranger = make("Elsewhere CA", org="Elsewhere", ca=True)
    leaf = _user_certificate(stranger, "administrator@corp.example")
    (tmp_path / "security.jsonl").write_text(json.dumps(_issued_event(leaf, "CORP\\mallory")) + "\n")
    ctx = context(tmp_path, connectors={"siem": {"type": "files", "paths": ["security.jsonl"]}})
    facts = await analyze(AnalyzeInput(alert=alert(certificate_pem=pem(leaf))), ctx)
    assert facts.requester is None and facts.names_others == []
