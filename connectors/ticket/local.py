"""The embedded ticket store: tickets live in the run store, one per key (the certificate)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import datetime
from typing import ClassVar

from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.ticket import Resolution, Ticket, TicketStatus
from certsoar.errors import ConnectorRejected
from certsoar.store import RunStore, utcnow

SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,
    created TEXT NOT NULL,
    comments TEXT NOT NULL DEFAULT '[]'
);
"""


class LocalTicketingSettings(ConnectorSettings):
    pass


class LocalTicketing:
    settings_model: ClassVar[type[ConnectorSettings]] = LocalTicketingSettings

    def __init__(self, settings: LocalTicketingSettings, env: ConnectorEnv) -> None:
        self.store = env.store or RunStore.in_state_dir(env.state_dir)
        if not self.store.read_only:
            self.store.db.executescript(SCHEMA)

    def _row(self, where: str, value: str) -> Ticket | None:
        try:
            row = self.store.db.execute(f"SELECT * FROM tickets WHERE {where}=?", (value,)).fetchone()
        except sqlite3.OperationalError:  # a read-only store that never held a ticket
            return None
        if row is None:
            return None
        return Ticket(
            id=row["id"],
            key=row["key"],
            title=row["title"],
            body=row["body"],
            severity=row["severity"],
            status=row["status"],
            created=datetime.fromisoformat(row["created"]),
            comments=json.loads(row["comments"]),
            url=f"certsoar-ticket:{row['id']}",
        )

    async def find(self, key: str) -> Ticket | None:
        return self._row("key", key)

    async def open(self, key: str, title: str, body: str, severity: str) -> Ticket:
        with self.store.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO tickets (id, key, title, body, severity, status, created) VALUES (?,?,?,?,?,?,?)",
                (f"CS-{uuid.uuid4().hex[:8].upper()}", key, title, body, severity, "open", utcnow().isoformat()),
            )
        found = self._row("key", key)
        assert found is not None
        return found

    async def comment(self, ticket_id: str, text: str, status: TicketStatus | None = None) -> Ticket:
        with self.store.transaction() as db:
            row = db.execute("SELECT comments, status FROM tickets WHERE id=?", (ticket_id,)).fetchone()
            if row is None:
                raise ConnectorRejected(f"no ticket {ticket_id}", connector="ticket/local")
            comments = json.loads(row["comments"]) + [text]
            db.execute(
                "UPDATE tickets SET comments=?, status=? WHERE id=?",
                (json.dumps(comments), status or row["status"], ticket_id),
            )
        found = self._row("id", ticket_id)
        assert found is not None
        return found

    async def close(self, ticket_id: str, text: str, resolution: Resolution = "closed") -> Ticket:
        return await self.comment(ticket_id, text, resolution)

    def list(self, limit: int = 100, *, status: str | None = None) -> list[Ticket]:
        """The latest tickets, newest first (only those in ``status`` when given)."""
        where, args = ("WHERE status=?", (status,)) if status else ("", ())
        try:
            rows = self.store.db.execute(
                f"SELECT id FROM tickets {where} ORDER BY created DESC LIMIT ?", (*args, limit)
            ).fetchall()
        except sqlite3.OperationalError:  # a read-only store that never held a ticket
            return []
        return [t for t in (self._row("id", r["id"]) for r in rows) if t is not None]

    async def get(self, ticket_id: str) -> Ticket | None:
        return self._row("id", ticket_id)
