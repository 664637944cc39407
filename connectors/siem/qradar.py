"""``qradar``: IBM QRadar through Ariel searches (AQL) over its REST API.

Per source: ``POST /api/ariel/searches?query_expression=<AQL>`` (201 with a ``search_id``), then
``GET /api/ariel/searches/{id}`` every ``poll_interval`` until ``COMPLETED`` (``ERROR`` is a refusal with
QRadar's messages, ``CANCELED`` and a search slower than ``search_timeout`` are unavailability), then
``GET /api/ariel/searches/{id}/results`` a ``Range: items=a-b`` page at a time. Every request carries the
authorized service token in ``SEC`` and the API ``Version``.

The AQL always has an explicit time range: ``START``/``STOP`` a day wider than the window on each side (they
are read in the console's time zone, to the minute) and ``starttime`` (epoch milliseconds, no time zone)
bounded exactly. QRadar's own fields (sourceip, destinationip, sourceport, destinationport, starttime, the
flows' byte counts) are mapped by default; TLS, certificate and Windows fields are custom event properties a
site defines (a regex or JSON expression per log source type), named per site (``fields``). The ``tls`` preset
reads sessions (Zeek ssl, Suricata tls), the ``x509`` preset certificates seen without a session (Zeek x509).
A source whose AQL QRadar refuses (a custom property it lacks: 422) is a warning naming it.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any, ClassVar

from pydantic import Field, field_validator

from certsoar.config import secret_reference
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.http import HeaderAuth, HttpClient, HttpSettings, json_object, secret, vendor_message
from certsoar.connectors.siem import CertificateRecord, SiemEvent, SiemQuery, SiemSearch
from certsoar.connectors.siem.remote import (
    Condition,
    MappedSource,
    Plan,
    ServerCondition,
    SourceSettings,
    is_usable_value,
    pages_by_time,
    search_sources,
)
from certsoar.errors import ConnectorRejected, ConnectorUnavailable
from certsoar.timeparse import Duration, parse_duration

_SEARCH_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_RUNNING = ("WAIT", "EXECUTE", "SORTING")
_ADDRESS_KEYS = {
    "src_ip": "sourceip",
    "src_port": "sourceport",
    "dest_ip": "destinationip",
    "dest_port": "destinationport",
}

_CERTIFICATE_ONLY = '"TLS Server Name" IS NULL AND "TLS Serial" IS NOT NULL AND "TLS Fingerprint SHA256" IS NOT NULL'
_SESSION_SHA256 = '"TLS Fingerprint SHA256" IS NOT NULL AND "TLS Serial" IS NULL'
"""A Zeek x509 record; a Zeek ssl session without a server name (the ``tls`` preset's, besides the named ones)."""

PRESETS: dict[str, MappedSource] = {
    # QRadar's own flow records: connections with their byte counts (client = source).
    "flows": MappedSource(
        name="flows",
        table="flows",
        format="qradar-flow",
        kind="conn",
        fields={
            "timestamp": "starttime",
            **_ADDRESS_KEYS,
            "flow.bytes_toserver": "sourcebytes",
            "flow.bytes_toclient": "destinationbytes",
            "app_proto": "APPLICATIONNAME(applicationid)",
        },
    ),
    # TLS sessions from a sensor's events (Zeek, Suricata, a proxy): the certificate fields are custom
    # event properties, named here as the README's example extracts them.
    "tls": MappedSource(
        name="tls",
        table="events",
        format="suricata-tls",
        fields={
            "timestamp": "starttime",
            **_ADDRESS_KEYS,
            "host": "LOGSOURCENAME(logsourceid)",
            "tls.sni": '"TLS Server Name"',
            "tls.subject": '"TLS Subject"',
            "tls.issuerdn": '"TLS Issuer"',
            "tls.serial": '"TLS Serial"',
            "tls.fingerprint": '"TLS Fingerprint SHA1"',
            "cert_sha256": '"TLS Fingerprint SHA256"',
            "tls.ja3.hash": '"JA3"',
            "validation_status": '"TLS Validation Status"',
        },
        where=f'"TLS Server Name" IS NOT NULL OR "TLS Fingerprint SHA1" IS NOT NULL OR ({_SESSION_SHA256})',
    ),
    # Certificates without a session (Zeek's x509.log): the same custom properties, extracted from the
    # x509 record's fingerprint, certificate.subject, certificate.issuer and certificate.serial. Only Zeek's
    # x509 record has a serial and a SHA-256 fingerprint together (ssl.log logs no serial, Suricata's tls
    # event a SHA-1 fingerprint); no address is mapped, because QRadar gives every event one (the log
    # source's when the payload has none).
    "x509": MappedSource(
        name="x509",
        table="events",
        format="zeek-x509",
        fields={
            "ts": "starttime",
            "fingerprint": '"TLS Fingerprint SHA256"',
            "certificate.subject": '"TLS Subject"',
            "certificate.issuer": '"TLS Issuer"',
            "certificate.serial": '"TLS Serial"',
        },
        where=_CERTIFICATE_ONLY,
    ),
    # Windows events (AD CS 4886/4887/4888/4870, process creation 4688): the EventData fields as custom
    # properties of the same names; the raw payload is searched for what no property holds.
    "windows": MappedSource(
        name="windows",
        table="events",
        format="windows",
        fields={
            "TimeCreated": "starttime",
            "EventID": '"EventID"',
            "Computer": '"Computer"',
            "RequestId": '"RequestId"',
            "Requester": '"Requester"',
            "SerialNumber": '"SerialNumber"',
            "CertificateTemplate": '"CertificateTemplate"',
            "Disposition": '"Disposition"',
            "Subject": '"Subject"',
            "SubjectKeyIdentifier": '"SubjectKeyIdentifier"',
            "Attributes": '"Attributes"',
            "NewProcessName": '"Process Path"',
            "CommandLine": '"Command"',
            "SubjectUserName": "username",
        },
        where="\"EventID\" IN ('4886', '4887', '4888', '4870', '4688')",
        text_column="UTF8(payload)",
    ),
}
DEFAULT_SOURCES = ["tls", "x509", "windows", "flows"]


class QradarSource(SourceSettings):
    presets: ClassVar[dict[str, MappedSource]] = PRESETS
    column: ClassVar[re.Pattern[str]] = re.compile(r'^[A-Za-z0-9_ ."()-]{1,200}$')
    column_rule: ClassVar[str] = 'an AQL field is a name, a "custom property" or a FUNCTION(field)'

    preset: str = Field(description=f"Where the field map starts from: {', '.join(PRESETS)}.")
    name: str | None = Field(default=None, description="Label the events are reported under (default: the preset's).")

    def renamed(self) -> str | None:
        return self.name


class QradarSettings(HttpSettings):
    token: str = Field(
        description="Authorized service token (sent as SEC) as env:NAME or file:PATH.",
        json_schema_extra={"secret": True},
    )
    api_version: str = Field(default="12.0", description="REST API version sent in the Version header.")
    poll_interval: float = Field(default=1.0, gt=0, le=60, description="Seconds between two status polls.")
    search_timeout: float = Field(default=300.0, gt=0, le=3600, description="Seconds a search may take.")
    page_size: int = Field(default=1000, ge=1, le=10_000, description="Results read per Range page.")
    sweep_history: Duration = Field(default="30d", description="How far back the first certificate sweep reads.")
    sweep_page: int = Field(default=10_000, ge=2, le=500_000, description="Rows a certificate sweep reads per search.")
    sources: list[QradarSource] = Field(
        default_factory=lambda: [QradarSource(preset=name) for name in DEFAULT_SOURCES],
        min_length=1,
        description="What to search and how its AQL fields map onto certsoar's fields.",
    )

    @field_validator("token")
    @classmethod
    def _token(cls, v: str) -> str:
        return secret_reference(v, "the token") or v

    @field_validator("api_version")
    @classmethod
    def _version(cls, v: str) -> str:
        if not re.match(r"^\d{1,2}\.\d{1,2}$", v):
            raise ValueError("an API version is like 12.0")
        return v


class QradarSiem:
    """ReportingSiem on a QRadar console."""

    settings_model: ClassVar[type[ConnectorSettings]] = QradarSettings

    def __init__(self, settings: QradarSettings, env: ConnectorEnv) -> None:
        self.settings = settings
        self.instance = env.name
        self.sources = [s.source() for s in settings.sources]
        self.http = HttpClient(settings, env, auth=HeaderAuth("SEC", secret(settings.token)))
        self._headers = {"Version": settings.api_version, "Accept": "application/json"}

    def __repr__(self) -> str:
        return f"QradarSiem(instance={self.instance!r}, url={self.settings.url!r})"

    async def search(self, query: SiemQuery) -> list[SiemEvent]:
        return (await self.search_report(query)).events

    async def search_report(self, query: SiemQuery) -> SiemSearch:
        return await search_sources(query, self.sources, self._rows, f"qradar:{self.instance}")

    def iter_certificates(self, since: datetime | None, warnings: list[str]) -> AsyncIterator[CertificateRecord]:
        """The TLS sources' events since ``since`` (the first sweep reads back ``sweep_history``), ``sweep_page``
        rows per search."""
        history, page = parse_duration(self.settings.sweep_history), self.settings.sweep_page
        return pages_by_time(self._rows, self.sources, since, history, page, warnings, f"qradar:{self.instance}")

    async def _rows(
        self, plan: Plan, source: MappedSource, conditions: list[Condition | ServerCondition]
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """The source's rows by field (times in epoch seconds), and why they may be incomplete."""
        aql, aliases = aql_query(plan, source, conditions)
        where = f"{self.instance}: {source.name}"
        created = await self.http.request(
            "POST",
            "/api/ariel/searches",
            params={"query_expression": aql},
            headers=self._headers,
            idempotent=True,  # a search reads; QRadar answers a repeat with the same search
            ok=(422,),
        )
        if created.status_code == 422:
            message = self.http.redactor.text(vendor_message(created)) or "HTTP 422"
            return [], [f"{where}: QRadar refused the search, it was not searched ({message})"]
        search_id = _search_id(json_object(created))
        status = await self._wait(search_id, where)
        rows = []
        for result in await self._results(search_id, status, plan.limit):
            row = {column: result.get(alias) for alias, column in aliases.items()}
            row[source.time_column] = _seconds(row.get(source.time_column))
            rows.append(row)
        return rows, []

    async def _wait(self, search_id: str, where: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.settings.search_timeout
        while True:
            status = json_object(
                await self.http.request("GET", f"/api/ariel/searches/{search_id}", headers=self._headers)
            )
            state = status.get("status")
            if state == "COMPLETED":
                return status
            if state == "ERROR":
                raise ConnectorRejected(
                    f"{where}: QRadar search {search_id} failed: "
                    f"{self.http.redactor.text(_error_messages(status)) or 'no reason given'}",
                    connector=self.instance,
                )
            if state == "CANCELED":
                raise ConnectorUnavailable(f"{where}: QRadar search {search_id} was canceled", connector=self.instance)
            if state not in _RUNNING:
                raise ConnectorUnavailable(
                    f"{where}: QRadar search {search_id} has an unknown status {str(state)[:40]!r}",
                    connector=self.instance,
                )
            if time.monotonic() + self.settings.poll_interval > deadline:
                raise ConnectorUnavailable(
                    f"{where}: QRadar search {search_id} did not complete within {self.settings.search_timeout:g}s "
                    f"(status {state}, {status.get('progress', '?')}%)",
                    connector=self.instance,
                )
            await asyncio.sleep(self.settings.poll_interval)

    async def _results(self, search_id: str, status: dict[str, Any], limit: int) -> list[dict[str, Any]]:
        count = status.get("record_count")
        total = min(count, limit) if isinstance(count, int) and count >= 0 else limit
        rows: list[dict[str, Any]] = []
        while len(rows) < total:
            first = len(rows)
            last = min(first + self.settings.page_size, total) - 1
            response = await self.http.request(
                "GET",
                f"/api/ariel/searches/{search_id}/results",
                headers={**self._headers, "Range": f"items={first}-{last}"},
            )
            body = json_object(response)
            page = body.get("events", body.get("flows"))
            if not isinstance(page, list):
                raise ConnectorUnavailable(
                    f"search {search_id}: the results hold neither events nor flows", connector=self.instance
                )
            rows += [item for item in page if isinstance(item, dict)]
            if len(page) < last - first + 1:
                break
        return rows[:limit]


def aql_query(
    plan: Plan, source: MappedSource, conditions: list[Condition | ServerCondition]
) -> tuple[str, dict[str, str]]:
    """The source's AQL and the alias each of its fields comes back under (alias → field)."""
    aliases = {f"f{i}": column for i, column in enumerate(dict.fromkeys(source.fields.values()))}
    selected = ", ".join(f'{column} AS "{alias}"' for alias, column in aliases.items())
    start_ms, end_ms = _milliseconds(plan.start), _milliseconds(plan.end)
    clauses = [f"{source.time_column} >= {start_ms}", f"{source.time_column} <= {end_ms}"]
    if source.where:
        clauses.append(f"({source.where})")
    rendered = [text for text in (_condition(c) for c in conditions) if text]
    if conditions and not rendered:
        rendered = ["1 = 0"]  # every value was unusable: nothing can match
    if rendered:
        clauses.append("(" + " OR ".join(rendered) + ")")
    aql = (
        f"SELECT {selected} FROM {source.table or 'events'} WHERE {' AND '.join(clauses)} "
        f"ORDER BY {source.time_column} ASC LIMIT {plan.limit} "
        f"START '{_console_minute(plan.start - timedelta(days=1))}' STOP '{_console_minute(plan.end + timedelta(days=1))}'"
    )
    return aql, aliases


def _condition(condition: Condition | ServerCondition) -> str:
    if isinstance(condition, ServerCondition):
        return f"(STR({condition.ip_column}) ILIKE {_pattern(condition.ip)} AND {condition.port_column} = {condition.port})"
    values = [v for v in condition.values if is_usable_value(v)]
    if condition.mode == "contains":
        values = [f"%{v}%" for v in values]
    return "(" + " OR ".join(f"STR({condition.column}) ILIKE {_pattern(v)}" for v in values) + ")" if values else ""


def _pattern(value: str) -> str:
    """An ILIKE pattern literal. A quote or backslash becomes '_' (any one character): the pattern can only widen,
    and the rows are matched exactly afterwards, so no value (an adversary's included) can leave the literal."""
    return "'" + value.replace("'", "_").replace("\\", "_") + "'"


def _milliseconds(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _console_minute(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M")


def _seconds(value: Any) -> Any:
    """QRadar's epoch milliseconds as epoch seconds (what the event code reads)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return value / 1000


def _search_id(body: dict[str, Any]) -> str:
    value = body.get("search_id")
    if not isinstance(value, str) or not _SEARCH_ID.match(value):
        raise ConnectorUnavailable("POST /api/ariel/searches: the answer has no usable search_id")
    return value


def _error_messages(status: dict[str, Any]) -> str:
    messages = status.get("error_messages") or []
    return "; ".join(str(m.get("message") or m.get("code") or "") for m in messages if isinstance(m, dict))[:600]


__all__ = ["QradarSiem", "QradarSettings", "QradarSource", "PRESETS", "aql_query"]
