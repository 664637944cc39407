"""The bundled lab: built once, loadable, with real certificates and logs in real formats."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certsoar import lab
from certsoar.alert import parse_alert
from certsoar.certs import analyze_certificate
from certsoar.config import load_config
from certsoar.errors import ConfigError
from certsoar.lab import MIMICRY_SERVERS, ROGUE_SERVER, ensure_lab

pytestmark = pytest.mark.real

if shutil.which("openssl") is None:  # pragma: no cover - openssl is installed where the suite runs
    pytest.skip("the lab needs the openssl command", allow_module_level=True)

SSL_FIELDS = (
    "ts uid id.orig_h id.orig_p id.resp_h id.resp_p version cipher curve server_name resumed last_alert "
    "next_protocol established ssl_history cert_chain_fps client_cert_chain_fps sni_matches_cert validation_status"
).split()
X509_FIELDS = (
    "ts fingerprint certificate.version certificate.serial certificate.subject certificate.issuer "
    "certificate.not_valid_before certificate.not_valid_after certificate.key_alg certificate.sig_alg "
    "certificate.key_type certificate.key_length certificate.exponent certificate.curve san.dns san.uri "
    "san.email san.ip basic_constraints.ca basic_constraints.path_len host_cert client_cert"
).split()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[lab.LabPaths, datetime, datetime]:
    before = datetime.now(timezone.utc)
    paths = ensure_lab(tmp_path_factory.mktemp("state"))
    return paths, before, datetime.now(timezone.utc)


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _zeek(path: Path) -> tuple[list[str], list[str], list[dict[str, str]]]:
    fields: list[str] = []
    types: list[str] = []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#fields\t"):
            fields = line.split("\t")[1:]
        elif line.startswith("#types\t"):
            types = line.split("\t")[1:]
        elif not line.startswith("#"):
            values = line.split("\t")
            assert len(values) == len(fields), line
            rows.append(dict(zip(fields, values)))
    return fields, types, rows


def _snapshot(root: Path) -> dict[str, tuple[int, str]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_ensure_lab_is_idempotent(built: tuple[lab.LabPaths, datetime, datetime]) -> None:
    paths = built[0]
    before = _snapshot(paths.root)
    again = ensure_lab(paths.root.parent)
    assert again == paths
    assert _snapshot(paths.root) == before
    # nothing but the lab itself was left in the state dir
    assert sorted(p.name for p in paths.root.parent.iterdir()) == ["lab"]


def test_layout(built: tuple[lab.LabPaths, datetime, datetime]) -> None:
    paths = built[0]
    for folder in ("firewall", "proxy", "outbox", "certs", "logs/zeek", "logs/suricata", "ca/newcerts"):
        assert (paths.root / folder).is_dir(), folder
    for name in ("index.txt", "serial", "crlnumber", "private/ca.key", "ca.pem", "crl.pem", "openssl.cnf"):
        assert (paths.ca_dir / name).is_file(), name
    for cert in paths.certificates.values():
        assert cert.is_file()
    assert set(paths.alerts) == {"mimicry", "internal"}
    # the lab refers to nothing outside itself: it can be moved
    assert str(paths.root) not in paths.ca_config.read_text() + paths.config.read_text()


def test_config_loads(built: tuple[lab.LabPaths, datetime, datetime]) -> None:
    paths = built[0]
    config = load_config(paths.config)
    assert config.state_dir.resolve() == paths.root.parent.resolve()
    assert config.connectors.ca is not None and config.connectors.ca.type == "openssl-ca"
    assert config.resolve(config.connectors.ca.settings()["openssl_config"]) == paths.ca_config
    assert config.connectors.siem is not None and config.connectors.siem.settings() == {"paths": ["logs"]}
    assert [n.type for n in config.connectors.notify] == ["console", "file"]
    assert [config.resolve(r) for r in config.trust.internal_roots] == [paths.ca_cert]
    assert config.organization.domains == ["corp.example"]
    assert config.analysts["bob"].roles == ["soc-tier2", "soc-lead"]


def test_config_less_load_uses_the_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CERTSOAR_CONFIG", raising=False)
    monkeypatch.setenv("CERTSOAR_HOME", str(tmp_path / "home"))
    config = load_config()
    assert config.config_dir == (tmp_path / "home" / "lab").resolve()
    assert (tmp_path / "home" / "lab" / "ca" / "crl.pem").is_file()


def test_alerts_parse(built: tuple[lab.LabPaths, datetime, datetime]) -> None:
    paths, start, end = built
    mimicry = parse_alert(paths.alerts["mimicry"].read_text())
    internal = parse_alert(paths.alerts["internal"].read_text())
    assert mimicry.sni == "cdn-update.net" and mimicry.dst_ip in MIMICRY_SERVERS and mimicry.dst_port == 443
    assert internal.sni == "login.microsoftonline.com" and (internal.dst_ip, internal.dst_port) == ROGUE_SERVER
    for alert, key in ((mimicry, "mimicry"), (internal, "rogue")):
        assert alert.src_ip is not None and alert.src_ip.startswith("10.20.0.")
        assert start - timedelta(hours=6) < alert.time < end
        assert alert.certificate_pem is not None
        assert _der(x509.load_pem_x509_certificate(alert.certificate_pem.encode())) == _der(_cert(paths.certificates[key]))
    assert mimicry.id != internal.id


def test_openssl_verify_accepts_the_issued_leaves(built: tuple[lab.LabPaths, datetime, datetime]) -> None:
    paths = built[0]
    for key in ("intranet", "wiki", "rogue"):
        res = subprocess.run(["openssl", "verify", "-CAfile", str(paths.ca_cert), str(paths.certificates[key])], capture_output=True, text=True)
        assert res.returncode == 0 and res.stdout.strip().endswith(": OK"), res.stdout + res.stderr
    res = subprocess.run(["openssl", "verify", "-CAfile", str(paths.ca_cert), str(paths.certificates["mimicry"])], capture_output=True, text=True)
    assert res.returncode != 0


def test_leaves_were_issued_by_openssl_ca(built: tuple[lab.LabPaths, datetime, datetime]) -> None:
    paths = built[0]
    index = (paths.ca_dir / "index.txt").read_text().splitlines()
    assert len(index) == 3
    ca = _cert(paths.ca_cert)
    assert ca.subject.rfc4514_string() == "CN=Example Corp Internal Issuing CA,O=Example Corp,C=US"
    for key, name in (("intranet", "intranet.corp.example"), ("wiki", "wiki.corp.example"), ("rogue", "login.microsoftonline.com")):
        cert = _cert(paths.certificates[key])
        kept = paths.ca_dir / "newcerts" / f"{cert.serial_number:X}.pem"
        assert _der(_cert(kept)) == _der(cert)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == [name]
        assert cert.issuer == ca.subject
        assert any(line.endswith(f"CN={name}") for line in index)


def test_ca_is_valid_before_every_leaf_and_log_event(built: tuple[lab.LabPaths, datetime, datetime]) -> None:
    paths, start, _end = built
    ca = _cert(paths.ca_cert)
    ca.verify_directly_issued_by(ca)
    assert ca.not_valid_before_utc <= start - lab.CA_BACKDATE + timedelta(minutes=1)
    oldest_leaf = min(_cert(paths.certificates[key]).not_valid_before_utc for key in ("intranet", "wiki", "rogue"))
    assert ca.not_valid_before_utc < oldest_leaf - timedelta(days=7)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # the CA's own signature left no trace in the CA database: index.txt lists the three leaves only
    assert len((paths.ca_dir / "index.txt").read_text().splitlines()) == 3
    assert not (paths.ca_dir / ".root-signing").exists()


def test_rogue_leaf_chains_to_the_internal_ca_at_alert_time(built: tuple[lab.LabPaths, datetime, datetime]) -> None:
    paths = built[0]
    alert = parse_alert(paths.alerts["internal"].read_text())
    facts = analyze_certificate(
        paths.certificates["rogue"].read_bytes(),
        at=alert.time,
        internal_roots=[_cert(paths.ca_cert)],
        managed_cas=[],
        org_domains=["corp.example"],
    )
    assert facts.chain.store == "internal", facts.chain.reason


def test_mimicry_cert_is_self_signed(built: tuple[lab.LabPaths, datetime, datetime]) -> None:
    cert = _cert(built[0].certificates["mimicry"])
    assert cert.subject == cert.issuer
    assert cert.issuer.rfc4514_string() == "CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1,O=DigiCert lnc,C=US"
    cert.verify_directly_issued_by(cert)  # raises if its own key did not sign it
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["cdn-update.net"]


def test_zeek_logs(built: tuple[lab.LabPaths, datetime, datetime]) -> None:
    paths, start, end = built
    zeek = paths.logs_dir / "zeek"
    ssl_fields, ssl_types, ssl_rows = _zeek(zeek / "ssl.log")
    x509_fields, x509_types, x509_rows = _zeek(zeek / "x509.log")
    assert ssl_fields == SSL_FIELDS and len(ssl_types) == len(SSL_FIELDS)
    assert x509_fields == X509_FIELDS and len(x509_types) == len(X509_FIELDS)
    assert (zeek / "ssl.log").read_text().startswith("#separator \\x09\n#set_separator\t,\n")

    certs = {key: _cert(p) for key, p in paths.certificates.items()} | {"ca": _cert(paths.ca_cert)}
    sha256 = {key: hashlib.sha256(_der(c)).hexdigest() for key, c in certs.items()}
    by_fp = {row["fingerprint"]: row for row in x509_rows}
    assert set(by_fp) == set(sha256.values())
    assert by_fp[sha256["ca"]]["host_cert"] == "F" and by_fp[sha256["ca"]]["basic_constraints.ca"] == "T"
    mimicry_row = by_fp[sha256["mimicry"]]
    assert mimicry_row["certificate.subject"] == mimicry_row["certificate.issuer"]
    assert mimicry_row["san.dns"] == "cdn-update.net"
    assert int(mimicry_row["certificate.serial"], 16) == certs["mimicry"].serial_number
    assert float(mimicry_row["certificate.not_valid_before"]) == certs["mimicry"].not_valid_before_utc.timestamp()

    servers: dict[str, set[tuple[str, str]]] = {}
    for row in ssl_rows:
        ts = datetime.fromtimestamp(float(row["ts"]), timezone.utc)
        assert start - timedelta(hours=6) < ts < end
        if row["cert_chain_fps"] != "-":
            for fp in row["cert_chain_fps"].split(","):
                assert fp in by_fp
            servers.setdefault(row["cert_chain_fps"].split(",")[0], set()).add((row["id.resp_h"], row["id.resp_p"]))
    assert servers[sha256["mimicry"]] == {(ip, "443") for ip in MIMICRY_SERVERS}
    assert servers[sha256["rogue"]] == {(ROGUE_SERVER[0], str(ROGUE_SERVER[1]))}
    # the internal servers send leaf then CA, and their chains validate (the sensor trusts the internal CA)
    for key in ("intranet", "wiki", "rogue"):
        rows = [row for row in ssl_rows if row["cert_chain_fps"].split(",")[0] == sha256[key]]
        assert rows and all(row["cert_chain_fps"] == f"{sha256[key]},{sha256['ca']}" for row in rows)
        assert {row["validation_status"] for row in rows} == {"ok"}
    assert all(row["id.orig_h"].startswith("10.20.0.") for row in ssl_rows)
    # unrelated benign sessions are there too
    assert any(row["version"] == "TLSv13" and row["cert_chain_fps"] == "-" for row in ssl_rows)


def test_suricata_eve(built: tuple[lab.LabPaths, datetime, datetime]) -> None:
    paths = built[0]
    events = [json.loads(line) for line in (paths.logs_dir / "suricata" / "eve.json").read_text().splitlines()]
    tls = [e for e in events if e["event_type"] == "tls"]
    assert tls and any(e["event_type"] != "tls" for e in events)
    certs = {key: _cert(p) for key, p in paths.certificates.items()}
    sha1 = {":".join(f"{b:02x}" for b in hashlib.sha1(_der(c)).digest()): key for key, c in certs.items()}
    seen: dict[str, set[str]] = {}
    for e in tls:
        datetime.strptime(e["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z")
        if "fingerprint" not in e["tls"]:
            assert e["tls"]["version"] == "TLS 1.3"
            continue
        key = sha1[e["tls"]["fingerprint"]]
        cert = certs[key]
        assert int(e["tls"]["serial"].replace(":", ""), 16) == cert.serial_number
        assert e["tls"]["serial"] == e["tls"]["serial"].upper() and ":" in e["tls"]["serial"]
        assert datetime.fromisoformat(e["tls"]["notbefore"]).replace(tzinfo=timezone.utc) == cert.not_valid_before_utc
        seen.setdefault(key, set()).add(e["dest_ip"])
    mimicry = next(e for e in tls if e["tls"].get("sni") == "cdn-update.net")
    assert mimicry["tls"]["subject"] == mimicry["tls"]["issuerdn"] == "C=US, O=DigiCert lnc, CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1"
    assert seen["mimicry"] == set(MIMICRY_SERVERS)
    assert seen["rogue"] == {ROGUE_SERVER[0]}


def test_a_failed_build_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(_paths: lab.LabPaths) -> None:
        raise RuntimeError("crash while writing the config")

    monkeypatch.setattr(lab, "_write_config", boom)
    with pytest.raises(RuntimeError):
        ensure_lab(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_missing_openssl_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lab.shutil, "which", lambda _name: None)
    with pytest.raises(ConfigError, match="openssl"):
        ensure_lab(tmp_path)
    assert not (tmp_path / "lab").exists()


def test_an_incomplete_lab_is_set_aside(tmp_path: Path) -> None:
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "leftover").write_text("x")
    paths = ensure_lab(tmp_path)
    assert paths.config.is_file()
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("lab.incomplete-")]
    assert len(aside) == 1 and (aside[0] / "leftover").read_text() == "x"


def test_relative_state_dir_gives_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    paths = ensure_lab(Path("state"))
    assert paths.root.is_absolute() and paths.root == tmp_path / "state" / "lab"
    monkeypatch.chdir(paths.root.parent)
    assert ensure_lab(Path(".")) == paths
