"""What the SIEMs reached over an API (``splunk``, ``elastic``) share: a search result becomes the event the
files SIEM would have made of the same record, and it matches a query by the same rules.

A result that carries the original record (Splunk's ``_raw``, ECS ``event.original``) as Zeek, Suricata or
Windows JSON is read exactly as the files SIEM reads a log line, and so is a Windows event in the SIEM's own
rendering (Winlogbeat's ``winlog.*``, Splunk's ``EventCode``...). Any other result (Splunk CIM fields, ECS
documents) is read through a field map: for each event field, the vendor's field names that carry it, the
first that has a value winning. A connector's ``fields`` setting replaces the names of any field.

The vendor's query only narrows what is sent back; what matched is decided here (``RemoteQuery.event``),
so a hash spelled with colons or a DN in another order matches on every SIEM alike.
"""

from __future__ import annotations

import heapq
import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import Field, field_validator

from certsoar.connectors import ConnectorSettings
from certsoar.connectors.siem import CERTIFICATE_FORMATS, CertificateRecord, SiemEvent, SiemQuery
from certsoar.connectors.siem.events import event_kind, record_time, to_event
from certsoar.connectors.siem.indicators import match, normalize_query
from certsoar.connectors.siem.readers import LogRecord, json_record
from certsoar.correlation.identity import account_name, parse_server
from certsoar.logformats import flatten
from certsoar.timeparse import as_utc
from certsoar.windows_events import ADCS_EVENTS

EVENT_FIELDS = (
    "time",
    "dataset",
    "src_ip",
    "src_port",
    "dst_ip",
    "dst_port",
    "host",
    "sni",
    "uid",
    "bytes_out",
    "bytes_in",
    "duration",
    "duration_ns",
    "conn_state",
    "service",
    "requester",
    "command",
    "image",
    "event_code",
    "request_id",
    "disposition",
    "template",
    "subject",
    "issuer",
    "serial",
    "digest",
    "sha256",
    "sha1",
    "spki",
    "subject_key_id",
    "validation_status",
    "ja3",
    "ja3s",
)
"""What a field map names: SiemEvent's fields, plus ``dataset`` (what says the record's kind: a sourcetype,
``event.dataset``), ``digest`` (a certificate hash whose length tells SHA-256 from SHA-1) and
``duration_ns`` (ECS ``event.duration``, nanoseconds)."""

INDICATOR_FIELDS = {
    "sha256": ("sha256", "digest"),
    "sha1": ("sha1", "digest"),
    "spki": ("spki",),
    "serial": ("serial",),
    "serial_issuer": ("serial",),
    "sni": ("sni",),
    "ip": ("src_ip", "dst_ip"),
    "server": ("dst_ip",),
    "host": ("host",),
    "requester": ("requester",),
    "ja3": ("ja3",),
    "ja3s": ("ja3s",),
    "subject": ("subject",),
}
"""Indicator kind → the event fields a vendor's query looks for its spellings in."""

# the key each field is put under for the shared matching (indicators) and event building (events)
_RECORD_KEY = {
    **{name: name for name in EVENT_FIELDS},
    "bytes_out": "orig_bytes",
    "bytes_in": "resp_bytes",
    "image": "Image",
    "event_code": "win.event_id",
    "request_id": "win.request_id",
    "disposition": "win.disposition",
    "template": "win.template",
    "subject_key_id": "win.ski",
    "digest": "fingerprint",
}
_PROCESS_CODES = {"1", "4688"}
_SCRIPT_CODES = {"4104"}
_DATASET_KINDS = (  # a word in the dataset value → the kind (first match wins)
    ("x509", "x509"),
    ("known_certs", "x509"),
    ("certificate", "x509"),
    ("ssl", "tls"),
    ("tls", "tls"),
    ("conn", "conn"),
    ("flow", "conn"),
    ("network_traffic", "conn"),
    ("alert", "alert"),
)
_CN = re.compile(r"(?:^|;)CN=([^;]+)", re.I)
_CERTIFICATE_KEYS = ("sha256", "sha1", "fingerprint", "serial", "spki")

