"""A TheHive 5 organisation (``/api/v1``) keeping alerts, the cases they become, and comments.

Body shapes, as vendor-apis.md section 5.3 sums them up and TheHive-Project/TheHive4py (``thehive4py/endpoints``
alert.py, case.py, comment.py; ``thehive4py/types`` alert.py, case.py) declares them:
- ``POST /api/v1/alert`` needs type, source, sourceRef, title, description; answers 201 with the OutputAlert
  (``_id`` like ``~4128``, ``_createdAt`` in ms, ``status``/``stage`` New, ``observableCount``…); the tuple
  (type, source, sourceRef) is unique per organisation, a second create is 400 ``CreateError`` (the exact message
  is unverified: vendor-apis.md open item 2);
- ``POST /api/v1/query?name=…`` with ``{"query": [...]}``: ``listAlert`` + ``filter`` (``_and`` of ``_eq``) +
  ``sort`` + ``page``, or ``getAlert``/``getCase`` + ``comments``, answers a JSON array;
- ``POST /api/v1/alert/{id}/case`` promotes (201, the OutputCase; the alert's status becomes Imported and it
  carries ``caseId``); ``POST /api/v1/{alert|case}/{id}/comment`` ``{"message"}`` answers 201;
  ``PATCH /api/v1/{alert|case}/{id}`` answers 204; case statuses New, InProgress, Indeterminate, FalsePositive,
  TruePositive, Other, Duplicated;
- errors are ``{"type": "<ErrorType>", "message": "…"}`` (AuthenticationError 401, NotFoundError 404).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from vendor_faults import Fault

THEHIVE_URL = "https://thehive.example.test"
OPEN = ("New", "InProgress", "Imported")
LABELS = {1: "LOW", 2: "MEDIUM", 3: "HIGH", 4: "CRITICAL"}


class FakeTheHive:
    url = THEHIVE_URL

    def __init__(self, api_key: str, organisation: str | None = None) -> None:
        self.api_key = api_key
        self.organisation = organisation
        self.alerts: dict[str, dict[str, Any]] = {}
        self.cases: dict[str, dict[str, Any]] = {}
        self.comments: list[dict[str, Any]] = []
        self.requests: list[httpx.Request] = []
        self.faults: list[Fault] = []
        self.writes = 0
        self._next = 4096
        self._clock = 1_764_579_600_000  # 2025-12-01T09:00:00Z in ms

    # ----------------------------------------------------------------- what a test reads

    def inject(
        self, status: int, *, times: int = 1, headers: dict[str, str] | None = None, errors: list[str] | None = None
    ) -> None:
        body = {"type": "InternalError" if status >= 500 else "BadRequest", "message": "; ".join(errors or ["error"])}
        self.faults += [Fault(status, headers or {}, body) for _ in range(times)]

    def comments_of(self, record_id: str) -> list[str]:
        return [c["message"] for c in self.comments if c["on"] == record_id]

    def state(self) -> object:
        return json.dumps([self.alerts, self.cases, self.comments], sort_keys=True), self.writes

    # ----------------------------------------------------------------- the API

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.faults:
            return self.faults.pop(0).response()
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._error(401, "AuthenticationError", "Authentication failure")
        if self.organisation is not None and request.headers.get("X-Organisation") != self.organisation:
            return self._error(403, "AuthorizationError", "Your are not authorized to access this organisation")
        parts = request.url.path.removeprefix("/api/v1/").split("/")
        body = json.loads(request.content) if request.content else {}
        if parts == ["query"] and request.method == "POST":
            return self._query(body["query"])
        if parts == ["alert"] and request.method == "POST":
            return self._create_alert(body)
        kind = parts[0]
        records = {"alert": self.alerts, "case": self.cases}.get(kind)
        if records is None or len(parts) < 2:
            return self._error(404, "NotFoundError", f"{request.url.path} not found")
        if parts[1] not in records:
            return self._error(404, "NotFoundError", f"{kind.capitalize()} {parts[1]} not found")
        record = records[parts[1]]
        if len(parts) == 2 and request.method == "GET":
            return httpx.Response(200, json=record)
        if len(parts) == 2 and request.method == "PATCH":
            self.writes += 1
            record.update(body)
            record["stage"] = "Closed" if record["status"] not in OPEN else record["status"]
            return httpx.Response(204)
        if parts[2:] == ["comment"] and request.method == "POST":
            self.writes += 1
            comment = {"_id": self._id(), "_type": "Comment", "on": record["_id"], "message": body["message"]}
            self.comments.append({**comment, "createdAt": self._tick(), "isEdited": False, "extraData": {}})
            return httpx.Response(201, json={k: v for k, v in comment.items() if k != "on"})
        if kind == "alert" and parts[2:] == ["case"] and request.method == "POST":
            return self._promote(record)
        return self._error(400, "BadRequest", f"{request.method} {request.url.path} is not supported")

    def _create_alert(self, body: dict[str, Any]) -> httpx.Response:
        missing = [f for f in ("type", "source", "sourceRef", "title", "description") if not body.get(f)]
        if missing:
            return self._error(400, "AttributeCheckingError", f"Attribute {missing[0]} is missing")
        same = (body["type"], body["source"], body["sourceRef"])
        if any((a["type"], a["source"], a["sourceRef"]) == same for a in self.alerts.values()):
            return self._error(400, "CreateError", f"Alert {same} already exists")
        self.writes += 1
        observables = body.pop("observables", [])
        alert = {
            "_id": self._id(),
            "_type": "Alert",
            "_createdBy": "certsoar@soc.example",
            "_createdAt": self._tick(),
            **body,
            "severityLabel": LABELS.get(body.get("severity", 2), "MEDIUM"),
            "status": "New",
            "stage": "New",
            "follow": True,
            "observableCount": len(observables),
            "observables": observables,
            "date": self._clock,
            "newDate": self._clock,
            "timeToDetect": 0,
            "extraData": {},
        }
        self.alerts[alert["_id"]] = alert
        return httpx.Response(201, json={k: v for k, v in alert.items() if k != "observables"})

    def _promote(self, alert: dict[str, Any]) -> httpx.Response:
        if alert.get("caseId"):
            return self._error(400, "BadRequest", f"Alert {alert['_id']} has already been imported")
        self.writes += 1
        case = {
            "_id": self._id(),
            "_type": "Case",
            "_createdAt": self._tick(),
            "number": len(self.cases) + 1,
            "title": alert["title"],
            "description": alert["description"],
            "severity": alert.get("severity", 2),
            "tags": list(alert.get("tags", [])),
            "status": "New",
            "stage": "New",
        }
        self.cases[case["_id"]] = case
        alert.update(caseId=case["_id"], status="Imported", stage="Imported")
        return httpx.Response(201, json=case)

    def _query(self, query: list[dict[str, Any]]) -> httpx.Response:
        first = query[0]
        if first["_name"] == "listAlert":
            found = list(self.alerts.values())
            for op in query[1:]:
                if op["_name"] == "filter":
                    conditions = [c["_eq"] for c in op["_and"]]
                    found = [a for a in found if all(a.get(c["_field"]) == c["_value"] for c in conditions)]
                elif op["_name"] == "sort":
                    [(field, order)] = op["_fields"][0].items()
                    found.sort(key=lambda a: a[field], reverse=order == "desc")
                elif op["_name"] == "page":
                    found = found[op["from"] : op["to"]]
            return httpx.Response(200, json=[{k: v for k, v in a.items() if k != "observables"} for a in found])
        if first["_name"] in ("getAlert", "getCase") and query[1]["_name"] == "comments":
            records = self.alerts if first["_name"] == "getAlert" else self.cases
            if first["idOrName"] not in records:
                return self._error(404, "NotFoundError", f"{first['idOrName']} not found")
            found = [c for c in self.comments if c["on"] == first["idOrName"]]
            return httpx.Response(200, json=[{k: v for k, v in c.items() if k != "on"} for c in found])
        return self._error(400, "BadRequest", f"unsupported query {first['_name']}")

    def _id(self) -> str:
        self._next += 8
        return f"~{self._next}"

    def _tick(self) -> int:
        self._clock += 1000
        return self._clock

    @staticmethod
    def _error(status: int, kind: str, message: str) -> httpx.Response:
        return httpx.Response(status, json={"type": kind, "message": message})
