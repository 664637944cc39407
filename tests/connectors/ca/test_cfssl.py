"""The cfssl connector against a live ``cfssl serve`` (Debian's golang-cfssl) on loopback, nothing mocked.

The shared CA suite (test_ca_conformance.py) runs it too, through a fault-injecting front; these tests
cover what is cfssl's own: the certdb as inventory, a certdb shared with another CA, the CRL that
``cfssl gencrl`` signs (checked by the openssl CLI), and what cfssl 1.2.0 would get wrong unguarded.
"""

from __future__ import annotations

import base64
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cfssl_server import CfsslServer, make_ca
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from realcomponents import require_tool

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.ca import CertificateAuthority, CrlPublisher, RevocationReason
from certsoar.connectors.ca.cfssl import CfsslCa, CfsslSettings
from certsoar.errors import ConnectorRejected

pytestmark = pytest.mark.real


@pytest.fixture
def server(tmp_path: Path) -> Iterator[CfsslServer]:
    live = CfsslServer(tmp_path / "cfssl")
    yield live
    live.stop()


def connector(server: CfsslServer, tmp_path: Path, **settings: object) -> CfsslCa:
    values = {
        "url": server.url,
        "certdb": str(server.certdb),
        "ca_key": str(server.ca_key),
        "crl": "published/ca.crl",
        **settings,
    }
    return CfsslCa(
        CfsslSettings.model_validate(values), ConnectorEnv(name="cfssl", state_dir=tmp_path, config_dir=tmp_path)
    )


def hex_serial(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "X")


async def test_it_is_a_ca_that_publishes_crls(server: CfsslServer, tmp_path: Path) -> None:
    ca = connector(server, tmp_path)
    assert isinstance(ca, CertificateAuthority) and isinstance(ca, CrlPublisher)
    [pem] = await ca.ca_certificates()
    assert pem.encode() == server.ca_cert.read_bytes()


async def test_the_inventory_streams_from_the_certdb_and_resumes_after_the_watermark(
    server: CfsslServer, tmp_path: Path
) -> None:
    ca = connector(server, tmp_path)
    issued = [server.issue(f"host{i}.corp.example") for i in range(3)]
    every = [c async for c in ca.iter_issued()]
    assert [c.serial for c in every] == [hex_serial(c) for c in issued]
    assert every[1].san_dns == ["host1.corp.example"] and every[1].status == "valid" and every[1].sha256
    rest = [c async for c in ca.iter_issued(every[0].position)]
    assert [c.serial for c in rest] == [hex_serial(c) for c in issued[1:]]
    assert [c async for c in ca.iter_issued(every[-1].position)] == []
    with pytest.raises(ConnectorRejected, match="not a cfssl watermark"):
        [c async for c in ca.iter_issued("3:1001")]


def foreign_row(certdb: Path, folder: Path) -> x509.Certificate:
    """A certificate of another CA, stored in the same certdb the way cfssl stores its own."""
    cert_path, key_path = make_ca(folder, "Another CA")
    other = x509.load_pem_x509_certificate(cert_path.read_bytes())
    other_key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    assert isinstance(other_key, ec.EllipticCurvePrivateKey)
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "elsewhere.corp.example")]))
        .issuer_name(other.subject)
        .public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=10))
        .sign(other_key, hashes.SHA256())
    )
    with sqlite3.connect(certdb) as db:
        db.execute(
            "INSERT INTO certificates (serial_number, authority_key_identifier, ca_label, status, reason, expiry,"
            " revoked_at, pem) VALUES (?, '', '', 'good', 0, ?, '0001-01-01 00:00:00+00:00', ?)",
            (str(cert.serial_number), str(now + timedelta(days=10)), cert.public_bytes(serialization.Encoding.PEM)),
        )
    return cert


async def test_a_certificate_of_another_ca_in_the_certdb_is_not_this_cas(server: CfsslServer, tmp_path: Path) -> None:
    ca = connector(server, tmp_path)
    own = server.issue("wiki.corp.example")
    foreign = foreign_row(server.certdb, tmp_path / "other")
    assert [c.serial async for c in ca.iter_issued()] == [hex_serial(own)]
    assert await ca.certificate(hex_serial(foreign)) is None
    with pytest.raises(ConnectorRejected, match="was not issued by this CA"):
        await ca.revoke(hex_serial(foreign), RevocationReason.key_compromise)
    with sqlite3.connect(server.certdb) as db:
        assert db.execute(
            "SELECT status FROM certificates WHERE serial_number = ?", (str(foreign.serial_number),)
        ).fetchone() == ("good",)


