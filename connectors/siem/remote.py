"""What the SIEMs reached over an API share (``splunk``, ``elastic``, ``sentinel``, ``qradar``): a vendor's row
becomes the record the files SIEM would have read, and that record becomes an event, or a certificate sweep's
record, by the files SIEM's own rules, so a hash spelled with colons or a DN in another order matches on every
SIEM alike. A vendor's query only narrows what is sent back (every spelling a log may use, ``spellings``);
what matched is decided here (``record_event``).

A vendor row is read one of two ways:
- a *document* (Splunk's results, Elasticsearch hits) that keeps the original record (Splunk's ``_raw``, ECS
  ``event.original``) as Zeek, Suricata or Windows JSON is read exactly as the files SIEM reads a log line, and
  so is a Windows event in the SIEM's own rendering (Winlogbeat's ``winlog.*``, Splunk's ``EventCode``...);
  any other document through a field map (``mapped_record``): for each event field, the vendor's field names
  that carry it, the first that has a value winning (a connector's ``fields`` setting replaces any of them);
- a *table row* (Sentinel, QRadar) through its source's map (``MappedSource``: for each key the files SIEM
  reads, ``id.orig_h``, ``tls.sni``, a Windows event's ``EventID`` ..., the vendor column holding it).

A search keeps the ``limit`` earliest events (``Earliest``); a SIEM queried per source asks each source that can
hold what is wanted at once (``search_sources``). A certificate sweep reads each record as ``CertificateReader``
does; a SIEM with no cursor of its own pages by time (``pages_by_time``).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from certsoar.certs.dn import parse_dn
from certsoar.connectors import ConnectorSettings
from certsoar.connectors.siem import CERTIFICATE_FORMATS, CertificateRecord, SiemEvent, SiemQuery, SiemSearch
from certsoar.connectors.siem.events import event_kind, record_time, to_event
from certsoar.connectors.siem.indicators import INDICATOR_FIELDS, match, normalize_query
from certsoar.connectors.siem.readers import LogRecord, json_record
from certsoar.connectors.siem.windows import normalize_windows
from certsoar.correlation.identity import account_name, parse_server
from certsoar.errors import AlertError
from certsoar.intake.winxml import parse_event_xml
from certsoar.logfields import servers_in_any_format
from certsoar.logformats import flatten
from certsoar.timeparse import as_utc
from certsoar.windows_events import ADCS_EVENTS

# ------------------------------------------------------------------------------- documents (field maps)

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
    "host_cert",
    "ca",
    "ja3",
    "ja3s",
)
"""What a field map names: SiemEvent's fields, plus ``dataset`` (what says the record's kind: a sourcetype,
``event.dataset``), ``digest`` (a certificate hash whose length tells SHA-256 from SHA-1) and
``duration_ns`` (ECS ``event.duration``, nanoseconds)."""

INDICATOR_EVENT_FIELDS = {
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
    "ca": "basic_constraints.ca",
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


# ----------------------------------------------------------------------------------------------- plans


@dataclass(frozen=True)
class Plan:
    """A query made ready: its window as UTC, normalized indicators, and the kinds it keeps (in the query's order)."""

    start: datetime
    end: datetime
    wanted: dict[str, set[str]]
    kinds: tuple[str, ...] | None
    limit: int
    select_all: bool = False
    """Kinds given and no indicators: every event of those kinds (indicators that all fail to normalize select
    nothing, as in the files SIEM)."""

    @classmethod
    def of(cls, query: SiemQuery) -> "Plan":
        kinds = tuple(dict.fromkeys(query.kinds)) if query.kinds is not None else None
        every = kinds is not None and not query.indicators
        return cls(as_utc(query.start), as_utc(query.end), normalize_query(query), kinds, query.limit, every)

    @property
    def empty(self) -> bool:
        """Nothing can match: no indicator survived normalization and no kind selects every event."""
        return not self.wanted and not self.select_all


def record_event(
    record: LogRecord | None, plan: Plan, source: str, raw: dict[str, Any] | None = None
) -> SiemEvent | None:
    """The record as an event when it is in the window, of a wanted kind and matches a wanted indicator (the files
    SIEM's rules); ``raw`` replaces the event's raw record (a document SIEM's whole result)."""
    if record is None:
        return None
    when = record_time(record.data)
    if when is None or not plan.start <= when <= plan.end:
        return None
    if plan.kinds is not None and event_kind(record.data, record.fmt) not in plan.kinds:
        return None
    matched = [] if plan.select_all else match(record.data, plan.wanted)
    if not matched and not plan.select_all:
        return None
    event = to_event(record, when, matched, source)
    return event if raw is None else event.model_copy(update={"raw": raw})


class Earliest:
    """The ``limit`` earliest events of a stream in any order, memory bounded by the limit; ``dropped`` counts the
    later ones left out."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.dropped = 0
        self._order = itertools.count()
        self._heap: list[tuple[float, int, SiemEvent]] = []

    def add(self, event: SiemEvent) -> None:
        item = (-event.time.timestamp(), -next(self._order), event)
        if len(self._heap) < self.limit:
            heapq.heappush(self._heap, item)
            return
        self.dropped += 1
        if item[:2] > self._heap[0][:2]:
            heapq.heapreplace(self._heap, item)

    def events(self) -> list[SiemEvent]:
        return [event for *_, event in sorted(self._heap, key=lambda item: (-item[0], -item[1]))]


# ------------------------------------------------------------------------------------------- spellings


def _colons(hex_text: str) -> str:
    padded = hex_text if len(hex_text) % 2 == 0 else "0" + hex_text
    return ":".join(padded[i : i + 2] for i in range(0, len(padded), 2))


def spellings(kind: str, value: str) -> list[str]:
    """How logs write one normalized indicator value, for a vendor's query to narrow by (a superset: what
    matched is decided afterwards). Hashes and serials in lower and upper case, bare and colon-separated;
    a server by its address; a DN by its CN (else its last attribute); an account with and without its
    domain; a host name also by its first label."""
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
        attributes = parse_dn(value)
        common = [v for name, v in attributes if name.upper() == "CN"] or [v for _, v in attributes[-1:]]
        return [common[0]] if common else [value]
    if kind == "requester":
        return list(dict.fromkeys(v for v in (value, account_name(value)) if v))
    if kind == "host" and not value.replace(".", "").isdigit():
        return list(dict.fromkeys((value, value.split(".", 1)[0])))
    return [value]


def query_terms(plan: Plan) -> dict[str, list[str]]:
    """Indicator kind → the spellings to ask the vendor for."""
    return {
        kind: list(dict.fromkeys(form for value in sorted(values) for form in spellings(kind, value)))
        for kind, values in plan.wanted.items()
    }


def is_usable_value(value: str) -> bool:
    """A value that can go into a vendor query's string literal (no control characters)."""
    return bool(value) and all(ch >= " " and ch != "\x7f" for ch in value)


