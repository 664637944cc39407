"""What may be blocked: one pure decision, used by the firewall action and again by each firewall
connector before it writes.

Never blocked, whatever a playbook or an alert says: loopback, unspecified, multicast, broadcast,
link-local and reserved space (IPv4 and IPv6), IPv4-mapped and IPv4-compatible IPv6 (a server
never has one on the wire; block the IPv4 address), every network the configuration protects
(``protected_networks``: DNS servers, domain controllers, the SIEM, the firewall itself), and
networks wider than the configured limit. A request that overlaps a never-blocked network is
refused whole: a network that contains a protected address is refused too.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from certsoar.addresses import IpNetwork, parse_network

if TYPE_CHECKING:
    from certsoar.config import Config

DEFAULT_WIDEST_PREFIX_V4 = 24
DEFAULT_WIDEST_PREFIX_V6 = 48

_NEVER_BLOCKED: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "unspecified ('this network')"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("240.0.0.0/4", "reserved"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::ffff:0:0/96", "IPv4-mapped IPv6 (block the IPv4 address)"),
    ("::/96", "IPv4-compatible IPv6 (block the IPv4 address)"),
    ("::/8", "reserved"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local (deprecated)"),
    ("ff00::/8", "multicast"),
)
NEVER_BLOCKED: tuple[tuple[IpNetwork, str], ...] = tuple(
    (ipaddress.ip_network(cidr), reason) for cidr, reason in _NEVER_BLOCKED
)


@dataclass(frozen=True)
class BlockingPolicy:
    """The configuration's part of the decision (``protected_networks`` and ``blocking``)."""

    protected: tuple[IpNetwork, ...] = ()
    widest_prefix_v4: int = DEFAULT_WIDEST_PREFIX_V4
    widest_prefix_v6: int = DEFAULT_WIDEST_PREFIX_V6

    @classmethod
    def from_config(cls, config: "Config") -> "BlockingPolicy":
        return cls(
            protected=tuple(parse_network(cidr) for cidr in config.protected_networks),
            widest_prefix_v4=config.blocking.widest_prefix_v4,
            widest_prefix_v6=config.blocking.widest_prefix_v6,
        )


def refusal(address: str, policy: BlockingPolicy) -> str | None:
    """Why ``address`` (an address or CIDR network) must not be blocked, or None when it may be."""
    try:
        network = parse_network(address)
    except ValueError as exc:
        return f"not an IP address or network ({exc})"
    return network_refusal(network, policy)


def network_refusal(network: IpNetwork, policy: BlockingPolicy) -> str | None:
    """``refusal`` for a parsed network: every kind of reason that applies, the first of each."""
    reasons: list[str] = []
    widest = policy.widest_prefix_v4 if network.version == 4 else policy.widest_prefix_v6
    if network.prefixlen < widest:
        reasons.append(f"wider than /{widest} (blocking.widest_prefix_v{network.version})")
    never = next(((n, why) for n, why in NEVER_BLOCKED if _overlap(network, n)), None)
    if never is not None:
        reasons.append(f"{never[1]}: overlaps {never[0]}, which is never blocked")
    protected = next((p for p in policy.protected if _overlap(network, p)), None)
    if protected is not None:
        reasons.append(f"protected network {protected} (protected_networks)")
    return "; ".join(reasons) or None


def _overlap(a: IpNetwork, b: IpNetwork) -> bool:
    return a.version == b.version and a.overlaps(b)  # type: ignore[arg-type]
