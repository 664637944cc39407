"""A Jira REST API (Cloud v3 or Data Center v2) that keeps the issues of one project.

Body shapes, from Atlassian's documented formats as vendor-apis.md section 5.1 sums them up, and the Jira
Cloud platform REST API reference (developer.atlassian.com/cloud/jira/platform/rest/v3: issues, issue search,
issue comments, issue properties, transitions) and the Atlassian Document Format reference
(developer.atlassian.com/cloud/jira/platform/apis/document/structure):
- create ``POST /rest/api/{2,3}/issue {"fields": {...}}`` → 201 ``{"id", "key", "self"}``; v3 refuses a
  description that is no ADF document with 400 (field-keyed ``errors``);
- ``GET /rest/api/{2,3}/issue/{idOrKey}?fields=…&properties=…`` → ``{"id", "key", "self", "fields": {"summary",
  "status": {"name", "statusCategory": {"key"}}, "created", "comment": {"comments": [{"id", "body"}], …}},
  "properties": {name: value}}``; an unknown issue is 404 ``{"errorMessages": ["Issue does not exist or you do
  not have permission to see it."], "errors": {}}``;
- Cloud search ``GET /rest/api/3/search/jql`` → ``{"issues": [...], "isLast"}`` (the old ``/search`` is 410
  Gone); Data Center ``GET /rest/api/2/search`` → ``{"startAt", "maxResults", "total", "issues"}``. The search
  is eventually consistent: an issue shows in it only ``search_lag`` searches after it was made;
- ``POST …/issue/{id}/comment {"body"}`` → 201; ``PUT …/issue/{id}/properties/{name}`` → 201 (200 when it
  existed); ``GET …/issue/{id}/transitions`` → ``{"transitions": [{"id", "name", "to": {"name",
  "statusCategory"}}]}`` and ``POST`` with ``{"transition": {"id"}}`` → 204. The workflow is Jira's simplified
  one: To Do, In Progress, Done, each reachable from the others by a transition named after it.
- the ``properties`` parameter of get issue (Cloud and Server/Data Center: jira.js ``GetIssue`` parameters) and
  the transition body ``{"transition": {"id"}}`` (the v2 reference as PowerJira's Invoke-JiraTransitionIssue
  quotes it) were checked in those public references;
- Cloud takes Basic email:API-token, Data Center ``Bearer`` a personal access token; else 401.

``shown(body)`` is what a reader of the issue sees: the text of an ADF document made of paragraphs, text and
hard breaks, or of wiki made of ``{noformat}`` blocks and ``\\{`` escapes; anything else would be rendered as
markup, and is shown flagged ``MARKUP:`` so a test sees it.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
from vendor_faults import Fault

JIRA_URL = "https://jira.example.test"
STATUSES = {"To Do": "new", "In Progress": "indeterminate", "Done": "done"}
TRANSITION_IDS = {"To Do": "11", "In Progress": "21", "Done": "31"}
_JQL = re.compile(r'^project = "(?P<project>[A-Z0-9_]+)" AND labels = "(?P<label>[^"\s]+)" ORDER BY created ASC$')
_WIKI_LITERAL = re.compile(r"\{noformat\}([^{]*)\{noformat\}|\\\{")


@dataclass
class Issue:
    id: str
    key: str
    fields: dict[str, Any]
    status: str = "To Do"
    comments: list[Any] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    searches_until_indexed: int = 0


class FakeJira:
    url = JIRA_URL

    def __init__(self, deployment: str, *, email: str = "", token: str, project: str = "SEC", search_lag: int = 1):
        self.requests: list[httpx.Request] = []
        self.faults: list[Fault] = []
        self.targeted: list[tuple[str, str, Fault]] = []
        self.cloud = deployment == "cloud"
        self.api = "/rest/api/3/" if self.cloud else "/rest/api/2/"
        if self.cloud:
            self.authorization = "Basic " + base64.b64encode(f"{email}:{token}".encode()).decode()
        else:
            self.authorization = f"Bearer {token}"
        self.project = project
        self.search_lag = search_lag
        self.issues: dict[str, Issue] = {}
        self.writes = 0
        self.created = 0

    def inject(
        self, status: int, *, times: int = 1, headers: dict[str, str] | None = None, errors: list[str] | None = None
    ) -> None:
        """Answer the next ``times`` requests with ``status`` and Jira's error body."""
        body = {"errorMessages": errors or ["error"], "errors": {}}
        self.faults += [Fault(status, headers or {}, body) for _ in range(times)]

    def inject_at(self, method: str, path_end: str, status: int) -> None:
        """Answer the next ``method`` request whose path ends in ``path_end`` with ``status``."""
        self.targeted.append((method, path_end, Fault(status, {}, {"errorMessages": ["error"], "errors": {}})))

    def state(self) -> object:
        return json.dumps([vars(i) for i in self.issues.values()], sort_keys=True, default=str), self.writes

    def shown(self, body: Any) -> str:
        if self.cloud:
            return _adf_shown(body)
        if not isinstance(body, str) or not re.fullmatch(f"(?:{_WIKI_LITERAL.pattern})+", body):
            return f"MARKUP:{body}"
        return "".join(m.group(1) if m.group(1) is not None else "{" for m in _WIKI_LITERAL.finditer(body))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.faults:
            return self.faults.pop(0).response()
        for n, (method, path_end, fault) in enumerate(self.targeted):
            if request.method == method and request.url.path.endswith(path_end):
                del self.targeted[n]
                return fault.response()
        if request.headers.get("Authorization") != self.authorization:
            return httpx.Response(
                401, json={"errorMessages": ["Client must be authenticated to access this resource."], "errors": {}}
            )
        path = request.url.path
        if not path.startswith(self.api):
            return self._missing("No such API.")
        parts = path.removeprefix(self.api).split("/")
        if request.method != "GET":
            self.writes += 1
        if parts == ["search"] and self.cloud:
            return httpx.Response(
                410,
                json={
                    "errorMessages": [
                        "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."
                    ],
                    "errors": {},
                },
            )
        if (parts == ["search", "jql"] and self.cloud) or (parts == ["search"] and not self.cloud):
            return self._search(request)
        if parts == ["issue"] and request.method == "POST":
            return self._create(json.loads(request.content))
        if parts[0] != "issue" or len(parts) < 2:
            return self._missing("No such resource.")
        issue = self._issue(parts[1])
        if issue is None:
            return self._missing("Issue does not exist or you do not have permission to see it.")
        rest = parts[2:]
        if rest == [] and request.method == "GET":
            return httpx.Response(200, json=self._view(issue, request))
        if rest == ["comment"] and request.method == "POST":
            issue.comments.append(json.loads(request.content)["body"])
            return httpx.Response(201, json={"id": str(10100 + len(issue.comments)), "body": issue.comments[-1]})
        if len(rest) == 2 and rest[0] == "properties" and request.method == "PUT":
            existed = rest[1] in issue.properties
            issue.properties[rest[1]] = json.loads(request.content)
            return httpx.Response(200 if existed else 201)
        if rest == ["transitions"]:
            return self._transitions(issue, request)
        return httpx.Response(405, json={"errorMessages": ["Method not allowed."], "errors": {}})

    # ------------------------------------------------------------------------------------------ parts

    def _issue(self, id_or_key: str) -> Issue | None:
        return next((i for i in self.issues.values() if id_or_key in (i.id, i.key)), None)

    def _create(self, body: dict[str, Any]) -> httpx.Response:
        fields = body["fields"]
        errors = {}
        if fields.get("project", {}).get("key") != self.project:
            errors["project"] = "valid project is required"
        if not fields.get("summary") or "\n" in fields["summary"] or len(fields["summary"]) > 255:
            errors["summary"] = "You must specify a summary of the issue."
        if self.cloud and not (
            isinstance(fields.get("description"), dict) and fields["description"].get("type") == "doc"
        ):
            errors["description"] = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
        if any(" " in label for label in fields.get("labels", [])):
            errors["labels"] = "The label can't contain spaces."
        if errors:
            return httpx.Response(400, json={"errorMessages": [], "errors": errors})
        self.created += 1
        number = self.created + 23
        issue = Issue(
            id=str(10000 + number),
            key=f"{self.project}-{number}",
            fields={**fields, "created": f"2026-12-01T18:{number:02d}:00.000+0000"},
            searches_until_indexed=self.search_lag,
        )
        self.issues[issue.id] = issue
        return httpx.Response(
            201, json={"id": issue.id, "key": issue.key, "self": f"{self.url}{self.api}issue/{issue.id}"}
        )

    def _search(self, request: httpx.Request) -> httpx.Response:
        match = _JQL.fullmatch(request.url.params.get("jql", ""))
        if match is None or match["project"] != self.project:
            return httpx.Response(400, json={"errorMessages": ["Error in the JQL Query."], "errors": {}})
        found = []
        for issue in self.issues.values():
            if issue.searches_until_indexed > 0:
                issue.searches_until_indexed -= 1
                continue
            if match["label"] in issue.fields.get("labels", []):
                found.append({"id": issue.id, "key": issue.key, "fields": {"created": issue.fields["created"]}})
        found = found[: int(request.url.params.get("maxResults", "50"))]
        if self.cloud:
            return httpx.Response(200, json={"issues": found, "isLast": True})
        return httpx.Response(200, json={"startAt": 0, "maxResults": 50, "total": len(found), "issues": found})

    def _view(self, issue: Issue, request: httpx.Request) -> dict[str, Any]:
        comments = [{"id": str(10101 + n), "body": body} for n, body in enumerate(issue.comments)]
        fields = {
            **issue.fields,
            "status": {"name": issue.status, "statusCategory": {"key": STATUSES[issue.status]}},
            "comment": {"comments": comments, "maxResults": len(comments), "total": len(comments), "startAt": 0},
        }
        wanted = request.url.params.get("properties", "").split(",")
        return {
            "id": issue.id,
            "key": issue.key,
            "self": f"{self.url}{self.api}issue/{issue.id}",
            "fields": {k: v for k, v in fields.items() if k in request.url.params.get("fields", k).split(",")},
            "properties": {k: v for k, v in issue.properties.items() if k in wanted},
        }

    def _transitions(self, issue: Issue, request: httpx.Request) -> httpx.Response:
        offered = [
            {"id": TRANSITION_IDS[name], "name": name, "to": {"name": name, "statusCategory": {"key": category}}}
            for name, category in STATUSES.items()
            if name != issue.status
        ]
        if request.method == "GET":
            return httpx.Response(200, json={"expand": "transitions", "transitions": offered})
        wanted = json.loads(request.content)["transition"]["id"]
        target = next((t["name"] for t in offered if t["id"] == wanted), None)
        if target is None:
            return httpx.Response(
                400, json={"errorMessages": [f"Transition id '{wanted}' is not valid for this issue."], "errors": {}}
            )
        issue.status = target
        return httpx.Response(204)

    def _missing(self, message: str) -> httpx.Response:
        return httpx.Response(404, json={"errorMessages": [message], "errors": {}})


def _adf_shown(doc: Any) -> str:
    if not isinstance(doc, dict) or doc.get("type") != "doc" or doc.get("version") != 1:
        return f"MARKUP:{doc}"
    lines = []
    for block in doc.get("content", []):
        if block.get("type") != "paragraph":
            return f"MARKUP:{doc}"
        line = ""
        for node in block.get("content", []):
            if node.get("type") == "text" and not node.get("marks") and node.get("text"):
                line += node["text"]
            elif node.get("type") == "hardBreak":
                line += "\n"
            else:  # a mention, a link, an emoji, an empty text node: not plain text
                return f"MARKUP:{doc}"
        lines.append(line)
    return "\n".join(lines)
