"""Firewalls: block the addresses of servers that present a rogue certificate."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Firewall(Protocol):
    # read
    async def blocked(self) -> set[str]:
        """Every address currently in the block list (normalized text form)."""
        ...

    # write
    async def block(self, addresses: list[str], comment: str) -> None:
        """Add the addresses; those already present are left as they are."""
        ...
