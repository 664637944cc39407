"""Rows of a SIEM that answers queries (Sentinel, QRadar) read as the files SIEM reads its logs.

A source (a table, or a filtered part of one) has a field map naming, for each key the files SIEM reads
(``id.orig_h``, ``tls.sni``, ``win.*`` through the Windows event keys ...), the vendor column that holds it.
The vendor query only narrows (``prefilter``: every spelling a log may use, compared loosely); each row is
then renamed by the map and decided here with the files SIEM's own matching and event code, so a row is
an event only when the local check agrees, and every SIEM names and normalizes fields the same way.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from certsoar.certs.dn import parse_dn
from certsoar.connectors import ConnectorSettings
from certsoar.connectors.siem import CERTIFICATE_FORMATS, CertificateRecord, SiemEvent, SiemQuery, SiemSearch
from certsoar.connectors.siem.events import event_kind, record_time, to_event
from certsoar.connectors.siem.indicators import INDICATOR_FIELDS, match, normalize_query
from certsoar.connectors.siem.readers import LogRecord
from certsoar.connectors.siem.windows import normalize_windows
from certsoar.errors import AlertError
from certsoar.intake.winxml import parse_event_xml
from certsoar.logfields import servers_in_any_format
from certsoar.timeparse import as_utc

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


# ----------------------------------------------------------------------------------------------- plans


@dataclass(frozen=True)
class Plan:
    """A query made ready: its window as UTC, normalized indicators, and the kinds it keeps."""

    start: datetime
    end: datetime
    wanted: dict[str, set[str]]
    kinds: frozenset[str] | None
    limit: int
    select_all: bool = False
    """Kinds given and no indicators: every event of those kinds (indicators that all fail to normalize select
    nothing, as in the files SIEM)."""

    @classmethod
    def of(cls, query: SiemQuery) -> "Plan":
        kinds = frozenset(query.kinds) if query.kinds is not None else None
        every = kinds is not None and not query.indicators
        return cls(as_utc(query.start), as_utc(query.end), normalize_query(query), kinds, query.limit, every)

    @property
    def empty(self) -> bool:
        """Nothing can match: no indicator survived normalization and no kind selects every event."""
        return not self.wanted and not self.select_all


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


def spellings(kind: str, value: str) -> tuple[str, ...]:
    """The forms a log may write a normalized indicator in, for a loose vendor-side comparison."""
    if kind in ("sha256", "sha1", "spki"):
        return (value, _colons(value))
    if kind == "serial":
        even = value if len(value) % 2 == 0 else "0" + value
        return tuple(dict.fromkeys((value, even, _colons(even))))
    if kind == "subject":
        attributes = parse_dn(value)
        common = [v for name, v in attributes if name.upper() == "CN"] or [v for _, v in attributes[-1:]]
        return (common[0],) if common else (value,)
    if kind == "requester":
        return (value.rsplit("\\", 1)[-1].split("@", 1)[0],)
    if kind == "host":
        return (value.split(".", 1)[0] if not value.replace(".", "").isdigit() else value,)
    return (value,)


def _colons(hex_text: str) -> str:
    return ":".join(hex_text[i : i + 2] for i in range(0, len(hex_text), 2))


def prefilter(plan: Plan, source: MappedSource) -> list[Condition | ServerCondition] | None:
    """What the vendor query asks of ``source`` (any of them: OR), [] for every row of the window, None when
    the source holds none of the wanted indicators or kinds (it need not be asked)."""
    if plan.kinds is not None and not plan.kinds & source_kinds(source):
        return None
    if plan.select_all:
        return []
    found: list[Condition | ServerCondition] = []
    for kind, values in plan.wanted.items():
        if kind == "server":
            found += _server_conditions(values, source)
            continue
        carried = "serial" if kind == "serial_issuer" else kind
        forms = tuple(
            dict.fromkeys(
                form
                for value in values
                for form in spellings(carried, value.split("|", 1)[0] if kind == "serial_issuer" else value)
            )
        )
        keys = INDICATOR_FIELDS.get(carried, ()) + (
            WINDOWS_INDICATOR_KEYS.get(carried, ()) if source.format == WINDOWS else ()
        )
        columns = [source.fields[key] for key in keys if key in source.fields]
        mode: Literal["equals", "contains"] = "contains" if carried in _CONTAINS_KINDS else "equals"
        found += [Condition(column, forms, mode) for column in dict.fromkeys(columns)]
        if source.text_column and carried in TEXT_KINDS:
            found.append(Condition(source.text_column, forms, "contains"))
    return found or None


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


# ------------------------------------------------------------------------------------------------ rows


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


def row_event(row: dict[str, Any], source: MappedSource, plan: Plan, label: str) -> SiemEvent | None:
    """The row as an event when it is in the window, of a wanted kind and matches (locally) a wanted indicator."""
    record = to_record(row, source)
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
    return to_event(record, when, matched, label)


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
    events: list[SiemEvent] = []
    warnings: list[str] = []
    for (source, _), (rows, found) in zip(asked, results, strict=True):
        where = f"{label}:{source.name}"
        warnings += found
        if len(rows) >= plan.limit:
            warnings.append(f"{where}: the SIEM returned its limit of {plan.limit} rows; later events were not read")
        events += [event for event in (row_event(row, source, plan, where) for row in rows) if event is not None]
    kept, dropped = earliest(events, plan.limit)
    if dropped:
        warnings.append(f"{dropped} more events matched than the limit of {plan.limit}; the latest were dropped")
    return SiemSearch(events=kept, warnings=warnings)


async def certificate_records(
    fetch: Fetch,
    sources: list[MappedSource],
    since: datetime | None,
    history: timedelta,
    page: int,
    warnings: list[str],
    label: str,
) -> AsyncIterator[CertificateRecord]:
    """Every row naming a certificate in the certificate-format sources, logged after ``since`` (or in the last
    ``history``), a page of the earliest rows at a time: each page starts at the last time the one before ended
    (rows at that instant come twice; the sweep drops repeats by the certificate's keys)."""
    until = datetime.now(timezone.utc)
    start = as_utc(since) if since is not None else until - history
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
                if record is None or when is None:
                    continue
                last = max(last, when)
                event = to_event(record, when, [], where)
                if when > start and (event.sha256 or event.sha1 or (event.serial and event.issuer)):
                    yield CertificateRecord(format=record.fmt, event=event)
            if len(rows) < page:
                break
            if last <= lower:
                warnings.append(
                    f"{where}: more than {page} rows at {lower.isoformat()}; the rest of them were not read"
                )
                break
            lower = last


def earliest(events: list[SiemEvent], limit: int) -> tuple[list[SiemEvent], int]:
    """The ``limit`` earliest events in time order, and how many more there were."""
    ordered = sorted(events, key=lambda e: e.time)
    return ordered[:limit], max(len(ordered) - limit, 0)


def is_usable_value(value: str) -> bool:
    """A value that can go into a vendor query's string literal (no control characters)."""
    return bool(value) and all(ch >= " " and ch != "\x7f" for ch in value)


__all__ = [
    "MappedSource",
    "SourceSettings",
    "search_sources",
    "Plan",
    "Condition",
    "ServerCondition",
    "prefilter",
    "row_event",
    "source_with",
    "spellings",
    "earliest",
    "certificate_records",
    "Fetch",
]
