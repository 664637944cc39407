"""A ServiceNow instance's Table API (``/api/now/table/<table>``) keeping records and their journal entries.

Body shapes, as vendor-apis.md section 5.2 sums them up from public sources (servicenow.com docs "Table API" and
"Create an incident record"; the error envelope from panoramicdata/ServiceNow.Api#16):
- a list answers ``{"result": [records]}`` (an empty list when nothing matches), one record ``{"result": {…}}``;
  only the ``sysparm_fields`` asked for come back, as strings (``sysparm_display_value=false``);
- a create is 201 with the record and a ``Location`` header; ``correlation_id`` is not unique (a POST always
  inserts); a PATCH of an unknown sys_id is 404; errors are ``{"error": {"message", "detail"}, "status":
  "failure"}`` (401 "User Not Authenticated");
- encoded queries: conditions joined by ``^``, a literal caret written ``^^``, ``ORDERBY<field>``;
- journal entries (work_notes, comments) are rows of ``sys_journal_field`` (element_id, element, value), not
  fields of the record; ``/oauth_token.do`` answers the client credentials grant with ``access_token``.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from vendor_faults import Fault

SERVICENOW_URL = "https://dev12345.service-now.com"
JOURNAL_FIELDS = ("work_notes", "comments")


def parse_query(query: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Equality conditions and ORDERBY fields of an encoded query (``^^`` is a literal caret)."""
    conditions: list[tuple[str, str]] = []
    order: list[str] = []
    for part in re.split(r"(?<!\^)\^(?!\^)", query.replace("^^", "\x00")):
        part = part.replace("\x00", "^")
        if part.startswith("ORDERBY"):
            order.append(part.removeprefix("ORDERBY"))
        elif "=" in part:
            field, _, value = part.partition("=")
            conditions.append((field, value))
    return conditions, order


class FakeServiceNow:
    url = SERVICENOW_URL

    def __init__(
        self,
        *,
        username: str = "certsoar.integration",
        password: str = "",
        token: str = "",
        client: tuple[str, str] | None = None,
    ) -> None:
        self.credentials = {f"Bearer {token}"} if token else set()
        if password:
            self.credentials.add("Basic " + base64.b64encode(f"{username}:{password}".encode()).decode())
        self.client = client
        self.issued: list[str] = []
        self.tables: dict[str, dict[str, dict[str, str]]] = {"incident": {}, "sn_si_incident": {}}
        self.journal: list[dict[str, str]] = []
        self.requests: list[httpx.Request] = []
        self.faults: list[Fault] = []
        self.writes = 0
        self._clock = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)

    # ----------------------------------------------------------------- what a test reads

    def inject(
        self, status: int, *, times: int = 1, headers: dict[str, str] | None = None, errors: list[str] | None = None
    ) -> None:
        body = {"error": {"message": "; ".join(errors or ["error"]), "detail": None}, "status": "failure"}
        self.faults += [Fault(status, headers or {}, body) for _ in range(times)]

    def records(self, table: str = "incident") -> list[dict[str, str]]:
        return list(self.tables[table].values())

    def notes(self, sys_id: str, element: str = "work_notes") -> list[str]:
        return [j["value"] for j in self.journal if j["element_id"] == sys_id and j["element"] == element]

    def state(self) -> object:
        return json.dumps([self.tables, self.journal], sort_keys=True), self.writes

    # ----------------------------------------------------------------- the API

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.faults:
            return self.faults.pop(0).response()
        if request.url.path == "/oauth_token.do":
            return self._token(request)
        if request.headers.get("Authorization") not in self.credentials | {f"Bearer {t}" for t in self.issued}:
            return self._error(401, "User Not Authenticated", "Required to provide Auth information")
        parts = request.url.path.removeprefix("/api/now/table/").split("/")
        table = parts[0]
        if table == "sys_journal_field" and request.method == "GET":
            return self._list(self.journal, request)
        if table not in self.tables:
            return self._error(400, "Invalid table", f"Invalid table {table}")
        records = self.tables[table]
        if request.method == "GET" and len(parts) == 1:
            return self._list(list(records.values()), request)
        if request.method == "POST" and len(parts) == 1:
            return self._create(request, table)
        if request.method == "PATCH" and len(parts) == 2:
            if parts[1] not in records:
                return self._error(404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
            return self._update(request, records[parts[1]])
        return self._error(405, "Method not Supported", request.method)

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = dict(httpx.QueryParams(request.content.decode()))
        if self.client is None or (form.get("client_id"), form.get("client_secret")) != self.client:
            return httpx.Response(401, json={"error_description": "access_denied", "error": "server_error"})
        token = uuid.uuid4().hex
        self.issued.append(token)
        return httpx.Response(
            200, json={"access_token": token, "scope": "useraccount", "token_type": "Bearer", "expires_in": 1799}
        )

    def _list(self, rows: list[dict[str, str]], request: httpx.Request) -> httpx.Response:
        conditions, order = parse_query(request.url.params.get("sysparm_query", ""))
        found = [r for r in rows if all(r.get(f) == v for f, v in conditions)]
        for field in reversed(order):
            found.sort(key=lambda r: r.get(field, ""))
        found = found[: int(request.url.params.get("sysparm_limit", "10000"))]
        return httpx.Response(200, json={"result": [self._fields(r, request) for r in found]})

    def _create(self, request: httpx.Request, table: str) -> httpx.Response:
        body: dict[str, Any] = json.loads(request.content)
        self.writes += 1
        self._clock += timedelta(seconds=1)
        sys_id = uuid.uuid4().hex
        record = {
            "sys_id": sys_id,
            "number": f"{'INC' if table == 'incident' else 'SIR'}{10023 + len(self.tables[table]):07d}",
            "state": "1" if table == "incident" else "10",
            "active": "true",
            "sys_created_on": self._clock.strftime("%Y-%m-%d %H:%M:%S"),
            "close_code": "",
        }
        self._apply(record, body)
        self.tables[table][sys_id] = record
        headers = {"Location": f"{self.url}/api/now/table/{table}/{sys_id}"}
        return httpx.Response(201, headers=headers, json={"result": self._fields(record, request)})

    def _update(self, request: httpx.Request, record: dict[str, str]) -> httpx.Response:
        self.writes += 1
        self._apply(record, json.loads(request.content))
        return httpx.Response(200, json={"result": self._fields(record, request)})

    def _apply(self, record: dict[str, str], body: dict[str, Any]) -> None:
        for field, value in body.items():
            if field in JOURNAL_FIELDS:
                self._clock += timedelta(seconds=1)
                entry = {"element_id": record["sys_id"], "element": field, "value": str(value)}
                self.journal.append({**entry, "sys_created_on": self._clock.strftime("%Y-%m-%d %H:%M:%S")})
            else:
                record[field] = str(value)

    @staticmethod
    def _fields(record: dict[str, str], request: httpx.Request) -> dict[str, str]:
        wanted = request.url.params.get("sysparm_fields")
        return {f: record.get(f, "") for f in wanted.split(",")} if wanted else dict(record)

    @staticmethod
    def _error(status: int, message: str, detail: str) -> httpx.Response:
        return httpx.Response(status, json={"error": {"message": message, "detail": detail}, "status": "failure"})
