"""``sentinel``: Microsoft Sentinel through the Azure Monitor Log Analytics query API.

``POST {url}/v1/workspaces/{workspace_id}/query`` with ``{"query": KQL, "timespan": "start/end"}`` (the
timespan is explicit and the KQL bounds ``TimeGenerated`` too), authenticated by an Entra ID token from the
client credentials grant (``login.microsoftonline.com/{tenant}/oauth2/v2.0/token``, scope
``https://api.loganalytics.io/.default``), cached until shortly before it expires. One query per source
table, sorted by time and cut at the query's limit; the answer's rows are zipped with its columns.

Never silent: a 200 answer that carries an ``error`` (``PartialError``: part of the data could not be
read, or the result was cut at the service's size limit) keeps its rows and adds a warning; a table the
workspace lacks or a query it refuses (400) is a warning naming the table; a refused token is
``ConnectorRejected``; throttling and outages are tried again, then ``ConnectorUnavailable``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, ClassVar

import httpx
from pydantic import Field, field_validator

from certsoar.config import secret_reference
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.http import HttpClient, HttpSettings, OAuth2ClientCredentials, secret, vendor_message
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
from certsoar.errors import ConnectorUnavailable
from certsoar.timeparse import Duration, parse_duration

_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,127}$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
ADCS_AND_PROCESS_EVENTS = "EventID in (4886, 4887, 4888, 4870, 4688)"


def _custom_columns(time_key: str, *keys: str) -> dict[str, str]:
    """A custom table's columns for a log's keys: each key with its dots as underscores, the record's time in
    TimeGenerated (what the ingestion pipelines write)."""
    return {time_key: "TimeGenerated", **{key: key.replace(".", "_") for key in keys}}


PRESETS: dict[str, MappedSource] = {
    # Windows Security events as the Azure Monitor Agent writes them: EventID, Computer, and the event's
    # EventData XML (AD CS 4886/4887/4888/4870 fields live only there); 4688 has its own columns too.
    "SecurityEvent": MappedSource(
        name="SecurityEvent",
        format="windows",
        fields={
            "TimeCreated": "TimeGenerated",
            "EventID": "EventID",
            "Computer": "Computer",
            "EventData": "EventData",
            "NewProcessName": "NewProcessName",
            "CommandLine": "CommandLine",
            "SubjectUserName": "SubjectUserName",
            "SubjectDomainName": "SubjectDomainName",
        },
        where=ADCS_AND_PROCESS_EVENTS,
        text_column="EventData",
    ),
    # CEF from firewalls and proxies: connections with their byte counts.
    "CommonSecurityLog": MappedSource(
        name="CommonSecurityLog",
        format="cef",
        kind="conn",
        fields={
            "timestamp": "TimeGenerated",
            "src_ip": "SourceIP",
            "src_port": "SourcePort",
            "dest_ip": "DestinationIP",
            "dest_port": "DestinationPort",
            "flow.bytes_toserver": "SentBytes",
            "flow.bytes_toclient": "ReceivedBytes",
            "app_proto": "ApplicationProtocol",
        },
    ),
    # Zeek and Suricata in custom tables (``*_CL``, data collection rules): a column per field, dots as
    # underscores. Name the table a workspace uses with ``table``; change any column with ``fields``.
    "zeek-ssl": MappedSource(
        name="Zeek_ssl_CL",
        format="zeek-ssl",
        fields=_custom_columns(
            "ts",
            "uid",
            "id.orig_h",
            "id.orig_p",
            "id.resp_h",
            "id.resp_p",
            "server_name",
            "subject",
            "issuer",
            "cert_chain_fps",
            "validation_status",
            "ja3",
            "ja3s",
        ),
    ),
    "zeek-x509": MappedSource(
        name="Zeek_x509_CL",
        format="zeek-x509",
        fields=_custom_columns("ts", "fingerprint", "certificate.subject", "certificate.issuer", "certificate.serial"),
    ),
    "zeek-conn": MappedSource(
        name="Zeek_conn_CL",
        format="zeek-conn",
        fields=_custom_columns(
            "ts",
            "uid",
            "id.orig_h",
            "id.orig_p",
            "id.resp_h",
            "id.resp_p",
            "orig_bytes",
            "resp_bytes",
            "duration",
            "conn_state",
            "service",
        ),
    ),
    "suricata-tls": MappedSource(
        name="Suricata_CL",
        format="suricata-tls",
        fields=_custom_columns(
            "timestamp",
            "flow_id",
            "src_ip",
            "src_port",
            "dest_ip",
            "dest_port",
            "tls.sni",
            "tls.subject",
            "tls.issuerdn",
            "tls.serial",
            "tls.fingerprint",
            "tls.ja3.hash",
            "tls.ja3s.hash",
        ),
        where='event_type == "tls"',
    ),
}
DEFAULT_SOURCES = ["SecurityEvent", "CommonSecurityLog"]


class SentinelSource(SourceSettings):
    presets: ClassVar[dict[str, MappedSource]] = PRESETS

    preset: str = Field(description=f"Where the field map starts from: {', '.join(PRESETS)}.")
    table: str | None = Field(default=None, description="The workspace's table (default: the preset's).")

    @field_validator("table")
    @classmethod
    def _table(cls, v: str | None) -> str | None:
        if v is not None and not cls.column.match(v):
            raise ValueError("a table name is letters, digits and '_'")
        return v

    def renamed(self) -> str | None:
        return self.table


class SentinelSettings(HttpSettings):
    url: str = Field(
        default="https://api.loganalytics.io",
        description="Log Analytics query endpoint (https://api.loganalytics.io or https://api.loganalytics.azure.com).",
    )
    workspace_id: str = Field(description="The workspace ID (a GUID, from the workspace's Properties).")
    tenant_id: str = Field(description="Entra ID tenant (directory) ID or domain of the app registration.")
    client_id: str = Field(description="Application (client) ID of the app with Log Analytics Reader on the workspace.")
    client_secret: str = Field(
        description="The app's client secret as env:NAME or file:PATH.", json_schema_extra={"secret": True}
    )
    login_url: str = Field(default="https://login.microsoftonline.com", description="Entra ID authority host.")
    scope: str = Field(default="https://api.loganalytics.io/.default", description="OAuth2 scope of the token.")
    server_wait: int = Field(
        default=180, ge=1, le=600, description="Seconds the service may run a query (Prefer: wait=N)."
    )
    sources: list[SentinelSource] = Field(
        default_factory=lambda: [SentinelSource(preset=name) for name in DEFAULT_SOURCES],
        min_length=1,
        description="Tables to search and how their columns map onto certsoar's fields.",
    )
    sweep_history: Duration = Field(default="30d", description="How far back the first certificate sweep reads.")
    sweep_page: int = Field(default=10_000, ge=2, le=500_000, description="Rows a certificate sweep reads per query.")
    read_timeout: float = Field(default=200.0, gt=0, le=900, description="Seconds to wait for each read.")

    @field_validator("workspace_id")
    @classmethod
    def _workspace(cls, v: str) -> str:
        if not _GUID.match(v):
            raise ValueError("the workspace ID is a GUID")
        return v

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, v: str) -> str:
        if not _TENANT.match(v):
            raise ValueError("a tenant is its GUID or domain name")
        return v

    @field_validator("client_secret")
    @classmethod
    def _secret(cls, v: str) -> str:
        return secret_reference(v, "the client secret") or v


class SentinelSiem:
    """ReportingSiem on a Log Analytics workspace."""

    settings_model: ClassVar[type[ConnectorSettings]] = SentinelSettings

    def __init__(self, settings: SentinelSettings, env: ConnectorEnv) -> None:
        self.settings = settings
        self.instance = env.name
        self.sources = [s.source() for s in settings.sources]
        auth = OAuth2ClientCredentials(
            f"{settings.login_url.rstrip('/')}/{settings.tenant_id}/oauth2/v2.0/token",
            settings.client_id,
            secret(settings.client_secret),
            settings.scope,
        )
        self.http = HttpClient(settings, env, auth=auth)

    def __repr__(self) -> str:
        return f"SentinelSiem(instance={self.instance!r}, workspace={self.settings.workspace_id!r})"

    async def search(self, query: SiemQuery) -> list[SiemEvent]:
        return (await self.search_report(query)).events

    async def search_report(self, query: SiemQuery) -> SiemSearch:
        return await search_sources(query, self.sources, self._rows, f"sentinel:{self.instance}")

    def iter_certificates(self, since: datetime | None, warnings: list[str]) -> AsyncIterator[CertificateRecord]:
        """The certificate-format tables (Zeek ssl/x509, Suricata tls) since ``since`` (the first sweep reads back
        ``sweep_history``), ``sweep_page`` rows per query."""
        history, page = parse_duration(self.settings.sweep_history), self.settings.sweep_page
        return pages_by_time(self._rows, self.sources, since, history, page, warnings, f"sentinel:{self.instance}")

    async def _rows(
        self, plan: Plan, source: MappedSource, conditions: list[Condition | ServerCondition]
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """The table's rows by column name, and why they may be incomplete."""
        response = await self.http.request(
            "POST",
            f"/v1/workspaces/{self.settings.workspace_id}/query",
            json_body={
                "query": kql_query(plan, source, conditions),
                "timespan": f"{_iso(plan.start)}/{_iso(plan.end)}",
            },
            headers={"Prefer": f"wait={self.settings.server_wait}"},
            idempotent=True,  # a query changes nothing
            ok=(400,),
        )
        where = f"{self.instance}: table {source.name}"
        if response.status_code == 400:
            message = self.http.redactor.text(_refusal_text(response)) or "HTTP 400"
            return [], [f"{where}: the query was refused, the table was not searched ({message})"]
        columns, types, rows, error = _primary_table(response)
        warnings = (
            [f"{where}: partial result, events may be missing ({self.http.redactor.text(error)})"] if error else []
        )
        return [_zipped(columns, types, row) for row in rows], warnings


