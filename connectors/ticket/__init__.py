"""Ticketing: one ticket per certificate, with comments as the case moves on."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


class Ticket(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    key: str = Field(description="Natural key: the certificate's SHA-256 (or another stable identity).")
    title: str
    severity: str
    status: str
    url: str | None = None
    created: datetime
    comments: list[str] = Field(default_factory=list)


@runtime_checkable
class Ticketing(Protocol):
    # read
    async def find(self, key: str) -> Ticket | None: ...

    # write
    async def open(self, key: str, title: str, body: str, severity: str) -> Ticket:
        """Open a ticket, or return the open one with the same key unchanged."""
        ...

    async def comment(self, ticket_id: str, text: str) -> Ticket: ...
