"""Pieces every format module shares: the envelope checks of detection, the alert id fallback and the
connection fields read by a format's field table."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from certsoar.intake.document import Document
from certsoar.intake.values import Fields
from certsoar.logfields import LogFields

_ENVELOPE_NAMES = {
    "json": "JSON",
    "xml": "XML",
    "zeek-tsv": "a Zeek TSV log",
    "pem": "PEM text",
    "der": "DER bytes",
    "unknown": "not JSON, XML, a Zeek log, PEM or DER",
}


def envelope_name(doc: Document) -> str:
    return _ENVELOPE_NAMES[doc.envelope]


def needs_json(doc: Document, *, xml: bool = False) -> str | None:
    """None when the document is one JSON object (with ``xml``, or one Windows event in XML); else why not."""
    if doc.envelope != "json" and not (xml and doc.envelope == "xml"):
        return f"the input is {envelope_name(doc)}"
    if doc.problem or doc.obj is None:
        return doc.problem or "alert must be a JSON object"
    return None


def connection_fields(f: Fields, names: LogFields) -> dict[str, Any]:
    """The alert's client, server, SNI and JA3/JA3S, where the format names them."""
    return {
        "src_ip": f.ip(*names.src_ip),
        "dst_ip": f.ip(*names.dst_ip),
        "dst_port": f.port(*names.dst_port),
        "sni": f.text(*names.sni, max_len=1024),
        "ja3": f.text(*names.ja3, max_len=64),
        "ja3s": f.text(*names.ja3s, max_len=64),
    }


def fallback_id(prefix: str, when: datetime, *parts: object) -> str:
    """A stable id for records that carry none of their own: same record, same id."""
    material = "|".join("" if p is None else str(p) for p in parts)
    digest = hashlib.sha256(material.encode("utf-8", "replace")).hexdigest()[:16]
    return f"{prefix}-{int(when.timestamp())}-{digest}"
