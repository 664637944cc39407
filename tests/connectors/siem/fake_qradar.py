"""A fake QRadar console behind pytest-httpx, for test_qradar.py: Ariel searches over events and flows.

It holds rows keyed by AQL field (``sourceip``, ``"TLS Server Name"``, ``LOGSOURCENAME(logsourceid)`` ...:
remote_lab.py's scenario as a QRadar with TLS and Windows custom properties would hold it), evaluates the
AQL the connector sends with a small interpreter of what it uses (SELECT ... AS, WHERE with AND/OR, ILIKE,
=, >=, <=, IN, IS [NOT] NULL, ORDER BY, LIMIT, START/STOP), walks each search through WAIT and EXECUTE to
COMPLETED, and pages results by the ``Range: items=a-b`` header. A field it does not know is a 422.

Uniform interface (the shared SIEM conformance suite folds it in): ``FakeQradar`` is the pytest-httpx
callback (``urls``), ``build_qradar(fake, tmp_path, url=None, **settings)`` the configured connector,
``SECRETS`` what must never be seen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from remote_lab import (
    CA_HOST,
    CLIENT_IP,
    JA3,
    OTHER_SERVER,
    REQUESTER,
    SECOND_CLIENT_IP,
    SERVER_IP,
    SHA1_COLONS,
    SHA256,
    SNI,
    SUBJECT,
    WORKSTATION,
    at,
)
from vendor_faults import Fault

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.siem.qradar import QradarSettings, QradarSiem

URL = "https://qradar.corp.example"
TOKEN = "5f3c2a1b-qradar-conformance-token-8e7d6c5b4a39"
SECRETS = [TOKEN]
CUSTOM_PROPERTIES = {
    # the properties this console defines (rows without one hold null): the presets' TLS and Windows fields
    f'"{name}"'
    for name in (
        "TLS Server Name",
        "TLS Subject",
        "TLS Issuer",
        "TLS Serial",
        "TLS Fingerprint SHA1",
        "TLS Fingerprint SHA256",
        "JA3",
        "TLS Validation Status",
        "EventID",
        "Computer",
        "RequestId",
        "Requester",
        "SerialNumber",
        "CertificateTemplate",
        "Disposition",
        "Subject",
        "SubjectKeyIdentifier",
        "Attributes",
        "Process Path",
        "Command",
    )
} | {"username", "LOGSOURCENAME(logsourceid)", "UTF8(payload)"}


@dataclass
class Search:
    search_id: str
    table: str
    rows: list[dict[str, Any]]
    polls_left: int
    final: str = "COMPLETED"
    errors: list[dict[str, Any]] = field(default_factory=list)


def qradar_error(status: int, code: int, http_message: str, message: str) -> httpx.Response:
    # QRadar's error body: {"http_response": {"code", "message"}, "code", "description", "details", "message"}
    # (IBM QRadar REST API reference, each endpoint's "Response codes"; e.g. IBMSecurityDocs/qradar_api_12.0)
    return httpx.Response(
        status,
        json={
            "http_response": {"code": status, "message": http_message},
            "code": code,
            "description": "",
            "details": {},
            "message": message,
        },
    )


class FakeQradar:
    urls = (URL,)

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.flows: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self.requests: list[httpx.Request] = []
        self.searches: dict[str, Search] = {}
        self.polls_before_complete = 2
        self.next_outcome: tuple[str, list[dict[str, Any]]] | None = None
        self.token = TOKEN
        self.lab()

    def inject(
        self, status: int, *, times: int = 1, headers: dict[str, str] | None = None, body: dict[str, Any] | None = None
    ) -> None:
        self.faults += [Fault(status, headers or {}, body or {}) for _ in range(times)]

    @property
    def aql(self) -> list[str]:
        return [r.url.params["query_expression"] for r in self.requests if r.method == "POST"]

    def ranges(self, search_id: str | None = None) -> list[str]:
        return [
            r.headers["Range"]
            for r in self.requests
            if r.url.path.endswith("/results") and (search_id is None or f"/{search_id}/" in r.url.path)
        ]

    # ------------------------------------------------------------------ the API

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("SEC") != self.token:
            return qradar_error(
                401,
                10,
                "You are unauthorized to access the requested resource.",
                'No SEC header present in request. Please provide it via "SEC: token".',
            )
        if self.faults:
            fault = self.faults.pop(0)
            return fault.response()
        path = request.url.path
        if request.method == "POST" and path == "/api/ariel/searches":
            return self._create(request.url.params.get("query_expression", ""))
        m = re.fullmatch(r"/api/ariel/searches/([^/]+)(/results)?", path)
        if request.method == "GET" and m and m.group(1) in self.searches:
            search = self.searches[m.group(1)]
            return self._results(search, request) if m.group(2) else self._status(search)
        if m:
            return qradar_error(404, 1002, "The requested resource could not be found.", "The search does not exist.")
        return qradar_error(404, 1001, "The requested resource could not be found.", "no such endpoint")

    def _create(self, aql: str) -> httpx.Response:
        try:
            table, rows = self._run(aql)
        except AqlError as exc:
            # POST /ariel/searches response codes: 422 "The query expression contains invalid AQL syntax"
            return qradar_error(
                422, 2000, "The request was well-formed but was unable to be followed due to semantic errors", str(exc)
            )
        search_id = f"9f1c5e2a-{len(self.searches):04d}-4b7e-8d21-3a6c0f4e9b10"
        final, errors = self.next_outcome or ("COMPLETED", [])
        self.next_outcome = None
        self.searches[search_id] = Search(search_id, table, rows, self.polls_before_complete, final, errors)
        # POST /ariel/searches "Response Sample": cursor_id, status, search_id ... (201 Created)
        return httpx.Response(201, json=self._body(self.searches[search_id], "WAIT"))

    def _status(self, search: Search) -> httpx.Response:
        # GET /ariel/searches/{search_id}: the same fields; status one of WAIT, EXECUTE, SORTING, COMPLETED,
        # CANCELED, ERROR; error_messages [{code, contexts, message, severity}]
        if search.polls_left > 0:
            search.polls_left -= 1
            return httpx.Response(200, json=self._body(search, "EXECUTE" if search.polls_left < 1 else "WAIT"))
        return httpx.Response(200, json=self._body(search, search.final))

    def _body(self, search: Search, status: str) -> dict[str, Any]:
        done = status == "COMPLETED"
        return {
            "cursor_id": search.search_id,
            "compressed_data_file_count": 0,
            "compressed_data_total_size": 0,
            "data_file_count": 12,
            "data_total_size": 1048576,
            "index_file_count": 0,
            "index_total_size": 0,
            "processed_record_count": len(search.rows) if done else 0,
            "error_messages": search.errors if status == "ERROR" else [],
            "desired_retention_time_msec": 86400000,
            "progress": 100 if done else 40,
            "progress_details": [],
            "query_execution_time": 25,
            "query_string": "",
            "record_count": len(search.rows) if done else 0,
            "save_results": False,
            "status": status,
            "subsearch_ids": [],
            "search_id": search.search_id,
        }

    def _results(self, search: Search, request: httpx.Request) -> httpx.Response:
        if search.polls_left > 0 or search.final != "COMPLETED":
            return qradar_error(404, 1003, "The requested resource could not be found.", "Search results not found.")
        rows = search.rows
        wanted = request.headers.get("Range")
        if wanted is not None:
            m = re.fullmatch(r"items=(\d+)-(\d+)", wanted)
            if m is None or int(m.group(2)) < int(m.group(1)):
                return qradar_error(422, 36, "semantic errors", "Failed to parse Range header.")
            rows = rows[int(m.group(1)) : int(m.group(2)) + 1]
        # GET /ariel/searches/{search_id}/results "Response Sample": {"events": [{field: value, ...}]}
        # ("flows" for a FROM flows search)
        return httpx.Response(200, json={search.table: rows})

    def _run(self, aql: str) -> tuple[str, list[dict[str, Any]]]:
        m = re.fullmatch(
            r"SELECT (?P<select>.+?) FROM (?P<table>events|flows) WHERE (?P<where>.+) ORDER BY (?P<order>\w+) ASC"
            r" LIMIT (?P<limit>\d+) START '(?P<start>[\d: -]+)' STOP '(?P<stop>[\d: -]+)'",
            aql,
            re.S,
        )
        if m is None:
            raise AqlError("The query expression contains invalid AQL syntax (or no explicit time range)")
        table = m.group("table")
        source = self.events if table == "events" else self.flows
        known = set().union(*(row.keys() for row in source)) | (CUSTOM_PROPERTIES if table == "events" else set())
        selected = []
        for item in _split_top(m.group("select"), ","):
            parts = re.fullmatch(r'(.+) AS "(\w+)"', item.strip())
            if parts is None or parts.group(1) not in known:
                raise AqlError(f"The query expression contains invalid AQL syntax: unknown field {item.strip()[:60]}")
            selected.append((parts.group(1), parts.group(2)))
        predicate = parse_where(m.group("where"), known)
        rows = sorted((row for row in source if predicate(row)), key=lambda row: row[m.group("order")])
        rows = rows[: int(m.group("limit"))]
        return table, [{alias: row.get(expression) for expression, alias in selected} for row in rows]

    # ------------------------------------------------------------------ the data

    def event(self, **fields: Any) -> None:
        self.events.append({"starttime": 0, "sourceip": "0.0.0.0", "UTF8(payload)": "", **fields})

    def lab(self) -> None:
        ms = lambda seconds: int(at(seconds).timestamp() * 1000)  # noqa: E731 - QRadar times are epoch ms
        tls = {
            "sourceport": 51000,
            "destinationip": SERVER_IP,
            "destinationport": 443,
            '"TLS Server Name"': SNI,
            '"TLS Subject"': SUBJECT,
            '"TLS Issuer"': SUBJECT,
            '"TLS Serial"': "0A:1B:2C:3D",
            '"JA3"': JA3,
        }
        self.event(
            starttime=ms(0),
            sourceip=CLIENT_IP,
            **{**tls, "LOGSOURCENAME(logsourceid)": "zeek-sensor-1", '"TLS Fingerprint SHA256"': SHA256},
        )
        self.event(
            starttime=ms(5),
            sourceip=SECOND_CLIENT_IP,
            **{**tls, "LOGSOURCENAME(logsourceid)": "suricata-1", '"TLS Fingerprint SHA1"': SHA1_COLONS},
        )
        self.event(
            starttime=ms(30),
            sourceip=CLIENT_IP,
            destinationip=OTHER_SERVER,
            destinationport=443,
            **{'"TLS Server Name"': "good.example", "LOGSOURCENAME(logsourceid)": "zeek-sensor-1"},
        )
        self.event(
            starttime=ms(-3600),
            sourceip="10.1.0.10",
            **{
                '"EventID"': "4887",
                '"Computer"': CA_HOST,
                '"RequestId"': "77",
                '"Requester"': REQUESTER,
                '"Attributes"': "CertificateTemplate:WebServer",
                '"Disposition"': "3",
                '"Subject"': "CN=evil.example, O=Evil Corp",
                "UTF8(payload)": "<13>Nov 30 09:00:00 CA01 AD CS: EventID=4887 RequestId=77 Requester=CORP\\mallory",
            },
        )
        self.event(
            starttime=ms(-3700),
            sourceip="10.1.0.21",
            username="mallory",
            **{
                '"EventID"': "4688",
                '"Computer"': WORKSTATION,
                '"Process Path"': "C:\\Windows\\System32\\certreq.exe",
                '"Command"': "certreq -submit -attrib CertificateTemplate:WebServer evil.req",
            },
        )
        flow = {"destinationip": SERVER_IP, "destinationport": 443, "APPLICATIONNAME(applicationid)": "SSL"}
        self.flows = [
            {
                "starttime": ms(1),
                "sourceip": CLIENT_IP,
                "sourceport": 51000,
                **flow,
                "sourcebytes": 1200,
                "destinationbytes": 5400,
            },
            {
                "starttime": ms(10),
                "sourceip": CLIENT_IP,
                "sourceport": 51010,
                **flow,
                "sourcebytes": 1800,
                "destinationbytes": 64000,
            },
            {
                "starttime": ms(20),
                "sourceip": CLIENT_IP,
                "sourceport": 51011,
                "destinationip": OTHER_SERVER,
                "destinationport": 443,
                "APPLICATIONNAME(applicationid)": "SSL",
                "sourcebytes": 100,
                "destinationbytes": 200,
            },
        ]


# ------------------------------------------------------------------------------------ an AQL subset


class AqlError(ValueError):
    pass


def _split_top(text: str, separator: str) -> list[str]:
    """``text`` split on ``separator`` outside parentheses and quotes."""
    parts, depth, quote, current = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == separator and not quote and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [*parts, current]


_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<ident>\"[^\"]*\")|(?P<op>>=|<=|=|[(),])|(?P<number>\d+)"
    r"|(?P<word>[A-Za-z_][\w]*))"
)


def _tokens(text: str) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    position = 0
    while position < len(text):
        m = _TOKEN.match(text, position)
        if m is None or m.end() == position:
            if not text[position:].strip():
                break
            raise AqlError(f"The query expression contains invalid AQL syntax near {text[position : position + 20]}")
        position = m.end()
        kind = m.lastgroup or ""
        value: Any = m.group(kind)
        if kind == "string":
            value = value[1:-1].replace("''", "'")
        elif kind == "number":
            value = int(value)
        found.append((kind, value))
    return found


def parse_where(text: str, known: set[str]) -> Any:
    tokens = _tokens(text)
    position = 0

    def peek() -> tuple[str, Any] | None:
        return tokens[position] if position < len(tokens) else None

    def take(expected: Any = None) -> tuple[str, Any]:
        nonlocal position
        token = peek()
        if token is None or (expected is not None and token[1] != expected):
            raise AqlError(f"The query expression contains invalid AQL syntax: expected {expected!r}, got {token!r}")
        position += 1
        return token

    def word(name: str) -> bool:
        token = peek()
        return token is not None and token[0] == "word" and token[1].upper() == name

    def disjunction() -> Any:
        terms = [conjunction()]
        while word("OR"):
            take()
            terms.append(conjunction())
        return lambda row: any(t(row) for t in terms)

    def conjunction() -> Any:
        terms = [atom()]
        while word("AND"):
            take()
            terms.append(atom())
        return lambda row: all(t(row) for t in terms)

    def expression() -> Any:
        kind, value = take()
        if kind == "number":
            return lambda row: value
        if kind == "ident":
            name = value
        elif kind == "word" and peek() == ("op", "("):
            take("(")
            if value.upper() == "STR":
                inner = expression()
                take(")")
                return lambda row: None if inner(row) is None else str(inner(row))
            _, argument = take()
            take(")")
            name = f"{value}({argument})"
        elif kind == "word":
            name = value
        else:
            raise AqlError(f"The query expression contains invalid AQL syntax near {value!r}")
        if name not in known:
            raise AqlError(f"The query expression contains invalid AQL syntax: unknown field {name}")
        return lambda row: row.get(name)

    def atom() -> Any:
        if peek() == ("op", "("):
            take()
            inner = disjunction()
            take(")")
            return inner
        left = expression()
        if word("ILIKE"):
            take()
            pattern = re.compile(
                "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in take()[1]), re.I | re.S
            )
            return lambda row: left(row) is not None and pattern.fullmatch(str(left(row))) is not None
        if word("IS"):
            take()
            negated = word("NOT")
            if negated:
                take()
            take("NULL")
            return lambda row: (left(row) in (None, "")) != negated
        if word("IN"):
            take()
            take("(")
            values = [take()[1]]
            while peek() == ("op", ","):
                take()
                values.append(take()[1])
            take(")")
            return lambda row: left(row) in values
        _, op = take()
        right = expression()
        compare = {"=": lambda a, b: a == b, ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b}.get(op)
        if compare is None:
            raise AqlError(f"The query expression contains invalid AQL syntax: operator {op!r}")
        return lambda row: left(row) is not None and compare(left(row), right(row))

    predicate = disjunction()
    if position != len(tokens):
        raise AqlError(f"The query expression contains invalid AQL syntax near {tokens[position]!r}")
    return predicate


# ------------------------------------------------------------------------------------ the connector


def build_qradar(fake: FakeQradar, tmp_path: Path, url: str | None = None, **settings: Any) -> QradarSiem:
    """The connector, configured against the fake (or ``url``); the token read from an env: reference."""
    del fake  # reached through pytest-httpx; kept in the signature for the uniform interface
    values = {
        "url": url or URL,
        "token": "env:CERTSOAR_TEST_QRADAR_TOKEN",
        "backoff": 0.01,
        "poll_interval": 0.01,
        **settings,
    }
    return QradarSiem(QradarSettings.model_validate(values), ConnectorEnv(name="qradar", state_dir=tmp_path))


__all__ = ["FakeQradar", "build_qradar", "SECRETS", "URL"]
