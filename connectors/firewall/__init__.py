"""Firewalls: block the addresses of servers that present a rogue certificate."""

from __future__ import annotations

import ipaddress
from typing import Protocol, runtime_checkable

from certsoar.addresses import IpNetwork


@runtime_checkable
class Firewall(Protocol):
    # read
    async def blocked(self) -> set[str]:
        """Every address currently in the block list (normalized text form)."""
        ...

    # write
    async def block(self, addresses: list[str], comment: str) -> None:
        """Add the addresses; those already present are left as they are. An address the
        configured ``BlockingPolicy`` refuses (``certsoar.blocking``) raises ConnectorRejected
        and nothing is written."""
        ...

    async def unblock(self, addresses: list[str]) -> None:
        """Remove these entries (as ``block`` listed them); absent ones are left as they are. A wider
        listed network that contains one is not touched."""
        ...

    async def is_blocked(self, address: str) -> bool:
        """``address`` (normalized) is an entry of the block list itself: what ``unblock`` removes."""
        ...


__all__ = ["Firewall", "IpNetwork", "covers", "network_covers"]


def network_covers(outer: IpNetwork, inner: IpNetwork) -> bool:
    """``outer`` equals or contains ``inner`` (never across IP versions)."""
    return outer.version == inner.version and inner.subnet_of(outer)  # type: ignore[arg-type]


def covers(blocked: set[str], address: str) -> bool:
    """An address or network is blocked when a listed entry equals or contains it.

    Interval sets refuse overlapping elements, so a host inside a listed network is not listed itself.
    """
    wanted = ipaddress.ip_network(address, strict=False)
    return any(network_covers(ipaddress.ip_network(entry, strict=False), wanted) for entry in blocked)
