"""openssl-ca connector on real ``openssl ca`` directories built by the lab builder."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from realcomponents import require_tool

from certsoar.config import load_config
from certsoar.connections import build_connector
from certsoar.connectors import ConnectorEnv
from certsoar.connectors.ca import CertificateAuthority, RevocationReason
from certsoar.connectors.ca.openssl import OpenSslCa, OpenSslCaSettings
from certsoar.errors import ConfigError, ConnectorRejected, ConnectorUnavailable
from certsoar.lab import LabPaths, ensure_lab

pytestmark = pytest.mark.real

require_tool("openssl", module=True)

ROGUE = "1002"
PASSPHRASE = "Tr0ub4dor&3-lab"

MakeCa = Callable[..., OpenSslCa]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> LabPaths:
    return ensure_lab(tmp_path_factory.mktemp("labtemplate"))


@pytest.fixture
def lab_copy(template: LabPaths, tmp_path: Path) -> LabPaths:
    """A private copy of the lab for one test (the lab holds relative paths only)."""
    root = tmp_path / "lab"
    shutil.copytree(template.root, root)
    from certsoar.lab import lab_paths

    return lab_paths(root)


@pytest.fixture
def make_ca(lab_copy: LabPaths, tmp_path: Path) -> MakeCa:
    def make(**settings: Any) -> OpenSslCa:
        values = {"openssl_config": "lab/ca/openssl.cnf", **settings}
        env = ConnectorEnv(name="openssl-ca", state_dir=tmp_path, config_dir=tmp_path)
        return OpenSslCa(OpenSslCaSettings.model_validate(values), env)

    return make


def _openssl(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL)


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _fake_openssl(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "fake-openssl"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def _encrypt_ca_key(lab: LabPaths) -> None:
    key = lab.ca_dir / "private" / "ca.key"
    res = subprocess.run(
        ["openssl", "pkey", "-in", str(key), "-aes256", "-passout", "env:LAB_TEST_PASS", "-out", f"{key}.enc"],
        capture_output=True,
        text=True,
        env={**os.environ, "LAB_TEST_PASS": PASSPHRASE},
    )
    assert res.returncode == 0, res.stderr
    os.replace(f"{key}.enc", key)
    assert "ENCRYPTED" in key.read_text()


async def test_is_a_certificate_authority(make_ca: MakeCa, lab_copy: LabPaths) -> None:
    ca = make_ca()
    assert isinstance(ca, CertificateAuthority)
    pems = await ca.ca_certificates()
    assert len(pems) == 1
    assert x509.load_pem_x509_certificate(pems[0].encode()) == _cert(lab_copy.ca_cert)


async def test_list_issued_matches_what_was_issued(make_ca: MakeCa, lab_copy: LabPaths) -> None:
    issued = {c.serial: c for c in await make_ca().list_issued()}
    assert set(issued) == {"1000", "1001", "1002"}
    for key in ("intranet", "wiki", "rogue"):
        cert = _cert(lab_copy.certificates[key])
        got = issued[f"{cert.serial_number:X}"]
        assert got.subject == cert.subject.rfc4514_string()
        assert got.sha256 == hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
        assert got.not_after == cert.not_valid_after_utc
        assert got.status == "valid" and got.revoked_at is None
    assert issued[ROGUE].subject.startswith("CN=login.microsoftonline.com,O=Microsoft Corporation")


async def test_list_issued_since_filters_by_not_before(make_ca: MakeCa) -> None:
    recent = await make_ca().list_issued(since=datetime.now(timezone.utc) - timedelta(days=3))
    assert [c.serial for c in recent] == [ROGUE]  # issued ~50 h before the lab was built; the others 14+ days
    assert len(await make_ca().list_issued(since=datetime.now(timezone.utc) - timedelta(days=30))) == 3


async def test_list_issued_without_kept_copies_converts_the_index_subject(make_ca: MakeCa, lab_copy: LabPaths) -> None:
    for pem in (lab_copy.ca_dir / "newcerts").iterdir():
        pem.unlink()
    issued = {c.serial: c for c in await make_ca().list_issued()}
    assert issued[ROGUE].subject == "CN=login.microsoftonline.com,O=Microsoft Corporation,L=Redmond,ST=Washington,C=US"
    assert issued[ROGUE].sha256 is None


async def test_iter_issued_streams_in_issuance_order_with_a_watermark(make_ca: MakeCa, lab_copy: LabPaths) -> None:
    ca = make_ca()
    streamed = [c async for c in ca.iter_issued()]
    assert [c.serial for c in streamed] == ["1000", "1001", "1002"]
    assert [c.position for c in streamed] == ["1:1000", "2:1001", "3:1002"]
    listed = {c.serial: c for c in await ca.list_issued()}
    for cert in streamed:
        assert cert.model_copy(update={"position": None}) == listed[cert.serial]
    rogue = streamed[2]
    assert (rogue.key_type, rogue.is_ca, rogue.ekus) == ("rsa", False, ["1.3.6.1.5.5.7.3.1"])
    assert rogue.key_bits == 2048
    # after the last one: nothing; after the first: the rest, even when an issuance was backdated
    assert [c async for c in ca.iter_issued(streamed[-1].position)] == []
    assert [c.serial async for c in ca.iter_issued("1:1000")] == ["1001", "1002"]


async def test_iter_issued_reads_a_replaced_database_from_the_start(make_ca: MakeCa, lab_copy: LabPaths) -> None:
    database = lab_copy.ca_dir / "index.txt"
    lines = database.read_text().splitlines(keepends=True)
    database.write_text("".join([lines[1], lines[0], lines[2]]))  # line 1 no longer holds serial 1000
    assert [c.serial async for c in make_ca().iter_issued("1:1000")] == ["1001", "1000", "1002"]
    assert [c.serial async for c in make_ca().iter_issued("9:1000")] == ["1001", "1000", "1002"]


@pytest.mark.parametrize("mark", ["", "3", "x:1000", "1:zz", "-1:1000"])
async def test_iter_issued_refuses_a_malformed_watermark(make_ca: MakeCa, mark: str) -> None:
    with pytest.raises(ConnectorRejected, match="watermark"):
        [c async for c in make_ca().iter_issued(mark)]


async def test_iter_issued_does_not_read_ahead(make_ca: MakeCa, lab_copy: LabPaths) -> None:
    """Lazily: a certificate's kept copy is read only when its line is reached (a CA of 100 000 streams)."""
    ca = make_ca()
    stream = ca.iter_issued()
    first = await anext(stream)
    assert first.serial == "1000"
    (lab_copy.ca_dir / "newcerts" / "1002.pem").unlink()
    rest = [c async for c in stream]
    assert rest[-1].serial == "1002" and rest[-1].sha256 is None  # its copy was gone when its line was read