async def test_the_published_crl_verifies_with_openssl_and_lists_exactly_the_revoked(
    server: CfsslServer, tmp_path: Path
) -> None:
    openssl = require_tool("openssl")
    ca = connector(server, tmp_path)
    kept, rogue, elsewhere = (server.issue(f"{n}.corp.example") for n in ("kept", "rogue", "elsewhere"))
    # revoked behind certsoar's back (cfssl's own API): a new CRL lists it too
    status, body = server.call(
        "/api/v1/cfssl/revoke", {"serial": str(elsewhere.serial_number), "authority_key_id": "", "reason": "superseded"}
    )
    assert status == 200 and body["success"]
    after = await ca.revoke(hex_serial(rogue), RevocationReason.key_compromise)
    assert after.revoked and after.in_crl and after.reason == "keyCompromise"
    assert after.crl_next_update is not None and after.crl_next_update > datetime.now(timezone.utc) + timedelta(days=6)
    crl_file = tmp_path / "published" / "ca.crl"
    verified = subprocess.run(
        [openssl, "crl", "-inform", "DER", "-in", str(crl_file), "-CAfile", str(server.ca_cert), "-noout", "-verify"],
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0 and "verify OK" in verified.stdout + verified.stderr
    listed = {entry.serial_number for entry in x509.load_der_x509_crl(crl_file.read_bytes())}
    assert listed == {rogue.serial_number, elsewhere.serial_number}
    assert not (await ca.status(hex_serial(kept))).in_crl


async def test_a_second_revoke_keeps_the_first_time_and_reason(server: CfsslServer, tmp_path: Path) -> None:
    """cfssl 1.2.0 would overwrite them: the connector does not send a revoke the certdb already records."""
    ca = connector(server, tmp_path)
    serial = hex_serial(server.issue("rogue.corp.example"))
    first = await ca.revoke(serial, RevocationReason.key_compromise)
    second = await ca.revoke(serial, RevocationReason.superseded)
    assert second.reason == "keyCompromise" and second.revoked_at == first.revoked_at is not None


async def test_a_crl_signed_by_another_key_is_refused_and_the_published_one_kept(
    server: CfsslServer, tmp_path: Path
) -> None:
    ca = connector(server, tmp_path)
    await ca.revoke(hex_serial(server.issue("rogue.corp.example")), RevocationReason.key_compromise)
    published = (tmp_path / "published" / "ca.crl").read_bytes()
    _, wrong_key = make_ca(tmp_path / "wrong", "Example CFSSL Issuing CA")
    misconfigured = connector(server, tmp_path, ca_key=str(wrong_key))
    with pytest.raises(ConnectorRejected, match="not the CA's"):
        await misconfigured.publish_crl()
    assert (tmp_path / "published" / "ca.crl").read_bytes() == published


async def test_an_unpublished_or_forged_crl_is_not_evidence(server: CfsslServer, tmp_path: Path) -> None:
    ca = connector(server, tmp_path)
    serial = hex_serial(server.issue("rogue.corp.example"))
    assert (await ca.status(serial)).evidence["crl_check"] == "no CRL published yet"
    await ca.revoke(serial, RevocationReason.key_compromise)
    crl_file = tmp_path / "published" / "ca.crl"
    _, forger_key = make_ca(tmp_path / "forger", "Example CFSSL Issuing CA")
    listing = tmp_path / "serials"
    listing.write_text(f"{int(serial, 16)}\n")
    forged = subprocess.run(
        ["cfssl", "gencrl", str(listing), str(server.ca_cert), str(forger_key)], capture_output=True, check=True
    )
    crl_file.write_bytes(base64.b64decode(forged.stdout.strip()))
    status = await ca.status(serial)
    assert status.revoked and not status.in_crl and "signature invalid" in status.evidence["crl_check"]


async def test_a_missing_certdb_is_a_clear_rejection(server: CfsslServer, tmp_path: Path) -> None:
    ca = connector(server, tmp_path, certdb=str(tmp_path / "nowhere.sqlite"))
    with pytest.raises(ConnectorRejected, match="nowhere.sqlite: no such file"):
        await ca.certificate("1001")
    assert not (tmp_path / "nowhere.sqlite").exists()
