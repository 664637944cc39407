"""``zeek-x509`` and ``zeek-ssl``: one Zeek record, TSV with its header or JSON (epoch or ISO ``ts``,
``_path`` optional), cert-domain §2.1. The TSV reader (certsoar.logformats) is the one the files SIEM connector uses."""

from __future__ import annotations

from datetime import datetime

from certsoar.alert import CertificateAlert
from certsoar.intake.build import build_alert
from certsoar.intake.common import connection_fields, fallback_id, needs_json
from certsoar.intake.document import Document
from certsoar.intake.values import Fields
from certsoar.logfields import ZEEK_CHAIN_FILE_IDS, ZEEK_FILE_ID, ZEEK_SSL, ZEEK_X509, is_zeek_file_id

# (a key that must be present, a key or a key prefix that must be present too)
_SHAPE = {
    "x509": ("fingerprint", "certificate."),
    "ssl": ("uid", "id.resp_h"),
}
_MISSING = {
    "x509": "no #fields header or _path/fingerprint (or id)/certificate.* keys",
    "ssl": "no #fields header or _path/uid keys",
}


def _fits_shape(flat: dict, path: str) -> bool:
    key, other = _SHAPE[path]
    # Zeek before the fingerprint field names an x509 record by its file id
    if key not in flat and not (path == "x509" and is_zeek_file_id(flat.get(ZEEK_FILE_ID))):
        return False
    return any(name.startswith(other) for name in flat) if other.endswith(".") else other in flat


def miss(doc: Document, path: str) -> str | None:
    if doc.envelope == "zeek-tsv":
        if doc.zeek_path and doc.zeek_path != path:
            return f"#path is {doc.zeek_path!r}, not {path!r}"
        if doc.problem:
            return doc.problem
        if not doc.zeek_path and not _fits_shape(doc.flat, path):
            return f"the log has no #path and its #fields are not those of {path}.log"
        return None
    reason = needs_json(doc)
    if reason:
        return reason
    assert doc.obj is not None
    declared = doc.obj.get("_path")
    if declared is not None:
        return None if declared == path else f"_path is {str(declared)[:40]!r}, not {path!r}"
    return None if _fits_shape(doc.flat, path) else _MISSING[path]


def miss_x509(doc: Document) -> str | None:
    return miss(doc, "x509")


def miss_ssl(doc: Document) -> str | None:
    return miss(doc, "ssl")


def _raw(doc: Document) -> dict:
    return dict(doc.obj or {})


def normalize_x509(doc: Document, observed_at: datetime | None) -> CertificateAlert:
    f = Fields("zeek-x509", doc.flat)
    when = f.time(*ZEEK_X509.time, required=True)
    assert when is not None
    digest = f.digest(ZEEK_X509.digest[0])
    hashes = {digest[0]: digest[1]} if digest and digest[0] != "md5" else {}
    dns = f.texts("san.dns")
    ips = [Fields("zeek-x509", {"san.ip": ip}).ip("san.ip") for ip in f.texts("san.ip")]
    logged = {
        "subject": f.text(*ZEEK_X509.subject),
        "issuer": f.text(*ZEEK_X509.issuer),
        "serial": f.serial(*ZEEK_X509.serial),
        "not_before": f.time("certificate.not_valid_before"),
        "not_after": f.time("certificate.not_valid_after"),
        "key_type": f.text("certificate.key_type", max_len=64),
        "key_length": f.integer("certificate.key_length", high=1_000_000),
        "signature_algorithm": f.text("certificate.sig_alg", max_len=128),
        "san_dns": dns,
        "san_ip": ips,
        "basic_constraints_ca": f.boolean("basic_constraints.ca"),
        "version": f.integer("certificate.version", high=100),
    }
    file_id = f.text("id", "uid", max_len=200)
    fingerprint = digest[1] if digest else None
    alert_id = (
        f"zeek-{file_id}"
        if file_id
        else fallback_id("zeek-x509", when, fingerprint, logged["serial"], logged["subject"])
    )
    fields = {"id": alert_id, "time": when, "event": "x509", "raw": _raw(doc), **hashes}
    return build_alert("zeek-x509", fields, logged, identity_hint="fingerprint or certificate.serial")


def normalize_ssl(doc: Document, observed_at: datetime | None) -> CertificateAlert:
    f = Fields("zeek-ssl", doc.flat)
    when = f.time(*ZEEK_SSL.time, required=True)
    assert when is not None
    chain = f.texts(*ZEEK_SSL.digest)
    hashes: dict[str, str] = {}
    if chain:
        digest = Fields("zeek-ssl", {"cert_chain_fps[0]": chain[0]}).digest("cert_chain_fps[0]")
        if digest and digest[0] != "md5":
            hashes[digest[0]] = digest[1]
    uid = f.text(*ZEEK_SSL.uid, max_len=200)
    logged = {
        "subject": f.text(*ZEEK_SSL.subject),
        "issuer": f.text(*ZEEK_SSL.issuer),
        "validation_status": f.text(*ZEEK_SSL.validation_status, max_len=512),
    }
    fields = {
        "id": f"zeek-{uid}"
        if uid
        else fallback_id("zeek-ssl", when, f.text("id.orig_h"), f.text("id.resp_h"), chain[0] if chain else None),
        "time": when,
        **connection_fields(f, ZEEK_SSL),
        "event": "tls",
        "raw": _raw(doc),
        **hashes,
    }
    file_ids = f.texts(*ZEEK_CHAIN_FILE_IDS)
    hint = (
        f"cert_chain_fps: Zeek before the x509 fingerprint field names the chain only by file ids "
        f"({', '.join(file_ids[:3])[:200]}); raise the x509.log record whose id is {file_ids[0][:64]} instead"
        if file_ids and not chain
        else "cert_chain_fps (empty when the session was TLS 1.3, which hides the certificate)"
    )
    return build_alert("zeek-ssl", fields, logged, identity_hint=hint)
