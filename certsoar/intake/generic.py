"""``generic``: certsoar's own alert JSON (the keys of CertificateAlert)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from certsoar.alert import CertificateAlert
from certsoar.errors import AlertError
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


def alert_from_mapping(obj: Any) -> CertificateAlert:
    if not isinstance(obj, dict):
        raise AlertError("alert must be a JSON object")
    known = set(CertificateAlert.model_fields) - {"raw", "source_format"}
    fields = {k: v for k, v in obj.items() if k in known}
    try:
        return CertificateAlert.model_validate({**fields, "raw": obj})
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "alert"
            parts.append(f"{loc}: {err['msg']}")
        raise AlertError("bad alert: " + "; ".join(parts)) from exc
