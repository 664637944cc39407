"""A certificate record a SIEM streamed (``CertificateRecord``) → the CertificateAlert the same record
would have become had a SOAR sent it as an alert: same normalizer, so the same alert id, and a later
alert for that record finds the sweep's run instead of starting another."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from certsoar.alert import CertificateAlert
from certsoar.connectors.siem import CertificateRecord
from certsoar.errors import AlertError
from certsoar.intake import suricata, zeek
from certsoar.intake.build import build_alert
from certsoar.intake.common import fallback_id
from certsoar.intake.document import Document, Envelope

_NORMALIZERS: dict[str, Callable[[Document, datetime | None], CertificateAlert]] = {
    "zeek-x509": zeek.normalize_x509,
    "zeek-ssl": zeek.normalize_ssl,
    "suricata-tls": suricata.normalize,
}


def alert_from_record(record: CertificateRecord) -> CertificateAlert:
    """AlertError when the record cannot be an alert (the same error intake would give)."""
    data = record.event.raw
    normalize = _NORMALIZERS.get(record.format)
    if normalize is not None:
        envelope: Envelope = "zeek-tsv" if record.format.startswith("zeek-") else "json"
        return normalize(Document(b"", envelope, obj=data, flat=data), None)
    if record.format == "zeek-known_certs":
        return _known_certs(record)
    raise AlertError(f"{record.format}: not a format a certificate alert is made from")


def _known_certs(record: CertificateRecord) -> CertificateAlert:
    """known_certs.log has no alert format of its own: the server and the certificate's serial and issuer."""
    event = record.event
    fields = {
        "id": fallback_id("zeek-known_certs", event.time, event.dst_ip, event.dst_port, event.serial, event.issuer),
        "time": event.time,
        "dst_ip": event.dst_ip,
        "dst_port": event.dst_port,
        "event": "x509",
        "raw": event.raw,
    }
    logged = {"subject": event.subject, "issuer": event.issuer, "serial": event.serial}
    return build_alert("zeek-known_certs", fields, logged, identity_hint="serial")
