"""The SIEMs of the conformance suite (tests/connectors/siem/test_siem_conformance.py), each holding the story
of siem_records.py in its own shape, and the fake vendors behind pytest-httpx that answer from that state.

A fake evaluates what the connector sends (Splunk: the SPL's quoted terms and field=value filters; Elastic:
the bool/terms/range/wildcard DSL, point in time and search_after; Sentinel's KQL and QRadar's AQL through the
interpreters of fake_sentinel.py and fake_qradar.py), in the body formats the vendor documents; ``inject`` puts
failures (401, 429 with Retry-After, 500) in front of the next requests. A new SIEM connector adds a builder here and an entry to ``SIEM_VENDORS``.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fake_qradar import SECRETS as QRADAR_SECRETS
from fake_qradar import URL as QRADAR_URL
from fake_qradar import FakeQradar, build_qradar
from fake_sentinel import API_URL as SENTINEL_API_URL
from fake_sentinel import SECRETS as SENTINEL_SECRETS
from fake_sentinel import FakeSentinel, build_sentinel
from siem_records import (
    ADCS,
    BENIGN,
    BENIGN_SHA256,
    CLIENT,
    CONN,
    EVIL_SHA1,
    EVIL_SHA256,
    ISSUER,
    JA3,
    JA3S,
    RECORDS,
    SERIAL,
    SERVER,
    SSL,
    SUBJECT,
    SURICATA,
    UID,
    X509,
    Record,
    colons,
)
from vendor_faults import Fault

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.siem import Siem
from certsoar.connectors.siem.elastic import ElasticSettings, ElasticSiem
from certsoar.connectors.siem.files import FilesSiem, FilesSiemSettings
from certsoar.connectors.siem.splunk import SplunkSettings, SplunkSiem
from certsoar.logformats import flatten, parse_time


class FakeVendor:
    """What every fake shares: the requests seen, injected faults, who may call."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.urls: tuple[str, ...] = (url,)
        self.requests: list[httpx.Request] = []
        self.faults: list[Fault] = []

    def inject(self, status: int, *, times: int = 1, headers: dict[str, str] | None = None, message: str = "") -> None:
        for _ in range(times):
            self.faults.append(Fault(status, headers or {}, self.error_body(status, message)))

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        raise NotImplementedError

    def answer(self, request: httpx.Request) -> httpx.Response:
        raise NotImplementedError

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.faults:
            fault = self.faults.pop(0)
            return fault.response()
        return self.answer(request)


# ---------------------------------------------------------------------------------------------- Splunk

SPLUNK_SOURCETYPES = {"x509": "bro:x509:json", "ssl": "bro:ssl:json", "conn": "bro:conn:json", "suricata": "suricata"}
_ADCS_XML = (  # XmlWinEventLog's _raw: the event's XML as Windows renders it (abridged)
    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>4887</EventID>"
    "<TimeCreated SystemTime='2026-05-28T20:00:04.0000000Z'/><Computer>CA01.corp.example</Computer></System>"
    "<EventData><Data Name='RequestId'>2051</Data><Data Name='Requester'>CORP\\mallory</Data>"
    "<Data Name='Disposition'>3</Data><Data Name='SerialNumber'>{serial}</Data></EventData></Event>"
)


def splunk_time(record: Record) -> str:
    # _time as output_mode=json renders it: "2023-08-27T02:25:00.000+10:00" (vendor-apis.md 1.1, results body)
    return record.time.isoformat(timespec="milliseconds")


def splunk_results() -> list[dict[str, Any]]:
    """The story as Splunk holds it: Zeek and Suricata JSON in _raw (fields extracted at search time, as
    KV_MODE=json does), the AD CS event as XmlWinEventLog with the Windows add-on's field names, and the
    benign session as CIM Certificates fields only (a made-up sourcetype)."""
    results: list[dict[str, Any]] = []
    for record in (X509, SSL, SURICATA, CONN):
        results.append(
            {
                "_time": splunk_time(record),
                "_raw": record.line(),
                "sourcetype": SPLUNK_SOURCETYPES[record.name],
                "index": "network",
                "host": "sensor1",
                **{k: str(v) for k, v in flatten(record.native).items() if not isinstance(v, list)},
            }
        )
    adcs = {k: str(v) for k, v in ADCS.native.items() if k not in ("EventID", "TimeCreated")}
    results.append(
        {
            "_time": splunk_time(ADCS),
            "_raw": _ADCS_XML.format(serial=SERIAL.lower()),
            "sourcetype": "XmlWinEventLog",
            "source": "XmlWinEventLog:Security",
            "index": "wineventlog",
            "EventCode": "4887",
            **adcs,
        }
    )
    results.append(  # CIM Certificates (docs.splunk.com/Documentation/CIM/latest/User/Certificates)
        {
            "_time": splunk_time(BENIGN),
            "_raw": "2026-05-28T20:00:05Z tls session 10.0.0.9:51000 -> 198.51.100.20:443 benign.example "
            f"hash={colons(BENIGN_SHA256).upper()}",
            "sourcetype": "cim:ssl",
            "index": "network",
            "src": "10.0.0.9",
            "dest": "198.51.100.20",
            "dest_port": "443",
            "ssl_hash": colons(BENIGN_SHA256).upper(),
            "ssl_subject": "CN=benign.example",
            "ssl_issuer": "CN=Good CA,O=Good",
            "server_name": "benign.example",
        }
    )
    return results