async def test_revoke_publishes_a_crl_that_openssl_honours(make_ca: MakeCa, lab_copy: LabPaths) -> None:
    ca_pem, crl_pem, leaf = str(lab_copy.ca_cert), str(lab_copy.crl), str(lab_copy.certificates["rogue"])
    before = _openssl("verify", "-crl_check", "-CAfile", ca_pem, "-CRLfile", crl_pem, leaf)
    assert before.returncode == 0, before.stdout + before.stderr

    ca = make_ca()
    status = await ca.revoke(ROGUE, RevocationReason.key_compromise)

    assert status.known and status.revoked and status.in_crl
    assert status.serial == ROGUE and status.reason == "keyCompromise"
    assert status.revoked_at is not None and abs(status.revoked_at - datetime.now(timezone.utc)) < timedelta(minutes=5)
    assert status.crl_number is not None and status.crl_next_update is not None
    assert status.crl_next_update - datetime.now(timezone.utc) > timedelta(days=6)
    assert "Revoked" in status.evidence["openssl_ca_status"]
    assert status.evidence["crl_sha256"] == hashlib.sha256(lab_copy.crl.read_bytes()).hexdigest()
    assert "signature valid; serial listed (reason keyCompromise, revoked " in status.evidence["crl_check"]
    assert status.evidence["index_line"].startswith("R\t")

    cli = _openssl("ca", "-config", "openssl.cnf", "-status", ROGUE, cwd=lab_copy.ca_dir)
    assert f"{ROGUE}=Revoked" in cli.stdout + cli.stderr
    after = _openssl("verify", "-crl_check", "-CAfile", ca_pem, "-CRLfile", crl_pem, leaf)
    assert after.returncode != 0 and "certificate revoked" in after.stdout + after.stderr
    others = await ca.status("1000")
    assert others.known and not others.revoked and not others.in_crl


