"""ca.lookup and ca.revoke: the certificate the CA holds under a serial must be the one the alert is
about (fingerprint when known, else subject and issuer by name) before anything is revoked."""

from __future__ import annotations

import asyncio
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from pydantic import ValidationError
from realcomponents import require_tool

from certsoar.actions.ca import (
    ExpectedCertificate,
    LookupInput,
    RevokeInput,
    identity_mismatch,
    lookup,
    revoke,
)
from certsoar.config import Config
from certsoar.connections import Connections
from certsoar.connectors import ConnectorEnv
from certsoar.connectors.ca import IssuedCertificate
from certsoar.connectors.ca.openssl import OpenSslCa, OpenSslCaSettings
from certsoar.context import ActionContext
from certsoar.errors import ActionError
from certsoar.lab import LabPaths, ensure_lab, lab_paths
from certsoar.playbook import parse_playbook
from certsoar.validate import check_playbook

CA_NAME = "CN=Example Corp Internal Issuing CA,O=Example Corp,C=US"
WIKI = IssuedCertificate(
    serial="1001",
    subject="CN=wiki.corp.example,O=Example Corp,C=US",
    issuer=CA_NAME,
    not_after=datetime(2027, 1, 1, tzinfo=timezone.utc),
    status="valid",
    sha256="11" * 32,
    sha1="22" * 20,
)


def expect(**fields: Any) -> ExpectedCertificate:
    return ExpectedCertificate.model_validate(fields)


@pytest.mark.parametrize(
    "claim",
    [
        {"sha256": "11" * 32},
        {"sha256": ":".join(["11"] * 32).upper(), "subject": "CN=anything"},  # the fingerprint decides
        {"sha1": "22" * 20},
        {"subject": "CN=wiki.corp.example,O=Example Corp,C=US", "issuer": CA_NAME},
        {
            "subject": "/C=US/O=Example Corp/CN=wiki.corp.example",
            "issuer": "C=US, O=Example Corp, CN=Example Corp Internal Issuing CA",
        },
        {"subject": "cn=wiki.corp.example, o=Example Corp, c=US", "issuer": CA_NAME},
    ],
)
def test_the_same_certificate_matches(claim: dict[str, str]) -> None:
    assert identity_mismatch(expect(**claim), WIKI) is None


@pytest.mark.parametrize(
    ("claim", "named"),
    [
        (
            {"sha256": "33" * 32, "subject": WIKI.subject, "issuer": CA_NAME},
            ["SHA256 " + "33" * 32, "SHA256 " + "11" * 32],
        ),
        ({"sha1": "44" * 20}, ["SHA1 " + "44" * 20, "SHA1 " + "22" * 20]),
        (
            {"subject": "CN=login.microsoftonline.com", "issuer": CA_NAME},
            ["login.microsoftonline.com", "wiki.corp.example"],
        ),
        (
            {"subject": WIKI.subject, "issuer": "CN=Example Corp Internal Issuing CA,O=Evil Corp,C=US"},
            ["Evil Corp", CA_NAME],
        ),
        (
            {"subject": "CN=wiki.corp.example", "issuer": CA_NAME},
            ["'CN=wiki.corp.example'"],
        ),  # a part of the name is not the name
        ({"subject": "not a name", "issuer": "neither"}, ["not a name"]),
    ],
)
def test_another_certificate_is_named_as_a_mismatch(claim: dict[str, str], named: list[str]) -> None:
    mismatch = identity_mismatch(expect(**claim), WIKI)
    assert mismatch is not None and all(part in mismatch for part in named), mismatch


def test_a_fingerprint_the_ca_cannot_check_falls_back_to_the_names_or_fails() -> None:
    no_copy = WIKI.model_copy(update={"sha256": None, "sha1": None})
    assert identity_mismatch(expect(sha256="11" * 32, subject=WIKI.subject, issuer=CA_NAME), no_copy) is None
    assert "login" in (identity_mismatch(expect(sha256="11" * 32, subject="CN=login", issuer=CA_NAME), no_copy) or "")
    assert "kept no copy" in (identity_mismatch(expect(sha256="11" * 32), no_copy) or "")


