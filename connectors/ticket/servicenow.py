"""``servicenow``: tickets as records of a ServiceNow table (``incident`` or ``sn_si_incident``) over the Table API.

One record per certificate, found by ``correlation_id``: ``<prefix><key>``, or ``<prefix>sha256:<hex>`` of the key
when the key is too long for the field (100 characters) or holds anything but letters, digits and ``:._-`` (a key
made from an alert id is the adversary's text, and a ``^`` in an encoded query would add conditions of its own).
ServiceNow keeps no uniqueness on ``correlation_id`` (a POST always inserts), so the oldest record with the id is
the ticket, whichever process asks, and ``open`` asks before it creates.

Comments are journal entries (``work_notes`` by default, or the customer-visible ``comments``), read back from
``sys_journal_field``; a ``[code]`` tag, which makes the UI render a journal entry as HTML, is broken up so that an
alert's text stays text. The ticket's status is the record's ``state``, written from the ``states`` map (defaults
per table, below) and read back through it; a state among ``ended_states`` (or the map's closed/released value) is
an ended case, ``released`` when its ``close_code`` is the one configured for a release, else ``closed``.

Authentication: Basic (a local user; SSO-only users cannot), an OAuth bearer token, or an OAuth client
(``client_id``/``client_secret`` against ``/oauth_token.do``, client credentials grant).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from certsoar.config import secret_reference
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.http import (
    BasicAuth,
    HttpClient,
    HttpSettings,
    OAuth2ClientCredentials,
    bearer_auth,
    json_object,
    secret,
)
from certsoar.connectors.ticket import Resolution, Ticket, TicketStatus
from certsoar.errors import ConnectorRejected, ConnectorUnavailable

CORRELATION_ID_CHARS = 100
SHORT_DESCRIPTION_CHARS = 160
_SAFE_KEY = re.compile(r"^[A-Za-z0-9:._-]+$")
_CODE_TAG = re.compile(r"\[(/?code)\]", re.I)
RECORD_FIELDS = "sys_id,number,state,short_description,urgency,impact,close_code,correlation_id,sys_created_on"

DEFAULT_STATES: dict[str, dict[str, str]] = {
    # incident: 1 New, 2 In Progress, 3 On Hold, 6 Resolved, 7 Closed, 8 Canceled. Resolved (not Closed) ends a
    # case because a resolved incident can be reopened and a closed one cannot.
    "incident": {
        "open": "1",
        "contained": "2",
        "partially-contained": "3",
        "released": "6",
        "closed": "6",
    },
    # sn_si_incident: 10 Draft, 16 Analysis, 18 Contain, 19 Eradicate, 20 Recover, 100 Review, 3 Closed,
    # 7 Cancelled. Contained = "the issue has been contained" (Eradicate); partially = still in Contain.
    "sn_si_incident": {
        "open": "16",
        "contained": "19",
        "partially-contained": "18",
        "released": "3",
        "closed": "3",
    },
}
DEFAULT_ENDED_STATES = {"incident": ["6", "7", "8"], "sn_si_incident": ["3", "7"]}
DEFAULT_CLOSE_CODES = {"closed": "No resolution provided", "released": "Solution provided"}
URGENCY_IMPACT = {"critical": ("1", "1"), "high": ("1", "2"), "medium": ("2", "2"), "low": ("2", "3")}
"""certsoar severity → (urgency, impact); ServiceNow's priority matrix makes them P1, P2, P3 and P4."""


