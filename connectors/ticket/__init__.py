"""Ticketing: one ticket per certificate, with comments as the case moves on."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

TicketStatus = Literal["open", "contained", "partially-contained", "released", "closed"]
"""open: escalated, nothing contained yet (or reopened by a new alert); contained: every containment the run
was approved for done and read back; partially-contained: approved, but some of it did not happen (refused
addresses, a step that did not run: the comment says which); released: containment taken back by a release
run (the comment says what could not be undone); closed: the case ended without containment (denied, with the
reason in a comment)."""

ENDED: frozenset[str] = frozenset({"closed", "released"})
"""Statuses of a case that has ended: a new alert for its certificate reopens it."""

Resolution = Literal["closed", "released"]


class Ticket(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    key: str = Field(description="Natural key: the certificate's SHA-256 (or another stable identity).")
    title: str
    body: str = Field("", description="The description it was opened with (why, the certificate, where seen).")
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
        """Open a ticket, or return the one with the same key unchanged: an ended one (``ENDED``) too, never a
        second ticket for the key; the caller reopens it with ``comment(..., status="open")``."""
        ...

    async def comment(self, ticket_id: str, text: str, status: TicketStatus | None = None) -> Ticket:
        """Add a comment; with ``status``, move the ticket to it in the same write."""
        ...

    async def close(self, ticket_id: str, text: str, resolution: Resolution = "closed") -> Ticket:
        """End the case: add ``text`` (why) and move the ticket to ``resolution`` in the same write."""
        ...


@runtime_checkable
class TicketListing(Protocol):
    """A ticket store certsoar can browse (``certsoar tickets``); the embedded one is."""

    def list(self, limit: int = 100, *, status: str | None = None) -> list[Ticket]: ...

    async def get(self, ticket_id: str) -> Ticket | None: ...


class Observables(BaseModel):
    """What a ticket is about, for a ticket system that records it as typed observables (TheHive)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hashes: list[str] = Field(default_factory=list, max_length=8, description="Certificate fingerprints, hex.")
    addresses: list[str] = Field(default_factory=list, max_length=256, description="Addresses of the servers.")
    names: list[str] = Field(default_factory=list, max_length=64, description="SNI and certificate names.")

    def __bool__(self) -> bool:
        return bool(self.hashes or self.addresses or self.names)


@runtime_checkable
class ObservableTicketing(Protocol):
    """A ticket system that takes the observables with the ticket; ``ticket.open`` then opens through it."""

    async def open_with_observables(
        self, key: str, title: str, body: str, severity: str, observables: Observables
    ) -> Ticket: ...
