"""The ticket connectors for the conformance suite (test_ticket_conformance.py), each with a way to read the
vendor's own state behind the connector's back.

A vendor gives ``build(**settings)`` (the connector), ``held()`` (the tickets the vendor holds, read without the
connector: ``Held`` per ticket, its texts as a reader of that vendor sees them and its status in certsoar's
words), oldest first, and ``state()`` (a snapshot that changes whenever the vendor is written to). An HTTP vendor also has a
``fake`` behind pytest-httpx (``url``, ``requests`` and ``inject(status, times=, headers=, errors=)`` to answer
the next requests with a failure in the vendor's own error body) and the ``secrets`` its credentials are made
of. A new ticket connector adds a case to ``TICKET_VENDORS`` (an HTTP one to ``HTTP_VENDORS`` too).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fake_jira import JIRA_URL, FakeJira
from fake_servicenow import FakeServiceNow
from fake_thehive import FakeTheHive

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.ticket import Ticketing
from certsoar.connectors.ticket.jira import JiraSettings, JiraTicketing
from certsoar.connectors.ticket.local import LocalTicketing, LocalTicketingSettings
from certsoar.connectors.ticket.servicenow import ServiceNowSettings, ServiceNowTicketing
from certsoar.connectors.ticket.thehive import TheHiveSettings, TheHiveTicketing
from certsoar.store import RunStore


@dataclass(frozen=True)
class Held:
    """One ticket as the vendor keeps it."""

    id: str
    statuses: frozenset[str]
    """The certsoar statuses (open, contained, …, closed) the vendor's own status stands for: one, or several for
    a vendor with fewer statuses (Jira's Done is both released and closed)."""
    texts: list[str]
    """Title, description and comments, in order, as the vendor shows them to a reader."""


@dataclass
class TicketVendor:
    name: str
    build: Callable[..., Ticketing]
    held: Callable[[], list[Held]]
    state: Callable[[], object]
    fake: Any = None
    """The fake HTTP vendor (``inject``, ``requests``, ``url``); None for a connector that speaks no HTTP."""
    secrets: list[str] = field(default_factory=list)
    unknown_id: str = "CS-00000000"
    """A ticket id the vendor does not hold (in the shape of its ids)."""
    close: Callable[[], None] = lambda: None


def local_vendor(monkeypatch: Any, tmp_path: Path) -> TicketVendor:
    store = RunStore(tmp_path / "runs.sqlite3")

    def build(**settings: Any) -> Ticketing:
        env = ConnectorEnv(name="local", state_dir=tmp_path, store=store)
        return LocalTicketing(LocalTicketingSettings.model_validate(settings), env)

    def rows() -> list[sqlite3.Row]:
        try:
            return list(store.db.execute("SELECT * FROM tickets ORDER BY created"))
        except sqlite3.OperationalError:  # no table yet: no ticket
            return []

    def held() -> list[Held]:
        return [
            Held(
                id=r["id"], statuses=frozenset({r["status"]}), texts=[r["title"], r["body"], *json.loads(r["comments"])]
            )
            for r in rows()
        ]

    return TicketVendor(
        name="local",
        build=build,
        held=held,
        state=lambda: ([tuple(r) for r in rows()], store.db.total_changes),
        close=store.close,
    )


JIRA_API_TOKEN = "ATATT3xFfGF0conformance0token0Zq7wK9mB2vX4nP6rT8yL1cD3fH5jS"
JIRA_PAT = "NjE0NzE2MjU3OTk5Oconformance0pat0x9Jg2kLmQvR8sT1uW"
JIRA_EMAIL = "soar-bot@example.com"
JIRA_STATUSES = {"To Do": {"open"}, "In Progress": {"contained", "partially-contained"}, "Done": {"released", "closed"}}
"""What each status of Jira's simplified workflow stands for, by the connector's default transitions."""


def _jira_vendor(deployment: str, monkeypatch: Any, tmp_path: Path) -> TicketVendor:
    secret = JIRA_API_TOKEN if deployment == "cloud" else JIRA_PAT
    monkeypatch.setenv("CERTSOAR_TEST_JIRA_TOKEN", secret)
    fake = FakeJira(deployment, email=JIRA_EMAIL, token=secret)
    credentials = (
        {"email": JIRA_EMAIL, "api_token": "env:CERTSOAR_TEST_JIRA_TOKEN"}
        if deployment == "cloud"
        else {"token": "env:CERTSOAR_TEST_JIRA_TOKEN"}
    )

    def build(url: str | None = None, **settings: Any) -> Ticketing:
        values = {
            "url": url or JIRA_URL,
            "deployment": deployment,
            "project": "SEC",
            "backoff": 0.01,
            **credentials,
            **settings,
        }
        return JiraTicketing(JiraSettings.model_validate(values), ConnectorEnv(name="jira", state_dir=tmp_path))

    def held() -> list[Held]:
        return [
            Held(
                id=issue.key,
                statuses=frozenset(JIRA_STATUSES[issue.status]),
                texts=[
                    issue.fields["summary"],
                    *(fake.shown(b) for b in [issue.fields["description"], *issue.comments]),
                ],
            )
            for issue in fake.issues.values()
        ]

    return TicketVendor(
        name=f"jira-{deployment}",
        build=build,
        held=held,
        state=fake.state,
        fake=fake,
        secrets=[secret],
        unknown_id="SEC-9999",
    )


def jira_cloud_vendor(monkeypatch: Any, tmp_path: Path) -> TicketVendor:
    return _jira_vendor("cloud", monkeypatch, tmp_path)


def jira_datacenter_vendor(monkeypatch: Any, tmp_path: Path) -> TicketVendor:
    return _jira_vendor("datacenter", monkeypatch, tmp_path)


SERVICENOW_PASSWORD = "sn-conformance-Pa55w0rd-7c1e9b"
SERVICENOW_STATUS = {"1": "open", "2": "contained", "3": "partially-contained"}
"""The incident states' meaning in certsoar's words (ServiceNowSettings' documented defaults)."""


def servicenow_vendor(monkeypatch: Any, tmp_path: Path) -> TicketVendor:
    monkeypatch.setenv("CERTSOAR_TEST_SN_PASSWORD", SERVICENOW_PASSWORD)
    fake = FakeServiceNow(password=SERVICENOW_PASSWORD)

    def build(url: str | None = None, **settings: Any) -> Ticketing:
        values = {
            "url": url or fake.url,
            "username": "certsoar.integration",
            "password": "env:CERTSOAR_TEST_SN_PASSWORD",
            "backoff": 0.01,
            **settings,
        }
        env = ConnectorEnv(name="servicenow", state_dir=tmp_path)
        return ServiceNowTicketing(ServiceNowSettings.model_validate(values), env)

    def status(record: dict[str, str]) -> str:
        if record["state"] in ("6", "7", "8"):
            return "released" if record["close_code"] == "Solution provided" else "closed"
        return SERVICENOW_STATUS[record["state"]]

    def held() -> list[Held]:
        records = sorted(fake.records(), key=lambda r: r["sys_created_on"])
        return [
            Held(
                r["sys_id"],
                frozenset({status(r)}),
                [r["short_description"], r["description"], *fake.notes(r["sys_id"])],
            )
            for r in records
        ]

    return TicketVendor(
        name="servicenow",
        build=build,
        held=held,
        state=fake.state,
        fake=fake,
        secrets=[SERVICENOW_PASSWORD],
        unknown_id="0" * 32,
    )


THEHIVE_KEY = "th5-conformance-apikey-Qm9vZ2xlMjAyNg"


def thehive_vendor(monkeypatch: Any, tmp_path: Path) -> TicketVendor:
    monkeypatch.setenv("CERTSOAR_TEST_THEHIVE_KEY", THEHIVE_KEY)
    fake = FakeTheHive(THEHIVE_KEY, organisation="soc")

    def build(url: str | None = None, **settings: Any) -> Ticketing:
        values = {
            "url": url or fake.url,
            "api_key": "env:CERTSOAR_TEST_THEHIVE_KEY",
            "organisation": "soc",
            "backoff": 0.01,
            **settings,
        }
        env = ConnectorEnv(name="thehive", state_dir=tmp_path)
        return TheHiveTicketing(TheHiveSettings.model_validate(values), env)

    def status(record: dict[str, Any]) -> str:
        """TheHive's status in certsoar's words: the default resolutions, else the certsoar status tag."""
        ended = {"FalsePositive": "released", "Other": "closed"}
        if record["status"] in ended:
            return ended[record["status"]]
        return next(t.split(":")[1] for t in record["tags"] if t.startswith("certsoar:"))

    def held() -> list[Held]:
        tickets = []
        for alert in sorted(fake.alerts.values(), key=lambda a: a["_createdAt"]):
            case = fake.cases.get(alert.get("caseId", ""))
            comments = fake.comments_of(alert["_id"]) + (fake.comments_of(case["_id"]) if case else [])
            texts = [alert["title"], alert["description"], *comments]
            tickets.append(Held(alert["_id"], frozenset({status(case or alert)}), texts))
        return tickets

    return TicketVendor(
        name="thehive",
        build=build,
        held=held,
        state=fake.state,
        fake=fake,
        secrets=[THEHIVE_KEY],
        unknown_id="~999999",
    )


TICKET_VENDORS: dict[str, Callable[[Any, Path], TicketVendor]] = {
    "local": local_vendor,
    "jira-cloud": jira_cloud_vendor,
    "jira-datacenter": jira_datacenter_vendor,
    "servicenow": servicenow_vendor,
    "thehive": thehive_vendor,
}
HTTP_VENDORS = frozenset({"jira-cloud", "jira-datacenter", "servicenow", "thehive"})
"""Vendors behind an HTTP API: the cases marked ``ticket_http`` are collected for these only."""