FieldMap = Mapping[str, tuple[str, ...]]


class RemoteSiemSettings(ConnectorSettings):
    """The settings every API SIEM adds to its HTTP settings (mixed in by each vendor's model)."""

    fields: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Replaces the vendor field names an event field is read from, e.g. {sha256: [cert_sha256]}. "
        f"Event fields: {', '.join(EVENT_FIELDS)}.",
    )

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(v) - set(EVENT_FIELDS))
        if unknown:
            raise ValueError(f"unknown event fields {unknown} (known: {', '.join(EVENT_FIELDS)})")
        if any(not names or not all(isinstance(n, str) and n for n in names) for names in v.values()):
            raise ValueError("each event field needs at least one non-empty vendor field name")
        return v


def field_map(defaults: FieldMap, overrides: Mapping[str, list[str]]) -> dict[str, tuple[str, ...]]:
    return {**defaults, **{name: tuple(names) for name, names in overrides.items()}}


def original_record(text: Any) -> LogRecord | None:
    """The Zeek, Suricata or Windows record a SIEM kept as it was logged; None for anything else."""
    if not isinstance(text, str) or not text.lstrip().startswith("{"):
        return None
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    record = json_record(obj)
    return None if record.fmt == "jsonl" else record


def windows_record(hit: Mapping[str, Any]) -> LogRecord | None:
    """A Windows event as the SIEM's fields render it (Winlogbeat ``winlog.*``, Splunk ``EventCode``...), read by
    the same tables the files SIEM reads Windows events with; None for anything else."""
    record = json_record(dict(hit))
    return record if record.fmt.startswith("windows-") else None


def mapped_record(hit: Mapping[str, Any], fields: FieldMap, fmt: str) -> LogRecord:
    """A result read through the field map: the event fields under the keys the files SIEM reads them by."""
    flat = flatten(dict(hit))
    data: dict[str, Any] = {}
    for name, names in fields.items():
        for vendor_name in names:
            value = flat.get(vendor_name)
            if value not in (None, "", [], "-"):
                data[_RECORD_KEY[name]] = value
                break
    nanoseconds = data.pop("duration_ns", None)
    if "duration" not in data and isinstance(nanoseconds, (int, float)) and not isinstance(nanoseconds, bool):
        data["duration"] = nanoseconds / 1e9
    if "win.event_id" in data:
        data["win.event_id"] = str(data["win.event_id"])
    data["kind"] = _kind(data)
    return LogRecord(data, fmt)


def _kind(data: dict[str, Any]) -> str:
    code = data.get("win.event_id")
    if code is not None:
        if code.isdigit() and int(code) in ADCS_EVENTS:
            return "adcs"
        if code in _PROCESS_CODES:
            return "process"
        if code in _SCRIPT_CODES:
            return "script"
    dataset = str(data.get("dataset") or "").lower()
    for word, kind in _DATASET_KINDS:
        if word in dataset:
            return kind
    certificate = any(data.get(key) for key in _CERTIFICATE_KEYS)
    if certificate or data.get("sni") or data.get("ja3"):
        return "tls" if data.get("dst_ip") or data.get("sni") else "x509"
    if data.get("orig_bytes") is not None or data.get("conn_state"):
        return "conn"
    return "alert"