# --------------------------------------------------------------------------------- certificate sweeps


def names_certificate(event: SiemEvent) -> bool:
    return bool(event.sha256 or event.sha1 or (event.serial and event.issuer))


class CertificateReader:
    """A certificate sweep's reading of a SIEM's records: those of a certificate format, logged after ``since``
    and naming a certificate; what is of no certificate format (a document without its original record) is
    counted."""

    def __init__(self, since: datetime | None) -> None:
        self.since = as_utc(since) if since is not None else None
        self.unreadable = 0

    def record(self, record: LogRecord | None, source: str) -> CertificateRecord | None:
        if record is None or record.fmt not in CERTIFICATE_FORMATS:
            self.unreadable += 1
            return None
        when = record_time(record.data)
        if when is None or (self.since is not None and when <= self.since):
            return None
        event = to_event(record, when, [], source)
        return CertificateRecord(format=record.fmt, event=event) if names_certificate(event) else None

    def report(self, warnings: list[str], instance: str, what: str) -> None:
        if self.unreadable:
            warnings.append(f"{instance}: {self.unreadable} certificate {what}: not swept")


# ------------------------------------------------------------------------------- table rows (sources)

WINDOWS = "windows"
TIME_KEYS = ("TimeCreated", "ts", "timestamp", "@timestamp", "_time", "time")
"""The key a source's event time is mapped to (Windows events, Zeek, Suricata and the rest)."""
WINDOWS_KINDS = frozenset({"adcs", "process", "script"})
WINDOWS_SYSTEM_KEYS = ("EventID", "Computer", "TimeCreated")
# a hash may sit in a list (Zeek's cert_chain_fps); an account, host or DN in a longer spelling
_CONTAINS_KINDS = ("sha256", "sha1", "spki", "host", "requester", "subject")
TEXT_KINDS = ("serial", "requester", "subject", "host")
"""Indicator kinds looked for in a source's ``text_column`` (what Windows and AD CS events carry)."""
WINDOWS_INDICATOR_KEYS = {
    "requester": ("Requester", "SubjectUserName", "User"),
    "serial": ("SerialNumber", "CertificateSerialNumber"),
    "subject": ("Subject",),
}
"""EventData keys of a Windows source that hold an indicator (the files SIEM reads them as ``win.*``)."""
_SERVERS = servers_in_any_format()


