"""Log records → SiemEvent: the event's time, kind, endpoints, identities and certificate, read from the
fields each format names them by (Zeek, Suricata, ECS, the ``win.*`` keys of Windows events)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from certsoar.certs.fingerprints import normalize_digest, normalize_serial
from certsoar.connectors.siem import SiemEvent
from certsoar.connectors.siem.indicators import INDICATOR_FIELDS, ip_text, normalize_value, port_number, raw_values
from certsoar.connectors.siem.readers import LogRecord
from certsoar.logfields import in_any_format
from certsoar.logformats import parse_time

TIME_FIELDS = ("win.time",) + in_any_format("time")  # a Windows event's time is read as intake reads it
_KEYS = {
    concept: in_any_format(concept)
    for concept in ("src_ip", "dst_ip", "src_port", "dst_port", "uid", "validation_status", "host_cert", "ca")
}


def record_time(record: dict[str, Any]) -> datetime | None:
    for name in TIME_FIELDS:
        if record.get(name) not in (None, ""):
            return parse_time(record[name])
    return None


_KIND_BY_FORMAT = {
    "zeek-x509": "x509",
    "zeek-ssl": "tls",
    "zeek-known_certs": "x509",
    "zeek-conn": "conn",
    "suricata-tls": "tls",
    "suricata-alert": "alert",
    "suricata-flow": "conn",
    "windows-sysmon-1": "process",
    "windows-security-4688": "process",
    "windows-powershell-4104": "script",
}


def _first(record: dict[str, Any], *names: str) -> Any:
    for name in names:
        value = record.get(name)
        if value not in (None, "", []):
            return value
    return None


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 and number == number and number != float("inf") else None


def _flag(value: Any) -> bool | None:
    """A logged boolean (JSON true/false, Zeek T/F); None for anything else, which then says nothing."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().casefold() if isinstance(value, str) else ""
    return True if text in ("t", "true") else False if text in ("f", "false") else None


def _string(value: Any, limit: int = 8192) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = str(value).strip()
    return text[:limit] if text and text != "-" else None


def event_kind(record: dict[str, Any], fmt: str) -> str:
    if fmt in _KIND_BY_FORMAT:
        return _KIND_BY_FORMAT[fmt]
    if fmt.startswith("windows-adcs-"):
        return "adcs"
    if fmt.startswith(("suricata-", "zeek-")):
        return fmt.split("-", 1)[1]
    declared = record.get("kind")
    return declared if isinstance(declared, str) and declared else "alert"


def _summary(
    kind: str, src: str | None, dst: str | None, port: int | None, sni: str | None, record: dict[str, Any]
) -> str:
    parts = [kind]
    if record.get("win.event_id"):
        parts.append(f"event {record['win.event_id']} on {record.get('win.computer', '?')}")
    if src or dst:
        parts.append(f"{src or '?'} -> {dst or '?'}{f':{port}' if port is not None else ''}")
    if sni:
        parts.append(f"sni={sni}")
    subject = _first(record, "certificate.subject", "tls.subject", "subject", "win.subject")
    if subject:
        parts.append(f"subject={subject}")
    requester = record.get("win.requester")
    if requester:
        parts.append(f"by {requester}")
    command = _first(record, "win.command", "win.script")
    if isinstance(command, str):
        parts.append(command[:200])
    signature = _first(record, "alert.signature", "rule", "title", "message")
    if isinstance(signature, str):
        parts.append(signature)
    return " ".join(parts)[:500]


def _digest(record: dict[str, Any], kind: str) -> str | None:
    for item in raw_values(record, kind):  # ssl.log cert_chain_fps lists the leaf first
        norm = normalize_value(kind, item)
        if norm is not None:
            return norm
    return None


def _serial(record: dict[str, Any]) -> str | None:
    value = _first(record, *INDICATOR_FIELDS["serial"])
    return normalize_serial(str(value)) if isinstance(value, (str, int)) and not isinstance(value, bool) else None


def to_event(record: LogRecord, when: datetime, matched: list[str], source: str, siem: str | None = None) -> SiemEvent:
    """The record as an event; ``siem`` names the SIEM instance it comes from (set here, the fan-out need not copy it)."""
    data = record.data
    src_ip = ip_text(_first(data, *_KEYS["src_ip"]))
    dst_ip = ip_text(_first(data, *_KEYS["dst_ip"]))
    dst_port = port_number(_first(data, *_KEYS["dst_port"]))
    sni_value = _first(data, *INDICATOR_FIELDS["sni"])
    host_value = _first(data, "win.computer", *INDICATOR_FIELDS["host"])
    kind = event_kind(data, record.fmt)
    ski = _string(data.get("win.ski"))
    return SiemEvent(
        time=when,
        source=f"{source} ({record.fmt})",
        kind=kind,
        matched=matched,
        src_ip=src_ip,
        src_port=port_number(_first(data, *_KEYS["src_port"])),
        dst_ip=dst_ip,
        dst_port=dst_port,
        host=str(host_value) if isinstance(host_value, (str, int)) and not isinstance(host_value, bool) else None,
        sni=str(sni_value).lower() if isinstance(sni_value, str) else None,
        summary=_summary(kind, src_ip, dst_ip, dst_port, sni_value if isinstance(sni_value, str) else None, data),
        raw=data,
        uid=_string(_first(data, *_KEYS["uid"]), 128),
        bytes_out=_count(_first(data, "orig_bytes", "flow.bytes_toserver", "source.bytes")),
        bytes_in=_count(_first(data, "resp_bytes", "flow.bytes_toclient", "destination.bytes")),
        duration=_seconds(_first(data, "duration", "flow.age", "event.duration")),
        conn_state=_string(data.get("conn_state"), 32),
        service=_string(_first(data, "service", "app_proto"), 64),
        requester=_string(_first(data, "win.requester", "Requester", "requester", "user.name"), 512),
        command=_string(_first(data, "win.command", "win.script", "process.command_line", "CommandLine", "command")),
        image=_string(_first(data, "win.image", "process.executable", "Image"), 1024),
        event_code=_string(data.get("win.event_id"), 16),
        request_id=_string(data.get("win.request_id"), 64),
        disposition=_string(data.get("win.disposition"), 64),
        template=_string(data.get("win.template"), 512),
        subject=_string(_first(data, *INDICATOR_FIELDS["subject"]), 4096),
        issuer=_string(_first(data, *INDICATOR_FIELDS["issuer"]), 4096),
        serial=_serial(data),
        sha256=_digest(data, "sha256"),
        sha1=_digest(data, "sha1"),
        spki=_digest(data, "spki"),
        subject_key_id=normalize_digest(ski) if ski else None,
        validation_status=_string(_first(data, *_KEYS["validation_status"]), 512),
        host_cert=_flag(_first(data, *_KEYS["host_cert"])),
        ca=_flag(_first(data, *_KEYS["ca"])),
        ja3=_string(_first(data, *INDICATOR_FIELDS["ja3"]), 64),
        ja3s=_string(_first(data, *INDICATOR_FIELDS["ja3s"]), 64),
        siem=siem,
    )