def kql_query(plan: Plan, source: MappedSource, conditions: list[Condition | ServerCondition]) -> str:
    """The source's KQL: its table in the window, its own filter, any condition, earliest first, bounded."""
    time_column = source.time_column
    lines = [
        source.name,
        f"| where {time_column} between (datetime({_iso(plan.start)}) .. datetime({_iso(plan.end)}))",
    ]
    if source.where:
        lines.append(f"| where {source.where}")
    rendered = [text for text in (_condition(c) for c in conditions) if text]
    if conditions and not rendered:
        rendered = ["false"]  # every value was unusable: nothing can match
    if rendered:
        lines.append("| where " + " or ".join(rendered))
    columns = ", ".join(dict.fromkeys(source.fields.values()))
    lines += [f"| project {columns}", f"| sort by {time_column} asc", f"| take {plan.limit}"]
    return "\n".join(lines)


def _condition(condition: Condition | ServerCondition) -> str:
    if isinstance(condition, ServerCondition):
        return (
            f"(tostring({condition.ip_column}) =~ {_string(condition.ip)} and "
            f"tostring({condition.port_column}) == {_string(str(condition.port))})"
        )
    values = [v for v in condition.values if is_usable_value(v)]
    if not values:
        return ""
    if condition.mode == "equals":
        return f"tostring({condition.column}) in~ ({', '.join(_string(v) for v in values)})"
    return "(" + " or ".join(f"tostring({condition.column}) contains {_string(v)}" for v in values) + ")"


