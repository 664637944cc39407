"""``splunk``: Splunk Enterprise / Cloud over its REST API (management port 8089).

A search is one SPL string: the configured ``search`` (which indexes), the query's indicators as quoted
terms in every spelling logs use (remote.py's ``spellings``) and, when the query names event kinds, the SPL
filter of each kind (``kind_filters``). By default it streams from ``POST search/jobs/export``
(``output_mode=json``: one JSON object per line, read as it arrives); ``mode: job`` creates a search
job instead (``POST search/jobs``), polls its ``dispatchState`` and pages its ``results`` with
``offset``/``count``, for searches longer than one HTTP answer may stay open. Searching is read-only,
so the POSTs are tried again on Splunk's 503 "maximum number of concurrent searches".

A result whose ``_raw`` is Zeek, Suricata or Windows JSON is read as the files SIEM reads that line;
any other (CIM data models, Windows XML) through the CIM field map (``fields`` replaces any of it).
Messages of type ERROR or FATAL in the answer are warnings of the search, never dropped.

Authentication: a token (``Authorization: Bearer``, or ``Splunk`` for a session key made elsewhere) or
a user and password, logged in through ``POST auth/login`` for a session key kept until Splunk refuses it.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, SecretStr, field_validator, model_validator

from certsoar.config import secret_reference
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.http import CachedTokenAuth, HeaderAuth, HttpClient, HttpSettings, json_object, secret
from certsoar.connectors.siem import (
    CertificateRecord,
    SiemEvent,
    SiemQuery,
    SiemSearch,
)
from certsoar.connectors.siem.readers import LogRecord
from certsoar.connectors.siem.remote import (
    CertificateReader,
    Earliest,
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

CIM_FIELDS: FieldMap = {
    # CIM Certificates (ssl_*), Network_Traffic (bytes_*, duration, app), Endpoint Processes, and the
    # Windows event fields of the Splunk Add-on for Microsoft Windows (EventCode, RequestId, ...)
    "time": ("_time",),
    "dataset": ("event_type", "sourcetype"),
    "src_ip": ("src_ip", "src"),
    "src_port": ("src_port",),
    "dst_ip": ("dest_ip", "dest"),
    "dst_port": ("dest_port",),
    "host": ("Computer", "ComputerName", "dvc", "src_nt_host"),
    "sni": ("server_name", "sni", "ssl_server_name"),
    "uid": ("uid", "flow_id", "session_id"),
    "bytes_out": ("bytes_out",),
    "bytes_in": ("bytes_in",),
    "duration": ("duration",),
    "conn_state": ("conn_state",),
    "service": ("app",),
    "requester": ("Requester", "user"),
    "command": ("process", "CommandLine"),
    "image": ("process_path", "Image", "NewProcessName"),
    "event_code": ("EventCode", "EventID"),
    "request_id": ("RequestId",),
    "disposition": ("Disposition",),
    "template": ("CertificateTemplate",),
    "subject": ("ssl_subject", "Subject"),
    "issuer": ("ssl_issuer",),
    "serial": ("ssl_serial", "SerialNumber", "CertificateSerialNumber"),
    "digest": ("ssl_hash",),
    "subject_key_id": ("SubjectKeyIdentifier",),
    "validation_status": ("validation_status",),
    "ja3": ("ja3",),
    "ja3s": ("ja3s",),
}
KIND_FILTERS = {
    "tls": '(sourcetype="*ssl*" OR sourcetype="*tls*" OR event_type="tls")',
    "x509": '(sourcetype="*x509*" OR sourcetype="*known_certs*" OR tag="certificate")',
    "conn": '(sourcetype="*conn*" OR event_type="flow" OR tag="network")',
    "adcs": "(EventCode=4886 OR EventCode=4887 OR EventCode=4888 OR EventCode=4870)",
    "process": "(EventCode=1 OR EventCode=4688)",
    "script": "(EventCode=4104)",
    "alert": '(event_type="alert" OR tag="ids")',
}
CERTIFICATE_SEARCH_KINDS = ("x509", "tls")
_MESSAGE_TYPES = ("ERROR", "FATAL")
_UNSAFE_IN_TERM = re.compile(r'[\\"*|\x00-\x1f]')
_SID = re.compile(r"^[A-Za-z0-9_.\-]{1,200}$")
_SESSION_KEY_XML = re.compile(r"<sessionKey>([^<]+)</sessionKey>")


class SplunkSettings(HttpSettings, RemoteSiemSettings):
    token: str | None = Field(
        default=None,
        description="Authentication token (Settings > Tokens) as env:NAME or file:PATH.",
        json_schema_extra={"secret": True},
    )
    token_scheme: Literal["Bearer", "Splunk"] = Field(
        default="Bearer", description="Bearer for a token, Splunk for a session key obtained elsewhere."
    )
    username: str | None = Field(default=None, description="User for a session login (instead of a token).")
    password: str | None = Field(
        default=None, description="That user's password as env:NAME or file:PATH.", json_schema_extra={"secret": True}
    )
    search: str = Field(
        default="search index=*",
        description="The SPL the indicators and kind filters are appended to: which indexes and sourcetypes to "
        "search. Starts with 'search '.",
    )
    mode: Literal["export", "job"] = Field(
        default="export", description="export: one streamed answer; job: create a search job, poll it, page it."
    )
    max_results: int = Field(
        default=100_000,
        ge=1,
        le=1_000_000,
        description="Results Splunk sends at most per search, the earliest (| sort 0 _time | head); reaching it is a "
        "warning.",
    )
    page_size: int = Field(default=1000, ge=1, le=50_000, description="Results per page of a job's results.")
    poll_interval: float = Field(default=1.0, gt=0, le=60, description="Seconds between polls of a search job.")
    job_timeout: float = Field(
        default=300.0, gt=0, le=86_400, description="Seconds a search job may run before it is cancelled."
    )
    kind_filters: dict[str, str] = Field(
        default_factory=lambda: dict(KIND_FILTERS),
        description="Event kind -> the SPL that selects its events (replaces the defaults for the kinds given).",
    )

    @field_validator("token")
    @classmethod
    def _token_reference(cls, v: str | None) -> str | None:
        return secret_reference(v, "the token")

    @field_validator("password")
    @classmethod
    def _password_reference(cls, v: str | None) -> str | None:
        return secret_reference(v, "the password")

    @field_validator("search")
    @classmethod
    def _search_command(cls, v: str) -> str:
        v = v.strip()
        if not v.startswith("search ") or "|" in v:
            raise ValueError("must start with 'search ' and hold no pipe (results are filtered after it)")
        return v

    @field_validator("kind_filters")
    @classmethod
    def _with_defaults(cls, v: dict[str, str]) -> dict[str, str]:
        if any("|" in spl or not spl.strip() for spl in v.values()):
            raise ValueError("a kind filter is a non-empty search expression without a pipe")
        return {**KIND_FILTERS, **v}

    @model_validator(mode="after")
    def _one_way_in(self) -> "SplunkSettings":
        session = self.username is not None or self.password is not None
        if session and not (self.username and self.password):
            raise ValueError("a session login needs both username and password")
        if session == (self.token is not None):
            raise ValueError("give either token or username with password")
        return self


class SplunkSessionAuth(CachedTokenAuth):
    """``POST auth/login`` with the user's password; the session key is sent as ``Authorization: Splunk …``."""

    def __init__(self, login_url: str, username: str, password: SecretStr) -> None:
        super().__init__()
        self.login_url = login_url
        self.username = username
        self._password = password

    def token_request(self) -> httpx.Request:
        form = {"username": self.username, "password": self._password.get_secret_value(), "output_mode": "json"}
        return httpx.Request("POST", self.login_url, data=form)

    def parse_token(self, response: httpx.Response) -> tuple[SecretStr, float | None]:
        # output_mode=json: {"sessionKey": "..."}; without it: <response><sessionKey>…</sessionKey></response>
        if "json" in response.headers.get("content-type", ""):
            return SecretStr(str(response.json()["sessionKey"])), None
        found = _SESSION_KEY_XML.search(response.text)
        if found is None:
            raise ValueError("no sessionKey")
        return SecretStr(found.group(1)), None

    def apply(self, request: httpx.Request, token: SecretStr) -> None:
        request.headers["Authorization"] = f"Splunk {token.get_secret_value()}"

    def secrets(self) -> list[str]:
        return [*super().secrets(), self._password.get_secret_value()]

    def __repr__(self) -> str:
        return f"SplunkSessionAuth(login_url={self.login_url!r}, username={self.username!r})"


