from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from pydantic import ValidationError

from certsoar.actions.siem import RelatedInput, RelatedOutput, related
from certsoar.alert import CertificateAlert
from certsoar.certs import facts_from_fingerprints
from certsoar.config import Config
from certsoar.connections import Connections
from certsoar.connectors.siem import SiemQuery
from certsoar.context import ActionContext
from certsoar.lab.zeek import X509_FIELDS, write_zeek_log, x509_row
from certsoar.registry import get_action

SEEN = datetime(2026, 5, 30, 10, 15, tzinfo=timezone.utc)
SHA1 = "6ece5ece4192683d2d84e25b0ba7e04f9cb7eb7c"
SHA256 = "ab" * 32


def eve(ts: datetime, src: str, dst: str, **tls: Any) -> str:
    return json.dumps(
        {
            "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S.%f+0000"),
            "event_type": "tls",
            "src_ip": src,
            "src_port": 50000,
            "dest_ip": dst,
            "dest_port": 8443,
            "proto": "TCP",
            "tls": tls,
        }
    )


def write_logs(folder: Path) -> None:
    colon = ":".join(SHA1[i : i + 2] for i in range(0, 40, 2))
    lines = [
        eve(
            SEEN - timedelta(days=2),
            "10.0.0.5",
            "203.0.113.66",
            fingerprint=colon,
            serial="00:C7:D4",
            sni="c2.example.net",
        ),
        eve(SEEN, "10.0.0.6", "203.0.113.66", fingerprint=colon, serial="00:C7:D4", sni="c2.example.net"),
        eve(SEEN + timedelta(hours=3), "10.0.0.7", "198.51.100.9", fingerprint=colon),  # same cert, second server
        eve(SEEN + timedelta(hours=4), "10.0.0.8", "203.0.113.66"),  # TLS 1.3 to the same server, no cert
        eve(SEEN + timedelta(hours=5), "10.0.0.9", "192.0.2.1", sni="c2.example.net"),  # SNI only
        eve(SEEN - timedelta(days=30), "10.0.0.10", "203.0.113.66", fingerprint=colon),  # outside the window
        eve(SEEN, "10.0.0.11", "192.0.2.50", fingerprint="11" * 20),  # unrelated
    ]
    (folder / "eve.json").write_text("\n".join(lines) + "\n")
    (folder / "x509.ndjson").write_text(
        json.dumps(
            {
                "_path": "x509",
                "ts": (SEEN - timedelta(days=3)).timestamp(),
                "fingerprint": SHA256,
                "certificate.serial": "C7D4",
            }
        )
        + "\n"
    )


def context(tmp_path: Path) -> ActionContext:
    logs = tmp_path / "logs"
    logs.mkdir()
    write_logs(logs)
    cfg = Config.model_validate(
        {
            "state_dir": str(tmp_path / "state"),
            "config_dir": tmp_path,
            "connectors": {"siem": {"type": "files", "name": "lab-logs", "paths": ["logs"]}},
        }
    )
    return ActionContext(
        run_id="r1",
        step_id="related",
        dry_run=True,
        now=SEEN,
        config=cfg,
        connectors=Connections(cfg),
        ledger=None,
        templates=None,  # type: ignore[arg-type]
    )


def inputs(window: str = "7d") -> RelatedInput:
    alert = CertificateAlert.model_validate(
        {
            "id": "a-1",
            "time": SEEN,
            "sha1": SHA1,
            "src_ip": "10.0.0.6",
            "dst_ip": "203.0.113.66",
            "dst_port": 8443,
            "sni": "c2.example.net",
        }
    )
    cert = facts_from_fingerprints(SHA256, SHA1).model_copy(update={"serial": "C7D4"})
    return RelatedInput(alert=alert, cert=cert, window=window)


async def test_a_files_siem_names_itself_in_its_events(tmp_path):
    """The fan-out tags each event with its SIEM; a files SIEM's events already carry it, so they are not copied
    (a sweep's searches return thousands)."""
    ctx = context(tmp_path)
    ((name, siem),) = ctx.connectors.each("siem")
    query = SiemQuery(indicators={"sha1": [SHA1]}, start=SEEN - timedelta(days=7), end=SEEN + timedelta(days=7))
    events = await siem.search(query)
    assert name == "lab-logs" and len(events) == 3 and {e.siem for e in events} == {"lab-logs"}
    assert await ctx.connectors.siem.search(query) == events


