"""Several CAs: a revocation goes to the CA that issued the certificate, found by its issuer name and authority
key identifier against each CA's own certificates (certsoar.routing). Two real ``openssl ca`` directories of
the same name (each with its own key, both numbering serials from 1000) and each HTTP CA vendor's fake."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from ca_vendors import CaVendor
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from realcomponents import require_tool

from certsoar.actions.ca import ExpectedCertificate, LookupInput, RevokeInput, lookup, revoke
from certsoar.certs.facts import authority_key_id
from certsoar.config import Config
from certsoar.connections import Connections
from certsoar.connectors import ConnectorEnv
from certsoar.connectors.ca.openssl import OpenSslCa, OpenSslCaSettings
from certsoar.context import ActionContext
from certsoar.errors import ActionError
from certsoar.lab.openssl_ca import build_ca_dir, issue_leaf
from certsoar.ledger import EffectLedger
from certsoar.store import RunStore

NOW = datetime.now(timezone.utc)


class OpensslCa:
    """A real ``openssl ca`` directory, the connector on it and the leaf it issued."""

    def __init__(self, folder: Path, name: str) -> None:
        cnf = build_ca_dir(folder)
        self.folder = folder
        self.connector = OpenSslCa(
            OpenSslCaSettings(openssl_config=cnf), ConnectorEnv(name=name, state_dir=folder, config_dir=folder)
        )
        self.leaf = issue_leaf(
            folder,
            name="wiki.corp.example",
            subject="/C=US/O=Example Corp/CN=wiki.corp.example",
            key_type="ec",
            not_before=NOW - timedelta(hours=1),
            cert_out=folder / "wiki.pem",
            key_out=folder / "wiki.key",
        )
        self.ca_cert = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())

    def index(self) -> bytes:
        return (self.folder / "index.txt").read_bytes()


@pytest.fixture
def two_cas(tmp_path: Path) -> tuple[OpensslCa, OpensslCa]:
    require_tool("openssl")
    return OpensslCa(tmp_path / "a", "a"), OpensslCa(tmp_path / "b", "b")


def context(tmp_path: Path, store: RunStore, cas: dict[str, Any], run: str) -> ActionContext:
    config = Config.model_validate({"state_dir": str(tmp_path / "state"), "config_dir": tmp_path})
    run_id, _ = store.create_run(playbook="p", alert_id=run, trigger="test", alert={})
    return ActionContext(
        run_id=run_id,
        step_id="revoke",
        dry_run=False,
        now=datetime.now(timezone.utc),
        config=config,
        connectors=Connections(config, store, overrides={"ca": cas}),
        ledger=EffectLedger(store, store, run_id, dry_run=False),
        templates=None,  # type: ignore[arg-type]
    )


def claim(cert: x509.Certificate, **fields: Any) -> ExpectedCertificate:
    """What certificate.analyze hands the revocation of ``cert``: fingerprint, names and AKI."""
    values = {
        "sha256": cert.fingerprint(hashes.SHA256()).hex(),
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "authority_key_id": authority_key_id(cert),
    }
    return ExpectedCertificate.model_validate({**values, **fields})


def serial_of(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "X")


async def test_the_revocation_goes_to_the_ca_that_issued_it(
    two_cas: tuple[OpensslCa, OpensslCa], ca_vendor: CaVendor, tmp_path: Path
) -> None:
    if not ca_vendor.reads:  # ca.revoke compares the CA's own copy first: step-ca's API cannot hand it back
        pytest.skip(f"{ca_vendor.name}: its API cannot hand back what it issued (see test_{ca_vendor.name}.py)")
    a, b = two_cas
    assert a.leaf.issuer == b.leaf.issuer and serial_of(a.leaf) == serial_of(b.leaf) == "1000"  # same name, serial
    assert authority_key_id(b.leaf) != authority_key_id(a.leaf)  # not the same key
    vendor = ca_vendor.build()
    cas = {"a": a.connector, "b": b.connector, ca_vendor.name: vendor}
    store = RunStore(tmp_path / "runs.sqlite3")
    a_index = a.index()

    done = await revoke(RevokeInput(serial="1000", expect=claim(b.leaf)), context(tmp_path, store, cas, "r1"))
    assert done.ca == "b" and done.effect.key == "ca:b:revoke:1000" and done.effect.changed
    assert (await b.connector.status("1000")).revoked
    assert not (await a.connector.status("1000")).revoked and a.index() == a_index

    serial = ca_vendor.fake.issue("vpn.corp.example")
    held = await vendor.certificate(serial)
    assert held is not None and held.sha256 is not None and held.issuer is not None
    expect = ExpectedCertificate(sha256=held.sha256, subject=held.subject, issuer=held.issuer)
    seen = await lookup(LookupInput(serial=serial, expect=expect), context(tmp_path, store, cas, "r2"))
    assert seen.ca == ca_vendor.name and seen.matches_alert
    done = await revoke(RevokeInput(serial=serial, expect=expect), context(tmp_path, store, cas, "r3"))
    assert done.ca == ca_vendor.name and done.effect.key == f"ca:{ca_vendor.name}:revoke:{serial}"
    assert ca_vendor.fake.revocations(serial) == 1 and a.index() == a_index


async def test_a_certificate_naming_our_ca_under_another_key_is_issued_by_none(
    two_cas: tuple[OpensslCa, OpensslCa], tmp_path: Path
) -> None:
    """The forged issuer: our CA's name and serial 1000, signed by the adversary's key (its AKI says so)."""
    a, b = two_cas
    key = ec.generate_private_key(ec.SECP256R1())
    forged = (
        x509.CertificateBuilder()
        .subject_name(a.leaf.subject)
        .issuer_name(a.ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(a.leaf.serial_number)
        .not_valid_before(NOW - timedelta(hours=1))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    store = RunStore(tmp_path / "runs.sqlite3")
    cas = {"a": a.connector, "b": b.connector}
    before = (a.index(), b.index())
    expect = claim(forged, sha256=None, sha1=None)  # only the names and the key: the fingerprint cannot save it
    wanted = (
        rf"no configured CA issued this certificate: issuer '{a.ca_cert.subject.rfc4514_string()}', authority key id"
    )
    with pytest.raises(ActionError, match=wanted):
        await revoke(RevokeInput(serial="1000", expect=expect), context(tmp_path, store, cas, "r1"))
    with pytest.raises(ActionError, match=wanted):
        await lookup(LookupInput(serial="1000", expect=expect), context(tmp_path, store, cas, "r2"))
    assert (a.index(), b.index()) == before


async def test_without_a_key_identifier_the_name_leads_and_the_held_certificate_decides(
    two_cas: tuple[OpensslCa, OpensslCa], tmp_path: Path
) -> None:
    a, b = two_cas
    store = RunStore(tmp_path / "runs.sqlite3")
    cas = {"a": a.connector, "b": b.connector}
    # both CAs bear the name; only a holds this fingerprint under 1000
    done = await revoke(
        RevokeInput(serial="1000", expect=claim(a.leaf, authority_key_id=None)), context(tmp_path, store, cas, "r1")
    )
    assert done.ca == "a" and (await a.connector.status("1000")).revoked
    assert not (await b.connector.status("1000")).revoked

    # names alone cannot tell the two wiki certificates apart: nothing is revoked
    names = ExpectedCertificate(subject=b.leaf.subject.rfc4514_string(), issuer=b.leaf.issuer.rfc4514_string())
    with pytest.raises(ActionError, match="the CAs a, b each hold the expected certificate; name its issuer"):
        await revoke(RevokeInput(serial="1000", expect=names), context(tmp_path, store, cas, "r2"))
    assert not (await b.connector.status("1000")).revoked

    with pytest.raises(ActionError, match="no configured CA issued this certificate: issuer 'CN=Another CA'"):
        await revoke(
            RevokeInput(serial="1000", expect=ExpectedCertificate(sha256="11" * 32, issuer="CN=Another CA")),
            context(tmp_path, store, cas, "r3"),
        )
