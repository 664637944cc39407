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

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.ticket import Ticketing
from certsoar.connectors.ticket.jira import JiraSettings, JiraTicketing
from certsoar.connectors.ticket.local import LocalTicketing, LocalTicketingSettings
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


TICKET_VENDORS: dict[str, Callable[[Any, Path], TicketVendor]] = {
    "local": local_vendor,
    "jira-cloud": jira_cloud_vendor,
    "jira-datacenter": jira_datacenter_vendor,
}
HTTP_VENDORS = frozenset({"jira-cloud", "jira-datacenter"})
"""Vendors behind an HTTP API: the cases marked ``ticket_http`` are collected for these only."""
