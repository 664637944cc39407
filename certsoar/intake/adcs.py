"""``adcs``: Windows AD CS audit events 4886 (request received), 4887 (issued), 4888 (denied) and
4870 (revoked), versions 0 and 1, as Windows Event XML or as the flat JSON Winlogbeat (``winlog.*``)
or Splunk (top-level fields) produce. Field names: OSSEM-DD; v1 additions: cert-domain §1.10."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from certsoar.alert import CertificateAlert
from certsoar.certs.fingerprints import normalize_digest
from certsoar.certs.names import is_ip
from certsoar.intake.build import build_alert
from certsoar.intake.common import fallback_id, needs_json
from certsoar.intake.document import Document
from certsoar.intake.values import Fields

NAME = "adcs"
EVENTS = {4886: "request received", 4887: "issued", 4888: "denied", 4870: "revoked"}
_ID_KEYS = ("winlog.event_id", "event.code", "EventID", "EventCode")
_SYSTEM_KEYS = {
    "time": ("@timestamp", "TimeCreated", "SystemTime", "_time", "winlog.time_created", "timestamp"),
    "computer": ("winlog.computer_name", "Computer", "ComputerName", "host.name", "host.hostname"),
    "record_id": ("winlog.record_id", "EventRecordID", "RecordNumber", "RecordID"),
    "version": ("winlog.version", "Version", "EventVersion"),
}
_DATA_PREFIXES = ("winlog.event_data.", "event_data.", "EventData.")
_TEMPLATE_IN_ATTRIBUTES = re.compile(r"(?:^|[\s\r\n])CertificateTemplate:(\S+)")
_SAN_DNS = re.compile(r"DNS Name=([^\s,;]+)")
_SAN_IP = re.compile(r"IP Address=([0-9A-Fa-f:.]+)")


def _view(doc: Document) -> tuple[dict[str, Any], dict[str, Any]]:
    """(system, event data) with Windows' own names, whatever the rendering."""
    flat = doc.flat
    if doc.envelope == "xml":
        system = {key.removeprefix("System."): value for key, value in flat.items() if key.startswith("System.")}
        system["EventID"] = system.get("EventID")
    else:
        system = dict(flat)
    data: dict[str, Any] = {}
    for key, value in flat.items():
        for prefix in _DATA_PREFIXES:
            if key.startswith(prefix):
                data[key[len(prefix):]] = value
    if not data and doc.envelope == "json":
        data = dict(flat)
    return system, data


def _event_id(system: dict[str, Any]) -> tuple[str, Any] | None:
    for key in _ID_KEYS:
        value = system.get(key)
        if value not in (None, "", [], {}):
            return key, value
    return None


def _code(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 10:
        return int(value.strip())
    return None


def miss(doc: Document) -> str | None:
    reason = needs_json(doc, xml=True)
    if reason:
        return reason
    system, _ = _view(doc)
    found = _event_id(system)
    if found is None:
        return "no event id (EventID, EventCode, event.code or winlog.event_id)"
    key, value = found
    code = _code(value)
    if code not in EVENTS:
        return f"{key} {str(value)[:20]!r} is not an AD CS certificate event ({', '.join(map(str, EVENTS))})"
    return None


def normalize(doc: Document, observed_at: datetime | None) -> CertificateAlert:
    system, data = _view(doc)
    found = _event_id(system)
    code = _code(found[1]) if found else None
    fmt = f"adcs-{code}"
    sys_fields = Fields(fmt, system)
    f = Fields(fmt, data)
    when = sys_fields.time(*_SYSTEM_KEYS["time"], required=True)
    assert when is not None and code is not None
    computer = sys_fields.text(*_SYSTEM_KEYS["computer"], max_len=1024)
    record_id = sys_fields.integer(*_SYSTEM_KEYS["record_id"], high=2**63)
    if code == 4870:
        serial = f.serial("CertificateSerialNumber")
        if serial is None:
            raise f.error("CertificateSerialNumber", "missing: a 4870 revocation names the certificate by its serial")
        request_id = None
    else:
        serial = f.serial("SerialNumber")
        request_id = f.text("RequestId", max_len=64)
        if request_id is None:
            raise f.error("RequestId", f"missing: a {code} event names the request by its id")
        if not request_id.isdigit():
            raise f.error("RequestId", f"{request_id!r} is not a request number")
    attributes = f.text("Attributes", max_len=65536) or ""
    template_match = _TEMPLATE_IN_ATTRIBUTES.search(attributes)
    san = f.text("SubjectAlternativeName", max_len=65536) or ""
    logged = {
        "subject": f.text("Subject"),
        "serial": serial,
        "template": f.text("CertificateTemplate", max_len=512) or (template_match.group(1)[:512] if template_match else None),
        "request_id": request_id,
        "subject_key_identifier": _ski(f),
        "san_dns": _SAN_DNS.findall(san),
        "san_ip": [ip for ip in _SAN_IP.findall(san) if is_ip(ip)],
    }
    alert_id = (f"adcs-{computer or 'ca'}-{record_id}" if record_id is not None
                else fallback_id(f"adcs-{code}", when, computer, request_id, serial))
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