@dataclass(frozen=True)
class RemoteQuery:
    """A query as API SIEMs apply it to what their vendor sent back (the files SIEM's rules)."""

    query: SiemQuery
    wanted: dict[str, set[str]]

    @classmethod
    def of(cls, query: SiemQuery) -> "RemoteQuery":
        return cls(query, normalize_query(query))

    def event(self, record: LogRecord, source: str, raw: dict[str, Any]) -> SiemEvent | None:
        """The record as an event when it is in the window and matches; None otherwise."""
        when = record_time(record.data)
        if when is None or not as_utc(self.query.start) <= when <= as_utc(self.query.end):
            return None
        kinds = self.query.kinds
        if kinds is not None and event_kind(record.data, record.fmt) not in kinds:
            return None
        matched = match(record.data, self.wanted) if self.query.indicators else []
        if self.query.indicators and not matched:
            return None
        return to_event(record, when, matched, source).model_copy(update={"raw": raw})


class CertificateReader:
    """A certificate sweep's reading of a SIEM's results: the record each keeps as logged, when it is of a
    certificate format, logged after ``since`` and names a certificate; what has no such record is counted."""

    def __init__(self, since: datetime | None) -> None:
        self.since = as_utc(since) if since is not None else None
        self.unreadable = 0

    def record(self, original: Any, source: str) -> CertificateRecord | None:
        record = original_record(original)
        if record is None or record.fmt not in CERTIFICATE_FORMATS:
            self.unreadable += 1
            return None
        when = record_time(record.data)
        if when is None or (self.since is not None and when <= self.since):
            return None
        event = to_event(record, when, [], source)
        if event.sha256 or event.sha1 or (event.serial and event.issuer):
            return CertificateRecord(format=record.fmt, event=event)
        return None

    def report(self, warnings: list[str], instance: str, what: str) -> None:
        if self.unreadable:
            warnings.append(f"{instance}: {self.unreadable} certificate {what}: not swept")


class Earliest:
    """The ``limit`` earliest events of a stream in any order, memory bounded by the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._order = itertools.count()
        self._heap: list[tuple[float, int, SiemEvent]] = []

    def add(self, event: SiemEvent) -> None:
        item = (-event.time.timestamp(), -next(self._order), event)
        if len(self._heap) < self.limit:
            heapq.heappush(self._heap, item)
            return
        if item[:2] > self._heap[0][:2]:
            heapq.heapreplace(self._heap, item)

    def events(self) -> list[SiemEvent]:
        return [event for *_, event in sorted(self._heap, key=lambda item: (-item[0], -item[1]))]


def _colons(hex_text: str) -> str:
    padded = hex_text if len(hex_text) % 2 == 0 else "0" + hex_text
    return ":".join(padded[i : i + 2] for i in range(0, len(padded), 2))


def spellings(kind: str, value: str) -> list[str]:
    """How logs write one normalized indicator value, for a vendor's query to narrow by (a superset: what
    matched is decided afterwards). Hashes and serials in lower and upper case, bare and colon-separated;
    a server by its address; a DN by its CN; an account by its name."""
    if kind in ("sha256", "sha1", "spki", "serial", "serial_issuer"):
        hex_text = value.partition("|")[0]
        bases = [hex_text]
        if kind in ("serial", "serial_issuer"):  # normalized serials lose the leading zeros logs keep
            even = hex_text if len(hex_text) % 2 == 0 else "0" + hex_text
            bases += [even, "00" + even] if even[0] in "89ABCDEFabcdef" else [even]
        forms = [
            form
            for base in bases
            for form in (base.lower(), base.upper(), _colons(base.lower()), _colons(base.upper()))
        ]
        return list(dict.fromkeys(forms))
    if kind == "server":
        address = parse_server(value)
        return [address[0]] if address else []
    if kind == "subject":
        common = _CN.search(value)
        return [common.group(1).strip()] if common else [value]
    if kind == "requester":
        return list(dict.fromkeys(v for v in (value, account_name(value)) if v))
    return [value]


def query_terms(query: "RemoteQuery") -> dict[str, list[str]]:
    """Indicator kind → the spellings to ask the vendor for."""
    return {
        kind: list(dict.fromkeys(form for value in sorted(values) for form in spellings(kind, value)))
        for kind, values in query.wanted.items()
    }
