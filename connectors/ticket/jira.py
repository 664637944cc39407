"""``jira``: one Jira issue per certificate, in Jira Cloud (REST v3) or Jira Data Center (REST v2).

Deduplication. Every issue certsoar opens carries the label ``<label_prefix><first 32 hex digits of the SHA-256
of the key>`` (the key hashed, so any key makes a valid label: no spaces, fixed length), and ``find`` looks it up
with JQL. Jira's search is eventually consistent (a just-created issue may be missing from it), so the connector
also keeps a local record of key → issue key in the state dir, written under a lock shared by every process on
the machine before the lock is released: an ``open`` right after another one finds the first issue even when
JQL does not yet. An issue deleted in Jira is dropped from the record and searched for again.

Status. certsoar's statuses move the issue through workflow transitions looked up by name (``transitions``, a
mapping from certsoar's statuses; a missing one is an error naming it and the transitions there are). The
certsoar status itself is kept in the issue property ``certsoar`` with the Jira status it led to: when someone
has since moved the issue in Jira, the status reads ``closed`` in a done category and ``open`` elsewhere.

Text. Data is never markup: Cloud bodies are Atlassian Document Format built of paragraphs and text nodes only;
Data Center bodies are wiki ``{noformat}`` blocks, with each ``{`` of the text written outside them as ``\\{`` so
no macro can open or close inside. Control characters are shown as visible marks. Authentication: Cloud an
account email with an API token (Basic), Data Center a personal access token (Bearer).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from certsoar.config import secret_reference
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.http import BasicAuth, HttpClient, HttpSettings, bearer_auth, json_object, secret
from certsoar.connectors.ticket import Resolution, Ticket, TicketStatus
from certsoar.errors import ConnectorRejected, ConnectorUnavailable
from certsoar.escaping import one_line, visible
from certsoar.fileio import locked, write_atomically

PROPERTY = "certsoar"
"""The issue property that holds the key, the severity and the certsoar status."""
SUMMARY_MAX_CHARS = 255
RECORD_LOCK_SECONDS = 30.0
DEFAULT_TRANSITIONS: dict[str, str] = {
    "open": "To Do",
    "contained": "In Progress",
    "partially-contained": "In Progress",
    "released": "Done",
    "closed": "Done",
}
"""Transition names of Jira's default (simplified) workflow, where each transition is named after its status."""
_LABEL = re.compile(r"^[^\s]{1,200}$")
_PROJECT = re.compile(r"^[A-Z][A-Z0-9_]{0,254}$")
_WIKI_LITERAL = re.compile(r"\{noformat\}([^{]*)\{noformat\}|\\\{")
_ISSUE_KEY = re.compile(r"^(?:[A-Z][A-Z0-9_]*-)?[0-9]{1,18}$")
_ISSUE_FIELDS = "summary,status,created,comment"