def _string(value: str) -> str:
    """A KQL string literal: double-quoted, backslash and quote escaped (the value may come from an adversary)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _zipped(columns: list[str], types: list[str], row: list[Any]) -> dict[str, Any]:
    """A row by column name; a ``dynamic`` value (an array, a property bag) arrives as JSON text and is decoded."""
    zipped: dict[str, Any] = {}
    for name, kind, value in zip(columns, types, row, strict=False):
        if kind == "dynamic" and isinstance(value, str) and value[:1] in ("[", "{"):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        zipped[name] = value
    return zipped


def _primary_table(response: httpx.Response) -> tuple[list[str], list[str], list[list[Any]], str]:
    """The first table's column names, types and rows, and the answer's error (a partial result) as text."""
    try:
        body = response.json()
        table = body["tables"][0]
        columns = [str(c["name"]) for c in table["columns"]]
        types = [str(c.get("type", "")) for c in table["columns"]]
        rows = [row for row in table["rows"] if isinstance(row, list)]
    except (ValueError, KeyError, IndexError, TypeError):
        raise ConnectorUnavailable(
            f"{response.request.url.path}: the answer is not a Log Analytics query result"
        ) from None
    error = body.get("error") if isinstance(body, dict) else None
    return columns, types, rows, _error_text(error) if isinstance(error, dict) else ""


def _refusal_text(response: httpx.Response) -> str:
    """A 400's error with its inner error (which names the table or column the workspace lacks)."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    return _error_text(error) if isinstance(error, dict) else vendor_message(response)


def _error_text(error: dict[str, Any]) -> str:
    parts = [f"{error.get('code', 'error')}: {error.get('message', '')}".strip()]
    inner = error.get("innererror")
    if isinstance(inner, dict) and inner.get("message"):
        parts.append(str(inner["message"]))
    for detail in error.get("details") or []:
        if isinstance(detail, dict):
            inner = detail.get("innererror")
            inner = inner if isinstance(inner, dict) else {}
            parts.append(str(inner.get("message") or detail.get("message") or detail.get("code") or ""))
    return "; ".join(p for p in parts if p)[:600]


__all__ = ["SentinelSiem", "SentinelSettings", "SentinelSource", "PRESETS", "kql_query"]