def test_registered():
    spec = get_action("siem.related")
    assert spec.input_model is RelatedInput and spec.output_model is RelatedOutput and not spec.mutates


async def test_related_events_servers_clients_and_first_seen(tmp_path):
    out = await related(inputs(), context(tmp_path))
    assert out.count == 6  # 5 eve events in the window + the x509 record; the unrelated and the old one are out
    assert out.servers == ["203.0.113.66", "198.51.100.9"]
    assert out.clients == ["10.0.0.6", "10.0.0.5", "10.0.0.7", "10.0.0.8"]
    assert out.first_seen == SEEN - timedelta(days=3)  # the x509 record, by SHA-256 and serial
    assert out.sources == ["x509.ndjson (zeek-x509)", "eve.json (suricata-tls)"]
    assert [e.time for e in out.events] == sorted(e.time for e in out.events)
    sni_only = [e for e in out.events if e.dst_ip == "192.0.2.1"]
    assert sni_only and sni_only[0].matched == ["sni"]


async def test_narrow_window(tmp_path):
    out = await related(inputs("1h"), context(tmp_path))
    assert out.count == 1 and out.first_seen == SEEN


def test_bad_window_is_refused():
    with pytest.raises(ValidationError, match="not a duration"):
        inputs("a week")


# --- shared helpers for the new actions ---------------------------------------------------------------------------

import random  # noqa: E402

