"""``generic``: certsoar's own alert JSON (the keys of CertificateAlert)."""

from __future__ import annotations

from datetime import datetime

from certsoar.alert import CertificateAlert, alert_from_mapping
from certsoar.intake.common import needs_json
from certsoar.intake.document import Document

NAME = "generic"


def miss(doc: Document) -> str | None:
    reason = needs_json(doc)
    if reason:
        return reason
    assert doc.obj is not None
    absent = [key for key in ("id", "time") if key not in doc.obj]
    if absent:
        return f"no {' and '.join(absent)} key{'s' if len(absent) > 1 else ''} at the top level"
    return None


def normalize(doc: Document, observed_at: datetime | None) -> CertificateAlert:
    return alert_from_mapping(doc.obj)
