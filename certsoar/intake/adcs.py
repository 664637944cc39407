"""``adcs``: Windows AD CS audit events 4886 (request received), 4887 (issued), 4888 (denied) and
4870 (revoked), versions 0 and 1, as Windows Event XML or as the flat JSON Winlogbeat (``winlog.*``)
or Splunk (top-level fields) produce. Field names: OSSEM-DD; v1 additions: cert-domain §1.10."""

from __future__ import annotations

from datetime import datetime

from certsoar.alert import CertificateAlert
from certsoar.certs.fingerprints import normalize_digest
from certsoar.certs.names import is_ip
from certsoar.intake.build import build_alert
from certsoar.intake.common import fallback_id, needs_json
from certsoar.intake.document import Document
from certsoar.intake.values import Fields
from certsoar.windows_events import (
    ADCS_EVENTS,
    COMPUTER_KEYS,
    ISSUED_SERIAL_KEYS,
    RECORD_ID_KEYS,
    REQUEST_ID_KEYS,
    REVOKED_SERIAL_KEYS,
    TEMPLATE_KEYS,
    TIME_KEYS,
    alt_names,
    read_windows_event,
)

NAME = "adcs"
EVENTS = ADCS_EVENTS


def miss(doc: Document) -> str | None:
    reason = needs_json(doc, xml=True)
    if reason:
        return reason
    event = read_windows_event(doc.obj or {})
    if event is None:
        return "no event id (EventID, EventCode, event.code or winlog.event_id)"
    if event.code not in EVENTS:
        return f"{event.id_key} {str(event.id_value)[:20]!r} is not an AD CS certificate event ({', '.join(map(str, EVENTS))})"
    return None


def normalize(doc: Document, observed_at: datetime | None) -> CertificateAlert:
    event = read_windows_event(doc.obj or {})
    code = event.code if event else None
    assert event is not None and code is not None
    fmt = f"adcs-{code}"
    sys_fields = Fields(fmt, event.system)
    f = Fields(fmt, event.data)
    when = sys_fields.time(*TIME_KEYS, required=True)
    assert when is not None
    computer = sys_fields.text(*COMPUTER_KEYS, max_len=1024)
    record_id = sys_fields.integer(*RECORD_ID_KEYS, high=2**63)
    if code == 4870:
        serial = f.serial(*REVOKED_SERIAL_KEYS)
        if serial is None:
            raise f.error(REVOKED_SERIAL_KEYS[0], "missing: a 4870 revocation names the certificate by its serial")
        request_id = None
    else:
        serial = f.serial(*ISSUED_SERIAL_KEYS)
        request_id = f.text(*REQUEST_ID_KEYS, max_len=64)
        if request_id is None:
            raise f.error("RequestId", f"missing: a {code} event names the request by its id")
        if not request_id.isdigit():
            raise f.error("RequestId", f"{request_id!r} is not a request number")
    attributes = f.text("Attributes", max_len=65536)  # refuses an oversized value
    f.text(*TEMPLATE_KEYS, max_len=512)  # refuses an oversized or multi-valued one
    san = alt_names(f.text("SubjectAlternativeName", max_len=65536), attributes)
    logged = {
        "subject": f.text("Subject"),
        "serial": serial,
        "template": event.template(),  # the one reading of the template the SIEM shares
        "request_id": request_id,
        "subject_key_identifier": _ski(f),
        "san_dns": san.dns,
        "san_ip": [ip for ip in san.ip if is_ip(ip)],
        "san_upn": san.upn,
    }
    alert_id = (
        f"adcs-{computer or 'ca'}-{record_id}"
        if record_id is not None
        else fallback_id(f"adcs-{code}", when, computer, request_id, serial)
    )
    fields = {
        "id": alert_id[:256],
        "time": when,
        "host": computer,
        "requester": f.text("Requester", max_len=512),
        "event": fmt,
        "raw": dict(doc.obj or {}),
    }
    return build_alert(NAME, fields, logged, identity_hint="RequestId or SerialNumber", label=fmt)


def _ski(f: Fields) -> str | None:
    value = f.text("SubjectKeyIdentifier", max_len=512)
    if value is None:
        return None
    ski = normalize_digest(value)
    if ski is None:
        raise f.error("SubjectKeyIdentifier", f"{value[:80]!r} is not hex")
    return ski