def spl_term(text: str) -> str:
    """A quoted SPL term: what could end the quote, widen the term or start a command (\\ " * | and control
    characters) is dropped."""
    return '"' + _UNSAFE_IN_TERM.sub("", text) + '"'


class SplunkSiem:
    settings_model: ClassVar[type[ConnectorSettings]] = SplunkSettings

    def __init__(self, settings: SplunkSettings, env: ConnectorEnv) -> None:
        self.settings = settings
        self.instance = env.name
        auth: httpx.Auth
        if settings.token is not None:
            auth = HeaderAuth("Authorization", secret(settings.token), prefix=f"{settings.token_scheme} ")
        else:
            assert settings.username is not None and settings.password is not None
            auth = SplunkSessionAuth(
                f"{settings.url}/services/auth/login", settings.username, secret(settings.password)
            )
        self.http = HttpClient(settings, env, auth=auth)
        self.fields = field_map(CIM_FIELDS, settings.fields)

    def __repr__(self) -> str:
        return f"SplunkSiem(instance={self.instance!r}, url={self.settings.url!r}, mode={self.settings.mode!r})"

    # ------------------------------------------------------------------ the Siem protocol

    async def search(self, query: SiemQuery) -> list[SiemEvent]:
        return (await self.search_report(query)).events

    async def search_report(self, query: SiemQuery) -> SiemSearch:
        plan = Plan.of(query)
        spl = self.spl(plan)
        if spl is None:
            return SiemSearch(events=[])
        warnings: list[str] = []
        kept = Earliest(query.limit)
        sent = 0
        async for result in self._results(spl, query.start, query.end + timedelta(milliseconds=1), warnings):
            sent += 1
            event = record_event(self._record(result), plan, self._source(result), raw=result)
            if event is not None:
                kept.add(event)
        if sent >= self.settings.max_results:
            warnings.append(
                f"{self.instance}: Splunk sent its max_results ({self.settings.max_results}) results: "
                "later events of the window are missing"
            )
        return SiemSearch(events=kept.events(), warnings=warnings)

    async def iter_certificates(self, since: datetime | None, warnings: list[str]) -> AsyncIterator[CertificateRecord]:
        """Every Zeek x509/ssl/known_certs and Suricata tls result since ``since`` whose ``_raw`` is the record as
        logged; CIM-only results cannot become a sweep's alert and are counted in a warning."""
        spl = f"{self.settings.search} ({' OR '.join(self.settings.kind_filters[k] for k in CERTIFICATE_SEARCH_KINDS)})"
        reader = CertificateReader(since)
        async for result in self._results(spl, reader.since, None, warnings):
            record = reader.record(original_record(result.get("_raw")), self._source(result))
            if record is not None:
                yield record
        reader.report(warnings, self.instance, "results are not Zeek or Suricata JSON in _raw (CIM fields only)")

    # ------------------------------------------------------------------ the search

    def spl(self, plan: Plan) -> str | None:
        """The search for a query; None when nothing can match."""
        if plan.empty:
            return None
        parts = [self.settings.search]
        if not plan.select_all:
            terms = [spl_term(form) for forms in query_terms(plan).values() for form in forms]
            terms = [t for t in dict.fromkeys(terms) if t != '""']
            if not terms:
                return None
            parts.append(f"({' OR '.join(terms)})")
        if plan.kinds is not None:
            filters = [self.settings.kind_filters[k] for k in plan.kinds if k in self.settings.kind_filters]
            if not filters:
                return None
            parts.append(f"({' OR '.join(filters)})")
        # the earliest first: a first sighting must not be cut off by max_results
        return " ".join(parts) + f" | sort 0 _time | head {self.settings.max_results}"

    def _record(self, result: dict[str, Any]) -> LogRecord:
        return (
            original_record(result.get("_raw"))
            or windows_record(result)
            or mapped_record(result, self.fields, "splunk-cim")
        )

    def _source(self, result: dict[str, Any]) -> str:
        sourcetype = result.get("sourcetype")
        return f"{self.instance} sourcetype={sourcetype}" if isinstance(sourcetype, str) else self.instance

    def _form(self, spl: str, start: datetime | None, end: datetime | None) -> dict[str, str]:
        form = {"search": spl, "output_mode": "json", "earliest_time": f"{start.timestamp():.3f}" if start else "0"}
        if end is not None:
            form["latest_time"] = f"{end.timestamp():.3f}"
        return form

    def _results(
        self, spl: str, start: datetime | None, end: datetime | None, warnings: list[str]
    ) -> AsyncIterator[dict[str, Any]]:
        form = self._form(spl, start, end)
        return self._job(form, warnings) if self.settings.mode == "job" else self._export(form, warnings)

    async def _export(self, form: dict[str, str], warnings: list[str]) -> AsyncIterator[dict[str, Any]]:
        malformed = 0
        lines = self.http.stream_lines("POST", "/services/search/jobs/export", form=form, idempotent=True)
        async for line in lines:
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError:
                malformed += 1
                continue
            if not isinstance(item, dict):
                malformed += 1
                continue
            self._messages(item, warnings)
            result = item.get("result")
            if isinstance(result, dict) and not item.get("preview"):
                yield result
        if malformed:
            warnings.append(f"{self.instance}: {malformed} lines of the export answer were not JSON objects")

    async def _job(self, form: dict[str, str], warnings: list[str]) -> AsyncIterator[dict[str, Any]]:
        created = await self.http.request(
            "POST", "/services/search/jobs", form={**form, "exec_mode": "normal"}, idempotent=True
        )
        sid = json_object(created).get("sid")
        if not isinstance(sid, str) or not _SID.match(sid):
            raise ConnectorUnavailable("search/jobs: the answer names no search id", connector=self.instance)
        await self._wait_for(sid)
        offset = 0
        while True:
            page = json_object(
                await self.http.request(
                    "GET",
                    f"/services/search/jobs/{sid}/results",
                    params={"output_mode": "json", "count": str(self.settings.page_size), "offset": str(offset)},
                )
            )
            self._messages(page, warnings)
            results = [r for r in page.get("results") or [] if isinstance(r, dict)]
            for result in results:
                yield result
            offset += len(results)
            if len(results) < self.settings.page_size:
                return

    async def _wait_for(self, sid: str) -> None:
        deadline = time.monotonic() + self.settings.job_timeout
        while True:
            body = json_object(
                await self.http.request("GET", f"/services/search/jobs/{sid}", params={"output_mode": "json"})
            )
            entry = (body.get("entry") or [{}])[0]
            content = entry.get("content") if isinstance(entry, dict) else None
            state = content.get("dispatchState") if isinstance(content, dict) else None
            if state == "DONE":
                return
            if state == "FAILED":
                texts = _message_texts(content.get("messages") if isinstance(content, dict) else None)
                raise ConnectorRejected(
                    f"search job {sid} failed: {'; '.join(texts) or 'no reason given'}", connector=self.instance
                )
            if time.monotonic() >= deadline:
                await self.http.request(
                    "POST", f"/services/search/jobs/{sid}/control", form={"action": "cancel"}, idempotent=True
                )
                raise ConnectorUnavailable(
                    f"search job {sid} still {state or 'unknown'} after {self.settings.job_timeout:g}s: cancelled",
                    connector=self.instance,
                )
            await asyncio.sleep(self.settings.poll_interval)

    def _messages(self, item: dict[str, Any], warnings: list[str]) -> None:
        for text in _message_texts(item.get("messages"), _MESSAGE_TYPES):
            warning = f"{self.instance}: Splunk: {self.http.redactor.text(text)}"
            if warning not in warnings:
                warnings.append(warning)


def _message_texts(messages: Any, types: tuple[str, ...] | None = None) -> list[str]:
    if isinstance(messages, dict):  # a job's content.messages: {"fatal": [...], ...} in some versions
        messages = [{"type": k.upper(), "text": t} for k, v in messages.items() for t in (v or [])]
    if not isinstance(messages, list):
        return []
    return [
        str(m.get("text"))[:500]
        for m in messages
        if isinstance(m, dict) and m.get("text") and (types is None or str(m.get("type", "")).upper() in types)
    ]
