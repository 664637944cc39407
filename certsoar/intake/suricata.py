"""``suricata-tls``: one eve.json ``event_type: tls`` event (cert-domain §2.2)."""

from __future__ import annotations

from datetime import datetime

from certsoar.alert import CertificateAlert
from certsoar.intake.build import build_alert, logged_chain
from certsoar.intake.common import connection_fields, fallback_id, needs_json
from certsoar.intake.document import Document
from certsoar.intake.values import Fields, split_names
from certsoar.logfields import SURICATA_TLS

NAME = "suricata-tls"


def miss(doc: Document) -> str | None:
    reason = needs_json(doc)
    if reason:
        return reason
    assert doc.obj is not None
    if "event_type" not in doc.obj:
        return "no event_type key"
    if doc.obj["event_type"] != "tls":
        return f"event_type is {str(doc.obj['event_type'])[:40]!r}, not 'tls'"
    return None


def normalize(doc: Document, observed_at: datetime | None) -> CertificateAlert:
    f = Fields(NAME, doc.flat)
    when = f.time(*SURICATA_TLS.time, required=True)
    assert when is not None
    hashes: dict[str, str] = {}
    sha1 = f.digest(SURICATA_TLS.sha1[0], "sha1")
    if sha1:
        hashes["sha1"] = sha1[1]
    pem = None
    certificates = logged_chain(f, "tls.certificate", "tls.chain")
    if certificates:
        pem, computed = certificates
        hashes = {**computed, **hashes}  # the logged SHA-1 wins; the analysis reports a mismatch
    dns, ips = split_names(f.texts("tls.subjectaltname"))
    logged = {
        "subject": f.text(*SURICATA_TLS.subject),
        "issuer": f.text(*SURICATA_TLS.issuer),
        "serial": f.serial(*SURICATA_TLS.serial),
        "not_before": f.time("tls.notbefore"),
        "not_after": f.time("tls.notafter"),
        "san_dns": dns,
        "san_ip": ips,
    }
    flow_id = f.integer(*SURICATA_TLS.uid, high=2**64)
    fields = {
        "id": f"suricata-{flow_id}"
        if flow_id is not None
        else fallback_id("suricata-tls", when, hashes.get("sha1"), logged["serial"], f.text("src_ip")),
        "time": when,
        "host": f.text(*SURICATA_TLS.host, max_len=1024),
        **connection_fields(f, SURICATA_TLS),
        "certificate_pem": pem,
        "event": "tls",
        "raw": dict(doc.obj or {}),
        **hashes,
    }
    return build_alert(
        NAME, fields, logged, identity_hint="tls.fingerprint, tls.serial or tls.certificate (TLS 1.3 sessions log none)"
    )