class JiraSettings(HttpSettings):
    deployment: Literal["cloud", "datacenter"] = Field(
        default="cloud", description="cloud: Jira Cloud, REST v3 and ADF bodies; datacenter: Data Center, REST v2."
    )
    project: str = Field(description="Key of the project the issues go in (SEC).")
    issue_type: str = Field(default="Task", min_length=1, description="Issue type of the issues certsoar opens.")
    email: str | None = Field(default=None, description="Cloud: the account's email, sent with the API token.")
    api_token: str | None = Field(
        default=None,
        description="Cloud: the account's API token as env:NAME or file:PATH.",
        json_schema_extra={"secret": True},
    )
    token: str | None = Field(
        default=None,
        description="Data Center: a personal access token as env:NAME or file:PATH.",
        json_schema_extra={"secret": True},
    )
    label_prefix: str = Field(default="certsoar-", description="Start of the deduplication label of each issue.")
    labels: list[str] = Field(default_factory=lambda: ["certsoar"], description="Labels every issue gets besides.")
    transitions: dict[TicketStatus, str] = Field(
        default_factory=dict,
        description="Transition name per certsoar status, over the defaults of Jira's simplified workflow "
        "(open: To Do; contained, partially-contained: In Progress; released, closed: Done).",
    )
    priorities: dict[str, str] = Field(
        default_factory=dict,
        description="Jira priority name per certsoar severity (low, medium, high, critical); none sent when empty.",
    )

    @field_validator("api_token", "token")
    @classmethod
    def _secret_reference(cls, v: str | None) -> str | None:
        return secret_reference(v, "the token")

    @field_validator("project")
    @classmethod
    def _project_key(cls, v: str) -> str:
        if not _PROJECT.fullmatch(v):
            raise ValueError("a project key: capital letters, digits and '_', starting with a letter")
        return v

    @field_validator("label_prefix")
    @classmethod
    def _label_prefix(cls, v: str) -> str:
        if not _LABEL.fullmatch(v) or '"' in v or "\\" in v:
            raise ValueError("no white space, quote or backslash, at most 200 characters")
        return v

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: list[str]) -> list[str]:
        for label in v:
            if not _LABEL.fullmatch(label):
                raise ValueError(f"label {label!r}: no white space, at most 200 characters")
        return v

    @model_validator(mode="after")
    def _credentials(self) -> JiraSettings:
        if self.deployment == "cloud" and (self.email is None or self.api_token is None or self.token is not None):
            raise ValueError("Jira Cloud signs in with email and api_token (no token)")
        if self.deployment == "datacenter" and (self.token is None or self.api_token is not None):
            raise ValueError("Jira Data Center signs in with token, a personal access token (no api_token)")
        return self


