"""What may be blocked: one pure decision, used by the firewall action and again by each firewall
connector before it writes.

Never blocked, whatever a playbook or an alert says: loopback, unspecified, multicast, broadcast,
link-local and reserved space (IPv4 and IPv6), IPv4-mapped and IPv4-compatible IPv6 (a server
never has one on the wire; block the IPv4 address), every network the configuration protects
(``protected_networks``: DNS servers, domain controllers, the SIEM, the firewall itself), and
networks wider than the configured limit. A request that overlaps a never-blocked network is
refused whole: a network that contains a protected address is refused too.

IPv6 forms that carry an IPv4 address (6to4 ``2002::/16``, NAT64 ``64:ff9b::/96``, Teredo
``2001::/32`` with its server and its obfuscated client) are judged by that address as well: a
NAT64 address of the DNS server or of 127.0.0.1 is refused like the IPv4 address itself. A
protected network written in an IPv4-mapped form protects the IPv4 network too.

Names (for a proxy that blocks by name: the SNI and the certificate's DNS names) are judged too: a name is
blocked only in its canonical form (``canonical_name``: lower case, IDNA ``xn--`` labels, no trailing dot,
a wildcard only as a whole leftmost label). Never blocked: an IP literal (the firewall's job), a single label,
a public suffix of the Public Suffix List (``com``, ``co.uk``, ``github.io``) or a wildcard directly over one
(``*.com``: it would block a whole registry), and any name at or below a domain the configuration protects
(``protected_names``) or owns (``organization.domains``): a rogue certificate naming ``login.corp.example``
is contained at the firewall, never by cutting the real site off at the proxy.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import idna
from publicsuffixlist import PublicSuffixList

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


# (IPv6 prefix, bit offset of the IPv4 address, XOR mask, name): where IPv6 carries an IPv4 address.
_EMBEDDINGS: tuple[tuple[ipaddress.IPv6Network, int, int, str], ...] = tuple(
    (ipaddress.IPv6Network(prefix), offset, mask, name)
    for prefix, offset, mask, name in (
        ("::ffff:0:0/96", 96, 0, "IPv4-mapped"),
        ("::/96", 96, 0, "IPv4-compatible"),
        ("2002::/16", 16, 0, "6to4"),
        ("64:ff9b::/96", 96, 0, "NAT64"),
        ("2001::/32", 32, 0, "Teredo server"),
        ("2001::/32", 96, 0xFFFFFFFF, "Teredo client"),
    )
)


def embedded_ipv4(network: IpNetwork) -> list[tuple[ipaddress.IPv4Network, str]]:
    """The IPv4 networks an IPv6 network carries (6to4, NAT64, Teredo, mapped, compatible), with the form's
    name; the bits a wide network leaves open make the IPv4 network wide too."""
    if not isinstance(network, ipaddress.IPv6Network):
        return []
    found: list[tuple[ipaddress.IPv4Network, str]] = []
    for prefix, offset, mask, name in _EMBEDDINGS:
        if not network.overlaps(prefix):
            continue
        part = network if network.prefixlen >= prefix.prefixlen else prefix
        value = (int(part.network_address) >> (128 - offset - 32)) & 0xFFFFFFFF
        known_bits = min(max(part.prefixlen - offset, 0), 32)
        found.append((ipaddress.IPv4Network((value ^ mask, known_bits), strict=False), name))
    return found


@dataclass(frozen=True)
class BlockingPolicy:
    """The configuration's part of the decision (``protected_networks`` and ``blocking``)."""

    protected: tuple[IpNetwork, ...] = ()
    protected_names: tuple[str, ...] = ()
    widest_prefix_v4: int = DEFAULT_WIDEST_PREFIX_V4
    widest_prefix_v6: int = DEFAULT_WIDEST_PREFIX_V6

    @classmethod
    def from_config(cls, config: "Config") -> "BlockingPolicy":
        protected = [parse_network(cidr) for cidr in config.protected_networks]
        # A protected network written as IPv4-mapped IPv6 protects the IPv4 network it names.
        protected += [v4 for network in protected for v4, name in embedded_ipv4(network) if name == "IPv4-mapped"]
        return cls(
            protected=tuple(dict.fromkeys(protected)),
            protected_names=tuple(dict.fromkeys([*config.protected_names, *config.organization.domains])),
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
    for v4, form in embedded_ipv4(network):
        why = _never_or_protected(v4, policy)
        if why is not None:
            reasons.append(f"carries IPv4 {v4} ({form}): {why}")
            break
    return "; ".join(reasons) or None


def _never_or_protected(network: IpNetwork, policy: BlockingPolicy) -> str | None:
    never = next((why for n, why in NEVER_BLOCKED if _overlap(network, n)), None)
    if never is not None:
        return f"{never}, never blocked"
    protected = next((p for p in policy.protected if _overlap(network, p)), None)
    return f"protected network {protected} (protected_networks)" if protected is not None else None


def _overlap(a: IpNetwork, b: IpNetwork) -> bool:
    return a.version == b.version and a.overlaps(b)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ names

MAX_NAME_CHARS = 253
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


@functools.cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # the list the package ships: no download


def canonical_name(text: str) -> str:
    """``text`` as a DNS name in the one form a name block is keyed and written by (ValueError when it is none):
    lower case, internationalized labels in their ``xn--`` form, no trailing dot, ``*.`` allowed only in front."""
    if not isinstance(text, str) or not text or len(text) > 4 * MAX_NAME_CHARS:
        raise ValueError("not a DNS name")
    name = text.rstrip(".").lower()
    wildcard = name.startswith("*.")
    labels = name.removeprefix("*.").split(".")
    try:
        labels = [label if label.isascii() else idna.encode(label, uts46=True).decode("ascii") for label in labels]
    except idna.IDNAError as exc:
        raise ValueError(f"not a DNS name ({exc})") from None
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError("not a DNS name (labels of letters, digits and '-', a wildcard only as '*.' in front)")
    canonical = ("*." if wildcard else "") + ".".join(labels)
    if len(canonical) > MAX_NAME_CHARS:
        raise ValueError(f"longer than {MAX_NAME_CHARS} characters")
    return canonical


def name_refusal(name: str, policy: BlockingPolicy) -> str | None:
    """Why the DNS name ``name`` must not be blocked by name (at a proxy), or None when it may be."""
    try:
        canonical = canonical_name(name)
    except ValueError as exc:
        return str(exc)
    base = canonical.removeprefix("*.")
    try:
        parse_network(base)
        return "an IP address, not a name (addresses are blocked at the firewall)"
    except ValueError:
        pass
    wildcard = canonical != base
    if "." not in base and not wildcard:
        return "a single label: it names a host on every network, not one server"
    if _suffixes().is_public(base):
        what = "a wildcard over a public suffix" if wildcard else "a public suffix"
        return f"{what} ({base}): it would block every site registered under it"
    protected = next((d for d in policy.protected_names if _at_or_below(base, d)), None)
    if protected is not None:
        return f"at or below protected domain {protected} (protected_names, organization.domains)"
    covered = next((d for d in policy.protected_names if canonical != base and _at_or_below(d, base)), None)
    if covered is not None:
        return f"the wildcard covers protected domain {covered} (protected_names, organization.domains)"
    return None


def _at_or_below(name: str, domain: str) -> bool:
    return name == domain or name.endswith("." + domain)
