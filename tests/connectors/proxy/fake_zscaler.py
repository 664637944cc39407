"""A ZIA API (``/api/v1``) that keeps one tenant's custom URL categories, staged and activated apart.

Body shapes, as vendor-apis.md section 3.2 sums them up from public sources:
- ``POST /authenticatedSession`` takes ``{"username", "password", "apiKey", "timestamp"}`` with the key obfuscated
  by the time (help.zscaler.com "About Cloud Service API Key"; demisto/content ``Zscaler.py`` ``login()``) and
  answers 200 with ``Set-Cookie: JSESSIONID=…`` and ``{"authType":"ADMIN_LOGIN","obfuscateApiKey":false,
  "passwordExpiryTime":0,"passwordExpiryDays":0}``; ``DELETE`` logs out;
- a category is ``{"id":"CUSTOM_01","configuredName":…,"customCategory":true,"urls":[…],"dbCategorizedUrls":[],
  "type":"URL_CATEGORY","editable":true,"val":128}`` (demisto/content ``test_data/responses/categories.json``);
  ``PUT /urlCategories/{id}?action=ADD_TO_LIST|REMOVE_FROM_LIST`` carries only the delta in ``urls``;
- changes stay staged until ``POST /status/activate``; ``GET /status`` says ``ACTIVE`` or ``PENDING`` (the
  activate answer ``{"status":"ACTIVE"}`` is unverified: open item 1);
- 429 ``{"message":"Rate Limit (1/SECOND) exceeded","Retry-After":"0 seconds"}``, 409 while another admin holds
  the edit lock, 401 without a valid session (Zscaler.py ``ERROR_CODES_DICT``).
"""

from __future__ import annotations

import copy
import json
import secrets
import time
from typing import Any

import httpx

ZIA_URL = "https://zsapi.zscaler.test"
API = "/api/v1"
CATEGORY = "CUSTOM_01"
SOMEONE_ELSES = "intranet.example.org/login"
"""An entry an admin added by hand (a URL with a path, no plain name): the connector leaves it alone."""


def obfuscated(key: str, timestamp: str) -> str:
    # the documented JavaScript, step by step: n = last six digits, r = n >> 1 padded to six
    n = timestamp[len(timestamp) - 6 :]
    r = str(int(n) >> 1)
    while len(r) < 6:
        r = "0" + r
    out = ""
    for ch in n:
        out += key[int(ch)]
    for ch in r:
        out += key[int(ch) + 2]
    return out


