"""Firewalls: block the addresses of servers that present a rogue certificate."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from certsoar.addresses import IpNetwork, network_text, parse_network
from certsoar.blocking import network_refusal
from certsoar.errors import ConnectorRejected

if TYPE_CHECKING:
    from certsoar.connectors import ConnectorEnv


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


__all__ = ["Firewall", "IpNetwork", "blockable", "covers", "network_covers", "parse_address"]


def parse_address(text: str) -> IpNetwork:
    """One address or CIDR network; host bits must be clear, no zone id. Anything else is refused.
    Only the parsed value is ever rendered into a vendor's request (``network_text``), never ``text``."""
    if not isinstance(text, str):
        raise ConnectorRejected(f"not an IP address or network: {text!r}")
    try:
        return parse_network(text)
    except ValueError as exc:
        raise ConnectorRejected(f"not an IP address or network: {text!r} ({exc})") from None


def blockable(addresses: list[str], env: "ConnectorEnv") -> list[IpNetwork]:
    """The addresses parsed, each one checked again against the blocking policy before a connector writes:
    ConnectorRejected when any must never be blocked, so that nothing of the request reaches the vendor."""
    networks = [parse_address(text) for text in addresses]
    for network in networks:
        reason = network_refusal(network, env.blocking)
        if reason is not None:
            raise ConnectorRejected(f"refusing to block {network_text(network)}: {reason}", connector=env.name)
    return networks


def network_covers(outer: IpNetwork, inner: IpNetwork) -> bool:
    """``outer`` equals or contains ``inner`` (never across IP versions)."""
    return outer.version == inner.version and inner.subnet_of(outer)  # type: ignore[arg-type]


def covers(blocked: set[str], address: str) -> bool:
    """An address or network is blocked when a listed entry equals or contains it.

    Interval sets refuse overlapping elements, so a host inside a listed network is not listed itself.
    """
    wanted = ipaddress.ip_network(address, strict=False)
    return any(network_covers(ipaddress.ip_network(entry, strict=False), wanted) for entry in blocked)
