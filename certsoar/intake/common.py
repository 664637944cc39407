"""Pieces every format module shares: the envelope checks of detection and the alert id fallback."""

from __future__ import annotations

import hashlib
from datetime import datetime

from certsoar.intake.document import Document

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


def fallback_id(prefix: str, when: datetime, *parts: object) -> str:
    """A stable id for records that carry none of their own: same record, same id."""
    material = "|".join("" if p is None else str(p) for p in parts)
    digest = hashlib.sha256(material.encode("utf-8", "replace")).hexdigest()[:16]
    return f"{prefix}-{int(when.timestamp())}-{digest}"