class MappedSource(BaseModel):
    """One kind of record in a SIEM and where its fields are."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="What the events are reported under (a Sentinel table, a QRadar source's label).")
    table: str | None = Field(
        default=None, description="What the query reads when it is not ``name`` (QRadar events/flows)."
    )
    format: str = Field(
        description="How to read a row: zeek-ssl, zeek-x509, zeek-conn, suricata-tls, windows (EventID, Computer, "
        "TimeCreated and EventData keys), or another name whose events are of ``kind``."
    )
    kind: str | None = Field(default=None, description="Event kind (tls, x509, conn ...) for a format of another name.")
    fields: dict[str, str] = Field(
        min_length=1, description="Key the files SIEM reads (id.orig_h, tls.sni, EventID ...) → the vendor's column."
    )
    where: str | None = Field(default=None, description="An extra filter in the vendor's query language.")
    text_column: str | None = Field(
        default=None,
        description="A column searched for the indicators no mapped column holds (Windows EventData, a raw payload).",
    )

    @model_validator(mode="after")
    def _has_time(self) -> "MappedSource":
        if self.time_key is None:
            raise ValueError(f"source {self.name}: map one of {', '.join(TIME_KEYS)} to the event time column")
        return self

    @property
    def time_key(self) -> str | None:
        return next((key for key in TIME_KEYS if key in self.fields), None)

    @property
    def time_column(self) -> str:
        assert self.time_key is not None
        return self.fields[self.time_key]


def source_with(preset: MappedSource, changes: dict[str, Any]) -> MappedSource:
    """A preset with a config's changes: ``fields`` given are merged over the preset's (a column set to "" drops
    the key), the rest replaces."""
    fields = {**preset.fields, **(changes.get("fields") or {})}
    merged = {**preset.model_dump(), **changes, "fields": {k: v for k, v in fields.items() if v}}
    return MappedSource.model_validate(merged)


class SourceSettings(ConnectorSettings):
    """A source as a config names it: a preset of the connector and the changes to it."""

    presets: ClassVar[dict[str, MappedSource]] = {}
    column: ClassVar[re.Pattern[str]] = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
    column_rule: ClassVar[str] = "a column name is letters, digits and '_'"

    preset: str = Field(description="Where the field map starts from (the connector's presets).")
    fields: dict[str, str] = Field(
        default_factory=dict, description="Columns that differ from the preset's: key → column ('' drops the key)."
    )
    where: str | None = Field(default=None, description="A filter replacing the preset's ('' for none).")

    @field_validator("preset")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in cls.presets:
            raise ValueError(f"unknown preset {v!r} (known: {', '.join(cls.presets)})")
        return v

    @field_validator("fields")
    @classmethod
    def _columns(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [column for column in v.values() if column and not cls.column.match(column)]
        if bad:
            raise ValueError(f"{cls.column_rule}: {bad[0]!r}")
        return v

    def renamed(self) -> str | None:
        """The name the config gives the source (None: the preset's)."""
        return None

    def source(self) -> MappedSource:
        changes: dict[str, Any] = {"fields": self.fields}
        if self.renamed():
            changes["name"] = self.renamed()
        if self.where is not None:
            changes["where"] = self.where or None
        return source_with(self.presets[self.preset], changes)


@dataclass(frozen=True)
class Condition:
    """``column`` holds one of ``values``: ``equals`` case-insensitively, ``contains`` as a substring."""

    column: str
    values: tuple[str, ...]
    mode: Literal["equals", "contains"]


@dataclass(frozen=True)
class ServerCondition:
    ip_column: str
    port_column: str
    ip: str
    port: int


def prefilter(plan: Plan, source: MappedSource) -> list[Condition | ServerCondition] | None:
    """What the vendor query asks of ``source`` (any of them: OR), [] for every row of the window, None when
    the source holds none of the wanted indicators or kinds (it need not be asked)."""
    if plan.kinds is not None and not source_kinds(source).intersection(plan.kinds):
        return None
    if plan.select_all:
        return []
    found: list[Condition | ServerCondition] = []
    for kind, values in plan.wanted.items():
        if kind == "server":
            found += _server_conditions(values, source)
            continue
        carried = "serial" if kind == "serial_issuer" else kind
        forms = _caseless_unique(form for value in sorted(values) for form in spellings(kind, value))
        keys = INDICATOR_FIELDS.get(carried, ()) + (
            WINDOWS_INDICATOR_KEYS.get(carried, ()) if source.format == WINDOWS else ()
        )
        columns = [source.fields[key] for key in keys if key in source.fields]
        mode: Literal["equals", "contains"] = "contains" if carried in _CONTAINS_KINDS else "equals"
        found += [Condition(column, forms, mode) for column in dict.fromkeys(columns)]
        if source.text_column and carried in TEXT_KINDS:
            found.append(Condition(source.text_column, forms, "contains"))
    return found or None


def _caseless_unique(forms: Iterable[str]) -> tuple[str, ...]:
    """The forms once each, compared as the table SIEMs' queries compare them (without case)."""
    first: dict[str, str] = {}
    for form in forms:
        first.setdefault(form.casefold(), form)
    return tuple(first.values())


def source_kinds(source: MappedSource) -> frozenset[str]:
    """The event kinds a source's rows can be."""
    if source.format == WINDOWS:
        return WINDOWS_KINDS
    return frozenset({event_kind({"kind": source.kind} if source.kind else {}, source.format)})


def _server_conditions(values: set[str], source: MappedSource) -> list[Condition | ServerCondition]:
    found: list[Condition | ServerCondition] = []
    for ip_key, port_key in _SERVERS:
        if ip_key in source.fields and port_key in source.fields:
            for value in sorted(values):
                ip, _, port = value.rpartition(":")
                found.append(ServerCondition(source.fields[ip_key], source.fields[port_key], ip.strip("[]"), int(port)))
            break
    return found


# ---------------------------------------------------------------------------------------------- rows


def to_record(row: dict[str, Any], source: MappedSource) -> LogRecord | None:
    """A row (vendor column → value) as the record the files SIEM would have read; None when a Windows
    source's row is not a Windows event it handles."""
    data = {key: row[column] for key, column in source.fields.items() if row.get(column) not in (None, "")}
    if source.format != WINDOWS:
        if source.kind:
            data["kind"] = source.kind
        return LogRecord(data, source.format)
    event_data = _event_data(data.pop("EventData", None))
    system = {key: data.pop(key) for key in WINDOWS_SYSTEM_KEYS if key in data}
    normalized = normalize_windows({"System": system, "EventData": {**event_data, **data}})
    if normalized is None:
        return None
    fmt, fields = normalized
    return LogRecord({**system, **event_data, **data, **fields}, f"windows-{fmt}")


def _event_data(value: Any) -> dict[str, Any]:
    """A Windows event's EventData: as the SIEM gives it (``<EventData><Data Name=...>`` XML, or an object)."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str) or "<" not in value:
        return {}
    try:
        return dict(parse_event_xml(f"<Event><System/>{value}</Event>")["EventData"])
    except (ValueError, AlertError):
        return {}


Fetch = Callable[
    [Plan, MappedSource, list[Condition | ServerCondition]], Awaitable[tuple[list[dict[str, Any]], list[str]]]
]
"""A vendor's query of one source: the rows (vendor column → value) of ``plan``'s window that may meet a
condition (every row when there is none), earliest first, at most ``plan.limit``; and what it could not read."""


async def search_sources(query: SiemQuery, sources: list[MappedSource], fetch: Fetch, label: str) -> SiemSearch:
    """The query over every source that can hold what it asks for, at once; the ``limit`` earliest events."""
    plan = Plan.of(query)
    if plan.empty:
        return SiemSearch(events=[])
    asked = [(source, conditions) for source in sources if (conditions := prefilter(plan, source)) is not None]
    results = await asyncio.gather(*(fetch(plan, source, conditions) for source, conditions in asked))
    kept = Earliest(plan.limit)
    warnings: list[str] = []
    for (source, _), (rows, found) in zip(asked, results, strict=True):
        where = f"{label}:{source.name}"
        warnings += found
        if len(rows) >= plan.limit:
            warnings.append(f"{where}: the SIEM returned its limit of {plan.limit} rows; later events were not read")
        for row in rows:
            event = record_event(to_record(row, source), plan, where)
            if event is not None:
                kept.add(event)
    if kept.dropped:
        warnings.append(f"{kept.dropped} more events matched than the limit of {plan.limit}; the latest were dropped")
    return SiemSearch(events=kept.events(), warnings=warnings)


async def pages_by_time(
    fetch: Fetch,
    sources: list[MappedSource],
    since: datetime | None,
    history: timedelta,
    page: int,
    warnings: list[str],
    label: str,
) -> AsyncIterator[CertificateRecord]:
    """Every row naming a certificate in the certificate-format sources, logged after ``since`` (or in the last
    ``history``), for a SIEM with no cursor: a page of the earliest rows at a time, each page starting at the
    last time the one before ended (rows at that instant come twice; the sweep drops repeats by the
    certificate's keys)."""
    until = datetime.now(timezone.utc)
    start = as_utc(since) if since is not None else until - history
    reader = CertificateReader(start)
    for source in sources:
        if source.format not in CERTIFICATE_FORMATS:
            continue
        where = f"{label}:{source.name}"
        lower = start
        while True:
            rows, found = await fetch(Plan(lower, until, {}, None, page), source, [])
            warnings.extend(w for w in found if w not in warnings)
            last = lower
            for row in rows:
                record = to_record(row, source)
                when = record_time(record.data) if record is not None else None
                if when is None:
                    continue
                last = max(last, when)
                certificate = reader.record(record, where)
                if certificate is not None:
                    yield certificate
            if len(rows) < page:
                break
            if last <= lower:
                warnings.append(
                    f"{where}: more than {page} rows at {lower.isoformat()}; the rest of them were not read"
                )
                break
            lower = last