class ServiceNowSettings(HttpSettings):
    table: Literal["incident", "sn_si_incident"] = Field(
        default="incident", description="incident (ITSM) or sn_si_incident (Security Incident Response)."
    )
    username: str | None = Field(default=None, description="Basic authentication: a local ServiceNow user.")
    password: str | None = Field(
        default=None, description="Its password, as env:NAME or file:PATH.", json_schema_extra={"secret": True}
    )
    token: str | None = Field(
        default=None,
        description="An OAuth access token (Bearer), as env:NAME or file:PATH.",
        json_schema_extra={"secret": True},
    )
    client_id: str | None = Field(default=None, description="OAuth client id (client credentials grant).")
    client_secret: str | None = Field(
        default=None, description="OAuth client secret, as env:NAME or file:PATH.", json_schema_extra={"secret": True}
    )
    journal: Literal["work_notes", "comments"] = Field(
        default="work_notes", description="Journal field comments go to: work_notes (internal) or comments."
    )
    correlation_prefix: str = Field(
        default="certsoar:", description="Start of the correlation_id certsoar writes (the key follows)."
    )
    correlation_display: str = Field(default="certsoar", description="Written to correlation_display: who opened it.")
    caller_id: str | None = Field(default=None, description="sys_id or user name written as the caller (incident).")
    assignment_group: str | None = Field(default=None, description="sys_id or name of the group to assign.")
    states: dict[TicketStatus, str] = Field(
        default_factory=dict,
        description="certsoar status → numeric state value, over the table's defaults (incident: open 1, contained 2, "
        "partially-contained 3, released 6, closed 6; sn_si_incident: open 16, contained 19, partially-contained 18, "
        "released 3, closed 3).",
    )
    ended_states: list[str] | None = Field(
        default=None,
        description="State values that end a case, whoever set them (default incident: 6, 7, 8; sn_si_incident: 3, 7).",
    )
    close_codes: dict[Resolution, str] = Field(
        default_factory=dict,
        description="close_code written when a case ends: closed (denied) and released (containment taken back). "
        "The two must differ: the close code is how a release is told from a denial when read back. Defaults: "
        "closed 'No resolution provided', released 'Solution provided'.",
    )

    @field_validator("password", "token", "client_secret")
    @classmethod
    def _reference(cls, v: str | None) -> str | None:
        return secret_reference(v, "a ServiceNow credential")

    @field_validator("correlation_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if len(v) > 24 or not _SAFE_KEY.fullmatch(v):
            raise ValueError("letters, digits and ':._-', at most 24")
        return v

    @field_validator("states")
    @classmethod
    def _numeric(cls, v: dict[str, str]) -> dict[str, str]:
        if any(not value.isdigit() for value in v.values()):
            raise ValueError("state values are the table's numeric choice values, e.g. '2'")
        return v

    @model_validator(mode="after")
    def _one_way_in(self) -> "ServiceNowSettings":
        basic = self.username is not None or self.password is not None
        if basic and not (self.username and self.password):
            raise ValueError("basic authentication needs both username and password")
        client = self.client_id is not None or self.client_secret is not None
        if client and not (self.client_id and self.client_secret):
            raise ValueError("an OAuth client needs both client_id and client_secret")
        if sum([basic, self.token is not None, client]) != 1:
            raise ValueError("give exactly one of username with password, token, or client_id with client_secret")
        chosen = {**DEFAULT_CLOSE_CODES, **self.close_codes}
        if chosen["closed"] == chosen["released"]:
            raise ValueError("close_codes: closed and released need different codes")
        return self


class ServiceNowTicketing:
    """Tickets as records of one ServiceNow table."""

    settings_model: ClassVar[type[ConnectorSettings]] = ServiceNowSettings

    def __init__(self, settings: ServiceNowSettings, env: ConnectorEnv) -> None:
        self.settings = settings
        self.env = env
        self.states: dict[str, str] = {**DEFAULT_STATES[settings.table], **settings.states}
        ended = settings.ended_states if settings.ended_states is not None else DEFAULT_ENDED_STATES[settings.table]
        self.ended_states = {*ended, self.states["closed"], self.states["released"]}
        self.close_codes: dict[str, str] = {**DEFAULT_CLOSE_CODES, **settings.close_codes}
        self.http = HttpClient(settings, env, auth=_auth(settings))
        self.path = f"/api/now/table/{settings.table}"

    def __repr__(self) -> str:
        return (
            f"ServiceNowTicketing(instance={self.env.name!r}, url={self.settings.url!r}, table={self.settings.table!r})"
        )

    # ----------------------------------------------------------------- read

    def correlation_id(self, key: str) -> str:
        cid = self.settings.correlation_prefix + key
        if len(cid) <= CORRELATION_ID_CHARS and _SAFE_KEY.fullmatch(key):
            return cid
        return f"{self.settings.correlation_prefix}sha256:{hashlib.sha256(key.encode()).hexdigest()}"

    async def find(self, key: str) -> Ticket | None:
        query = f"correlation_id={_query_value(self.correlation_id(key))}^ORDERBYsys_created_on^ORDERBYsys_id"
        records = await self._records(self.path, {"sysparm_query": query, "sysparm_fields": RECORD_FIELDS})
        return await self._ticket(records[0], key) if records else None

    # ---------------------------------------------------------------- write

    async def open(self, key: str, title: str, body: str, severity: str) -> Ticket:
        found = await self.find(key)
        if found is not None:
            return found
        urgency, impact = URGENCY_IMPACT.get(severity.lower(), URGENCY_IMPACT["medium"])
        record: dict[str, str] = {
            "short_description": _one_line(title, SHORT_DESCRIPTION_CHARS),
            "description": body,
            "correlation_id": self.correlation_id(key),
            "correlation_display": self.settings.correlation_display,
            "urgency": urgency,
            "impact": impact,
            "state": self.states["open"],
        }
        if self.settings.caller_id:
            record["caller_id"] = self.settings.caller_id
        if self.settings.assignment_group:
            record["assignment_group"] = self.settings.assignment_group
        response = await self.http.request("POST", self.path, json_body=record, params=self._params())
        created = _result(json_object(response, self.env.name), self.env.name)
        # another process may have created one meanwhile: the oldest is the ticket, for every process
        oldest = await self.find(key)
        return oldest if oldest is not None else await self._ticket(created, key)

    async def comment(self, ticket_id: str, text: str, status: TicketStatus | None = None) -> Ticket:
        if status == "closed" or status == "released":
            return await self.close(ticket_id, text, status)
        change: dict[str, str] = {self.settings.journal: _journal_text(text)}
        if status is not None:
            change["state"] = self.states[status]
        return await self._patch(ticket_id, change)

    async def close(self, ticket_id: str, text: str, resolution: Resolution = "closed") -> Ticket:
        return await self._patch(
            ticket_id,
            {
                self.settings.journal: _journal_text(text),
                "state": self.states[resolution],
                "close_code": self.close_codes[resolution],
                "close_notes": text,
            },
        )

    # ---------------------------------------------------------------- helpers

    def _params(self, **extra: str) -> dict[str, str]:
        return {
            "sysparm_display_value": "false",  # choice values as stored ("2"), not labels that vary by language
            "sysparm_exclude_reference_link": "true",
            "sysparm_fields": RECORD_FIELDS,
            **extra,
        }

    async def _records(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        response = await self.http.request("GET", path, params=self._params(sysparm_limit="1", **params))
        result = json_object(response, self.env.name).get("result")
        if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
            raise ConnectorUnavailable(f"GET {path}: the answer holds no result list", connector=self.env.name)
        return result

    async def _patch(self, ticket_id: str, change: dict[str, str]) -> Ticket:
        if not re.fullmatch(r"[0-9a-f]{32}", ticket_id):
            raise ConnectorRejected(f"no ticket {ticket_id!r}: a sys_id is 32 hex digits", connector=self.env.name)
        path = f"{self.path}/{ticket_id}"
        # not sent again after it may have been applied: the journal would gain a second entry (ticket.comment
        # reads the journal back to know whether its write was done)
        response = await self.http.request("PATCH", path, json_body=change, params=self._params(), idempotent=False)
        return await self._ticket(_result(json_object(response, self.env.name), self.env.name), None)

    async def _journal(self, sys_id: str) -> list[str]:
        query = f"element_id={_query_value(sys_id)}^element={self.settings.journal}^ORDERBYsys_created_on"
        response = await self.http.request(
            "GET",
            "/api/now/table/sys_journal_field",
            params={"sysparm_query": query, "sysparm_fields": "value", "sysparm_limit": "1000"},
        )
        result = json_object(response, self.env.name).get("result")
        if not isinstance(result, list):
            raise ConnectorUnavailable("sys_journal_field: the answer holds no result list", connector=self.env.name)
        return [str(r.get("value", "")) for r in result if isinstance(r, dict)]

    async def _ticket(self, record: dict[str, Any], key: str | None) -> Ticket:
        sys_id = str(record.get("sys_id", ""))
        if not sys_id:
            raise ConnectorUnavailable("the record carries no sys_id", connector=self.env.name)
        cid = str(record.get("correlation_id") or "")
        return Ticket(
            id=sys_id,
            key=key if key is not None else cid.removeprefix(self.settings.correlation_prefix),
            title=str(record.get("short_description") or ""),
            severity={v: k for k, v in URGENCY_IMPACT.items()}.get(
                (str(record.get("urgency")), str(record.get("impact"))), "medium"
            ),
            status=self._status(str(record.get("state") or ""), str(record.get("close_code") or "")),
            url=f"{self.settings.url}/nav_to.do?uri={self.settings.table}.do%3Fsys_id%3D{sys_id}",
            created=self._created(record.get("sys_created_on")),
            comments=await self._journal(sys_id),
        )

    def _created(self, value: object) -> datetime:
        """sys_created_on as the API gives it with sysparm_display_value=false: ``YYYY-MM-DD HH:MM:SS``, UTC."""
        try:
            return datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
        except ValueError:
            raise ConnectorUnavailable(f"sys_created_on {value!r} is no date", connector=self.env.name) from None

    def _status(self, state: str, close_code: str) -> str:
        if state in self.ended_states:
            return "released" if close_code == self.close_codes["released"] else "closed"
        for status in ("open", "contained", "partially-contained"):
            if self.states[status] == state:
                return status
        return "open"  # a state someone set by hand (On Hold, Review…): the case goes on


def _auth(settings: ServiceNowSettings) -> Any:
    if settings.token is not None:
        return bearer_auth(secret(settings.token))
    if settings.client_id is not None and settings.client_secret is not None:
        return OAuth2ClientCredentials(
            f"{settings.url}/oauth_token.do", settings.client_id, secret(settings.client_secret)
        )
    assert settings.username is not None and settings.password is not None
    return BasicAuth(settings.username, secret(settings.password))


def _query_value(value: str) -> str:
    """``value`` inside an encoded query: a caret, the condition separator, is written twice."""
    return value.replace("^", "^^")


def _journal_text(text: str) -> str:
    return _CODE_TAG.sub(r"[\1 ]", text)


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _result(answer: dict[str, Any], connector: str) -> dict[str, Any]:
    result = answer.get("result")
    if not isinstance(result, dict):
        raise ConnectorUnavailable("the answer holds no result record", connector=connector)
    return result


__all__ = ["ServiceNowTicketing", "ServiceNowSettings"]
