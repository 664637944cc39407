"""A fake Log Analytics workspace and Entra ID token endpoint behind pytest-httpx, for test_sentinel.py.

It holds tables of rows (remote_lab.py's scenario in Sentinel's columns) and answers the query API by
evaluating the KQL the connector sends with a small interpreter of the operators it uses (where, between,
in~, contains, =~, ==, and/or, project, sort, take): an operator it does not know is a 400 SyntaxError, as
the service answers. ``inject`` puts failures in front of the next query requests.

Uniform interface (the shared SIEM conformance suite folds it in): ``FakeSentinel`` is the pytest-httpx
callback (``urls`` to register it for), ``build_sentinel(fake, tmp_path, url=None, **settings)`` the
configured connector, ``SECRETS`` what must never be seen.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
from remote_lab import (
    ADCS_4887_EVENTDATA,
    CA_HOST,
    CLIENT_IP,
    JA3,
    JA3S,
    OTHER_SERVER,
    OTHER_SHA256,
    REQUESTER,
    SECOND_CLIENT_IP,
    SERIAL,
    SERVER_IP,
    SHA1_COLONS,
    SHA256,
    SNI,
    SUBJECT,
    WORKSTATION,
    at,
    iso,
)
from vendor_faults import Fault

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.siem.sentinel import SentinelSettings, SentinelSiem

API_URL = "https://api.loganalytics.io"
LOGIN_URL = "https://login.microsoftonline.com"
WORKSPACE = "63613592-b6f7-4c3d-a390-22ba13102111"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT_ID = "4b5c1a2e-9d8f-4e7a-b6c5-d4e3f2a1b0c9"
CLIENT_SECRET = "Qx8~sentinel-conformance-secret.Zk2"
TOKEN_PREFIX = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.fake-loganalytics-token-"

ALL_SOURCES = [
    {"preset": "SecurityEvent"},
    {"preset": "CommonSecurityLog"},
    {"preset": "zeek-ssl", "table": "Corelight_ssl_CL"},
    {"preset": "zeek-x509", "table": "Corelight_x509_CL"},
    {"preset": "zeek-conn", "table": "Corelight_conn_CL"},
    {"preset": "suricata-tls", "table": "Suricata_CL"},
]


class FakeSentinel:
    urls = (API_URL, LOGIN_URL)

    def __init__(self) -> None:
        self.tables: dict[str, tuple[dict[str, str], list[dict[str, Any]]]] = {}
        self.faults: list[Fault] = []
        self.requests: list[httpx.Request] = []
        self.queries: list[dict[str, Any]] = []
        self.issued: list[str] = []
        self.accepted_secret = CLIENT_SECRET
        self.partial_error = False
        self.lab()

    def inject(
        self, status: int, *, times: int = 1, headers: dict[str, str] | None = None, body: dict[str, Any] | None = None
    ) -> None:
        self.faults += [Fault(status, headers or {}, body or {}) for _ in range(times)]

    def table(self, name: str, columns: dict[str, str], rows: list[dict[str, Any]]) -> None:
        self.tables[name] = (columns, rows)

    def revoke_tokens(self) -> None:
        self.issued.clear()

    # ------------------------------------------------------------------ the API

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.host == "login.microsoftonline.com":
            return self._token(request)
        if request.url.path != f"/v1/workspaces/{WORKSPACE}/query" or request.method != "POST":
            return httpx.Response(404, json={"error": {"code": "PathNotFoundError", "message": "not found"}})
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.issued:
            # learn.microsoft.com/azure/azure-monitor/logs/api/errors, "No authentication provided" (401)
            return httpx.Response(
                401,
                json={
                    "error": {"code": "AuthenticationFailed", "message": "Authentication failed. The token expired."}
                },
            )
        if self.faults:
            fault = self.faults.pop(0)
            return fault.response()
        body = json.loads(request.content)
        self.queries.append(body)
        try:
            columns, rows = self._run(body["query"])
        except KqlError as exc:
            # the same errors page, "Query syntax error" (400): BadArgumentError with an innererror
            return httpx.Response(
                400,
                json={
                    "error": {
                        "message": "The request had some invalid properties",
                        "code": "BadArgumentError",
                        "innererror": {"code": exc.code, "message": str(exc)},
                    }
                },
            )
        # Query - Execute, response "queryResults": {"tables": [{"name", "columns": [{"name", "type"}], "rows"}]}
        # (learn.microsoft.com/rest/api/loganalytics/dataaccess/query/execute)
        answer: dict[str, Any] = {"tables": [{"name": "PrimaryResult", "columns": columns, "rows": rows}]}
        if self.partial_error:
            # 200 with "error" beside "tables": shape of Azure/azure-sdk-for-python#25137 (LogsQueryPartialResult)
            answer["error"] = {
                "code": "PartialError",
                "message": "There were some errors when processing your query.",
                "details": [
                    {
                        "code": "EngineError",
                        "message": "Something went wrong processing your query on the server.",
                        "innererror": {
                            "code": "-2133196797",
                            "message": "Query result set has exceeded the internal data size limit 64000000 bytes",
                            "severity": 2,
                            "severityName": "Error",
                        },
                    }
                ],
            }
        return httpx.Response(200, json=answer)

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if request.url.path != f"/{TENANT}/oauth2/v2.0/token" or form.get("grant_type") != "client_credentials":
            return httpx.Response(400, json={"error": "invalid_request", "error_description": "AADSTS900144"})
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != self.accepted_secret:
            # Microsoft identity platform, client credentials flow, "Error response" (learn.microsoft.com/entra/
            # identity-platform/v2-oauth2-client-creds-grant-flow): error, error_description, error_codes ...
            return httpx.Response(
                401,
                json={
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent"
                    " in the request is the client secret value, not the client secret ID.",
                    "error_codes": [7000215],
                    "trace_id": "0000aaaa-11bb-cccc-dd22-eeeeee333333",
                },
            )
        if form.get("scope") != "https://api.loganalytics.io/.default":
            return httpx.Response(400, json={"error": "invalid_scope", "error_description": "AADSTS70011"})
        token = f"{TOKEN_PREFIX}{len(self.issued) + 1}"
        self.issued.append(token)
        # the same page, "Successful response": token_type, expires_in, access_token
        return httpx.Response(200, json={"token_type": "Bearer", "expires_in": 3599, "access_token": token})

    def _run(self, kql: str) -> tuple[list[dict[str, str]], list[list[Any]]]:
        name, *operators = kql.split("\n| ")
        if name not in self.tables:
            raise KqlError(f"'where' operator: Failed to resolve table or column expression named '{name}'")
        types, rows = self.tables[name]
        selected = rows
        project = list(types)
        for op in operators:
            if op.startswith("where "):
                predicate = parse_predicate(op.removeprefix("where "), types)
                selected = [row for row in selected if predicate(row)]
            elif op.startswith("project "):
                project = [c.strip() for c in op.removeprefix("project ").split(",")]
                missing = [c for c in project if c not in types]
                if missing:
                    raise KqlError(f"'project' operator: Failed to resolve scalar expression named '{missing[0]}'")
            elif m := re.fullmatch(r"sort by (\w+) asc", op):
                selected = sorted(selected, key=lambda row: str(row.get(m.group(1), "")))
            elif m := re.fullmatch(r"take (\d+)", op):
                selected = selected[: int(m.group(1))]
            else:
                raise KqlError(f"unknown operator: {op[:40]}", "SyntaxError")
        columns = [{"name": c, "type": types[c]} for c in project]
        return columns, [[_render(row.get(c), types[c]) for c in project] for row in selected]

    # ------------------------------------------------------------------ the data

    def lab(self) -> None:
        self.table(
            "SecurityEvent",
            {
                "TimeGenerated": "datetime",
                "EventID": "int",
                "Computer": "string",
                "EventData": "string",
                "NewProcessName": "string",
                "CommandLine": "string",
                "SubjectUserName": "string",
                "SubjectDomainName": "string",
                "Activity": "string",
            },
            [
                {
                    "TimeGenerated": iso(at(-3600)),
                    "EventID": 4887,
                    "Computer": CA_HOST,
                    "EventData": ADCS_4887_EVENTDATA,
                    "Activity": "4887 - Certificate Services approved a certificate request and issued a certificate.",
                },
                {
                    "TimeGenerated": iso(at(-3700)),
                    "EventID": 4688,
                    "Computer": WORKSTATION,
                    "NewProcessName": "C:\\Windows\\System32\\certreq.exe",
                    "CommandLine": "certreq -submit -attrib CertificateTemplate:WebServer evil.req",
                    "SubjectUserName": "mallory",
                    "SubjectDomainName": "CORP",
                },
                {"TimeGenerated": iso(at(-50)), "EventID": 4624, "Computer": WORKSTATION},  # a logon: never an event
            ],
        )
        self.table(
            "CommonSecurityLog",
            {
                "TimeGenerated": "datetime",
                "SourceIP": "string",
                "SourcePort": "int",
                "DestinationIP": "string",
                "DestinationPort": "int",
                "SentBytes": "long",
                "ReceivedBytes": "long",
                "ApplicationProtocol": "string",
            },
            [
                {
                    "TimeGenerated": iso(at(10)),
                    "SourceIP": CLIENT_IP,
                    "SourcePort": 51010,
                    "DestinationIP": SERVER_IP,
                    "DestinationPort": 443,
                    "SentBytes": 1800,
                    "ReceivedBytes": 64000,
                    "ApplicationProtocol": "ssl",
                },
                {
                    "TimeGenerated": iso(at(20)),
                    "SourceIP": CLIENT_IP,
                    "SourcePort": 51011,
                    "DestinationIP": OTHER_SERVER,
                    "DestinationPort": 443,
                    "SentBytes": 100,
                    "ReceivedBytes": 200,
                },
            ],
        )
        ssl_types = dict.fromkeys(
            ("uid", "id_orig_h", "id_resp_h", "server_name", "subject", "issuer", "validation_status", "ja3", "ja3s"),
            "string",
        )
        self.table(
            "Corelight_ssl_CL",
            {
                "TimeGenerated": "datetime",
                **ssl_types,
                "id_orig_p": "int",
                "id_resp_p": "int",
                "cert_chain_fps": "dynamic",
            },
            [
                {
                    "TimeGenerated": iso(at(0)),
                    "uid": "CHhAvVGS1DHFjwGM9",
                    "id_orig_h": CLIENT_IP,
                    "id_orig_p": 51000,
                    "id_resp_h": SERVER_IP,
                    "id_resp_p": 443,
                    "server_name": SNI,
                    "subject": SUBJECT,
                    "issuer": SUBJECT,
                    "cert_chain_fps": [SHA256],
                    "validation_status": "self signed certificate",
                    "ja3": JA3,
                    "ja3s": JA3S,
                },
                {
                    "TimeGenerated": iso(at(30)),
                    "uid": "C4J4Th3PJpwUYZZ6gc",
                    "id_orig_h": CLIENT_IP,
                    "id_orig_p": 51020,
                    "id_resp_h": OTHER_SERVER,
                    "id_resp_p": 443,
                    "server_name": "good.example",
                    "cert_chain_fps": [OTHER_SHA256],
                },
            ],
        )
        self.table(
            "Corelight_x509_CL",
            dict.fromkeys(
                ("TimeGenerated", "fingerprint", "certificate_subject", "certificate_issuer", "certificate_serial"),
                "string",
            ),
            [
                {
                    "TimeGenerated": iso(at(0.001)),
                    "fingerprint": SHA256,
                    "certificate_subject": SUBJECT,
                    "certificate_issuer": SUBJECT,
                    "certificate_serial": SERIAL,
                }
            ],
        )
        self.table(
            "Corelight_conn_CL",
            {
                "TimeGenerated": "datetime",
                "uid": "string",
                "id_orig_h": "string",
                "id_orig_p": "int",
                "id_resp_h": "string",
                "id_resp_p": "int",
                "orig_bytes": "long",
                "resp_bytes": "long",
                "duration": "real",
                "conn_state": "string",
                "service": "string",
            },
            [
                {
                    "TimeGenerated": iso(at(1)),
                    "uid": "CHhAvVGS1DHFjwGM9",
                    "id_orig_h": CLIENT_IP,
                    "id_orig_p": 51000,
                    "id_resp_h": SERVER_IP,
                    "id_resp_p": 443,
                    "orig_bytes": 1200,
                    "resp_bytes": 5400,
                    "duration": 2.5,
                    "conn_state": "SF",
                    "service": "ssl",
                }
            ],
        )
        suricata = dict.fromkeys(
            ("event_type", "src_ip", "dest_ip", "tls_sni", "tls_subject", "tls_issuerdn", "tls_serial"), "string"
        )
        self.table(
            "Suricata_CL",
            {
                "TimeGenerated": "datetime",
                "flow_id": "long",
                **suricata,
                "src_port": "int",
                "dest_port": "int",
                "tls_fingerprint": "string",
                "tls_ja3_hash": "string",
                "tls_ja3s_hash": "string",
            },
            [
                {
                    "TimeGenerated": iso(at(5)),
                    "event_type": "tls",
                    "flow_id": 1457421370384521,
                    "src_ip": SECOND_CLIENT_IP,
                    "src_port": 49152,
                    "dest_ip": SERVER_IP,
                    "dest_port": 443,
                    "tls_sni": SNI,
                    "tls_subject": "CN=evil.example, O=Evil Corp",
                    "tls_issuerdn": "CN=evil.example, O=Evil Corp",
                    "tls_serial": "0A:1B:2C:3D",
                    "tls_fingerprint": SHA1_COLONS,
                    "tls_ja3_hash": JA3,
                },
                {
                    "TimeGenerated": iso(at(6)),
                    "event_type": "alert",
                    "src_ip": SECOND_CLIENT_IP,
                    "dest_ip": SERVER_IP,
                    "dest_port": 443,
                    "tls_sni": SNI,
                },
            ],
        )


def _render(value: Any, kind: str) -> Any:
    """A value as the API renders it: dynamic values are JSON text."""
    if kind == "dynamic" and value is not None:
        return json.dumps(value)
    return value


# ------------------------------------------------------------------------------------ a KQL subset


class KqlError(ValueError):
    def __init__(self, message: str, code: str = "SemanticError") -> None:
        super().__init__(message)
        self.code = code


_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<op>in~|=~|==|\.\.|[(),])|(?P<number>\d+)|(?P<word>[A-Za-z_][\w]*)'
    r")"
)


def _tokens(text: str) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    position = 0
    while position < len(text):
        while position < len(text) and text[position].isspace():
            position += 1
        if text[position:].startswith("datetime("):
            end = text.index(")", position)
            found.append(("datetime", datetime.fromisoformat(text[position + 9 : end].replace("Z", "+00:00"))))
            position = end + 1
            continue
        m = _TOKEN.match(text, position)
        if m is None or m.end() == position:
            if text[position:].strip() == "":
                break
            raise KqlError(f"unexpected text: {text[position : position + 20]}", "SyntaxError")
        position = m.end()
        if m.group("string") is not None:
            found.append(("string", json.loads(m.group("string"))))
        elif m.group("op") is not None:
            found.append(("op", m.group("op")))
        elif m.group("number") is not None:
            found.append(("number", int(m.group("number"))))
        elif m.group("word") is not None:
            found.append(("word", m.group("word")))
    return found


def parse_predicate(text: str, types: dict[str, str]) -> Any:
    tokens = _tokens(text)
    position = 0

    def peek() -> tuple[str, Any] | None:
        return tokens[position] if position < len(tokens) else None

    def take(expected: Any = None) -> tuple[str, Any]:
        nonlocal position
        token = peek()
        if token is None or (expected is not None and token[1] != expected):
            raise KqlError(f"expected {expected!r}, found {token!r}", "SyntaxError")
        position += 1
        return token

    def disjunction() -> Any:
        terms = [conjunction()]
        while peek() == ("word", "or"):
            take()
            terms.append(conjunction())
        return lambda row: any(t(row) for t in terms)

    def conjunction() -> Any:
        terms = [atom()]
        while peek() == ("word", "and"):
            take()
            terms.append(atom())
        return lambda row: all(t(row) for t in terms)

    def column() -> Any:
        kind, word = take()
        if kind != "word":
            raise KqlError(f"expected a column, found {word!r}", "SyntaxError")
        if word == "tostring":
            take("(")
            inner = column()
            take(")")
            return lambda row: "" if inner(row) is None else str(inner(row))
        if word not in types:
            raise KqlError(f"Failed to resolve scalar expression named '{word}'")
        return lambda row: row.get(word)

    def literals() -> list[Any]:
        take("(")
        values = [take()[1]]
        while peek() == ("op", ","):
            take()
            values.append(take()[1])
        take(")")
        return values

    def atom() -> Any:
        if peek() == ("op", "("):
            take()
            inner = disjunction()
            take(")")
            return inner
        if peek() == ("word", "false"):
            take()
            return lambda row: False
        value = column()
        _, op = take()
        if op == "between":
            take("(")
            low = take()[1]
            take("..")
            high = take()[1]
            take(")")
            return lambda row: low <= datetime.fromisoformat(str(value(row)).replace("Z", "+00:00")) <= high
        if op == "in~":
            wanted = {str(v).lower() for v in literals()}
            return lambda row: str(value(row)).lower() in wanted
        if op == "in":
            exact = set(literals())
            return lambda row: value(row) in exact
        literal = take()[1]
        if op == "contains":
            return lambda row: value(row) is not None and str(literal).lower() in str(value(row)).lower()
        if op == "=~":
            return lambda row: str(value(row)).lower() == str(literal).lower()
        if op == "==":
            return lambda row: value(row) == literal
        raise KqlError(f"unknown operator {op!r}", "SyntaxError")

    predicate = disjunction()
    if position != len(tokens):
        raise KqlError(f"unexpected {tokens[position]!r}", "SyntaxError")
    return predicate


# ------------------------------------------------------------------------------------ the connector


SECRETS = [CLIENT_SECRET, TOKEN_PREFIX]


def build_sentinel(fake: FakeSentinel, tmp_path: Path, url: str | None = None, **settings: Any) -> SentinelSiem:
    """The connector, configured against the fake (or ``url``); the secret read from an env: reference."""
    del fake  # the fake is reached through pytest-httpx; kept in the signature for the uniform interface
    values = {
        "url": url or API_URL,
        "workspace_id": WORKSPACE,
        "tenant_id": TENANT,
        "client_id": CLIENT_ID,
        "client_secret": "env:CERTSOAR_TEST_SENTINEL_SECRET",
        "backoff": 0.01,
        "sources": ALL_SOURCES,
        **settings,
    }
    return SentinelSiem(SentinelSettings.model_validate(values), ConnectorEnv(name="sentinel", state_dir=tmp_path))


__all__ = ["FakeSentinel", "build_sentinel", "SECRETS", "API_URL", "LOGIN_URL", "REQUESTER"]
