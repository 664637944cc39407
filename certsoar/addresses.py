"""IP addresses and networks as certsoar keeps them: parsed, then re-rendered from the parsed value.

``ipaddress`` accepts an IPv6 zone id (``fe80::1%eth0``) made of any characters, newlines
included, and ``str()`` gives that text back. Nothing here ever returns text from the input:
addresses are rebuilt from their integer value, so a zone id cannot travel on.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_ip(text: str) -> IpAddress:
    """One address, surrounding white space ignored, an IPv6 zone id dropped; ValueError otherwise."""
    parsed = ipaddress.ip_address(text.strip())
    return ipaddress.ip_address(parsed.packed)  # from the bytes: no zone id


@lru_cache(maxsize=4096)
def canonical_ip(text: str) -> str:
    """``parse_ip`` as text: the compressed, lower-case form. Memoized: a log search gives the same few addresses
    thousands of times (a bounded cache; text that is no address raises every time, never cached)."""
    return str(parse_ip(text))


def parse_network(text: str, *, strict: bool = True) -> IpNetwork:
    """One address or CIDR network written exactly, host bits clear; ValueError for anything else
    (white space, zone ids, host bits set: refuse rather than guess). ``strict=False`` clears host bits."""
    if not text or text.strip() != text:
        raise ValueError("surrounding white space")
    if "%" in text:
        raise ValueError("an IPv6 zone id has no meaning in a block list")
    network = ipaddress.ip_network(text, strict=strict)
    return ipaddress.ip_network((network.network_address.packed, network.prefixlen))


def network_text(network: IpNetwork) -> str:
    """Normalized text: a bare address for a single host, CIDR otherwise (rebuilt from the value)."""
    address = ipaddress.ip_address(network.network_address.packed)
    if network.prefixlen == network.max_prefixlen:
        return str(address)
    return f"{address}/{network.prefixlen}"