async def test_revoking_twice_writes_nothing(make_ca: MakeCa, lab_copy: LabPaths) -> None:
    ca = make_ca()
    await ca.revoke(ROGUE, RevocationReason.key_compromise)
    files = [lab_copy.crl, lab_copy.ca_dir / "index.txt", lab_copy.ca_dir / "crlnumber"]
    snapshot = [(p.read_bytes(), p.stat().st_mtime_ns) for p in files]
    again = await ca.revoke(ROGUE, RevocationReason.superseded)
    assert again.revoked and again.in_crl and again.reason == "keyCompromise"
    assert [(p.read_bytes(), p.stat().st_mtime_ns) for p in files] == snapshot


async def test_revoked_but_missing_from_the_crl_gets_a_new_crl(make_ca: MakeCa, lab_copy: LabPaths) -> None:
    res = _openssl(
        "ca",
        "-config",
        "openssl.cnf",
        "-batch",
        "-revoke",
        "newcerts/1001.pem",
        "-crl_reason",
        "superseded",
        cwd=lab_copy.ca_dir,
    )
    assert res.returncode == 0, res.stderr
    index_before = (lab_copy.ca_dir / "index.txt").read_bytes()
    ca = make_ca()
    assert not (await ca.status("1001")).in_crl
    status = await ca.revoke("1001", RevocationReason.key_compromise)
    assert status.in_crl and status.reason == "superseded"
    assert (lab_copy.ca_dir / "index.txt").read_bytes() == index_before


async def test_unknown_serial(make_ca: MakeCa, lab_copy: LabPaths) -> None:
    ca = make_ca()
    crl_before = lab_copy.crl.read_bytes()
    with pytest.raises(ConnectorRejected, match="serial ABCDEF was not issued by this CA"):
        await ca.revoke("abcdef", RevocationReason.key_compromise)
    status = await ca.status("ABCDEF")
    assert not status.known and not status.revoked and not status.in_crl
    assert lab_copy.crl.read_bytes() == crl_before


@pytest.mark.parametrize("form", ["1002", "10:02", "00:10:02", "001002", "0x1002", " 10 02 "])
async def test_serial_forms(make_ca: MakeCa, form: str) -> None:
    status = await make_ca().status(form)
    assert status.known and status.serial == ROGUE


async def test_serial_forms_for_revoke(make_ca: MakeCa) -> None:
    status = await make_ca().revoke("00:10:02", RevocationReason.cessation_of_operation)
    assert status.serial == ROGUE and status.revoked and status.in_crl and status.reason == "cessationOfOperation"


async def test_bad_serial_is_rejected(make_ca: MakeCa) -> None:
    with pytest.raises(ConnectorRejected, match="not a hexadecimal serial"):
        await make_ca().status("10;rm -rf /")


@pytest.mark.parametrize("reason", [RevocationReason.privilege_withdrawn, RevocationReason.aa_compromise])
async def test_reasons_openssl_cannot_write_are_rejected(
    make_ca: MakeCa, lab_copy: LabPaths, reason: RevocationReason
) -> None:
    index = (lab_copy.ca_dir / "index.txt").read_bytes()
    with pytest.raises(ConnectorRejected, match=reason.value):
        await make_ca().revoke(ROGUE, reason)
    assert (lab_copy.ca_dir / "index.txt").read_bytes() == index