from certsoar.actions.siem import (  # noqa: E402
    CreationsInput,
    CreationsOutput,
    TrafficInput,
    TrafficOutput,
    certificate_creations,
    traffic_change,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "siem"
MB = 1024 * 1024
SPKI = "5e" * 32
ISSUER = "CN=Micr0soft Update Secure Server CA 2.1,O=Micr0soft Corporation,C=US"


def make_context(
    tmp_path: Path, files: dict[str, str], thresholds: dict[str, Any] | None = None, paths: list[str] | None = None
) -> ActionContext:
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    for name, text in files.items():
        (logs / name).write_text(text)
    cfg = Config.model_validate(
        {
            "state_dir": str(tmp_path / "state"),
            "config_dir": tmp_path,
            "connectors": {"siem": {"type": "files", "name": "lab-logs", "paths": paths or ["logs"]}},
            "thresholds": thresholds or {},
        }
    )
    return ActionContext(
        run_id="r1",
        step_id="corr",
        dry_run=True,
        now=SEEN,
        config=cfg,
        connectors=Connections(cfg),
        ledger=None,
        templates=None,  # type: ignore[arg-type]
    )


def jsonl(*records: dict[str, Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def full_alert(**extra: Any) -> CertificateAlert:
    fields = {
        "id": "a-2",
        "time": SEEN,
        "sha1": SHA1,
        "src_ip": "10.0.0.6",
        "dst_ip": "203.0.113.66",
        "dst_port": 8443,
        "sni": "c2.example.net",
        "ja3": "e7d705a3286e19ea42f587b344ee6865",
        "host": "WS-042",
        "requester": "CORP\\alice",
    }
    return CertificateAlert.model_validate({**fields, **extra})


def full_cert():
    return facts_from_fingerprints(SHA256, SHA1).model_copy(
        update={"serial": "C7D4", "spki_sha256": SPKI, "issuer": ISSUER}
    )


# --- siem.related: the new indicators ------------------------------------------------------------------------------


async def test_related_by_every_indicator_kind(tmp_path):
    files = {
        "x509.ndjson": jsonl(
            # same key, re-issued: found by SPKI only; it is the earliest sighting, so first_seen
            {
                "_path": "x509",
                "ts": (SEEN - timedelta(days=4)).timestamp(),
                "fingerprint": "99" * 32,
                "certificate.serial": "01",
                "spki_sha256": SPKI,
            },
            # serial + issuer in Suricata's DN order
            {
                "_path": "x509",
                "ts": (SEEN - timedelta(days=1)).timestamp(),
                "fingerprint": "98" * 32,
                "certificate.serial": "00C7D4",
                "certificate.issuer": "C=US, O=Micr0soft Corporation, CN=Micr0soft Update Secure Server CA 2.1",
            },
        ),
        "eve.json": eve(
            SEEN + timedelta(hours=1), "10.0.0.20", "192.0.2.99", ja3={"hash": "E7D705A3286E19EA42F587B344EE6865"}
        )
        + "\n"
        + eve(SEEN + timedelta(hours=2), "10.0.0.21", "203.0.113.66")
        + "\n",  # server ip:port (and ip)
        "events.jsonl": jsonl(
            {
                "@timestamp": iso(SEEN - timedelta(hours=5)),
                "kind": "process",
                "host": {"name": "ws-042.corp.example"},
                "message": "logon",
            },
            {
                "TimeCreated": iso(SEEN - timedelta(hours=6)),
                "EventID": 4887,
                "Computer": "CA01",
                "RequestId": "7",
                "Requester": "CORP\\alice",
                "Disposition": "3",
                "Subject": "CN=c2.example.net",
            },
        ),
    }
    out = await related(RelatedInput(alert=full_alert(), cert=full_cert(), window="7d"), make_context(tmp_path, files))
    assert out.by_indicator == {
        "host": 1,
        "ip": 1,
        "ja3": 1,
        "requester": 1,
        "serial": 1,
        "serial_issuer": 1,
        "server": 1,
        "spki": 1,
    }
    assert out.count == 6
    assert out.first_seen == SEEN - timedelta(days=4)  # from the logs (SPKI), not the certificate's notBefore
    assert out.servers == ["203.0.113.66"] and out.clients == ["10.0.0.6", "10.0.0.21"]
    process = next(e for e in out.events if e.kind == "process")
    assert process.matched == ["host"]


# --- siem.certificate_creations (E2) ---------------------------------------------------------------------------------


def creation_logs() -> dict[str, str]:
    process = (DATA / "process.jsonl").read_text()
    adcs = (DATA / "adcs.jsonl").read_text()
    tls = jsonl(
        # a self-signed certificate first seen on a server in the window, seen again later (one incident)
        {
            "_path": "ssl",
            "ts": iso(SEEN.replace(hour=10, minute=45)),
            "id.orig_h": "10.20.30.41",
            "id.orig_p": 50000,
            "id.resp_h": "203.0.113.66",
            "id.resp_p": 8443,
            "server_name": "update.micr0soft-cdn.com",
            "cert_chain_fps": ["aa" * 32],
            "validation_status": "self signed certificate",
        },
        {
            "_path": "ssl",
            "ts": iso(SEEN.replace(hour=11, minute=45)),
            "id.orig_h": "10.20.30.42",
            "id.orig_p": 50001,
            "id.resp_h": "203.0.113.66",
            "id.resp_p": 8443,
            "server_name": "update.micr0soft-cdn.com",
            "cert_chain_fps": ["aa" * 32],
            "validation_status": "self signed certificate",
        },
        # a publicly trusted one: no incident
        {
            "_path": "ssl",
            "ts": iso(SEEN.replace(hour=10, minute=46)),
            "id.orig_h": "10.20.30.41",
            "id.orig_p": 50002,
            "id.resp_h": "198.51.100.9",
            "id.resp_p": 443,
            "cert_chain_fps": ["bb" * 32],
            "validation_status": "ok",
        },
    )
    return {"process.jsonl": process, "adcs.jsonl": adcs, "ssl.ndjson": tls}


def creations_input(**extra: Any) -> CreationsInput:
    alert = full_alert(time=datetime(2026, 5, 30, 10, 30, tzinfo=timezone.utc))
    return CreationsInput(alert=alert, cert=full_cert(), **extra)


def test_new_actions_are_registered():
    spec = get_action("siem.certificate_creations")
    assert spec.input_model is CreationsInput and spec.output_model is CreationsOutput and not spec.mutates
    spec = get_action("siem.traffic_change")
    assert spec.input_model is TrafficInput and spec.output_model is TrafficOutput and not spec.mutates


async def test_creation_burst_from_process_adcs_and_tls_logs(tmp_path):
    out = await certificate_creations(creations_input(), make_context(tmp_path, creation_logs()))
    kinds = [(i.kind, i.time.strftime("%H:%M")) for i in out.incidents]
    assert kinds == [
        ("command", "10:01"),  # Sysmon: openssl req -x509 by CORP\alice on WS-042
        ("adcs-4887", "10:02"),  # CORP\alice again (related to the command by requester)
        ("command", "10:20"),  # New-SelfSignedCertificate by CORP\bob on SRV-DEV-07
        ("adcs-4887", "10:25"),  # machine WS-077
        ("command", "10:30"),  # 4104 script block on WS-051
        ("command", "10:31"),  # keytool by svc-build on BUILD-01
        ("first-seen-untrusted", "10:45"),  # self-signed on 203.0.113.66
    ]
    assert out.burst
    assert out.unrelated_in_short_window >= 2 and out.unrelated_in_window == 6  # alice's two incidents are one group
    assert out.window == "24h" and out.short_window == "1h"
    assert {i.group for i in out.incidents if i.requester == "CORP\\alice"} == {1}
    assert out.sources == [
        "process.jsonl (windows-sysmon-1)",
        "adcs.jsonl (windows-adcs-4887)",
        "process.jsonl (windows-powershell-4104)",
        "process.jsonl (windows-security-4688)",
        "ssl.ndjson (zeek-ssl)",
    ]
    assert out.reason.startswith("burst: ")


async def test_automation_is_excluded_and_thresholds_come_from_config(tmp_path):
    thresholds = {"creation_burst": {"automation": ["svc-build", "Machine"], "count": 10, "short_count": 10}}
    out = await certificate_creations(creations_input(), make_context(tmp_path, creation_logs(), thresholds))
    assert not out.burst and out.reason.startswith("no burst")
    assert len(out.incidents) == 5
    assert sorted(e.split(": ", 1)[1] for e in out.excluded) == [
        "allowlisted automation 'Machine'",
        "allowlisted automation 'svc-build'",
    ]


async def test_renewal_seen_before_the_window_is_excluded(tmp_path):
    earlier = jsonl(
        {
            "TimeCreated": "2026-05-10T09:00:00Z",
            "EventID": 4887,
            "Computer": "CA01.corp.example",
            "RequestId": "900",
            "Requester": "CORP\\WS-077$",
            "Disposition": "3",
            "Subject": "CN=WS-077.corp.example",
            "CertificateTemplate": "Machine",
            "SerialNumber": "1a0000090000",
            "SubjectKeyIdentifier": "11 22 33 44 55 66 77 88 99 00 aa bb cc dd ee ff 10 20 30 40",
        }
    )
    out = await certificate_creations(
        creations_input(), make_context(tmp_path, {**creation_logs(), "old-adcs.jsonl": earlier})
    )
    assert not any(i.requester == "CORP\\WS-077$" for i in out.incidents)
    assert any("renewal (same subject and key as 2026-05-10T09:00:00+00:00)" in e for e in out.excluded)


def x509_record(at: datetime, fingerprint: str, subject: str, issuer: str, spki: str | None = None) -> dict[str, Any]:
    record = {
        "_path": "x509",
        "ts": at.timestamp(),
        "fingerprint": fingerprint,
        "certificate.subject": subject,
        "certificate.issuer": issuer,
    }
    return {**record, "spki_sha256": spki} if spki else record


async def test_before_the_window_only_what_can_change_the_count_is_read(tmp_path, monkeypatch):
    """E2 reads the month before its window for renewals and certificates already known, but not every
    certificate of that month (a sweep asks for each certificate): the answer is the one a read of all of
    them gives."""
    from certsoar.connectors.siem.files import FilesSiem

    at = datetime(2026, 5, 30, 10, 30, tzinfo=timezone.utc)
    public = "CN=R11,O=Let's Encrypt,C=US"
    renewed, key = "CN=lab.corp.example", "7a" * 32
    records = [
        x509_record(at - timedelta(days=10), "01" * 32, renewed, renewed, key),  # renewed in the window
        x509_record(at - timedelta(days=5), "02" * 32, "CN=known.example", "CN=known.example"),  # seen again
        x509_record(at - timedelta(days=3), "03" * 32, "CN=old.example", "CN=old.example", "7b" * 32),
        *(
            x509_record(at - timedelta(days=30, hours=-n), f"{n:064x}", f"CN=host{n}.example", public)
            for n in range(300)
        ),
        x509_record(at - timedelta(hours=1), "04" * 32, renewed, renewed, key),
        x509_record(at - timedelta(hours=2), "02" * 32, "CN=known.example", "CN=known.example"),
        x509_record(at - timedelta(minutes=30), "05" * 32, "CN=new.example", "CN=new.example", "7c" * 32),
    ]
    queries: list[SiemQuery] = []
    search_report = FilesSiem.search_report

    async def recorded(self: FilesSiem, query: SiemQuery) -> Any:
        queries.append(query)
        return await search_report(self, query)

    monkeypatch.setattr(FilesSiem, "search_report", recorded)
    out = await certificate_creations(creations_input(), make_context(tmp_path, {"x509.jsonl": jsonl(*records)}))
    assert [(i.kind, i.certificate) for i in out.incidents] == [("first-seen-untrusted", "05" * 32)]
    assert [e.split(": ", 1)[1] for e in out.excluded] == [
        f"renewal (same subject and key as {(at - timedelta(days=10)).isoformat()})"
    ]
    before = [q for q in queries if q.start < at - timedelta(hours=24)]
    assert before and all(q.kinds == ["adcs"] or q.indicators for q in before), before
    assert {v for q in before for values in q.indicators.values() for v in values} == {
        key,  # the window's incidents' keys, then every sighting of the certificates found so
        "7c" * 32,
        "01" * 32,
        "02" * 32,  # the window's untrusted certificates
        "04" * 32,
        "05" * 32,
    }


async def test_short_windows_override(tmp_path):
    out = await certificate_creations(
        creations_input(window="2m", short_window="1m"), make_context(tmp_path, creation_logs())
    )
    assert not out.burst and out.window == "2m" and [i.kind for i in out.incidents] == ["command", "command"]


def test_bad_creation_window_is_refused():
    with pytest.raises(ValidationError, match="not a duration"):
        creations_input(window="soon")


async def test_no_creation_in_the_logs(tmp_path):
    out = await certificate_creations(creations_input(), make_context(tmp_path, {"empty.jsonl": ""}))
    assert not out.burst and out.incidents == [] and "no certificate-creation incidents" in out.reason


# --- E2: a CA sent in a chain is not a creation; a self-signed CA:TRUE host certificate is -------------------------

ROOTS_AT = datetime(2026, 5, 30, 10, 0, tzinfo=timezone.utc)


def openssl_cert(folder: Path, name: str, signer: str | None = None) -> x509.Certificate:
    """A certificate made as people make them: ``openssl req -x509`` (self-signed, CA:TRUE by default in OpenSSL 3)
    or, with ``signer``, a leaf that the self-signed one named ``signer`` signed."""
    key, cert = folder / f"{name}.key", folder / f"{name}.pem"
    subject = f"/O=Example {name}/CN={name}.example"
    if signer is None:
        command = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        command += ["-nodes", "-subj", subject, "-days", "30", "-keyout", str(key), "-out", str(cert)]
        subprocess.run(command, check=True, capture_output=True)
    else:
        request = folder / f"{name}.csr"
        command = ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        command += ["-subj", subject, "-keyout", str(key), "-out", str(request)]
        subprocess.run(command, check=True, capture_output=True)
        command = ["openssl", "x509", "-req", "-in", str(request), "-CA", str(folder / f"{signer}.pem")]
        command += ["-CAkey", str(folder / f"{signer}.key"), "-days", "30", "-out", str(cert)]
        subprocess.run(command, check=True, capture_output=True)
    return x509.load_pem_x509_certificate(cert.read_bytes())


def sha256_of(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def write_x509_log(folder: Path, rows: list[list[str]], *, with_roles: bool = True) -> None:
    """x509.log as Zeek writes it; without ``with_roles`` as Zeek before 4.2, which had no host_cert column."""
    fields = X509_FIELDS if with_roles else tuple(f for f in X509_FIELDS if f[0] not in ("host_cert", "client_cert"))
    rows = rows if with_roles else [row[: len(fields)] for row in rows]
    (folder / "logs").mkdir(exist_ok=True)
    write_zeek_log(folder / "logs" / "x509.log", "x509", fields, rows, ROOTS_AT, ROOTS_AT + timedelta(hours=1))


def ssl_record(at: datetime, server: str, chain: list[x509.Certificate], status: str) -> dict[str, Any]:
    return {
        "_path": "ssl",
        "ts": iso(at),
        "id.orig_h": "10.20.30.41",
        "id.orig_p": 50000,
        "id.resp_h": server,
        "id.resp_p": 443,
        "cert_chain_fps": [sha256_of(c) for c in chain],
        "validation_status": status,
    }


async def test_roots_sent_in_chains_are_not_a_creation_burst_but_an_untrusted_leaf_still_counts(tmp_path):
    """Three servers each send their (different) self-signed root after their leaf: Zeek logs every certificate
    of the chain, the roots with host_cert F. The roots make no incident; the leaf a private root signed, which
    the sensor could not validate, still does: one incident, no burst."""
    certs = tmp_path / "certs"
    certs.mkdir()
    x509_rows, ssl = [], []
    for n, status in enumerate(("ok", "ok", "unable to get local issuer certificate"), 1):
        root = openssl_cert(certs, f"root{n}")
        leaf = openssl_cert(certs, f"leaf{n}", signer=f"root{n}")
        at = ROOTS_AT + timedelta(minutes=10 * n)
        x509_rows += [x509_row(at, leaf, host_cert=True), x509_row(at, root, host_cert=False)]
        ssl.append(ssl_record(at, f"203.0.113.{n}", [leaf, root], status))
    write_x509_log(tmp_path, x509_rows)
    out = await certificate_creations(creations_input(), make_context(tmp_path, {"ssl.ndjson": jsonl(*ssl)}))
    assert [(i.kind, i.certificate, i.host) for i in out.incidents] == [
        ("first-seen-untrusted", sha256_of(leaf), "203.0.113.3")
    ]
    assert not out.burst and out.unrelated_in_short_window == 1, out.reason


@pytest.mark.parametrize("with_ssl_log", [True, False], ids=["with-ssl.log", "x509.log-alone"])
async def test_self_signed_ca_certificates_served_as_the_host_certificate_are_a_burst(tmp_path, with_ssl_log):
    """``openssl req -x509`` certificates (CA:TRUE) served by three servers as their own: three creations, whether
    ssl.log's validation_status says so too or x509.log alone (host_cert T, subject equals issuer) does."""
    certs = tmp_path / "certs"
    certs.mkdir()
    served = [openssl_cert(certs, f"implant{n}") for n in range(1, 4)]
    at = [ROOTS_AT + timedelta(minutes=10 * n) for n in range(1, 4)]
    write_x509_log(tmp_path, [x509_row(when, cert, host_cert=True) for when, cert in zip(at, served, strict=True)])
    ssl = [
        ssl_record(when, f"203.0.113.{n}", [cert], "self signed certificate")
        for n, (when, cert) in enumerate(zip(at, served, strict=True), 1)
    ]
    logs = {"ssl.ndjson": jsonl(*ssl)} if with_ssl_log else {}
    out = await certificate_creations(creations_input(), make_context(tmp_path, logs))
    assert sorted(i.certificate for i in out.incidents) == sorted(sha256_of(c) for c in served)
    assert out.burst and out.unrelated_in_short_window == 3, out.reason


async def test_a_record_that_does_not_say_its_role_keeps_counting(tmp_path):
    """A record without host_cert (Zeek 3.x logged none; a pipeline may drop it) does not say whether a self-signed
    CA was the server's own certificate (an implant's) or a root in its chain: it still counts, as before."""
    certs = tmp_path / "certs"
    certs.mkdir()
    roots = [openssl_cert(certs, f"root{n}") for n in range(1, 4)]
    rows = [x509_row(ROOTS_AT + timedelta(minutes=10 * n), cert, host_cert=False) for n, cert in enumerate(roots, 1)]
    write_x509_log(tmp_path, rows, with_roles=False)
    out = await certificate_creations(creations_input(), make_context(tmp_path, {}))
    assert sorted(i.certificate for i in out.incidents) == sorted(sha256_of(c) for c in roots)
    assert out.burst, out.reason


# --- siem.traffic_change (E3) -----------------------------------------------------------------------------------------

CONN_HEADER = (
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\n"
    "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\n"
)
FIRST = SEEN - timedelta(hours=2)  # the certificate's first sighting in the logs


def conn_row(
    n: int, when: datetime, client: str, server: str, port: int, out: int, back: int, service: str = "ssl"
) -> str:
    return f"{when.timestamp():.6f}\tC{n:08d}\t{client}\t{40000 + n % 20000}\t{server}\t{port}\ttcp\t{service}\t1.5\t{out}\t{back}\tSF\n"


def traffic_logs(exfil: bool) -> dict[str, str]:
    rng = random.Random(3)
    rows: list[str] = []
    n = 0
    for hour in range(-7 * 24, 24):  # the client's usual browsing, before and after
        for _ in range(rng.randint(4, 7)):
            n += 1
            rows.append(
                conn_row(
                    n,
                    FIRST + timedelta(hours=hour, seconds=rng.randint(0, 3599)),
                    "10.0.0.6",
                    "198.51.100.20",
                    443,
                    rng.randint(2000, 9000),
                    40000,
                )
            )
    if exfil:
        for i in range(40):  # beacon every 10 minutes to the new server
            n += 1
            rows.append(
                conn_row(n, FIRST + timedelta(minutes=10 * i, seconds=2), "10.0.0.6", "203.0.113.66", 8443, 1800, 400)
            )
        n += 1
        rows.append(
            conn_row(n, FIRST + timedelta(hours=3, minutes=1), "10.0.0.6", "203.0.113.66", 8443, 250 * MB, 30_000)
        )
    ssl = jsonl(
        {
            "_path": "ssl",
            "ts": iso(FIRST),
            "id.orig_h": "10.0.0.6",
            "id.orig_p": 50000,
            "id.resp_h": "203.0.113.66",
            "id.resp_p": 8443,
            "cert_chain_fps": [SHA256],
            "validation_status": "self signed certificate",
        }
    )
    return {"conn.log": CONN_HEADER + "".join(rows), "ssl.ndjson": ssl}


async def test_traffic_change_exfil_and_beacon(tmp_path):
    out = await traffic_change(
        TrafficInput(alert=full_alert(), cert=full_cert()), make_context(tmp_path, traffic_logs(exfil=True))
    )
    assert out.changed and out.first_seen == FIRST
    assert {s.key for s in out.servers} == {"203.0.113.66:8443"} and {s.key for s in out.clients} == {"10.0.0.6"}
    server_bytes = next(s for s in out.servers if s.metric == "bytes_out_per_hour")
    assert (
        server_bytes.fired
        and server_bytes.observed >= 250 * MB
        and server_bytes.baseline_median == 0
        and server_bytes.upload_ratio > 1
    )
    client_bytes = next(s for s in out.clients if s.metric == "bytes_out_per_hour")
    assert (
        client_bytes.fired
        and client_bytes.z is not None
        and client_bytes.z > 3.5
        and client_bytes.baseline_hours == 7 * 24
    )
    assert [(b.client, b.server, b.connections) for b in out.beaconing] == [
        ("10.0.0.6", "203.0.113.66:8443", 41)
    ]  # 40 beacons + the upload
    assert "upload-heavy" in out.reason and "beacons" in out.reason
    assert out.sources == ["ssl.ndjson (zeek-ssl)", "conn.log (zeek-conn)"]


async def test_traffic_overrides_and_config_thresholds(tmp_path):
    ctx = make_context(
        tmp_path,
        traffic_logs(exfil=True),
        {"traffic_change": {"bytes_floor": 1024 * MB, "beacon_min_connections": 100}},
    )
    out = await traffic_change(TrafficInput(alert=full_alert(), cert=full_cert()), ctx)
    assert not out.changed and out.beaconing == []  # floor above the upload, beacon needs more connections
    again = await traffic_change(
        TrafficInput(alert=full_alert(), cert=full_cert(), bytes_floor=MB, beacon_min_connections=10), ctx
    )
    assert again.changed and again.beaconing


async def test_traffic_steady_client_without_new_server_traffic(tmp_path):
    out = await traffic_change(
        TrafficInput(alert=full_alert(), cert=full_cert()), make_context(tmp_path, traffic_logs(exfil=False))
    )
    assert not out.changed, out.reason
    assert out.reason.startswith("no traffic change") and out.beaconing == []
    assert all(not s.fired for s in out.servers + out.clients)


async def test_traffic_when_the_logs_never_show_the_certificate(tmp_path):
    logs = traffic_logs(exfil=False)
    del logs["ssl.ndjson"]
    out = await traffic_change(TrafficInput(alert=full_alert(), cert=full_cert()), make_context(tmp_path, logs))
    assert out.first_seen is None and "t0 is the alert time" in out.reason
    assert {s.key for s in out.servers} == {"203.0.113.66:8443"}  # the alert's own server is still measured


def machine_enrolments_v0() -> str:
    """Machine auto-enrolment as version-0 4887 events write it: no CertificateTemplate field (OSSEM-DD
    event-4887.yml), the template is a line of Attributes."""
    return jsonl(
        *(
            {
                "TimeCreated": iso(datetime(2026, 5, 30, 10, 5 + 10 * n, tzinfo=timezone.utc)),
                "EventID": 4887,
                "Version": 0,
                "Computer": "CA01.corp.example",
                "RequestId": str(2000 + n),
                "Requester": f"CORP\\WS-{100 + n}$",
                "Attributes": f"CertificateTemplate:Machine\nccm:WS-{100 + n}.corp.example",
                "Disposition": "3",
                "SubjectKeyIdentifier": f"{n:02x} 22 33 44 55 66 77 88 99 00 aa bb cc dd ee ff 10 20 30 40",
                "Subject": f"CN=WS-{100 + n}.corp.example",
            }
            for n in range(3)
        )
    )


async def test_v0_machine_enrolment_is_automation_not_a_burst(tmp_path):
    logs = {"adcs.jsonl": machine_enrolments_v0()}
    counted = await certificate_creations(creations_input(), make_context(tmp_path, logs))
    assert counted.burst and counted.unrelated_in_window == 3 and {i.template for i in counted.incidents} == {"Machine"}
    excluded = await certificate_creations(
        creations_input(), make_context(tmp_path, logs, {"creation_burst": {"automation": ["Machine"]}})
    )
    assert not excluded.burst and excluded.incidents == []
    assert [e.split(": ", 1)[1] for e in excluded.excluded] == ["allowlisted automation 'Machine'"] * 3


async def test_every_siem_action_names_the_sources_it_could_not_search(tmp_path):
    paths = ["logs", "zeek/*/ssl.log", "suricata/eve.json"]
    warnings = [
        f"{tmp_path / 'zeek/*/ssl.log'}: the pattern matches no file",
        f"{tmp_path / 'suricata/eve.json'}: does not exist",
    ]
    ctx = make_context(tmp_path, creation_logs(), paths=paths)
    related_out = await related(RelatedInput(alert=full_alert(), cert=full_cert()), ctx)
    creations_out = await certificate_creations(creations_input(), ctx)
    traffic_out = await traffic_change(TrafficInput(alert=full_alert(), cert=full_cert()), ctx)
    assert related_out.warnings == creations_out.warnings == traffic_out.warnings == warnings
    assert creations_out.incidents  # what could be read is still used
    complete = await certificate_creations(creations_input(), make_context(tmp_path, creation_logs()))
    assert complete.warnings == [] and complete.incidents == creations_out.incidents