class JiraTicketing:
    """Tickets as issues of one Jira project."""

    settings_model: ClassVar[type[ConnectorSettings]] = JiraSettings

    def __init__(self, settings: JiraSettings, env: ConnectorEnv) -> None:
        self.settings = settings
        self.env = env
        cloud = settings.deployment == "cloud"
        if cloud:
            assert settings.email is not None and settings.api_token is not None
            auth: Any = BasicAuth(settings.email, secret(settings.api_token))
        else:
            assert settings.token is not None
            auth = bearer_auth(secret(settings.token))
        self.http = HttpClient(settings, env, auth=auth)
        self.api = "/rest/api/3" if cloud else "/rest/api/2"
        self.record = Path(env.state_dir) / f"jira-{env.name}.json"

    def __repr__(self) -> str:
        s = self.settings
        return f"JiraTicketing(instance={self.env.name!r}, url={s.url!r}, {s.deployment}, project={s.project!r})"

    def label(self, key: str) -> str:
        return self.settings.label_prefix + hashlib.sha256(key.encode()).hexdigest()[:32]

    # ----------------------------------------------------------------- read

    async def find(self, key: str) -> Ticket | None:
        recorded = self._recorded().get(key)
        if recorded is not None:
            raw = await self._raw(recorded, missing_ok=True)
            if raw:
                return self._ticket(raw, key)
        found = await self._search(key)
        raw = {} if found is None else await self._raw(found, missing_ok=True)
        return self._ticket(raw, key) if raw else None

    # ---------------------------------------------------------------- write

    async def open(self, key: str, title: str, body: str, severity: str) -> Ticket:
        async with locked(self.record, timeout=RECORD_LOCK_SECONDS, connector=self.env.name):
            existing = await self.find(key)
            if existing is not None:
                self._remember(key, existing.id)
                raw = await self._raw(existing.id)
                if not (raw.get("properties") or {}).get(PROPERTY):  # a crash came between create and property
                    await self._set_property(existing.id, key, severity, existing.status, self._jira_status_name(raw))
                    return await self._checked(existing.id)
                return existing
            fields: dict[str, Any] = {
                "project": {"key": self.settings.project},
                "issuetype": {"name": self.settings.issue_type},
                "summary": one_line(" ".join(title.split()), SUMMARY_MAX_CHARS),
                "description": self._body(body),
                "labels": [*self.settings.labels, self.label(key)],
            }
            if severity in self.settings.priorities:
                fields["priority"] = {"name": self.settings.priorities[severity]}
            created = json_object(
                await self.http.request("POST", f"{self.api}/issue", json_body={"fields": fields}), self.env.name
            )
            issue_key = str(created.get("key") or "")
            if not issue_key:
                raise ConnectorUnavailable("POST issue: the answer names no issue key", connector=self.env.name)
            self._remember(key, issue_key)
            raw = await self._raw(issue_key)
            await self._set_property(issue_key, key, severity, "open", self._jira_status_name(raw))
        return await self._checked(issue_key)

    async def comment(self, ticket_id: str, text: str, status: TicketStatus | None = None) -> Ticket:
        if not _ISSUE_KEY.fullmatch(ticket_id):
            raise ConnectorRejected(f"{ticket_id!r} is no Jira issue key", connector=self.env.name)
        raw = await self._raw(ticket_id)
        if status is not None:
            # the move before the comment: a comment that is there means the move was made (ticket.comment's
            # read-back looks for the comment), and a move repeated after a failed comment finds it done
            transition = await self._transition(ticket_id, raw, status)
            if transition is not None:
                await self.http.request(
                    "POST", f"{self.api}/issue/{ticket_id}/transitions", json_body={"transition": {"id": transition}}
                )
            stored = raw.get("properties", {}).get(PROPERTY) or {}
            after = self._jira_status_name(await self._raw(ticket_id))
            await self._set_property(
                ticket_id, str(stored.get("key", "")), str(stored.get("severity", "")), status, after
            )
        await self.http.request("POST", f"{self.api}/issue/{ticket_id}/comment", json_body={"body": self._body(text)})
        return await self._checked(ticket_id)

    async def close(self, ticket_id: str, text: str, resolution: Resolution = "closed") -> Ticket:
        return await self.comment(ticket_id, text, resolution)

    # ---------------------------------------------------------------- helpers

    async def _search(self, key: str) -> str | None:
        jql = f'project = "{self.settings.project}" AND labels = "{self.label(key)}" ORDER BY created ASC'
        path = f"{self.api}/search/jql" if self.settings.deployment == "cloud" else f"{self.api}/search"
        params = {"jql": jql, "fields": "created", "maxResults": "1"}  # the oldest: the one every process finds
        answer = json_object(await self.http.request("GET", path, params=params), self.env.name)
        issues = answer.get("issues")
        if not isinstance(issues, list):
            raise ConnectorUnavailable("search: the answer holds no issues list", connector=self.env.name)
        return str(issues[0]["key"]) if issues and isinstance(issues[0], dict) and "key" in issues[0] else None

    async def _raw(self, issue: str, *, missing_ok: bool = False) -> dict[str, Any]:
        response = await self.http.request(
            "GET",
            f"{self.api}/issue/{issue}",
            params={"fields": _ISSUE_FIELDS, "properties": PROPERTY},
            ok=(404,) if missing_ok else (),
        )
        return {} if response.status_code == 404 else json_object(response, self.env.name)

    async def _checked(self, issue: str) -> Ticket:
        return self._ticket(await self._raw(issue))

    def _ticket(self, raw: dict[str, Any], key: str = "") -> Ticket:
        """The issue as a Ticket; its key from the property (``key`` where the property is missing: a crash
        between create and property)."""
        try:
            fields = raw["fields"]
            stored = (raw.get("properties") or {}).get(PROPERTY) or {}
            comments = [self._text(c["body"]) for c in (fields.get("comment") or {}).get("comments", [])]
            return Ticket(
                id=str(raw["key"]),
                key=str(stored.get("key") or key),
                title=str(fields["summary"]),
                severity=str(stored.get("severity", "")),
                status=self._status(fields["status"], stored),
                url=f"{self.settings.url}/browse/{raw['key']}",
                created=datetime.fromisoformat(fields["created"]),
                comments=comments,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConnectorUnavailable(
                f"issue: the answer is not a Jira issue ({type(exc).__name__}: {exc})", connector=self.env.name
            ) from None

    @staticmethod
    def _status(jira: dict[str, Any], stored: dict[str, Any]) -> str:
        if stored.get("status") and stored.get("jira_status") == jira.get("name"):
            return str(stored["status"])
        return "closed" if (jira.get("statusCategory") or {}).get("key") == "done" else "open"

    @staticmethod
    def _jira_status_name(raw: dict[str, Any]) -> str:
        return str(((raw.get("fields") or {}).get("status") or {}).get("name", ""))

    async def _transition(self, issue: str, raw: dict[str, Any], status: TicketStatus) -> str | None:
        """The id of the transition that moves ``issue`` to ``status``; None when it is in that status already."""
        name = {**DEFAULT_TRANSITIONS, **self.settings.transitions}[status]
        answer = json_object(await self.http.request("GET", f"{self.api}/issue/{issue}/transitions"), self.env.name)
        available = [t for t in answer.get("transitions") or [] if isinstance(t, dict)]
        for transition in available:
            if str(transition.get("name", "")).casefold() == name.casefold():
                return str(transition["id"])
        if self._jira_status_name(raw).casefold() == name.casefold():
            return None  # a simplified workflow offers no transition to the status the issue is in
        offered = ", ".join(repr(str(t.get("name"))) for t in available) or "none"
        raise ConnectorRejected(
            f"issue {issue}: no transition named {name!r} (for status {status}); this issue offers {offered}: "
            "set transitions in the connector's settings",
            connector=self.env.name,
        )

    async def _set_property(self, issue: str, key: str, severity: str, status: str, jira_status: str) -> None:
        value = {"key": key, "severity": severity, "status": status, "jira_status": jira_status}
        await self.http.request("PUT", f"{self.api}/issue/{issue}/properties/{PROPERTY}", json_body=value)

    def _body(self, text: str) -> Any:
        shown = visible(text, keep_newlines=True)
        return adf_document(shown) if self.settings.deployment == "cloud" else wiki_literal(shown)

    def _text(self, body: Any) -> str:
        return adf_text(body) if isinstance(body, dict) else wiki_text(str(body))

    # -------------------------------------------------------------- the local record

    def _recorded(self) -> dict[str, str]:
        try:
            value = json.loads(self.record.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ConnectorUnavailable(
                f"{self.record}: cannot read the record ({exc})", connector=self.env.name
            ) from None
        return value if isinstance(value, dict) else {}

    def _remember(self, key: str, issue_id: str) -> None:
        """Record key → issue (the caller holds the record's lock)."""
        recorded = self._recorded()
        if recorded.get(key) != issue_id:
            write_atomically(self.record, json.dumps({**recorded, key: issue_id}, indent=1), mode_if_new=0o600)


def adf_document(text: str) -> dict[str, Any]:
    """``text`` as an Atlassian Document Format document: a paragraph per line, the line in one text node."""
    paragraphs = [
        {"type": "paragraph", "content": [{"type": "text", "text": line}] if line else []} for line in text.split("\n")
    ]
    return {"type": "doc", "version": 1, "content": paragraphs}


def adf_text(doc: dict[str, Any]) -> str:
    """The text of an ADF document: its text nodes, a line per paragraph (``hardBreak`` a line break)."""

    def inline(node: dict[str, Any]) -> str:
        if node.get("type") == "text":
            return str(node.get("text", ""))
        if node.get("type") == "hardBreak":
            return "\n"
        return "".join(inline(child) for child in node.get("content") or [] if isinstance(child, dict))

    return "\n".join(inline(block) for block in doc.get("content") or [] if isinstance(block, dict))


def wiki_literal(text: str) -> str:
    """``text`` as Jira wiki markup that renders it literally: ``{noformat}`` blocks with no ``{`` inside (so no
    macro can open or close there), each ``{`` of the text between them escaped as ``\\{``."""
    return "\\{".join(f"{{noformat}}{piece}{{noformat}}" for piece in text.split("{"))


def wiki_text(markup: str) -> str:
    """The text ``wiki_literal`` wrote; other markup (a person's comment) as it is."""
    if not re.fullmatch(f"(?:{_WIKI_LITERAL.pattern})+", markup):
        return markup
    return "".join(m.group(1) if m.group(1) is not None else "{" for m in _WIKI_LITERAL.finditer(markup))


__all__ = ["JiraTicketing", "JiraSettings", "adf_document", "adf_text", "wiki_literal", "wiki_text"]