_SPL_TOKEN = re.compile(r'\(|\)|"(?:[^"\\]|\\.)*"|[^\s()"=]+="[^"]*"|[^\s()"]+')


class SplunkSearch:
    """The SPL the connector writes: ``search`` terms, field=value (glob) filters, AND, OR, parentheses,
    then ``| sort 0 _time | head N``. A quoted term matches the raw event text, case-insensitively, as Splunk's term search."""

    def __init__(self, spl: str) -> None:
        command, _, pipeline = spl.partition("|")
        assert command.startswith("search "), spl
        head = re.fullmatch(r"\s*sort 0 _time \|\s*head (\d+)\s*", pipeline) if pipeline else None
        assert not pipeline or head, f"unexpected pipeline {pipeline!r}"
        self.sorted_head = int(head.group(1)) if head else None
        self.tokens = _SPL_TOKEN.findall(command.removeprefix("search "))

    def matches(self, result: dict[str, Any]) -> bool:
        position, value = self._or(self.tokens, 0, result)
        assert position == len(self.tokens), self.tokens
        return value

    def _or(self, tokens: list[str], i: int, result: dict[str, Any]) -> tuple[int, bool]:
        i, value = self._and(tokens, i, result)
        while i < len(tokens) and tokens[i] == "OR":
            i, other = self._and(tokens, i + 1, result)
            value = value or other
        return i, value

    def _and(self, tokens: list[str], i: int, result: dict[str, Any]) -> tuple[int, bool]:
        value = True
        while i < len(tokens) and tokens[i] not in ("OR", ")"):
            if tokens[i] == "(":
                i, inner = self._or(tokens, i + 1, result)
                assert tokens[i] == ")"
                i += 1
            else:
                inner = _spl_atom(tokens[i], result)
                i += 1
            value = value and inner
        return i, value


def _spl_atom(token: str, result: dict[str, Any]) -> bool:
    if token.startswith('"'):
        return token[1:-1].casefold() in str(result.get("_raw", "")).casefold()
    name, sep, pattern = token.partition("=")
    assert sep, token
    pattern = pattern.strip('"')
    if name == "index":
        return fnmatch.fnmatch(str(result.get("index", "")), pattern)
    value = result.get(name)
    return value is not None and fnmatch.fnmatch(str(value).casefold(), pattern.casefold())