class FakeZscaler:
    url = ZIA_URL

    def __init__(self, username: str, password: str, api_key: str) -> None:
        self.username, self.password, self.api_key = username, password, api_key
        self.requests: list[httpx.Request] = []
        self.faults: list[httpx.Response] = []
        self.sessions: set[str] = set()
        self.issued: list[str] = []
        self.logins = 0
        self.logouts = 0
        self.writes = 0
        self.activations = 0
        self.activation_stuck = False
        """When set, an activation is accepted but never completes (GET /status stays PENDING)."""
        self.staged: dict[str, dict[str, Any]] = {
            CATEGORY: {
                "id": CATEGORY,
                "configuredName": "Rogue-Cert-Block",
                "customCategory": True,
                "urls": [SOMEONE_ELSES],
                "dbCategorizedUrls": [],
                "type": "URL_CATEGORY",
                "editable": True,
                "val": 128,
            },
            "NEWS_AND_MEDIA": {"id": "NEWS_AND_MEDIA", "customCategory": False, "urls": [], "val": 21},
        }
        self.active = copy.deepcopy(self.staged)

    # ------------------------------------------------------------------ what the tests read

    def inject(
        self, status: int, *, times: int = 1, headers: dict[str, str] | None = None, errors: list[str] | None = None
    ) -> None:
        message = "; ".join(errors or ["error"])
        for _ in range(times):
            if status == 429:
                body = {"message": message or "Rate Limit (1/SECOND) exceeded", "Retry-After": "0 seconds"}
            elif status == 409:
                body = {"code": "EDIT_LOCK_NOT_AVAILABLE", "message": message}
            else:
                body = {"code": "ERROR", "message": message}
            self.faults.append(httpx.Response(status, headers=headers or {}, json=body))

    def listed(self) -> set[str]:
        """Names in force (activated), as ZIA writes them back in certsoar's form (``.x`` → ``*.x``)."""
        urls = self.active[CATEGORY]["urls"]
        return {"*" + u if u.startswith(".") else u for u in urls if u != SOMEONE_ELSES}

    def state(self) -> object:
        return json.dumps([self.staged, self.active], sort_keys=True), self.writes, self.activations

    # --------------------------------------------------------------------------- the API

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.faults:
            return self.faults.pop(0)
        path = request.url.path.removeprefix(API)
        if path == "/authenticatedSession" and request.method == "POST":
            return self._login(request)
        session = _cookies(request).get("JSESSIONID")
        if session not in self.sessions:
            return httpx.Response(401, json={"code": "NOT_AUTHENTICATED", "message": "Session is not authenticated"})
        if path == "/authenticatedSession" and request.method == "DELETE":
            self.sessions.discard(session)
            self.logouts += 1
            return httpx.Response(200, json={})
        if path == "/status/activate" and request.method == "POST":
            self.activations += 1
            if self.activation_stuck:
                return httpx.Response(200, json={"status": "PENDING"})
            self.active = copy.deepcopy(self.staged)
            return httpx.Response(200, json={"status": "ACTIVE"})
        if path == "/status" and request.method == "GET":
            return httpx.Response(200, json={"status": "ACTIVE" if self.active == self.staged else "PENDING"})
        if path.startswith("/urlCategories/"):
            return self._category(request, path.removeprefix("/urlCategories/"))
        return httpx.Response(404, json={"code": "RESOURCE_NOT_FOUND", "message": "Resource not found"})

    def _login(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        timestamp = str(body.get("timestamp", ""))
        fresh = timestamp.isdigit() and abs(int(timestamp) / 1000 - time.time()) < 300
        if not (
            fresh
            and body.get("username") == self.username
            and body.get("password") == self.password
            and body.get("apiKey") == obfuscated(self.api_key, timestamp)
        ):
            return httpx.Response(401, json={"code": "AUTHENTICATION_FAILED", "message": "Authentication failed"})
        session = secrets.token_hex(16)
        self.sessions.add(session)
        self.issued.append(session)
        self.logins += 1
        return httpx.Response(
            200,
            headers={"Set-Cookie": f"JSESSIONID={session}; Path=/; Secure; HttpOnly"},
            json={
                "authType": "ADMIN_LOGIN",
                "obfuscateApiKey": False,
                "passwordExpiryTime": 0,
                "passwordExpiryDays": 0,
            },
        )

    def _category(self, request: httpx.Request, category_id: str) -> httpx.Response:
        category = self.staged.get(category_id)
        if category is None:
            return httpx.Response(404, json={"code": "RESOURCE_NOT_FOUND", "message": "Resource not found"})
        if request.method == "GET":
            return httpx.Response(200, json=category)
        if request.method != "PUT":
            return httpx.Response(405, json={"code": "METHOD_NOT_ALLOWED", "message": request.method})
        action = request.url.params.get("action")
        urls = json.loads(request.content).get("urls")
        if action not in ("ADD_TO_LIST", "REMOVE_FROM_LIST") or not isinstance(urls, list):
            # a PUT without an action replaces the whole list: never what certsoar means to send
            return httpx.Response(400, json={"code": "INVALID_INPUT_ARGUMENT", "message": f"action {action!r}"})
        if any("://" in u or not u for u in urls):
            return httpx.Response(400, json={"code": "INVALID_INPUT_ARGUMENT", "message": "URLs carry no scheme"})
        self.writes += 1
        if action == "ADD_TO_LIST":
            category["urls"] += [u for u in urls if u not in category["urls"]]
        else:
            category["urls"] = [u for u in category["urls"] if u not in urls]
        return httpx.Response(200, json=category)


def _cookies(request: httpx.Request) -> dict[str, str]:
    pairs = (part.strip().partition("=") for part in request.headers.get("cookie", "").split(";"))
    return {name: value for name, _, value in pairs if name}
