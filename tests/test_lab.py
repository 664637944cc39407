"""The bundled lab: built once, loadable, with real certificates and logs in real formats."""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from realcomponents import require_tool

from certsoar import lab
from certsoar.actions.certificate import AnalyzeInput, analyze
from certsoar.actions.siem import CreationsInput, TrafficInput, certificate_creations, traffic_change
from certsoar.alert import CertificateAlert
from certsoar.certs import CertificateFacts, analyze_certificate
from certsoar.config import CreationBurst, TrafficChange, load_config
from certsoar.connections import Connections
from certsoar.connectors.siem import SiemQuery
from certsoar.context import ActionContext
from certsoar.errors import ConfigError
from certsoar.intake import detect, load_alert
from certsoar.lab import MIMICRY_CLIENT, MIMICRY_SERVERS, ROGUE_SERVER, ensure_lab
from certsoar.lab import build as lab_build
from certsoar.lab.sessions import Session
from certsoar.lab.windows_events import windows_events
from certsoar.lab.zeek import write_zeek_logs

pytestmark = pytest.mark.real

require_tool("openssl", module=True)  # the lab needs the openssl command

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
            rows.append(dict(zip(fields, values, strict=True)))
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
    for folder in ("firewall", "proxy", "outbox", "certs", "logs/zeek", "logs/suricata", "logs/windows", "ca/newcerts"):
        assert (paths.root / folder).is_dir(), folder
    for name in ("index.txt", "serial", "crlnumber", "private/ca.key", "ca.pem", "crl.pem", "openssl.cnf"):
        assert (paths.ca_dir / name).is_file(), name
    for cert in paths.certificates.values():
        assert cert.is_file()
    assert set(paths.alerts) == {"mimicry", "internal", "mimicry-suricata", "mimicry-zeek", "internal-adcs"}
    for alert in paths.alerts.values():
        assert alert.is_file() and alert.parent == paths.root / "alerts"
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


def test_alerts_parse(built: tuple[lab.LabPaths, datetime, datetime]) -> None:
    paths, start, end = built
    mimicry = load_alert(paths.alerts["mimicry"].read_text(), format="generic")
    internal = load_alert(paths.alerts["internal"].read_text(), format="generic")
    assert mimicry.sni == "cdn-update.net" and mimicry.dst_ip in MIMICRY_SERVERS and mimicry.dst_port == 443
    assert internal.sni == "login.microsoftonline.com" and (internal.dst_ip, internal.dst_port) == ROGUE_SERVER
    # the mimicry alert is its first sighting, ~4 h before the build; the internal story is two days older
    assert (
        start - lab.MIMICRY_FIRST_SEEN - timedelta(minutes=1)
        < mimicry.time
        < end - lab.MIMICRY_FIRST_SEEN + timedelta(minutes=2)
    )
    assert (
        start - lab.ROGUE_FIRST_SEEN - timedelta(minutes=1)
        < internal.time
        < end - lab.ROGUE_FIRST_SEEN + timedelta(minutes=2)
    )
    for alert, key in ((mimicry, "mimicry"), (internal, "rogue")):
        assert alert.src_ip is not None and alert.src_ip.startswith("10.20.0.")
        assert alert.certificate_pem is not None
        assert _der(x509.load_pem_x509_certificate(alert.certificate_pem.encode())) == _der(
            _cert(paths.certificates[key])
        )
    assert mimicry.id != internal.id


def test_openssl_verify_accepts_the_issued_leaves(built: tuple[lab.LabPaths, datetime, datetime]) -> None:
    paths = built[0]
    for key in ("intranet", "wiki", "rogue"):
        res = subprocess.run(
            ["openssl", "verify", "-CAfile", str(paths.ca_cert), str(paths.certificates[key])],
            capture_output=True,
            text=True,
        )
        assert res.returncode == 0 and res.stdout.strip().endswith(": OK"), res.stdout + res.stderr
    res = subprocess.run(
        ["openssl", "verify", "-CAfile", str(paths.ca_cert), str(paths.certificates["mimicry"])],
        capture_output=True,
        text=True,
    )
    assert res.returncode != 0


