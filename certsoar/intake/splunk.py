"""``splunk-notable``: a Splunk ES notable event as the search/REST API returns it (``{"result": {...}}``
from export, ``{"results": [...]}`` from a job, or the flat result), certificate fields named as in the
CIM Certificates data model (``ssl_hash``, ``ssl_serial``, ``ssl_subject``, ``ssl_issuer``,
``ssl_subject_common_name``, ``ssl_issuer_common_name``, ``ssl_start_time``, ``ssl_end_time``,
``ssl_signature_algorithm``, ``ssl_publickey_algorithm``, ``ssl_is_valid``; ``src``, ``dest``, ``dest_port``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from certsoar.alert import CertificateAlert
from certsoar.certs.names import is_ip
from certsoar.intake.build import build_alert
from certsoar.intake.common import fallback_id, needs_json
from certsoar.intake.document import Document
from certsoar.intake.values import Fields
from certsoar.logfields import SPLUNK_CIM
from certsoar.logformats import flatten

NAME = "splunk-notable"
_MARKERS = ("event_id", "rule_name", "search_name")


def _result(doc: Document) -> tuple[dict[str, Any] | None, str | None]:
    obj = doc.obj or {}
    if isinstance(obj.get("result"), dict):
        return obj["result"], None
    if isinstance(obj.get("results"), list):
        results = [r for r in obj["results"] if isinstance(r, dict)]
        if len(results) != 1:
            return None, f"results holds {len(results)} results; an alert is one notable event"
        return results[0], None
    return obj, None


def miss(doc: Document) -> str | None:
    reason = needs_json(doc)
    if reason:
        return reason
    result, problem = _result(doc)
    if problem:
        return problem
    assert result is not None
    if not any(key in result for key in _MARKERS):
        return "no result object and no event_id/rule_name/search_name keys"
    return None


def _dn(f: Fields, dn_keys: tuple[str, ...], cn_key: str) -> str | None:
    dn = f.text(*dn_keys)
    if dn:
        return dn
    cn = f.text(cn_key)
    return f"CN={cn}" if cn else None


def _address(f: Fields, keys: tuple[str, ...]) -> tuple[str | None, str | None]:
    """(address, name) of one end: the table's first key (``src_ip``) is always an address, the CIM's
    ``src``/``dest`` after it may hold an address or a host name."""
    strict, *loose = keys
    if f.has(strict):
        return f.ip(strict), None
    value = f.text(*loose, max_len=1024)
    return (value, None) if value and is_ip(value) else (None, value)


def normalize(doc: Document, observed_at: datetime | None) -> CertificateAlert:
    result, _ = _result(doc)
    f = Fields(NAME, flatten(result or {}))
    when = f.time(*SPLUNK_CIM.time, required=True)
    assert when is not None
    hashes: dict[str, str] = {}
    digest = f.digest(*SPLUNK_CIM.digest)
    if digest and digest[0] != "md5":
        hashes[digest[0]] = digest[1]
    src_ip, src_name = _address(f, SPLUNK_CIM.src_ip)
    dst_ip, _ = _address(f, SPLUNK_CIM.dst_ip)
    valid = f.text("ssl_is_valid", max_len=16)
    logged = {
        "subject": _dn(f, SPLUNK_CIM.subject, "ssl_subject_common_name"),
        "issuer": _dn(f, SPLUNK_CIM.issuer, "ssl_issuer_common_name"),
        "serial": f.serial(*SPLUNK_CIM.serial),
        "not_before": f.time("ssl_start_time"),
        "not_after": f.time("ssl_end_time"),
        "signature_algorithm": f.text("ssl_signature_algorithm", max_len=128),
        "key_type": f.text("ssl_publickey_algorithm", max_len=64),
        "validation_status": f"ssl_is_valid={valid}" if valid else None,
    }
    event_id = f.text("event_id", max_len=240)
    fields = {
        "id": f"splunk-{event_id}"
        if event_id
        else fallback_id(
            "splunk",
            when,
            f.text("rule_name", "search_name"),
            hashes.get("sha1"),
            hashes.get("sha256"),
            logged["serial"],
        ),
        "time": when,
        "host": f.text(*SPLUNK_CIM.host, max_len=1024) or src_name,
        "src_ip": src_ip,
        "dst_ip": dst_ip,
        "dst_port": f.port(*SPLUNK_CIM.dst_port),
        "sni": f.text(*SPLUNK_CIM.sni, max_len=1024),
        "ja3": f.text(*SPLUNK_CIM.ja3, max_len=64),
        "ja3s": f.text(*SPLUNK_CIM.ja3s, max_len=64),
        "event": "notable",
        "raw": dict(doc.obj or {}),
        **hashes,
    }
    return build_alert(NAME, fields, logged, identity_hint="ssl_hash (SHA-1 or SHA-256) or ssl_serial")
