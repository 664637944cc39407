"""``elastic``: Elasticsearch or OpenSearch ``_search`` over ECS documents (Elastic Agent / Filebeat Zeek,
Suricata and Windows data, Security Onion).

A search is a ``bool`` filter: the time range, the query's indicators as ``terms`` on the ECS fields
that carry them (every spelling logs use, remote.py's ``spellings``; names, a subject's CN and an account as a
case-insensitive ``wildcard``) and, when the query names event kinds, each kind's ``terms`` (``kind_filters``). Hits are
read in time order through a point in time with ``search_after``, so a search goes past the 10 000 hits
``from``/``size`` stops at and pages see one state of the indices; the point in time is closed after.
Elasticsearch opens it with ``POST <index>/_pit`` and closes it with ``DELETE _pit``, OpenSearch (2.4+)
with ``POST <index>/_search/point_in_time`` and ``DELETE _search/point_in_time`` (``flavor``).

A document whose ``event.original`` is the Zeek, Suricata or Windows JSON record is read as the files
SIEM reads that line; any other through the ECS field map (``fields`` replaces any of it). Failed shards
and a timed-out search are warnings of the search, never dropped.

Authentication: an API key (``Authorization: ApiKey <base64 id:key>``, Elasticsearch), a bearer token, or
a user and password (basic).
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from datetime import datetime
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, field_validator, model_validator

from certsoar.config import secret_reference
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.http import BasicAuth, HeaderAuth, HttpClient, HttpSettings, bearer_auth, json_object, secret
from certsoar.connectors.siem import CertificateRecord, SiemEvent, SiemQuery, SiemSearch
from certsoar.connectors.siem.readers import LogRecord
from certsoar.connectors.siem.remote import (
    INDICATOR_EVENT_FIELDS,
    CertificateReader,
    FieldMap,
    Plan,
    RemoteSiemSettings,
    field_map,
    mapped_record,
    original_record,
    query_terms,
    record_event,
    windows_record,
)
from certsoar.errors import ConnectorRejected, ConnectorUnavailable

ECS_FIELDS: FieldMap = {
    # ECS 8 (tls.*, source/destination, event.*, process.*, winlog.*) and the zeek.* / suricata.eve.* fields
    # the Elastic Zeek and Suricata integrations add
    "time": ("@timestamp",),
    "dataset": ("suricata.eve.event_type", "event.dataset"),
    "src_ip": ("source.ip", "client.ip"),
    "src_port": ("source.port", "client.port"),
    "dst_ip": ("destination.ip", "server.ip"),
    "dst_port": ("destination.port", "server.port"),
    "host": ("host.name", "host.hostname", "winlog.computer_name", "observer.name"),
    "sni": ("tls.client.server_name",),
    "uid": ("zeek.session_id", "suricata.eve.flow_id"),
    "bytes_out": ("source.bytes",),
    "bytes_in": ("destination.bytes",),
    "duration_ns": ("event.duration",),
    "conn_state": ("zeek.connection.state",),
    "service": ("network.protocol",),
    "requester": ("winlog.event_data.Requester", "user.name"),
    "command": ("process.command_line",),
    "image": ("process.executable",),
    "event_code": ("winlog.event_id", "event.code"),
    "request_id": ("winlog.event_data.RequestId",),
    "disposition": ("winlog.event_data.Disposition",),
    "template": ("winlog.event_data.CertificateTemplate",),
    "subject": ("tls.server.x509.subject.distinguished_name", "tls.server.subject", "x509.subject.distinguished_name"),
    "issuer": ("tls.server.x509.issuer.distinguished_name", "tls.server.issuer", "x509.issuer.distinguished_name"),
    "serial": (
        "tls.server.x509.serial_number",
        "x509.serial_number",
        "winlog.event_data.SerialNumber",
        "winlog.event_data.CertificateSerialNumber",
    ),
    "sha256": ("tls.server.hash.sha256", "hash.sha256"),
    "sha1": ("tls.server.hash.sha1", "hash.sha1"),
    "subject_key_id": ("winlog.event_data.SubjectKeyIdentifier",),
    "validation_status": ("zeek.ssl.validation.status",),
    "ja3": ("tls.client.ja3",),
    "ja3s": ("tls.server.ja3s",),
}
_ADCS_CODES = ["4886", "4887", "4888", "4870"]
KIND_FILTERS: dict[str, dict[str, list[str]]] = {
    "tls": {"event.dataset": ["zeek.ssl"], "suricata.eve.event_type": ["tls"]},
    "x509": {"event.dataset": ["zeek.x509", "zeek.known_certs"]},
    "conn": {"event.dataset": ["zeek.connection"], "suricata.eve.event_type": ["flow"]},
    "adcs": {"winlog.event_id": _ADCS_CODES, "event.code": _ADCS_CODES},
    "process": {"winlog.event_id": ["1", "4688"], "event.code": ["1", "4688"]},
    "script": {"winlog.event_id": ["4104"], "event.code": ["4104"]},
    "alert": {"suricata.eve.event_type": ["alert"], "event.kind": ["alert"]},
}
CERTIFICATE_SEARCH_KINDS = ("x509", "tls")
_INDEX = re.compile(r"^[A-Za-z0-9_.*,:\-]{1,512}$")
_KEEP_ALIVE = re.compile(r"^[1-9][0-9]{0,3}[smh]$")
_CASELESS = frozenset({"sni", "host", "requester", "subject"})
_WILDCARD_SPECIAL = re.compile(r"([\\*?])")


class ElasticSettings(HttpSettings, RemoteSiemSettings):
    flavor: Literal["elasticsearch", "opensearch"] = Field(
        default="elasticsearch", description="Which point-in-time API the cluster has."
    )
    index: str = Field(
        default="logs-*,filebeat-*", description="Indices, data streams or patterns to search (comma-separated)."
    )
    api_key: str | None = Field(
        default=None,
        description="Elasticsearch API key, the base64 'encoded' form of id:key, as env:NAME or file:PATH.",
        json_schema_extra={"secret": True},
    )
    token: str | None = Field(
        default=None, description="Bearer token as env:NAME or file:PATH.", json_schema_extra={"secret": True}
    )
    username: str | None = Field(default=None, description="User for basic authentication.")
    password: str | None = Field(
        default=None, description="That user's password as env:NAME or file:PATH.", json_schema_extra={"secret": True}
    )
    time_field: str = Field(default="@timestamp", description="The documents' event time field.")
    page_size: int = Field(default=1000, ge=1, le=10_000, description="Hits per page.")
    keep_alive: str = Field(default="2m", description="How long the point in time is kept between pages (30s, 2m).")
    kind_filters: dict[str, dict[str, list[str]]] = Field(
        default_factory=lambda: {k: dict(v) for k, v in KIND_FILTERS.items()},
        description="Event kind -> {field: [values]} selecting its documents (any term matches; replaces the "
        "defaults for the kinds given).",
    )

    @field_validator("index")
    @classmethod
    def _index(cls, v: str) -> str:
        if not _INDEX.match(v):
            raise ValueError("index names are letters, digits, '_', '.', '-', '*', ':' separated by ','")
        return v

    @field_validator("keep_alive")
    @classmethod
    def _keep_alive(cls, v: str) -> str:
        if not _KEEP_ALIVE.match(v):
            raise ValueError("a time unit such as 30s, 2m or 1h")
        return v

    @field_validator("api_key", "token", "password")
    @classmethod
    def _secret_reference(cls, v: str | None) -> str | None:
        return secret_reference(v, "a credential")

    @field_validator("kind_filters")
    @classmethod
    def _with_defaults(cls, v: dict[str, dict[str, list[str]]]) -> dict[str, dict[str, list[str]]]:
        if any(not terms or not all(values for values in terms.values()) for terms in v.values()):
            raise ValueError("a kind filter names at least one field with at least one value")
        return {**KIND_FILTERS, **v}

    @model_validator(mode="after")
    def _one_way_in(self) -> "ElasticSettings":
        basic = self.username is not None or self.password is not None
        if basic and not (self.username and self.password):
            raise ValueError("basic authentication needs both username and password")
        ways = [self.api_key is not None, self.token is not None, basic]
        if sum(ways) != 1:
            raise ValueError("give exactly one of api_key, token, or username with password")
        if self.api_key is not None and self.flavor == "opensearch":
            raise ValueError("OpenSearch takes no Elasticsearch API key: use token or username with password")
        return self


class ElasticSiem:
    settings_model: ClassVar[type[ConnectorSettings]] = ElasticSettings

    def __init__(self, settings: ElasticSettings, env: ConnectorEnv) -> None:
        self.settings = settings
        self.instance = env.name
        auth: httpx.Auth
        if settings.api_key is not None:
            auth = HeaderAuth("Authorization", secret(settings.api_key), prefix="ApiKey ")
        elif settings.token is not None:
            auth = bearer_auth(secret(settings.token))
        else:
            assert settings.username is not None and settings.password is not None
            auth = BasicAuth(settings.username, secret(settings.password))
        self.http = HttpClient(settings, env, auth=auth)
        self.fields = field_map(ECS_FIELDS, settings.fields)

    def __repr__(self) -> str:
        return f"ElasticSiem(instance={self.instance!r}, url={self.settings.url!r}, index={self.settings.index!r})"

    # ------------------------------------------------------------------ the Siem protocol

    async def search(self, query: SiemQuery) -> list[SiemEvent]:
        return (await self.search_report(query)).events

    async def search_report(self, query: SiemQuery) -> SiemSearch:
        plan = Plan.of(query)
        dsl = self.dsl(plan)
        if dsl is None:
            return SiemSearch(events=[])
        warnings: list[str] = []
        events: list[SiemEvent] = []
        async with aclosing(self._hits(dsl, warnings)) as hits:
            async for hit in hits:  # in time order: the first ``limit`` that match are the earliest
                source = hit.get("_source")
                if not isinstance(source, dict):
                    continue
                event = record_event(self._record(source), plan, self._source(hit), raw=source)
                if event is not None:
                    events.append(event)
                    if len(events) >= query.limit:
                        break
        return SiemSearch(events=events, warnings=warnings)

    async def iter_certificates(self, since: datetime | None, warnings: list[str]) -> AsyncIterator[CertificateRecord]:
        """Every Zeek x509/ssl/known_certs and Suricata tls document since ``since`` that keeps the record as logged
        in ``event.original``; ECS-only documents cannot become a sweep's alert and are counted in a warning."""
        reader = CertificateReader(since)
        filters = [self._kinds_filter(CERTIFICATE_SEARCH_KINDS)]
        if reader.since is not None:
            filters.append({"range": {self.settings.time_field: {"gt": reader.since.isoformat()}}})
        async with aclosing(self._hits({"bool": {"filter": filters}}, warnings)) as hits:
            async for hit in hits:
                source = hit.get("_source")
                if not isinstance(source, dict):
                    continue
                record = reader.record(original_record(_original(source)), self._source(hit))
                if record is not None:
                    yield record
        reader.report(warnings, self.instance, "documents keep no Zeek or Suricata event.original (ECS fields only)")

    # ------------------------------------------------------------------ the query

    def dsl(self, plan: Plan) -> dict[str, Any] | None:
        """The ``query`` of a search; None when nothing can match."""
        if plan.empty:
            return None
        window = {"gte": plan.start.isoformat(), "lte": plan.end.isoformat()}
        filters: list[dict[str, Any]] = [{"range": {self.settings.time_field: window}}]
        if not plan.select_all:
            should = [
                clause
                for kind, forms in query_terms(plan).items()
                for concept in INDICATOR_EVENT_FIELDS.get(kind, ())
                for field in self.fields.get(concept, ())
                for clause in _clauses(kind, field, forms)
            ]
            if not should:
                return None
            filters.append({"bool": {"should": should, "minimum_should_match": 1}})
        if plan.kinds is not None:
            kinds = [k for k in plan.kinds if k in self.settings.kind_filters]
            if not kinds:
                return None
            filters.append(self._kinds_filter(kinds))
        return {"bool": {"filter": filters}}

    def _kinds_filter(self, kinds: tuple[str, ...] | list[str]) -> dict[str, Any]:
        should = [
            {"terms": {field: values}} for kind in kinds for field, values in self.settings.kind_filters[kind].items()
        ]
        return {"bool": {"should": should, "minimum_should_match": 1}}

    def _record(self, source: dict[str, Any]) -> LogRecord:
        return original_record(_original(source)) or windows_record(source) or mapped_record(source, self.fields, "ecs")

    def _source(self, hit: dict[str, Any]) -> str:
        index = hit.get("_index")
        return f"{self.instance} {index}" if isinstance(index, str) else self.instance

    # ------------------------------------------------------------------ paging through a point in time

    async def _hits(self, query: dict[str, Any], warnings: list[str]) -> AsyncGenerator[dict[str, Any], None]:
        pit = await self._open_pit()
        try:
            after: list[Any] | None = None
            while True:
                body: dict[str, Any] = {
                    "size": self.settings.page_size,
                    "query": query,
                    "sort": [{self.settings.time_field: {"order": "asc"}}],
                    "pit": {"id": pit, "keep_alive": self.settings.keep_alive},
                    "track_total_hits": False,
                }
                if after is not None:
                    body["search_after"] = after
                page = json_object(
                    await self.http.request("POST", "/_search", json_body=body, idempotent=True), self.instance
                )
                pit = str(page.get("pit_id") or pit)  # always the latest id (it may change between pages)
                self._page_warnings(page, warnings)
                hits = [h for h in ((page.get("hits") or {}).get("hits") or []) if isinstance(h, dict)]
                for hit in hits:
                    yield hit
                if len(hits) < self.settings.page_size or not isinstance(hits[-1].get("sort"), list):
                    return
                after = hits[-1]["sort"]
        finally:
            await self._close_pit(pit)

    async def _open_pit(self) -> str:
        path = "_search/point_in_time" if self.settings.flavor == "opensearch" else "_pit"
        response = await self.http.request(
            "POST", f"/{self.settings.index}/{path}", params={"keep_alive": self.settings.keep_alive}, idempotent=True
        )
        body = json_object(response, self.instance)
        pit = body.get("pit_id" if self.settings.flavor == "opensearch" else "id")
        if not isinstance(pit, str) or not pit:
            raise ConnectorUnavailable("the point-in-time answer holds no id", connector=self.instance)
        return pit

    async def _close_pit(self, pit: str) -> None:
        """Frees the point in time now rather than at its keep_alive; failing to is harmless, so not an error."""
        body: dict[str, Any]
        if self.settings.flavor == "opensearch":
            path, body = "/_search/point_in_time", {"pit_id": [pit]}
        else:
            path, body = "/_pit", {"id": pit}
        try:
            await self.http.request("DELETE", path, json_body=body, ok=(404,))
        except (ConnectorUnavailable, ConnectorRejected):
            pass

    def _page_warnings(self, page: dict[str, Any], warnings: list[str]) -> None:
        shards = page.get("_shards") or {}
        failed = shards.get("failed") if isinstance(shards, dict) else None
        if isinstance(failed, int) and failed > 0:
            reasons = {
                str((f.get("reason") or {}).get("reason") or "")[:200]
                for f in shards.get("failures") or []
                if isinstance(f, dict) and isinstance(f.get("reason"), dict)
            }
            detail = f": {'; '.join(sorted(r for r in reasons if r))}" if any(reasons) else ""
            warning = f"{self.instance}: {failed} of {shards.get('total', '?')} shards failed{detail}"
            if warning not in warnings:
                warnings.append(self.http.redactor.text(warning))
        if page.get("timed_out") is True:
            warning = f"{self.instance}: the search timed out on the cluster; its hits may be partial"
            if warning not in warnings:
                warnings.append(warning)


def _clauses(kind: str, field: str, forms: list[str]) -> list[dict[str, Any]]:
    if kind not in _CASELESS:
        return [{"terms": {field: forms}}]
    # names are logged in any case; a DN in many orders (its CN, anywhere); an account with its domain
    around = "*" if kind in ("subject", "requester") else ""
    return [
        {"wildcard": {field: {"value": f"{around}{_wildcard_literal(form)}{around}", "case_insensitive": True}}}
        for form in forms
    ]


def _wildcard_literal(text: str) -> str:
    return _WILDCARD_SPECIAL.sub(r"\\\1", text)


def _original(source: dict[str, Any]) -> Any:
    event = source.get("event")
    return event.get("original") if isinstance(event, dict) else source.get("event.original")
