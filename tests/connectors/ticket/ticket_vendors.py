"""The ticket connectors for the conformance suite (test_ticket_conformance.py), each with a way to read the
vendor's own state behind the connector's back.

A vendor gives ``build(**settings)`` (the connector), ``held()`` (the tickets the vendor holds, read without the
connector: ``Held`` per ticket, its texts as a reader of that vendor sees them and its status in certsoar's
words) and ``state()`` (a snapshot that changes whenever the vendor is written to). An HTTP vendor also has a
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

from fake_servicenow import FakeServiceNow
from fake_thehive import FakeTheHive

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.ticket import Ticketing
from certsoar.connectors.ticket.local import LocalTicketing, LocalTicketingSettings
from certsoar.connectors.ticket.servicenow import ServiceNowSettings, ServiceNowTicketing
from certsoar.connectors.ticket.thehive import TheHiveSettings, TheHiveTicketing
from certsoar.store import RunStore


@dataclass(frozen=True)
class Held:
    """One ticket as the vendor keeps it."""

    id: str
    status: str
    """In certsoar's words (open, contained, …, closed), translated from the vendor's own status."""
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
            Held(id=r["id"], status=r["status"], texts=[r["title"], r["body"], *json.loads(r["comments"])])
            for r in rows()
        ]

    return TicketVendor(
        name="local",
        build=build,
        held=held,
        state=lambda: ([tuple(r) for r in rows()], store.db.total_changes),
        close=store.close,
    )


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
            Held(r["sys_id"], status(r), [r["short_description"], r["description"], *fake.notes(r["sys_id"])])
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
            tickets.append(Held(alert["_id"], status(case or alert), texts))
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
    "servicenow": servicenow_vendor,
    "thehive": thehive_vendor,
}
HTTP_VENDORS = frozenset({"servicenow", "thehive"})
"""Vendors behind an HTTP API: the cases marked ``ticket_http`` are collected for these only."""
