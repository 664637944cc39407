"""``thehive``: tickets as TheHive 5 alerts (``/api/v1``), promoted to a case once containment happened.

One alert per certificate: ``sourceRef`` is the key, with ``source`` and ``type`` from the settings; TheHive keeps
(type, source, sourceRef) unique per organisation, and ``find`` asks the query API for it (the oldest, should a
copy exist). The alert carries the key as an observable of type ``hash`` when the key is a certificate hash, and
``open_with_observables`` adds the servers' addresses (``ip``), the SNI and names (``fqdn``) and the other hashes.

The alert becomes a case when its status moves past ``open`` (``contained`` or ``partially-contained``): that is
when an analyst approved containment and certsoar acted, which is response work a case tracks (tasks, a
responder, an end). An escalation that is denied stays an alert and is closed as one, so cases count only what
was contained. The ticket's id stays the alert's id; once promoted, comments and status go to the case.

Status: TheHive's status says whether a case ended (a resolution status: ``released`` when it is the configured
release resolution, else ``closed``); between open and the end, certsoar's status is kept as a tag
``certsoar:<status>`` because TheHive has no status of its own for "contained". Text goes in JSON string fields,
as the vendor receives any data; TheHive shows descriptions and comments as Markdown, which is why the templates
certsoar renders them from escape the alert's fields for Markdown.

Authentication: an API key as ``Authorization: Bearer``; ``organisation`` adds ``X-Organisation``.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from datetime import datetime, timezone
from typing import Any, ClassVar

from pydantic import Field, model_validator

from certsoar.config import required_secrets
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.http import HttpClient, HttpSettings, bearer_auth, json_object, secret, vendor_message
from certsoar.connectors.ticket import Observables, Resolution, Ticket, TicketStatus
from certsoar.errors import ConnectorRejected, ConnectorUnavailable

log = logging.getLogger("certsoar.connectors.thehive")

_ID = re.compile(r"^~?[A-Za-z0-9_-]{1,64}$")
_HASH = re.compile(r"^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$")
_FQDN = re.compile(
    r"^(?=.{1,253}$)(?:\*\.)?(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9-]{1,63}\.?$"
)
OPEN_STATUSES = frozenset({"New", "InProgress", "Updated"})
"""Statuses of an alert or case still being worked; any other (FalsePositive, TruePositive, Other…) ended it."""
SEVERITY = {"low": 1, "medium": 2, "high": 3, "critical": 4}
STATUS_TAG = "certsoar:"


class TheHiveSettings(HttpSettings):
    api_key: str = Field(
        description="API key of a TheHive user, as env:NAME or file:PATH.", json_schema_extra={"secret": True}
    )
    organisation: str | None = Field(default=None, description="Organisation to act in (X-Organisation), when several.")
    source: str = Field(default="certsoar", min_length=1, description="The alerts' source.")
    alert_type: str = Field(default="rogue-certificate", min_length=1, description="The alerts' type.")
    tags: list[str] = Field(default_factory=lambda: ["T1587.003"], description="Tags on every alert.")
    tlp: int = Field(default=2, ge=0, le=4, description="TLP of the alerts (0 clear … 4 red).")
    pap: int = Field(default=2, ge=0, le=3, description="PAP of the alerts (0 clear … 3 red).")
    resolutions: dict[Resolution, str] = Field(
        default_factory=lambda: {"closed": "Other", "released": "FalsePositive"},
        description="TheHive status that ends the alert or case: closed (denied) and released (containment taken "
        "back, a false positive). The two must differ: the status is how a release is told from a denial.",
    )

    _reference = required_secrets("api_key", what="the API key")

    @model_validator(mode="after")
    def _resolutions(self) -> "TheHiveSettings":
        chosen = {**{"closed": "Other", "released": "FalsePositive"}, **self.resolutions}
        if chosen["closed"] == chosen["released"] or OPEN_STATUSES & set(chosen.values()):
            raise ValueError("resolutions: two different statuses that end a case (not New or InProgress)")
        return self


class TheHiveTicketing:
    """Tickets as alerts (and, after containment, cases) of one TheHive organisation."""

    settings_model: ClassVar[type[ConnectorSettings]] = TheHiveSettings

    def __init__(self, settings: TheHiveSettings, env: ConnectorEnv) -> None:
        self.settings = settings
        self.env = env
        self.resolutions: dict[str, str] = {"closed": "Other", "released": "FalsePositive", **settings.resolutions}
        self.http = HttpClient(settings, env, auth=bearer_auth(secret(settings.api_key)))
        self.headers = {"X-Organisation": settings.organisation} if settings.organisation else {}

    def __repr__(self) -> str:
        return f"TheHiveTicketing(instance={self.env.name!r}, url={self.settings.url!r})"

    # ----------------------------------------------------------------- read

    async def find(self, key: str) -> Ticket | None:
        match = [
            {"_eq": {"_field": "sourceRef", "_value": key}},
            {"_eq": {"_field": "source", "_value": self.settings.source}},
            {"_eq": {"_field": "type", "_value": self.settings.alert_type}},
        ]
        found = await self._query(
            "alerts",
            [
                {"_name": "listAlert"},
                {"_name": "filter", "_and": match},
                {"_name": "sort", "_fields": [{"_createdAt": "asc"}]},
                {"_name": "page", "from": 0, "to": 1},
            ],
        )
        return await self._ticket(found[0]) if found else None

    # ---------------------------------------------------------------- write

    async def open(self, key: str, title: str, body: str, severity: str) -> Ticket:
        return await self.open_with_observables(key, title, body, severity, Observables())

    async def open_with_observables(
        self, key: str, title: str, body: str, severity: str, observables: Observables
    ) -> Ticket:
        """``open``, the alert carrying ``observables`` besides the key's hash."""
        found = await self.find(key)
        if found is not None:
            return found
        alert = {
            "type": self.settings.alert_type,
            "source": self.settings.source,
            "sourceRef": key,
            "title": title,
            "description": body or title,
            "severity": SEVERITY.get(severity.lower(), 2),
            "tlp": self.settings.tlp,
            "pap": self.settings.pap,
            "tags": [*self.settings.tags, STATUS_TAG + "open"],
            "observables": _observables(key, observables, self.settings.tlp),
        }
        response = await self.http.request("POST", "/api/v1/alert", json_body=alert, headers=self.headers, ok=(400,))
        if response.status_code == 400:
            # (type, source, sourceRef) exists: another process opened it meanwhile; else a true refusal
            again = await self.find(key)
            if again is not None:
                return again
            message = self.http.redactor.text(vendor_message(response))
            raise ConnectorRejected(f"POST /api/v1/alert: HTTP 400: {message}", connector=self.env.name)
        return await self._ticket(json_object(response, self.env.name))

    async def comment(self, ticket_id: str, text: str, status: TicketStatus | None = None) -> Ticket:
        if status == "closed" or status == "released":
            return await self.close(ticket_id, text, status)
        alert = await self._alert(ticket_id)
        if status in ("contained", "partially-contained") and not alert.get("caseId"):
            promoted = await self.http.request(
                "POST", f"/api/v1/alert/{ticket_id}/case", json_body={}, headers=self.headers
            )
            case_id = json_object(promoted, self.env.name).get("_id")
            if not case_id:
                raise ConnectorUnavailable(
                    f"alert {ticket_id}: the promotion answered no case id", connector=self.env.name
                )
            alert = {**alert, "caseId": str(case_id)}
        kind, record = await self._target(alert)
        if status is not None:
            change: dict[str, Any] = {"tags": _with_status(record, status)}
            if str(record.get("status")) not in OPEN_STATUSES:  # reopened
                change["status"] = "New" if kind == "alert" else "InProgress"
            await self._patch(kind, str(record["_id"]), change)
        # the comment last: ticket.comment takes a comment it finds as its write done, move included
        await self._comment(kind, str(record["_id"]), text)
        return await self._ticket(await self._alert(ticket_id))

    async def close(self, ticket_id: str, text: str, resolution: Resolution = "closed") -> Ticket:
        kind, record = await self._target(await self._alert(ticket_id))
        change = {"status": self.resolutions[resolution], "summary": text, "tags": _with_status(record, resolution)}
        await self._patch(kind, str(record["_id"]), change)
        await self._comment(kind, str(record["_id"]), text)
        return await self._ticket(await self._alert(ticket_id))

    # ---------------------------------------------------------------- helpers

    async def _query(self, name: str, query: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # a query is a POST that changes nothing: safe to send again
        response = await self.http.request(
            "POST",
            "/api/v1/query",
            params={"name": name},
            json_body={"query": query},
            headers=self.headers,
            idempotent=True,
        )
        try:
            found = response.json()
        except ValueError:
            found = None
        if not isinstance(found, list) or not all(isinstance(item, dict) for item in found):
            raise ConnectorUnavailable(f"query {name}: the answer is not a list of objects", connector=self.env.name)
        return found

    async def _alert(self, ticket_id: str) -> dict[str, Any]:
        if not _ID.fullmatch(ticket_id):
            raise ConnectorRejected(f"no ticket {ticket_id!r}: not a TheHive id", connector=self.env.name)
        response = await self.http.request("GET", f"/api/v1/alert/{ticket_id}", headers=self.headers)
        return json_object(response, self.env.name)

    async def _target(self, alert: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Where comments and status go: the case the alert became, else the alert."""
        case_id = alert.get("caseId")
        if not case_id:
            return "alert", alert
        if not _ID.fullmatch(str(case_id)):
            raise ConnectorUnavailable(
                f"alert {alert.get('_id')}: caseId {case_id!r} is no id", connector=self.env.name
            )
        response = await self.http.request("GET", f"/api/v1/case/{case_id}", headers=self.headers)
        return "case", json_object(response, self.env.name)

    async def _comment(self, kind: str, record_id: str, text: str) -> None:
        await self.http.request(
            "POST", f"/api/v1/{kind}/{record_id}/comment", json_body={"message": text}, headers=self.headers
        )

    async def _patch(self, kind: str, record_id: str, change: dict[str, Any]) -> None:
        # a PATCH sets fields: the same one twice leaves the same record
        await self.http.request(
            "PATCH", f"/api/v1/{kind}/{record_id}", json_body=change, headers=self.headers, idempotent=True
        )

    async def _comments(self, kind: str, record_id: str) -> list[str]:
        get = "getAlert" if kind == "alert" else "getCase"
        found = await self._query(
            f"{kind}-comments",
            [
                {"_name": get, "idOrName": record_id},
                {"_name": "comments"},
                {"_name": "sort", "_fields": [{"_createdAt": "asc"}]},
            ],
        )
        return [str(c.get("message", "")) for c in found]

    async def _ticket(self, alert: dict[str, Any]) -> Ticket:
        alert_id = str(alert.get("_id") or "")
        if not alert_id:
            raise ConnectorUnavailable("the alert carries no _id", connector=self.env.name)
        kind, record = await self._target(alert)
        comments = await self._comments("alert", alert_id)
        if kind == "case":
            comments += await self._comments("case", str(record["_id"]))
        where = f"cases/{record['_id']}" if kind == "case" else f"alerts/{alert_id}"
        return Ticket(
            id=alert_id,
            key=str(alert.get("sourceRef", "")),
            title=str(alert.get("title", "")),
            severity={v: k for k, v in SEVERITY.items()}.get(_int(alert.get("severity")), "medium"),
            status=self._status(record),
            url=f"{self.settings.url}/{where}/details",
            created=datetime.fromtimestamp(_int(alert.get("_createdAt")) / 1000, timezone.utc),
            comments=comments,
        )

    def _status(self, record: dict[str, Any]) -> str:
        vendor = str(record.get("status", "New"))
        if vendor not in OPEN_STATUSES and vendor != "Imported":
            return "released" if vendor == self.resolutions["released"] else "closed"
        tagged = [t.removeprefix(STATUS_TAG) for t in record.get("tags") or [] if str(t).startswith(STATUS_TAG)]
        live = [t for t in tagged if t in ("open", "contained", "partially-contained")]
        return live[-1] if live else "open"


def _observables(key: str, extra: Observables, tlp: int) -> list[dict[str, Any]]:
    """The key and ``extra`` as TheHive observables; a value that is not what its type says is left out (an
    alert's SNI is the adversary's text: it never costs the ticket)."""
    given = [("hash", h.lower()) for h in extra.hashes if _HASH.fullmatch(h)]
    given += [("ip", str(ip)) for ip in map(_ip, extra.addresses) if ip is not None]
    given += [("fqdn", n.lower().rstrip(".")) for n in extra.names if _FQDN.fullmatch(n)]
    dropped = len(extra.hashes) + len(extra.addresses) + len(extra.names) - len(given)
    if dropped:
        log.info("thehive: %d value(s) that are no hash, address or host name left out of the observables", dropped)
    wanted = ([("hash", key.lower())] if _HASH.fullmatch(key) else []) + given
    unique = list(dict.fromkeys(wanted))  # TheHive refuses the same (dataType, data) twice in one alert
    return [{"dataType": t, "data": d, "ioc": True, "tlp": tlp, "tags": ["certsoar"]} for t, d in unique]


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _with_status(record: dict[str, Any], status: str) -> list[str]:
    kept = [str(t) for t in record.get("tags") or [] if not str(t).startswith(STATUS_TAG)]
    return [*kept, STATUS_TAG + status]


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


__all__ = ["TheHiveTicketing", "TheHiveSettings"]
