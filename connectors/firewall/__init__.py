"""Firewalls: block the addresses of servers that present a rogue certificate."""

from __future__ import annotations

import ipaddress
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


def covers(blocked: set[str], address: str) -> bool:
    """An address or network is blocked when a listed entry equals or contains it.

    Interval sets refuse overlapping elements, so a host inside a listed network is not listed itself.
    """
    wanted = ipaddress.ip_network(address, strict=False)
    for entry in blocked:
        listed = ipaddress.ip_network(entry, strict=False)
        if listed.version == wanted.version and wanted.subnet_of(listed):  # type: ignore[arg-type]
            return True
    return False
