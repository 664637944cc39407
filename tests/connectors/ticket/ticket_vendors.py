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

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.ticket import Ticketing
from certsoar.connectors.ticket.local import LocalTicketing, LocalTicketingSettings
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


TICKET_VENDORS: dict[str, Callable[[Any, Path], TicketVendor]] = {
    "local": local_vendor,
}
HTTP_VENDORS = frozenset[str]()
"""Vendors behind an HTTP API: the cases marked ``ticket_http`` are collected for these only."""