@pytest.mark.parametrize(
    "claim",
    [
        {},
        {"subject": "CN=x"},
        {"issuer": CA_NAME},
        {"sha256": "", "subject": "", "issuer": ""},
        {"sha256": "abc"},
        {"sha1": "zz" * 20},
    ],
)
def test_an_expectation_must_identify_a_certificate(claim: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        ExpectedCertificate.model_validate(claim)


@pytest.mark.parametrize("serial", ["-1002", "10;02", "", "0x"])
def test_serials_a_ca_cannot_have_issued_are_refused(serial: str) -> None:
    with pytest.raises(ValidationError, match="serial"):
        RevokeInput(serial=serial, expect=expect(sha1="22" * 20))


def _problems(steps: str) -> list[str]:
    text = (
        "id: t\ntrigger: {alert: certificate}\nsteps:\n  - {id: g, approval: {roles: [x]}}\n"
        "  - id: r\n    when: '{{ steps.g.approved }}'\n    action: ca.revoke\n    with:\n" + steps
    )
    playbook, raw = parse_playbook(text, "pb.yaml")
    return [str(e) for e in check_playbook(playbook, raw, "pb.yaml")]


def test_validate_refuses_a_revocation_without_an_expected_certificate() -> None:
    assert any("ca.revoke needs input 'expect'" in p for p in _problems("      serial: '1002'\n"))
    assert _problems("      serial: '1002'\n      expect: {sha256: '{{ alert.sha256 }}'}\n") == []


# --- against a real OpenSSL CA --------------------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> LabPaths:
    require_tool("openssl")
    return ensure_lab(tmp_path_factory.mktemp("calab"))


@pytest.fixture
def lab(template: LabPaths, tmp_path: Path) -> LabPaths:
    shutil.copytree(template.root, tmp_path / "lab")
    return lab_paths(tmp_path / "lab")


def _context(lab: LabPaths, tmp_path: Path) -> ActionContext:
    config = Config.model_validate({"state_dir": str(tmp_path / "state"), "config_dir": tmp_path})
    ca = OpenSslCa(
        OpenSslCaSettings(openssl_config=lab.ca_config),
        ConnectorEnv(name="openssl-ca", state_dir=tmp_path, config_dir=tmp_path),
    )
    return ActionContext(
        run_id="r1",
        step_id="revoke",
        dry_run=False,
        now=datetime.now(timezone.utc),
        config=config,
        connectors=Connections(config, overrides={"ca": ca}),
        ledger=None,
        templates=None,
    )  # type: ignore[arg-type]


def _serial(path: Path) -> str:
    return format(x509.load_pem_x509_certificate(path.read_bytes()).serial_number, "X")


def test_the_forged_claim_revokes_nothing(lab: LabPaths, tmp_path: Path) -> None:
    wiki = _serial(lab.certificates["wiki"])
    forged = expect(
        subject="CN=login.microsoftonline.com,O=Microsoft Corporation,L=Redmond,ST=Washington,C=US", issuer=CA_NAME
    )
    index, crl = (lab.ca_dir / "index.txt").read_bytes(), lab.crl.read_bytes()
    ctx = _context(lab, tmp_path)

    seen = asyncio.run(lookup(LookupInput(serial=wiki, expect=forged), ctx))
    assert seen.found and not seen.matches_alert and seen.certificate is not None
    assert seen.certificate.subject.startswith("CN=wiki.corp.example")
    assert (
        seen.mismatch is not None
        and "login.microsoftonline.com" in seen.mismatch
        and "wiki.corp.example" in seen.mismatch
    )

    with pytest.raises(
        ActionError, match=rf"not revoking serial {wiki}: .*login\.microsoftonline\.com.*wiki\.corp\.example"
    ):
        asyncio.run(revoke(RevokeInput(serial=wiki, expect=forged), ctx))
    assert (lab.ca_dir / "index.txt").read_bytes() == index and lab.crl.read_bytes() == crl

    with pytest.raises(ActionError, match="issued no certificate under it"):
        asyncio.run(revoke(RevokeInput(serial="ABCDEF", expect=forged), ctx))


def test_the_true_claim_matches_by_fingerprint_and_by_name(lab: LabPaths, tmp_path: Path) -> None:
    rogue = x509.load_pem_x509_certificate(lab.certificates["rogue"].read_bytes())
    ctx = _context(lab, tmp_path)
    serial = format(rogue.serial_number, "X")
    by_hash = asyncio.run(
        lookup(LookupInput(serial=serial, expect=expect(sha256=rogue.fingerprint(hashes.SHA256()).hex())), ctx)
    )
    by_name = asyncio.run(
        lookup(
            LookupInput(
                serial=serial,
                expect=expect(subject=rogue.subject.rfc4514_string(), issuer=rogue.issuer.rfc4514_string()),
            ),
            ctx,
        )
    )
    assert by_hash.matches_alert and by_name.matches_alert and by_hash.mismatch is None