def test_leaves_were_issued_by_openssl_ca(built: tuple[lab.LabPaths, datetime, datetime]) -> None:
    paths = built[0]
    index = (paths.ca_dir / "index.txt").read_text().splitlines()
    assert len(index) == 3
    ca = _cert(paths.ca_cert)
    assert ca.subject.rfc4514_string() == "CN=Example Corp Internal Issuing CA,O=Example Corp,C=US"
    for key, name in (
        ("intranet", "intranet.corp.example"),
        ("wiki", "wiki.corp.example"),
        ("rogue", "login.microsoftonline.com"),
    ):
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
    alert = load_alert(paths.alerts["internal"].read_text(), format="generic")
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
        assert start - lab.LOG_SPAN - timedelta(hours=1) < ts < end
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
    assert (
        mimicry["tls"]["subject"]
        == mimicry["tls"]["issuerdn"]
        == "C=US, O=DigiCert lnc, CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1"
    )
    assert seen["mimicry"] == set(MIMICRY_SERVERS)
    assert seen["rogue"] == {ROGUE_SERVER[0]}


def test_a_failed_build_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_args: object) -> None:
        raise RuntimeError("crash while writing the config")

    monkeypatch.setattr(lab_build, "write_config", boom)
    with pytest.raises(RuntimeError):
        ensure_lab(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_missing_openssl_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lab_build.shutil, "which", lambda _name: None)
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


# --- the stories' evidence: conn.log traffic, Windows creation events, more alert formats, E2 and E3 --------------


CONN_FIELDS = (
    "ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto service duration orig_bytes resp_bytes conn_state local_orig "
    "local_resp missed_bytes history orig_pkts orig_ip_bytes resp_pkts resp_ip_bytes tunnel_parents"
).split()


def _context(paths: lab.LabPaths) -> ActionContext:
    config = load_config(paths.config)
    return ActionContext(
        run_id="lab-test",
        step_id="context",
        dry_run=True,
        now=datetime.now(timezone.utc),
        config=config,
        connectors=Connections(config),
        ledger=None,
        templates=None,  # type: ignore[arg-type]
    )


async def _story(paths: lab.LabPaths, key: str) -> tuple[ActionContext, CertificateAlert, CertificateFacts]:
    ctx = _context(paths)
    alert = load_alert(paths.alerts[key].read_bytes())
    return ctx, alert, await analyze(AnalyzeInput(alert=alert), ctx)


def _ts(row: dict[str, str]) -> datetime:
    return datetime.fromtimestamp(float(row["ts"]), timezone.utc)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_every_log_parses_through_the_files_siem_without_a_malformed_line(
    built: tuple[lab.LabPaths, datetime, datetime],
) -> None:
    paths, start, end = built
    [(_, siem)] = _context(paths).connectors.each("siem")  # the files SIEM itself, for its scan statistics
    events = await siem.search(
        SiemQuery(
            kinds=["conn", "tls", "x509", "process", "adcs"],
            start=start - lab.LOG_SPAN - timedelta(hours=2),
            end=end,
            limit=100_000,
        )
    )
    stats = siem.last_stats
    assert stats.files_read == 6 and stats.files_skipped == 0
    assert stats.malformed == 0 and stats.no_time == 0 and stats.over_limit == 0
    kinds: dict[str, int] = {}
    for event in events:
        kinds[event.kind] = kinds.get(event.kind, 0) + 1
    assert kinds["conn"] > 1000 and kinds["tls"] > 1000 and kinds["x509"] >= 4
    assert kinds["process"] == 7 and kinds["adcs"] == 18  # 5 Sysmon 1 + 2 4688; 9 requests, each 4886 + 4887
    assert {e.source for e in events if e.kind == "adcs"} == {
        "security.jsonl (windows-adcs-4886)",
        "security.jsonl (windows-adcs-4887)",
    }
    # a few thousand lines at most
    for log in (
        paths.logs_dir / "zeek" / "conn.log",
        paths.logs_dir / "zeek" / "ssl.log",
        paths.logs_dir / "suricata" / "eve.json",
    ):
        assert len(log.read_text().splitlines()) < 4000, log