async def test_passphrase_protected_key(make_ca: MakeCa, lab_copy: LabPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    _encrypt_ca_key(lab_copy)
    monkeypatch.setenv("LAB_CA_PASS", PASSPHRASE)
    status = await make_ca(passphrase="env:LAB_CA_PASS").revoke(ROGUE, RevocationReason.key_compromise)
    assert status.revoked and status.in_crl
    assert PASSPHRASE not in json.dumps(status.model_dump(mode="json"))


async def test_passphrase_from_file(make_ca: MakeCa, lab_copy: LabPaths, tmp_path: Path) -> None:
    _encrypt_ca_key(lab_copy)
    secret = tmp_path / "ca-pass"
    secret.write_text(PASSPHRASE + "\n")
    status = await make_ca(passphrase=f"file:{secret}").revoke(ROGUE, RevocationReason.key_compromise)
    assert status.in_crl


async def test_encrypted_key_without_passphrase_fails_fast(make_ca: MakeCa, lab_copy: LabPaths) -> None:
    _encrypt_ca_key(lab_copy)
    started = time.monotonic()
    with pytest.raises(ConnectorRejected, match="private key"):
        await make_ca(timeout=20).revoke(ROGUE, RevocationReason.key_compromise)
    assert time.monotonic() - started < 10  # no prompt waited for a terminal


async def test_passphrase_stays_off_the_command_line_and_out_of_errors(
    make_ca: MakeCa, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args_log = tmp_path / "args.log"
    fake = _fake_openssl(
        tmp_path, f'echo "$@" >> {args_log}\necho "bad decrypt for key with pass $CERTSOAR_CA_PASSIN" >&2\nexit 1'
    )
    monkeypatch.setenv("LAB_CA_PASS", PASSPHRASE)
    with pytest.raises(ConnectorRejected) as caught:
        await make_ca(passphrase="env:LAB_CA_PASS", openssl=str(fake)).revoke(ROGUE, RevocationReason.key_compromise)
    message = str(caught.value)
    assert "bad decrypt" in message and "***" in message and PASSPHRASE not in message
    args = args_log.read_text()
    assert "-passin env:CERTSOAR_CA_PASSIN" in args and PASSPHRASE not in args


def test_inline_passphrase_is_refused() -> None:
    with pytest.raises(ValueError, match="env:NAME or file:PATH"):
        OpenSslCaSettings(openssl_config=Path("ca.cnf"), passphrase="hunter2")


async def test_a_hanging_openssl_is_unavailable(make_ca: MakeCa, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    fake = _fake_openssl(tmp_path, f"echo $$ > {pid_file}\nexec sleep 30")
    started = time.monotonic()
    with pytest.raises(ConnectorUnavailable, match="timed out"):
        await make_ca(openssl=str(fake), timeout=0.5).status(ROGUE)
    assert time.monotonic() - started < 5
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


async def test_missing_openssl_binary(make_ca: MakeCa, tmp_path: Path) -> None:
    with pytest.raises(ConnectorRejected, match="not found"):
        await make_ca(openssl=str(tmp_path / "no-such-openssl")).status(ROGUE)


def _tamper_signature(crl_path: Path) -> None:
    crl = x509.load_pem_x509_crl(crl_path.read_bytes())
    der = bytearray(crl.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # the last byte belongs to the signature value
    body = base64.encodebytes(bytes(der)).decode().replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    crl_path.write_text("-----BEGIN X509 CRL-----\n" + "\n".join(lines) + "\n-----END X509 CRL-----\n")


async def test_tampered_crl_is_not_trusted(make_ca: MakeCa, lab_copy: LabPaths) -> None:
    ca = make_ca()
    await ca.revoke(ROGUE, RevocationReason.key_compromise)
    _tamper_signature(lab_copy.crl)
    status = await ca.status(ROGUE)
    assert status.revoked and not status.in_crl
    assert "signature invalid" in status.evidence["crl_check"]
    assert status.crl_number is None
    # a revoke publishes a CRL that checks out again
    repaired = await ca.revoke(ROGUE, RevocationReason.key_compromise)
    assert repaired.in_crl and "signature valid" in repaired.evidence["crl_check"]


async def test_crl_from_another_issuer_is_not_trusted(make_ca: MakeCa, lab_copy: LabPaths, tmp_path: Path) -> None:
    other = ensure_lab(tmp_path / "other")
    shutil.copy(other.crl, lab_copy.crl)
    status = await make_ca().status(ROGUE)
    assert not status.in_crl and "crl_check" in status.evidence


async def test_garbage_index_line(make_ca: MakeCa, lab_copy: LabPaths) -> None:
    with (lab_copy.ca_dir / "index.txt").open("a") as fh:
        fh.write("this is not an index line\n")
    with pytest.raises(ConnectorRejected, match=r"index\.txt:4: malformed"):
        await make_ca().list_issued()


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("X\t271229071113Z\t\t2000\tunknown\t/CN=x", "status"),
        ("V\t27122907Z\t\t2000\tunknown\t/CN=x", "expiry"),
        ("V\t271229071113Z\t\tZZ\tunknown\t/CN=x", "serial"),
        ("R\t271229071113Z\tyesterday\t2000\tunknown\t/CN=x", "revocation date"),
    ],
)
async def test_malformed_index_fields(make_ca: MakeCa, lab_copy: LabPaths, line: str, why: str) -> None:
    (lab_copy.ca_dir / "index.txt").write_text(line + "\n")
    with pytest.raises(ConnectorRejected, match=why):
        await make_ca().status("2000")


async def test_concurrent_revocations_are_serialized(make_ca: MakeCa, lab_copy: LabPaths) -> None:
    first, second = make_ca(), make_ca()
    results = await asyncio.gather(
        first.revoke("1000", RevocationReason.superseded),
        second.revoke("1001", RevocationReason.superseded),
        first.revoke(ROGUE, RevocationReason.key_compromise),
    )
    assert all(r.revoked for r in results)
    crl = x509.load_pem_x509_crl(lab_copy.crl.read_bytes())
    assert {r.serial_number for r in crl} == {0x1000, 0x1001, 0x1002}
    assert not list(lab_copy.ca_dir.glob(".crl.pem.*.tmp"))


async def test_built_from_the_lab_config(template: LabPaths, lab_copy: LabPaths) -> None:
    config = load_config(lab_copy.config)
    assert config.connectors.ca is not None
    ca = build_connector("ca", config.connectors.ca, config, None)
    assert isinstance(ca, OpenSslCa)
    assert ca.layout.database == lab_copy.ca_dir / "index.txt"
    assert len(await ca.list_issued()) == 3


def test_explicit_section_and_missing_section(tmp_path: Path, lab_copy: LabPaths) -> None:
    env = ConnectorEnv(name="ca", state_dir=tmp_path, config_dir=lab_copy.ca_dir)
    ca = OpenSslCa(OpenSslCaSettings(openssl_config=Path("openssl.cnf"), section="CA_default"), env)
    assert ca.layout.crl == lab_copy.ca_dir / "." / "crl.pem"
    with pytest.raises(ConfigError, match=r"no section \[nope\]"):
        OpenSslCa(OpenSslCaSettings(openssl_config=Path("openssl.cnf"), section="nope"), env)
    with pytest.raises(ValueError):
        OpenSslCaSettings(openssl_config=Path("openssl.cnf"), section="x -out /etc/passwd")


async def test_crl_defaults_to_dir_crl_pem_and_relative_paths_follow_the_cnf(
    tmp_path: Path, lab_copy: LabPaths
) -> None:
    # A cnf elsewhere, pointing at the CA with a relative dir and no `crl` key.
    cnf = tmp_path / "conf" / "ca.cnf"
    cnf.parent.mkdir()
    text = (lab_copy.ca_dir / "openssl.cnf").read_text()
    text = text.replace("dir               = .", "dir               = ../lab/ca   # relative to this cnf").replace(
        "crl               = $dir/crl.pem\n", ""
    )
    cnf.write_text(text)
    env = ConnectorEnv(name="ca", state_dir=tmp_path, config_dir=tmp_path)
    ca = OpenSslCa(OpenSslCaSettings(openssl_config=Path("conf/ca.cnf")), env)
    assert ca.layout.crl.resolve() == lab_copy.crl.resolve()
    status = await ca.revoke(ROGUE, RevocationReason.key_compromise)
    assert status.in_crl
    assert "Revoked" in status.evidence["openssl_ca_status"]


async def test_certificate_is_what_the_ca_holds_under_the_serial(make_ca: MakeCa, lab_copy: LabPaths) -> None:
    rogue = _cert(lab_copy.certificates["rogue"])
    held = await make_ca().certificate("00:10:02")
    assert held is not None and held.serial == ROGUE
    assert (
        held.subject == rogue.subject.rfc4514_string()
        and held.issuer == _cert(lab_copy.ca_cert).subject.rfc4514_string()
    )
    assert held.sha256 == hashlib.sha256(rogue.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert held.sha1 == hashlib.sha1(rogue.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert held.not_before == rogue.not_valid_before_utc and held.not_after == rogue.not_valid_after_utc
    assert "login.microsoftonline.com" in held.san_dns and held.status == "valid"
    assert await make_ca().certificate("ABCDEF") is None
    with pytest.raises(ConnectorRejected, match="not a hexadecimal serial"):
        await make_ca().certificate("-1002")  # a negative serial is not 1002


async def test_certificate_without_a_kept_copy_comes_from_the_index(make_ca: MakeCa, lab_copy: LabPaths) -> None:
    (lab_copy.ca_dir / "newcerts" / f"{ROGUE}.pem").unlink()
    held = await make_ca().certificate(ROGUE)
    assert held is not None and held.sha256 is None and held.sha1 is None and held.san_dns == []
    assert held.subject.startswith("CN=login.microsoftonline.com,O=Microsoft Corporation")
    assert held.issuer == _cert(lab_copy.ca_cert).subject.rfc4514_string()


def _same_name_other_key(ca: x509.Certificate) -> x509.Certificate:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(ca.subject)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )


async def test_crl_checked_against_every_ca_certificate_of_that_name(make_ca: MakeCa, lab_copy: LabPaths) -> None:
    await make_ca().revoke(ROGUE, RevocationReason.key_compromise)
    real = _cert(lab_copy.ca_cert)
    # a renewed CA certificate (same name, new key) listed first: the CRL was signed by the second one
    lab_copy.ca_cert.write_bytes(
        _same_name_other_key(real).public_bytes(serialization.Encoding.PEM)
        + real.public_bytes(serialization.Encoding.PEM)
    )
    status = await make_ca().status(ROGUE)
    assert status.in_crl and "signature valid" in status.evidence["crl_check"]
    lab_copy.ca_cert.write_bytes(_same_name_other_key(real).public_bytes(serialization.Encoding.PEM))
    forged = await make_ca().status(ROGUE)
    assert not forged.in_crl and "signature invalid" in forged.evidence["crl_check"]


_KILLED_WRITER = """
import asyncio, sys
from pathlib import Path
from certsoar.connectors import ConnectorEnv
from certsoar.connectors.ca import RevocationReason
from certsoar.connectors.ca.openssl import OpenSslCa, OpenSslCaSettings
root = Path(sys.argv[1])
settings = OpenSslCaSettings(openssl_config=root / "lab/ca/openssl.cnf", openssl=sys.argv[2])
ca = OpenSslCa(settings, ConnectorEnv(name="openssl-ca", state_dir=root, config_dir=root))
asyncio.run(ca.revoke("1002", RevocationReason.key_compromise))
"""


async def test_a_writer_killed_during_gencrl_leaves_no_temp_file_behind(
    make_ca: MakeCa, lab_copy: LabPaths, tmp_path: Path
) -> None:
    started = tmp_path / "gencrl-started"
    real = shutil.which("openssl")
    # openssl for everything, except that -gencrl writes half a CRL to its -out file and hangs there
    fake = _fake_openssl(
        tmp_path,
        f"""
case "$*" in
  *-gencrl*)
    out=""; prev=""
    for a in "$@"; do [ "$prev" = "-out" ] && out="$a"; prev="$a"; done
    echo "-----BEGIN X509 CRL-----" > "$out"
    touch {started}
    exec sleep 60;;
esac
exec {real} "$@"
""",
    )
    writer = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(tmp_path), str(fake)], start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert writer.poll() is None and time.monotonic() < deadline, "the writer never reached -gencrl"
            time.sleep(0.05)
        os.killpg(writer.pid, signal.SIGKILL)
        writer.wait(10)
    finally:
        if writer.poll() is None:
            os.killpg(writer.pid, signal.SIGKILL)
    assert list(lab_copy.ca_dir.glob(".crl.pem.*.tmp")), "the kill left no candidate: the test proves nothing"

    status = await make_ca().revoke("1001", RevocationReason.superseded)
    assert status.in_crl
    assert not list(lab_copy.ca_dir.glob(".crl.pem.*.tmp"))
    crl = x509.load_pem_x509_crl(lab_copy.crl.read_bytes())
    assert {r.serial_number for r in crl} == {0x1001, 0x1002}  # the killed revocation reaches the CRL too


async def test_passphrase_variable_reaches_only_the_openssl_calls_that_sign(
    make_ca: MakeCa, lab_copy: LabPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _encrypt_ca_key(lab_copy)
    dumps = tmp_path / "env"
    dumps.mkdir()
    real = shutil.which("openssl")
    fake = _fake_openssl(tmp_path, f'echo "$*" > {dumps}/$$.args\nenv > {dumps}/$$.env\nexec {real} "$@"')
    monkeypatch.setenv("LAB_CA_PASS", PASSPHRASE)
    ca = make_ca(passphrase="env:LAB_CA_PASS", openssl=str(fake))
    await ca.status(ROGUE)
    status = await ca.revoke(ROGUE, RevocationReason.key_compromise)
    assert status.revoked and status.in_crl

    calls = [(args.read_text(), args.with_suffix(".env").read_text()) for args in dumps.glob("*.args")]
    signing = [env for args, env in calls if "-revoke" in args or "-gencrl" in args]
    reading = [env for args, env in calls if "-revoke" not in args and "-gencrl" not in args]
    assert len(signing) == 2 and len(reading) >= 2
    assert all(f"CERTSOAR_CA_PASSIN={PASSPHRASE}" in env for env in signing)
    assert not any("CERTSOAR_CA_PASSIN" in env for env in reading)
    assert not any(PASSPHRASE in env or "LAB_CA_PASS=" in env for env in reading)
    assert not any("LAB_CA_PASS=" in env for env in signing)