class FakeSplunk(FakeVendor):
    """Splunk's REST API on the management port: search/jobs/export, the job API and auth/login.

    Body formats, from vendor-apis.md section 1.1 (splunk-sdk-python splunklib/results.py and client.py,
    help.splunk.com "Export data using the Splunk REST API", the REST API reference for search/jobs and
    auth/login) and its fixtures:
    - export: one JSON object per line, {"preview": false, "offset": N, "result": {...}}, the last with
      "lastrow": true; message lines {"preview": false, "messages": [{"type": "INFO", "text": ...}]};
    - errors: {"messages": [{"type": "WARN"|"ERROR"|"FATAL", "text": ...}]}; 401 "call not properly
      authenticated"; 503 when the search concurrency quota is reached.
    """

    def __init__(self, url: str, token: str) -> None:
        super().__init__(url)
        self.token = token
        self.results = splunk_results()
        self.credentials: tuple[str, str] | None = None
        self.session_key = "a3f5b1c0d2e4f6a8b0c2d4e6f8a0b2c4d6e8f0a2"
        self.logins = 0
        self.messages: list[dict[str, str]] = [{"type": "INFO", "text": "Your timerange was substituted."}]
        self.jobs: dict[str, tuple[list[dict[str, Any]], int]] = {}
        self.polls_before_done = 1
        self.sids = itertools.count(42)
        self.searches: list[str] = []

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"messages": [{"type": "FATAL" if status >= 500 else "WARN", "text": message}]}

    def answer(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST" and path == "/services/auth/login":
            return self._login(request)
        if request.headers.get("Authorization") not in (f"Bearer {self.token}", f"Splunk {self.session_key}"):
            return httpx.Response(401, json=self.error_body(401, "call not properly authenticated"))
        if request.method == "POST" and path == "/services/search/jobs/export":
            return self._export(_form(request))
        if request.method == "POST" and path == "/services/search/jobs":
            return self._create(_form(request))
        job = re.fullmatch(r"/services/search/jobs/([0-9.]+)(/results|/control)?", path)
        if job and job.group(1) in self.jobs:
            return self._job(request, job.group(1), job.group(2))
        return httpx.Response(404, json=self.error_body(404, f"Unknown sid or path {path}"))

    def search(self, form: dict[str, str]) -> list[dict[str, Any]]:
        assert form["output_mode"] == "json"
        self.searches.append(form["search"])
        spl = SplunkSearch(form["search"])
        earliest = float(form.get("earliest_time", "0"))
        latest = float(form["latest_time"]) if "latest_time" in form else float("inf")
        found = [
            r
            for r in self.results
            if earliest <= _timestamp(r["_time"]) < latest and spl.matches(r)  # latest_time is exclusive
        ]
        if spl.sorted_head is None:
            found.sort(key=lambda r: _timestamp(r["_time"]), reverse=True)  # Splunk answers newest first
            return found
        return sorted(found, key=lambda r: _timestamp(r["_time"]))[: spl.sorted_head]

    def _export(self, form: dict[str, str]) -> httpx.Response:
        assert "exec_mode" not in form  # the export endpoint refuses it (vendor-apis.md 1.1)
        found = self.search(form)
        lines = [json.dumps({"preview": False, "messages": self.messages})] if self.messages else []
        for offset, result in enumerate(found):
            line: dict[str, Any] = {"preview": False, "offset": offset, "result": result}
            if offset == len(found) - 1:
                line["lastrow"] = True
            lines.append(json.dumps(line))
        return httpx.Response(200, content="\n".join(lines).encode(), headers={"Content-Type": "application/json"})

    def _create(self, form: dict[str, str]) -> httpx.Response:
        # POST search/jobs answers 201 {"sid": "1704067200.12345"} (vendor-apis.md 1.1, client.py _load_sid)
        assert form.get("exec_mode") == "normal"
        sid = f"1780000000.{next(self.sids)}"
        self.jobs[sid] = (self.search(form), 0)
        return httpx.Response(201, json={"sid": sid})

    def _job(self, request: httpx.Request, sid: str, tail: str | None) -> httpx.Response:
        found, polls = self.jobs[sid]
        if tail == "/control":
            return httpx.Response(200, json={"messages": [{"type": "INFO", "text": "Search job cancelled."}]})
        if tail is None:
            # GET search/jobs/{sid}?output_mode=json: {"entry": [{"content": {"dispatchState", "isDone", ...}}]}
            self.jobs[sid] = (found, polls + 1)
            state = "DONE" if polls >= self.polls_before_done else "RUNNING"
            content = {"sid": sid, "dispatchState": state, "isDone": state == "DONE", "resultCount": len(found)}
            return httpx.Response(200, json={"links": {}, "entry": [{"name": sid, "content": content}], "paging": {}})
        # GET search/jobs/{sid}/results?output_mode=json&count&offset: {"preview", "init_offset", "messages",
        # "fields", "results", "highlighted"} (vendor-apis.md 1.1, results body)
        offset, count = int(request.url.params["offset"]), int(request.url.params["count"])
        page = found[offset : offset + count] if count else found[offset:]
        fields = sorted({name for r in page for name in r})
        return httpx.Response(
            200,
            json={
                "preview": False,
                "init_offset": offset,
                "messages": [],
                "fields": [{"name": n} for n in fields],
                "results": page,
                "highlighted": {},
            },
        )

    def _login(self, request: httpx.Request) -> httpx.Response:
        # POST auth/login (username, password; output_mode=json) → {"sessionKey": "..."}; bad credentials 401
        # {"messages": [{"type": "WARN", "text": "Login failed"}]} (REST API reference, auth/login)
        form = _form(request)
        if self.credentials is None or (form.get("username"), form.get("password")) != self.credentials:
            return httpx.Response(401, json=self.error_body(401, "Login failed"))
        self.logins += 1
        return httpx.Response(200, json={"sessionKey": self.session_key, "message": "", "code": ""})


def _form(request: httpx.Request) -> dict[str, str]:
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    return dict(httpx.QueryParams(request.content.decode()))


def _timestamp(text: str) -> float:
    when = parse_time(text)
    assert when is not None, text
    return when.timestamp()


# ---------------------------------------------------------------------------------------------- Elastic


def ecs_documents() -> list[tuple[str, dict[str, Any]]]:
    """The story as Elastic Agent / Filebeat and Winlogbeat index it (ECS 8 field reference, elastic.co/guide/en/ecs):
    the Zeek x509 and Suricata records keep their original in ``event.original``; the ssl, conn, AD CS and
    benign documents are ECS fields only."""
    hashes = {"sha256": EVIL_SHA256.upper()}
    x509_ecs = {"serial_number": SERIAL, "subject": {"distinguished_name": SUBJECT}}
    x509_ecs["issuer"] = {"distinguished_name": ISSUER}
    return [
        (
            "logs-zeek.x509-default",
            {
                "@timestamp": X509.time.isoformat(),
                "event": {"dataset": "zeek.x509", "module": "zeek", "original": X509.line()},
                "x509": x509_ecs,
                "hash": hashes,
            },
        ),
        (
            "logs-zeek.ssl-default",
            {
                "@timestamp": SSL.time.isoformat(),
                "event": {"dataset": "zeek.ssl", "module": "zeek"},
                "source": {"ip": SSL.native["id.orig_h"], "port": 50000},
                "destination": {"ip": SSL.native["id.resp_h"], "port": 443},
                "tls": {
                    "client": {"server_name": "evil.example", "ja3": JA3},
                    "server": {"ja3s": JA3S, "hash": hashes, "x509": x509_ecs | {"serial_number": None}},
                },
                "zeek": {"session_id": UID, "ssl": {"validation": {"status": SSL.native["validation_status"]}}},
            },
        ),
        (
            "logs-suricata.eve-default",
            {
                "@timestamp": SURICATA.time.isoformat(),
                "event": {"dataset": "suricata.eve", "module": "suricata", "original": SURICATA.line()},
                "suricata": {"eve": {"event_type": "tls", "flow_id": SURICATA.native["flow_id"]}},
                "source": {"ip": SURICATA.native["src_ip"], "port": 50001},
                "destination": {"ip": SURICATA.native["dest_ip"], "port": 443},
                "tls": {
                    "client": {"server_name": "evil.example", "ja3": JA3},
                    "server": {"ja3s": JA3S, "hash": {"sha1": EVIL_SHA1.upper()}, "x509": x509_ecs},
                },
            },
        ),
        (
            "logs-zeek.connection-default",
            {
                "@timestamp": CONN.time.isoformat(),
                "event": {"dataset": "zeek.connection", "module": "zeek", "duration": 1_500_000_000},
                "source": {"ip": CONN.native["id.orig_h"], "port": 50000, "bytes": 1200, "packets": 10},
                "destination": {"ip": CONN.native["id.resp_h"], "port": 443, "bytes": 5400, "packets": 9},
                "network": {"transport": "tcp", "protocol": "ssl"},
                "zeek": {"session_id": UID, "connection": {"state": "SF", "history": "ShADadFf"}},
            },
        ),
        (
            "logs-system.security-default",  # Winlogbeat: winlog.event_data.* as the event names them
            {
                "@timestamp": ADCS.time.isoformat(),
                "event": {"code": "4887", "provider": "Microsoft-Windows-Security-Auditing", "kind": "event"},
                "host": {"name": "ca01.corp.example"},
                "winlog": {
                    "event_id": "4887",
                    "channel": "Security",
                    "computer_name": "CA01.corp.example",
                    "event_data": {k: str(v) for k, v in ADCS.native.items() if k not in ("EventID", "TimeCreated")},
                },
            },
        ),
        (
            "logs-zeek.ssl-default",
            {
                "@timestamp": BENIGN.time.isoformat(),
                "event": {"dataset": "zeek.ssl", "module": "zeek"},
                "source": {"ip": "10.0.0.9", "port": 51000},
                "destination": {"ip": "198.51.100.20", "port": 443},
                "tls": {
                    "client": {"server_name": "benign.example"},
                    "server": {
                        "hash": {"sha256": BENIGN_SHA256.upper()},
                        "x509": {"subject": {"distinguished_name": "CN=benign.example"}},
                    },
                },
            },
        ),
    ]


class FakeElastic(FakeVendor):
    """Elasticsearch (or OpenSearch) ``_search`` with points in time.

    Body formats: vendor-apis.md section 1.2 and the vendors' API references: Elasticsearch "Open a point in
    time" (POST /<index>/_pit?keep_alive → {"id"}), "Close a point in time" (DELETE /_pit {"id"} →
    {"succeeded": true, "num_freed": 1}), "Search" ({"pit_id", "took", "timed_out", "_shards", "hits": {"hits":
    [{"_index", "_id", "_score", "_source", "sort"}]}}); OpenSearch "Point in Time API" (POST
    /<index>/_search/point_in_time?keep_alive → {"pit_id", "_shards", "creation_time"}; DELETE
    /_search/point_in_time {"pit_id": [...]} → {"pits": [{"successful": true, "pit_id"}]}). Errors:
    {"error": {"root_cause": [...], "type", "reason"}, "status"}; 401 security_exception with WWW-Authenticate.
    """

    def __init__(self, url: str, authorization: str, flavor: str = "elasticsearch") -> None:
        super().__init__(url)
        self.authorization = authorization
        self.flavor = flavor
        self.documents: list[tuple[str, dict[str, Any]]] = ecs_documents()
        self.pits: dict[str, str] = {}
        self.opened = 0
        self.shard_failure: str | None = None
        self._ids = itertools.count(1)

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        kind = {401: "security_exception", 429: "es_rejected_execution_exception"}.get(status, "exception")
        reason = message or f"{kind} (status {status})"
        return {
            "error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason},
            "status": status,
        }

    def add(self, index: str, document: dict[str, Any]) -> None:
        self.documents.append((index, document))

    def answer(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") != self.authorization:
            reason = "unable to authenticate with provided credentials and anonymous access is not allowed"
            return httpx.Response(
                401,
                json=self.error_body(401, reason),
                headers={"WWW-Authenticate": 'Basic realm="security" charset="UTF-8", ApiKey'},
            )
        path = request.url.path
        pit_path = "/_search/point_in_time" if self.flavor == "opensearch" else "/_pit"
        if request.method == "POST" and path.endswith(pit_path) and path != pit_path:
            return self._open(path.removesuffix(pit_path).strip("/"), request)
        if request.method == "DELETE" and path == pit_path:
            return self._close(json.loads(request.content))
        if request.method == "POST" and path == "/_search":
            return self._search(json.loads(request.content))
        return httpx.Response(404, json=self.error_body(404, f"no handler for {request.method} {path}"))

    def _open(self, pattern: str, request: httpx.Request) -> httpx.Response:
        assert request.url.params.get("keep_alive")
        pit = f"46ToAwMDaWR4BXV1aWQx{next(self._ids)}"
        self.pits[pit] = pattern
        self.opened += 1
        if self.flavor == "opensearch":
            shards = {"total": 1, "successful": 1, "skipped": 0, "failed": 0}
            return httpx.Response(200, json={"pit_id": pit, "_shards": shards, "creation_time": 1780000000000})
        return httpx.Response(200, json={"id": pit})

    def _close(self, body: dict[str, Any]) -> httpx.Response:
        if self.flavor == "opensearch":
            freed = [p for p in body["pit_id"] if self.pits.pop(p, None) is not None]
            return httpx.Response(200, json={"pits": [{"successful": True, "pit_id": p} for p in freed]})
        freed_one = self.pits.pop(body["id"], None) is not None
        return httpx.Response(200, json={"succeeded": True, "num_freed": int(freed_one)})

    def _search(self, body: dict[str, Any]) -> httpx.Response:
        pit = (body.get("pit") or {}).get("id")
        if pit not in self.pits:  # a search without a live point in time is not what the connector sends
            return httpx.Response(404, json=self.error_body(404, "No search context found for id"))
        assert "from" not in body and body["size"] <= 10_000
        [sort] = body["sort"]
        assert list(sort) == ["@timestamp"] and sort["@timestamp"]["order"] == "asc"
        patterns = self.pits[pit].split(",")
        hits = []
        for seq, (index, doc) in enumerate(self.documents):
            if not any(fnmatch.fnmatch(index, p) for p in patterns):
                continue
            flat = flatten(doc)
            if _dsl(body["query"], flat):
                key = [int(_timestamp(doc["@timestamp"]) * 1000), seq]  # the implicit _shard_doc tiebreaker
                hits.append({"_index": index, "_id": f"doc{seq}", "_score": None, "_source": doc, "sort": key})
        hits.sort(key=lambda h: h["sort"])
        after = body.get("search_after")
        if after is not None:
            hits = [h for h in hits if h["sort"] > after]
        shards: dict[str, Any] = {"total": 3, "successful": 3, "skipped": 0, "failed": 0}
        if self.shard_failure:
            shards = {"total": 3, "successful": 2, "skipped": 0, "failed": 1}
            shards["failures"] = [
                {"shard": 2, "index": "logs-zeek.ssl-default", "reason": {"type": "x", "reason": self.shard_failure}}
            ]
        return httpx.Response(
            200,
            json={
                "pit_id": pit,
                "took": 3,
                "timed_out": False,
                "_shards": shards,
                "hits": {"max_score": None, "hits": hits[: body["size"]]},
            },
        )


def _dsl(query: dict[str, Any], doc: dict[str, Any]) -> bool:
    [(kind, spec)] = query.items()
    if kind == "bool":
        filters = all(_dsl(q, doc) for q in spec.get("filter", []))
        should = spec.get("should")
        if not should:
            return filters
        return filters and sum(_dsl(q, doc) for q in should) >= spec.get("minimum_should_match", 1)
    [(name, condition)] = spec.items()
    value = doc.get(name)
    values = value if isinstance(value, list) else [value]
    if kind == "terms":
        return any(v is not None and str(v) in [str(c) for c in condition] for v in values)
    if kind == "range":
        if value is None:
            return False
        when = _timestamp(str(value))
        bounds = {op: _timestamp(text) for op, text in condition.items()}
        return (
            when >= bounds.get("gte", when)
            and when <= bounds.get("lte", when)
            and (when > bounds["gt"] if "gt" in bounds else True)
        )
    if kind == "wildcard":
        pattern = re.escape(condition["value"]).replace(r"\\\*", "\0").replace(r"\*", ".*").replace("\0", r"\*")
        flags = re.I if condition.get("case_insensitive") else 0
        return any(isinstance(v, str) and re.fullmatch(pattern, v, flags | re.S) for v in values)
    raise AssertionError(f"query clause the fake does not know: {kind}")


# ---------------------------------------------------------------------------------------------- vendors


@dataclass
class SiemVendor:
    """A SIEM connector holding the story, and the fake vendor behind it (None: no HTTP)."""

    name: str
    build: Callable[..., Siem]
    """``build(url=None, **settings)``: the connector, against the fake unless ``url`` is given."""
    fake: FakeVendor | None
    secrets: list[str]
    sweepable: set[str]
    """Records its ``iter_certificates`` yields (those kept as the sensor logged them); empty: not supported."""
    gaps: dict[str, str] = field(default_factory=dict)
    """Conformance tests it is known to fail (test id → why): strict xfails, so a fix shows as XPASS."""


SPLUNK_URL = "https://splunk.example.test:8089"
SPLUNK_TOKEN = "eyJraWQiOiJzcGx1bmsuc2VjcmV0IiwiYWxnIjoiSFM1MTIifQ.conformance-token.Zm9v"
ELASTIC_URL = "https://es.example.test:9200"
ELASTIC_API_KEY = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
OPENSEARCH_PASSWORD = "conformance-Passw0rd!"


def sentinel_vendor(monkeypatch: Any, tmp_path: Path) -> SiemVendor:
    monkeypatch.setenv("CERTSOAR_TEST_SENTINEL_SECRET", SENTINEL_SECRETS[0])
    fake = SentinelStory()

    def build(url: str | None = None, **settings: Any) -> Siem:
        return build_sentinel(fake.workspace, tmp_path, url, sweep_history="3650d", **settings)

    return SiemVendor("sentinel", build, fake, SENTINEL_SECRETS, {"x509", "ssl", "suricata", "benign"})


def qradar_vendor(monkeypatch: Any, tmp_path: Path) -> SiemVendor:
    monkeypatch.setenv("CERTSOAR_TEST_QRADAR_TOKEN", QRADAR_SECRETS[0])
    fake = QradarStory()

    def build(url: str | None = None, **settings: Any) -> Siem:
        values = {"sweep_history": "3650d", "sources": QRADAR_SOURCES, **settings}
        return build_qradar(fake.console, tmp_path, url, **values)

    return SiemVendor("qradar", build, fake, QRADAR_SECRETS, {"x509", "ssl", "suricata", "benign"})


def files_vendor(monkeypatch: Any, tmp_path: Path) -> SiemVendor:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "story.jsonl").write_text("\n".join(r.line() for r in RECORDS) + "\n")

    def build(url: str | None = None, **settings: Any) -> Siem:
        env = ConnectorEnv(name="files", state_dir=tmp_path / "state", config_dir=tmp_path)
        return FilesSiem(FilesSiemSettings(paths=[logs]), env)

    return SiemVendor("files", build, None, [], {"x509", "ssl", "suricata", "benign"})


def splunk_vendor(monkeypatch: Any, tmp_path: Path, mode: str = "export") -> SiemVendor:
    monkeypatch.setenv("CERTSOAR_TEST_SPLUNK_TOKEN", SPLUNK_TOKEN)
    fake = FakeSplunk(SPLUNK_URL, SPLUNK_TOKEN)

    def build(url: str | None = None, **settings: Any) -> Siem:
        values = {
            "url": url or SPLUNK_URL,
            "token": "env:CERTSOAR_TEST_SPLUNK_TOKEN",
            "backoff": 0.01,
            "mode": mode,
            "poll_interval": 0.01,
            **settings,
        }
        return SplunkSiem(SplunkSettings.model_validate(values), ConnectorEnv(name="splunk", state_dir=tmp_path))

    return SiemVendor(f"splunk-{mode}", build, fake, [SPLUNK_TOKEN], {"x509", "ssl", "suricata"})


def elastic_vendor(monkeypatch: Any, tmp_path: Path, flavor: str = "elasticsearch") -> SiemVendor:
    if flavor == "opensearch":
        monkeypatch.setenv("CERTSOAR_TEST_OPENSEARCH_PASSWORD", OPENSEARCH_PASSWORD)
        basic = httpx.BasicAuth("certsoar", OPENSEARCH_PASSWORD)._auth_header
        fake = FakeElastic(ELASTIC_URL, basic, flavor)
        credentials: dict[str, Any] = {"username": "certsoar", "password": "env:CERTSOAR_TEST_OPENSEARCH_PASSWORD"}
        secrets = [OPENSEARCH_PASSWORD, basic.removeprefix("Basic ")]
    else:
        monkeypatch.setenv("CERTSOAR_TEST_ELASTIC_API_KEY", ELASTIC_API_KEY)
        fake = FakeElastic(ELASTIC_URL, f"ApiKey {ELASTIC_API_KEY}", flavor)
        credentials = {"api_key": "env:CERTSOAR_TEST_ELASTIC_API_KEY"}
        secrets = [ELASTIC_API_KEY]

    def build(url: str | None = None, **settings: Any) -> Siem:
        values = {"url": url or ELASTIC_URL, "flavor": flavor, "backoff": 0.01, **credentials, **settings}
        return ElasticSiem(ElasticSettings.model_validate(values), ConnectorEnv(name="elastic", state_dir=tmp_path))

    return SiemVendor(flavor, build, fake, secrets, {"x509", "suricata"})


# ---------------------------------------------------------------------------------------------- Sentinel


def _kql_time(record: Record) -> str:
    return record.time.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def sentinel_tables(fake: FakeSentinel) -> None:
    """The story in a Log Analytics workspace: Corelight's Zeek tables and Suricata as custom tables (a column
    per field, dots as underscores), the AD CS event in SecurityEvent with its EventData XML."""
    fake.tables.clear()
    zeek = lambda record, names: {  # noqa: E731 - a Zeek record's fields under their column names
        name.replace(".", "_"): record.native[name] for name in names if name in record.native
    }
    ssl_names = ("uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "server_name", "subject", "issuer")
    ssl_names += ("cert_chain_fps", "validation_status", "ja3", "ja3s")
    ssl_types = {name.replace(".", "_"): "string" for name in ssl_names} | {"cert_chain_fps": "dynamic"}
    fake.table(
        "Corelight_ssl_CL",
        {"TimeGenerated": "datetime", **ssl_types, "id_orig_p": "int", "id_resp_p": "int"},
        [{"TimeGenerated": _kql_time(r), **zeek(r, ssl_names)} for r in (SSL, BENIGN)],
    )
    x509_names = ("fingerprint", "certificate.subject", "certificate.issuer", "certificate.serial")
    fake.table(
        "Corelight_x509_CL",
        {"TimeGenerated": "datetime", **{name.replace(".", "_"): "string" for name in x509_names}},
        [{"TimeGenerated": _kql_time(X509), **zeek(X509, x509_names)}],
    )
    conn_names = ("uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "orig_bytes", "resp_bytes")
    conn_names += ("duration", "conn_state", "service")
    fake.table(
        "Corelight_conn_CL",
        {"TimeGenerated": "datetime", **{name.replace(".", "_"): "string" for name in conn_names}}
        | {"id_orig_p": "int", "id_resp_p": "int", "orig_bytes": "long", "resp_bytes": "long", "duration": "real"},
        [{"TimeGenerated": _kql_time(CONN), **zeek(CONN, conn_names)}],
    )
    eve, tls = SURICATA.native, SURICATA.native["tls"]
    fake.table(
        "Suricata_CL",
        {"TimeGenerated": "datetime", "flow_id": "long", "src_port": "int", "dest_port": "int"}
        | dict.fromkeys(("event_type", "src_ip", "dest_ip", "tls_sni", "tls_subject", "tls_issuerdn"), "string")
        | dict.fromkeys(("tls_serial", "tls_fingerprint", "tls_ja3_hash", "tls_ja3s_hash"), "string"),
        [
            {
                "TimeGenerated": _kql_time(SURICATA),
                **{k: eve[k] for k in ("event_type", "flow_id", "src_ip", "src_port", "dest_ip", "dest_port")},
                **{f"tls_{k}": tls[k] for k in ("sni", "subject", "issuerdn", "serial", "fingerprint")},
                "tls_ja3_hash": tls["ja3"]["hash"],
                "tls_ja3s_hash": tls["ja3s"]["hash"],
            }
        ],
    )
    event_data = "".join(
        f"<Data Name='{k}'>{v}</Data>"
        for k, v in ADCS.native.items()
        if k not in ("EventID", "TimeCreated", "Computer")
    )
    fake.table(
        "SecurityEvent",
        {"TimeGenerated": "datetime", "EventID": "int"}
        | dict.fromkeys(("Computer", "EventData", "NewProcessName", "CommandLine", "SubjectUserName"), "string")
        | {"SubjectDomainName": "string"},
        [
            {
                "TimeGenerated": _kql_time(ADCS),
                "EventID": ADCS.native["EventID"],
                "Computer": ADCS.native["Computer"],
                "EventData": f"<EventData xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>{event_data}"
                "</EventData>",
            }
        ],
    )
    cef = dict.fromkeys(("SourceIP", "DestinationIP", "ApplicationProtocol"), "string")
    cef |= {"SourcePort": "int", "DestinationPort": "int", "SentBytes": "long", "ReceivedBytes": "long"}
    fake.table("CommonSecurityLog", {"TimeGenerated": "datetime", **cef}, [])


class SentinelStory(FakeVendor):
    """fake_sentinel.py's workspace holding the story. Faults go in front of the query requests (the token
    requests are not counted); a 401 stands for revoked credentials: the fresh token request it leads to is
    refused too, with the fault's message."""

    def __init__(self) -> None:
        super().__init__(SENTINEL_API_URL)
        self.urls = FakeSentinel.urls
        self.workspace = FakeSentinel()
        self.token_refusal: str | None = None
        sentinel_tables(self.workspace)

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"error": {"code": "AuthenticationFailed" if status == 401 else "Error", "message": message}}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != httpx.URL(self.url).host:
            return self._token(request)
        if self.faults and self.faults[0].status == 401:
            self.token_refusal = self.faults[0].body["error"]["message"]
        return super().__call__(request)

    def _token(self, request: httpx.Request) -> httpx.Response:
        refusal, self.token_refusal = self.token_refusal, None
        if refusal is None:
            return self.workspace(request)
        return httpx.Response(401, json={"error": "invalid_client", "error_description": refusal})

    def answer(self, request: httpx.Request) -> httpx.Response:
        return self.workspace(request)


# ---------------------------------------------------------------------------------------------- QRadar

QRADAR_SOURCES = [
    # this console's custom properties: the TLS ones of the presets, and JA3S, Zeek's uid and conn fields besides
    {"preset": "tls", "fields": {"uid": '"Zeek UID"', "tls.ja3s.hash": '"JA3S"'}},
    {"preset": "x509"},
    {"preset": "windows"},
    {"preset": "flows", "fields": {"uid": '"Zeek UID"', "duration": '"Duration"', "conn_state": '"Connection State"'}},
]


def qradar_rows(fake: FakeQradar) -> None:
    """The story in QRadar: the sensors' TLS records as events with TLS custom properties, the AD CS event with
    its EventData as properties, and the connection as a flow. Zeek's x509 record (a certificate without a
    session) holds what a site's custom properties extract from x509.log's JSON (fingerprint,
    certificate.subject, certificate.issuer, certificate.serial: the fields of Zeek's X509::Info,
    docs.zeek.org base/files/x509/main.zeek) and no session property; its addresses are left at what QRadar
    gives an event whose payload has none (the log source's: IBM support "QRadar: How the Source IP and
    Destination IP are determined from events"), here the fake's default."""
    fake.events, fake.flows = [], []
    ms = lambda record: int(record.time.timestamp() * 1000)  # noqa: E731 - QRadar times are epoch ms
    zeek = {"LOGSOURCENAME(logsourceid)": "zeek-sensor-1"}
    fake.event(
        starttime=ms(X509),
        **zeek,
        **{'"TLS Fingerprint SHA256"': EVIL_SHA256, '"TLS Subject"': SUBJECT, '"TLS Issuer"': ISSUER},
        **{'"TLS Serial"': SERIAL},
    )
    fake.event(
        starttime=ms(SSL),
        sourceip=SSL.native["id.orig_h"],
        sourceport=SSL.native["id.orig_p"],
        destinationip=SERVER,
        destinationport=443,
        **zeek,
        **{'"Zeek UID"': UID, '"TLS Server Name"': "evil.example", '"TLS Subject"': SUBJECT, '"TLS Issuer"': ISSUER},
        **{'"TLS Validation Status"': SSL.native["validation_status"]},
        **{'"TLS Fingerprint SHA256"': EVIL_SHA256, '"JA3"': JA3, '"JA3S"': JA3S},
    )
    tls = SURICATA.native["tls"]
    fake.event(
        starttime=ms(SURICATA),
        sourceip=SURICATA.native["src_ip"],
        sourceport=SURICATA.native["src_port"],
        destinationip=SERVER,
        destinationport=443,
        **{"LOGSOURCENAME(logsourceid)": "suricata-1", '"TLS Server Name"': tls["sni"]},
        **{'"TLS Subject"': tls["subject"], '"TLS Issuer"': tls["issuerdn"], '"TLS Serial"': tls["serial"]},
        **{'"TLS Fingerprint SHA1"': tls["fingerprint"], '"JA3"': JA3, '"JA3S"': JA3S},
    )
    adcs = {f'"{k}"': str(v) for k, v in ADCS.native.items() if k not in ("TimeCreated", "SerialNumber")}
    fake.event(
        starttime=ms(ADCS),
        sourceip="10.1.0.10",
        **adcs,
        **{'"SerialNumber"': ADCS.native["SerialNumber"], "UTF8(payload)": "AD CS: EventID=4887 RequestId=2051"},
    )
    fake.event(
        starttime=ms(BENIGN),
        sourceip="10.0.0.9",
        sourceport=51000,
        destinationip="198.51.100.20",
        destinationport=443,
        **zeek,
        **{'"TLS Server Name"': "benign.example", '"TLS Subject"': "CN=benign.example"},
        **{'"TLS Issuer"': "CN=Good CA,O=Good", '"TLS Fingerprint SHA256"': BENIGN_SHA256},
    )
    fake.flows = [
        {
            "starttime": ms(CONN),
            "sourceip": CLIENT,
            "sourceport": 50000,
            "destinationip": SERVER,
            "destinationport": 443,
            "APPLICATIONNAME(applicationid)": "SSL",
            "sourcebytes": 1200,
            "destinationbytes": 5400,
            '"Zeek UID"': UID,
            '"Duration"': 1.5,
            '"Connection State"': "SF",
        }
    ]


class QradarStory(FakeVendor):
    """fake_qradar.py's console holding the story; faults go in front of every request."""

    def __init__(self) -> None:
        super().__init__(QRADAR_URL)
        self.console = FakeQradar()
        self.console.polls_before_complete = 1
        qradar_rows(self.console)

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"http_response": {"code": status, "message": "error"}, "code": 0, "description": "", "message": message}

    def answer(self, request: httpx.Request) -> httpx.Response:
        return self.console(request)


SIEM_VENDORS: dict[str, Callable[[Any, Path], SiemVendor]] = {
    "files": files_vendor,
    "splunk-export": splunk_vendor,
    "splunk-job": lambda monkeypatch, tmp_path: splunk_vendor(monkeypatch, tmp_path, mode="job"),
    "elasticsearch": elastic_vendor,
    "opensearch": lambda monkeypatch, tmp_path: elastic_vendor(monkeypatch, tmp_path, flavor="opensearch"),
    "sentinel": sentinel_vendor,
    "qradar": qradar_vendor,
}