def test_conn_log_is_zeek_tsv_sharing_uids_with_ssl_log(built: tuple[lab.LabPaths, datetime, datetime]) -> None:
    paths, start, _end = built
    fields, types, conns = _zeek(paths.logs_dir / "zeek" / "conn.log")
    assert (
        fields == CONN_FIELDS and types[fields.index("orig_bytes")] == "count" and types[fields.index("ts")] == "time"
    )
    _f, _t, ssl_rows = _zeek(paths.logs_dir / "zeek" / "ssl.log")
    by_uid = {row["uid"]: row for row in conns}
    assert len(by_uid) == len(conns)
    for session in ssl_rows:
        conn = by_uid[session["uid"]]  # every TLS session has its connection, with the same endpoints and start
        assert conn["service"] == "ssl" and conn["proto"] == "tcp"
        assert [conn[k] for k in ("ts", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p")] == [
            session[k] for k in ("ts", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p")
        ]
    assert {row["service"] for row in conns} == {"ssl", "dns"}
    assert all(int(row["orig_ip_bytes"]) > int(row["orig_bytes"]) for row in conns)
    # the baseline covers 7 days before each story's first sighting, hour by hour, for every story client
    first = min(_ts(row) for row in conns)
    assert first < start - lab.ROGUE_FIRST_SEEN - timedelta(days=7)
    for client in (MIMICRY_CLIENT, "10.20.0.52", "10.20.0.61", "10.20.0.88"):
        hours = {_ts(row).replace(minute=0, second=0, microsecond=0) for row in conns if row["id.orig_h"] == client}
        assert len(hours) >= 24 * 8, client
    # busier in office hours than at night, and never a 10 MB/h upload before the mimicry story
    t0 = start - lab.MIMICRY_FIRST_SEEN
    per_client_hour: dict[tuple[str, datetime], int] = {}
    for row in conns:
        if _ts(row) < t0 - timedelta(minutes=1):
            key = (row["id.orig_h"], _ts(row).replace(minute=0, second=0, microsecond=0))
            per_client_hour[key] = per_client_hour.get(key, 0) + int(row["orig_bytes"])
    assert max(per_client_hour.values()) < TrafficChange().bytes_floor


def test_mimicry_traffic_in_conn_log_beacons_and_uploads(built: tuple[lab.LabPaths, datetime, datetime]) -> None:
    paths = built[0]
    _f, _t, conns = _zeek(paths.logs_dir / "zeek" / "conn.log")
    _f, _t, ssl_rows = _zeek(paths.logs_dir / "zeek" / "ssl.log")
    mimicry_sha256 = hashlib.sha256(_der(_cert(paths.certificates["mimicry"]))).hexdigest()
    t0 = min(_ts(row) for row in ssl_rows if row["cert_chain_fps"].startswith(mimicry_sha256))
    to_c2 = sorted((row for row in conns if row["id.resp_h"] == MIMICRY_SERVERS[0]), key=_ts)
    assert _ts(to_c2[0]) == t0 and {row["id.orig_h"] for row in to_c2} == {MIMICRY_CLIENT}
    gaps = [(_ts(b) - _ts(a)).total_seconds() for a, b in itertools.pairwise(to_c2)]
    assert len(to_c2) >= 10 and all(500 < g < 700 for g in gaps)
    out, back = sum(int(r["orig_bytes"]) for r in to_c2), sum(int(r["resp_bytes"]) for r in to_c2)
    assert out > 10 * back and out > 3 * TrafficChange().bytes_floor
    # the rogue server only ever sees a handful of small connections
    rogue = [row for row in conns if row["id.resp_h"] == ROGUE_SERVER[0]]
    assert 0 < len(rogue) < 10 and all(int(row["orig_bytes"]) < 10_000 for row in rogue)


def test_windows_logs_hold_the_creation_evidence(built: tuple[lab.LabPaths, datetime, datetime]) -> None:
    paths = built[0]
    sysmon = _jsonl(paths.logs_dir / "windows" / "sysmon.jsonl")
    security = _jsonl(paths.logs_dir / "windows" / "security.jsonl")
    assert {e["winlog"]["event_id"] for e in sysmon} == {"1"}
    assert {e["winlog"]["event_id"] for e in security} == {"4688", "4886", "4887"}
    rogue, mimicry = _cert(paths.certificates["rogue"]), _cert(paths.certificates["mimicry"])

    issued = [e for e in security if e["winlog"]["event_id"] == "4887"]
    rogue_4887 = next(e for e in issued if int(e["winlog"]["event_data"]["SerialNumber"], 16) == rogue.serial_number)
    data = rogue_4887["winlog"]["event_data"]
    assert data["SerialNumber"] == data["SerialNumber"].lower() and len(data["SerialNumber"]) % 2 == 0
    assert (data["Requester"], data["CertificateTemplate"], data["Disposition"]) == ("CORP\\mallory", "WebServer", "3")
    assert data["Subject"].startswith("CN=login.microsoftonline.com, O=Microsoft Corporation")
    assert rogue_4887["winlog"]["computer_name"] == "CA01.corp.example"
    ski = rogue.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert bytes.fromhex(data["SubjectKeyIdentifier"].replace(" ", "")) == ski
    issued_at = datetime.fromisoformat(rogue_4887["@timestamp"])
    assert issued_at - rogue.not_valid_before_utc == timedelta(
        minutes=10
    )  # AD CS backdates notBefore by its clock skew
    received = [
        e
        for e in security
        if e["winlog"]["event_id"] == "4886" and e["winlog"]["event_data"]["RequestId"] == data["RequestId"]
    ]
    assert len(received) == 1 and datetime.fromisoformat(received[0]["@timestamp"]) < issued_at
    machine = [e for e in issued if e["winlog"]["event_data"]["CertificateTemplate"] == "Machine"]
    assert machine and all(e["winlog"]["event_data"]["Requester"].endswith("$") for e in machine)

    made = next(e for e in sysmon if "req -x509" in e["winlog"]["event_data"]["CommandLine"])
    assert made["winlog"]["computer_name"] == "ws-0137.corp.example"
    assert f'-subj "{lab.MIMICRY_SUBJECT}"' in made["winlog"]["event_data"]["CommandLine"]
    made_at = datetime.fromisoformat(made["@timestamp"])
    assert timedelta(0) <= mimicry.not_valid_before_utc - made_at < timedelta(seconds=2)
    _f, _t, ssl_rows = _zeek(paths.logs_dir / "zeek" / "ssl.log")
    mimicry_sha256 = hashlib.sha256(_der(mimicry)).hexdigest()
    first_seen = min(_ts(row) for row in ssl_rows if row["cert_chain_fps"].startswith(mimicry_sha256))
    assert timedelta(0) < first_seen - made_at < timedelta(hours=1)


@pytest.mark.parametrize(
    ("key", "fmt", "cert"),
    [
        ("mimicry", "generic", "mimicry"),
        ("internal", "generic", "rogue"),
        ("mimicry-suricata", "suricata-tls", "mimicry"),
        ("mimicry-zeek", "zeek-x509", "mimicry"),
        ("internal-adcs", "adcs", "rogue"),
    ],
)
def test_every_alert_file_loads_as_its_format(
    built: tuple[lab.LabPaths, datetime, datetime], key: str, fmt: str, cert: str
) -> None:
    paths = built[0]
    data = paths.alerts[key].read_bytes()
    assert detect(data) == fmt
    alert = load_alert(data)
    assert alert.source_format == fmt
    expected = _cert(paths.certificates[cert])
    named = {
        "sha256": alert.sha256 == hashlib.sha256(_der(expected)).hexdigest(),
        "sha1": alert.sha1 == hashlib.sha1(_der(expected)).hexdigest(),
        "serial": alert.logged_certificate is not None
        and alert.logged_certificate.serial == format(expected.serial_number, "X"),
        "pem": alert.certificate_pem is not None
        and _der(x509.load_pem_x509_certificate(alert.certificate_pem.encode())) == _der(expected),
    }
    assert any(named.values()), named
    story = "mimicry" if cert == "mimicry" else "internal"
    reference = load_alert(paths.alerts[story].read_bytes(), format="generic")
    if fmt == "adcs":  # the CA's own record: the issuance, before the first sighting
        assert alert.requester == "CORP\\mallory" and alert.host == "CA01.corp.example"
        assert alert.logged_certificate is not None and alert.logged_certificate.template == "WebServer"
        assert alert.time < reference.time
    else:
        assert abs(alert.time - reference.time) < timedelta(seconds=1)


def test_new_alert_ids_are_unique_per_build(tmp_path: Path, built: tuple[lab.LabPaths, datetime, datetime]) -> None:
    first = built[0]
    time.sleep(1.1)  # a later build: ids come from the build time
    second = ensure_lab(tmp_path)
    for key in first.alerts:
        assert load_alert(first.alerts[key].read_bytes()).id != load_alert(second.alerts[key].read_bytes()).id, key


def test_windows_record_ids_never_repeat_in_a_later_build(built: tuple[lab.LabPaths, datetime, datetime]) -> None:
    # The AD CS alert's id is its EventRecordID: a build one or more seconds later must number every event higher.
    rogue = _cert(built[0].certificates["rogue"])
    start = datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)
    ids = {}
    for second in range(40):
        now = start + timedelta(seconds=second)
        ids[second] = {
            (e.computer, e.data.get("RequestId"), e.event_id): e.record_id
            for e in windows_events(now, rogue)
            if e.event_id == 4887
        }
    for second in range(1, 40):
        for key, record in ids[second].items():
            assert record > ids[second - 1][key], (second, key)


async def test_traffic_change_fires_for_the_mimicry_servers(built: tuple[lab.LabPaths, datetime, datetime]) -> None:
    ctx, alert, facts = await _story(built[0], "mimicry")
    out = await traffic_change(TrafficInput(alert=alert, cert=facts), ctx)
    assert out.changed
    assert out.first_seen is not None and abs(out.first_seen - alert.time) < timedelta(
        seconds=1
    )  # t0 from the TLS logs
    c2 = f"{MIMICRY_SERVERS[0]}:443"
    volume = next(s for s in out.servers if s.key == c2 and s.metric == "bytes_out_per_hour")
    # coverage starts at the first logged connection, up to an hour into the 7-day window (random minutes)
    assert volume.fired and volume.observed > 3 * TrafficChange().bytes_floor and volume.baseline_hours >= 24 * 7 - 1
    assert volume.upload_ratio is not None and volume.upload_ratio > 10
    other = [s for s in out.servers if s.key == f"{MIMICRY_SERVERS[1]}:443"]
    assert other and not any(s.fired for s in other)
    client = next(s for s in out.clients if s.key == MIMICRY_CLIENT and s.metric == "bytes_out_per_hour")
    assert client.fired and client.baseline_median > 0 and client.z is not None and client.z > TrafficChange().z
    assert [(b.client, b.server) for b in out.beaconing] == [(MIMICRY_CLIENT, c2)]
    beacon = out.beaconing[0]
    assert beacon.new and beacon.connections >= 20 and beacon.cv < 0.2 and 540 < beacon.period_s < 660
    assert "conn.log (zeek-conn)" in out.sources


async def test_traffic_change_does_not_fire_for_the_rogue_internal_server(
    built: tuple[lab.LabPaths, datetime, datetime],
) -> None:
    ctx, alert, facts = await _story(built[0], "internal")
    out = await traffic_change(TrafficInput(alert=alert, cert=facts), ctx)
    assert not out.changed and out.beaconing == []
    assert out.first_seen is not None and out.first_seen <= alert.time
    assert f"{ROGUE_SERVER[0]}:{ROGUE_SERVER[1]}" in {s.key for s in out.servers}
    assert not any(s.fired for s in out.servers + out.clients)
    assert "conn.log (zeek-conn)" in out.sources


async def test_creation_burst_for_the_mimicry_alert(built: tuple[lab.LabPaths, datetime, datetime]) -> None:
    ctx, alert, facts = await _story(built[0], "mimicry")
    assert ctx.config.thresholds.creation_burst.short_count == 2 and ctx.config.thresholds.creation_burst.count == 3
    out = await certificate_creations(CreationsInput(alert=alert, cert=facts), ctx)
    assert out.burst and out.unrelated_in_short_window == 3 and out.unrelated_in_window == 3
    commands = [i for i in out.incidents if i.kind == "command"]
    assert {i.host for i in commands} == {"ws-0137.corp.example", "ws-0212.corp.example", "BUILD-03.corp.example"}
    made = next(i for i in commands if i.host == "ws-0137.corp.example")
    assert made.evidence.startswith("openssl req -x509") and made.requester == "CORP\\jsmith"
    # the openssl command and the certificate's first sighting are one incident group (same subject)
    sighting = next(i for i in out.incidents if i.kind == "first-seen-untrusted")
    assert sighting.group == made.group
    assert any("allowlisted automation 'Machine'" in e for e in out.excluded)


async def test_no_creation_burst_for_the_internal_alert(built: tuple[lab.LabPaths, datetime, datetime]) -> None:
    ctx, alert, facts = await _story(built[0], "internal")
    out = await certificate_creations(CreationsInput(alert=alert, cert=facts), ctx)
    assert not out.burst and out.unrelated_in_window == 1
    issued = next(i for i in out.incidents if i.kind == "adcs-4887")
    assert issued.requester == "CORP\\mallory" and issued.template == "WebServer"
    assert issued.certificate == format(_cert(built[0].certificates["rogue"]).serial_number, "X")
    # mallory's certreq on her workstation relates to the issuance; the machine autoenrollment is excluded
    assert {i.kind for i in out.incidents} == {"adcs-4887", "command"}
    assert any("allowlisted automation 'Machine'" in e for e in out.excluded)


def test_config_sets_automation_and_allowlists_the_wiki(built: tuple[lab.LabPaths, datetime, datetime]) -> None:
    paths, start, _end = built
    config = load_config(paths.config)
    burst = config.thresholds.creation_burst
    assert burst.automation == ["Machine"]
    assert burst.model_dump(exclude={"automation"}) == CreationBurst().model_dump(exclude={"automation"})
    assert config.thresholds.traffic_change == TrafficChange()
    wiki = _cert(paths.certificates["wiki"])
    spki = hashlib.sha256(
        wiki.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).hexdigest()
    [entry] = config.allowlist
    assert entry.spki_sha256 == spki and entry.owner == "it-ops"
    assert timedelta(days=364) < entry.expires - start < timedelta(days=366)


async def test_the_wiki_certificate_is_allowlisted_and_the_rogue_is_not(
    built: tuple[lab.LabPaths, datetime, datetime],
) -> None:
    paths = built[0]
    ctx = _context(paths)
    for key, server, allowlisted in (("wiki", "10.20.1.11", True), ("rogue", ROGUE_SERVER[0], False)):
        alert = CertificateAlert.model_validate(
            {
                "id": f"allowlist-{key}",
                "time": datetime.now(timezone.utc) - timedelta(hours=1),
                "dst_ip": server,
                "dst_port": 443,
                "certificate_pem": paths.certificates[key].read_text(),
            }
        )
        facts = await analyze(AnalyzeInput(alert=alert), ctx)
        assert (facts.allowlisted is not None) is allowlisted, key
        if allowlisted:
            assert facts.allowlisted.owner == "it-ops"


def test_lab_x509_log_relogs_a_certificate_seen_in_another_role(tmp_path: Path) -> None:
    """Zeek deduplicates x509.log per certificate and role (X509::LogCertHash): a CA first sent in a chain and then
    served as a host's own certificate the same day is logged again, with host_cert T."""

    def openssl_req_x509(name: str) -> x509.Certificate:
        command = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        command += ["-subj", f"/CN={name}", "-keyout", str(tmp_path / f"{name}.key"), "-out", str(tmp_path / name)]
        subprocess.run(command, check=True, capture_output=True)
        return x509.load_pem_x509_certificate((tmp_path / name).read_bytes())

    ca, leaf = openssl_req_x509("both.example"), openssl_req_x509("leaf.example")
    at = datetime(2026, 5, 30, 10, 0, tzinfo=timezone.utc)

    def session(minutes: int, chain: tuple[x509.Certificate, ...]) -> Session:
        return Session(
            ts=at + timedelta(minutes=minutes),
            uid=f"C{minutes:017d}",
            flow_id=minutes + 1,
            client="10.20.30.41",
            client_port=50000 + minutes,
            server="203.0.113.9",
            port=443,
            sni="both.example",
            chain=chain,
            validation="self signed certificate",
            orig_bytes=500,
            resp_bytes=4000,
            duration=1.0,
        )

    sessions = [session(0, (leaf, ca)), session(5, (leaf, ca)), session(10, (ca,)), session(15, (ca,))]
    write_zeek_logs(tmp_path, sessions, [], at + timedelta(hours=1))
    _, _, rows = _zeek(tmp_path / "x509.log")
    fingerprint = {hashlib.sha256(_der(c)).hexdigest(): name for name, c in (("ca", ca), ("leaf", leaf))}
    assert [(fingerprint[row["fingerprint"]], row["host_cert"]) for row in rows] == [
        ("leaf", "T"),
        ("ca", "F"),
        ("ca", "T"),
    ]
