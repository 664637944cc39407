"""Host names and addresses a certificate covers, and which of them lie outside the organization."""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Sequence

_LABEL = re.compile(r"^[\w-]{1,63}$", re.UNICODE)


def decode_idna(name: str) -> str:
    """Decode ``xn--`` labels to Unicode; labels that do not decode stay as written."""
    if "xn--" not in name.lower():
        return name  # no label to decode (most names): a sweep normalizes several per certificate
    labels = []
    for label in name.split("."):
        if label.lower().startswith("xn--"):
            try:
                label = label.encode("ascii").decode("idna")
            except (UnicodeError, ValueError):
                pass
        labels.append(label)
    return ".".join(labels)


def normalize_host(name: str) -> str:
    return decode_idna(name.strip().rstrip(".")).lower()


def is_ip(text: str) -> bool:
    text = text.strip()
    if not text or (":" not in text and not text[-1].isdigit()):
        return False  # no IPv6 colon and no IPv4 last digit: a name (decided without raising)
    try:
        ipaddress.ip_address(text.strip())
    except ValueError:
        return False
    return True


def looks_like_host(text: str) -> bool:
    """A DNS name with at least two labels (``*.`` allowed first), not an IP address."""
    candidate = text.strip().rstrip(".")
    if not candidate or " " in candidate or is_ip(candidate):
        return False
    labels = candidate.split(".")
    if labels[0] == "*":
        labels = labels[1:]
    return len(labels) >= 2 and all(_LABEL.match(label) and not label.startswith("-") for label in labels)


def covered_names(dns: Iterable[str], ips: Iterable[str], subject_cn: str | None) -> tuple[list[str], list[str]]:
    """The names and addresses a certificate covers, first occurrence kept, in linear time (a hostile
    certificate carries 100 000+ SANs): DNS SANs normalized plus a host-like CN, IP SANs plus an
    IP-address CN (Covenant writes its server's address there)."""
    names = dict.fromkeys(host for host in map(normalize_host, dns) if host)
    addresses = dict.fromkeys(address for address in (ip.strip() for ip in ips) if address)
    if subject_cn and normalize_host(subject_cn) in names and not is_ip(subject_cn):
        pass  # the CN repeats a DNS SAN (most certificates): nothing to add, whether it looks like a host or not
    elif subject_cn and looks_like_host(subject_cn):
        names.setdefault(normalize_host(subject_cn))
    elif subject_cn and is_ip(subject_cn):
        addresses.setdefault(subject_cn.strip())
    return list(names), list(addresses)


def inside(name: str, domains: Sequence[str]) -> bool:
    host = name[2:] if name.startswith("*.") else name
    for d in domains:  # a loop, not any(): a revocation sweep asks this of every name of 100 000 certificates
        if host == d or host.endswith("." + d):
            return True
    return False


def outside_domains(names: list[str], domains: list[str]) -> list[str]:
    """Names not equal to or below any organization domain (IP addresses never count as names)."""
    org = _normalized_domains(tuple(domains))
    return [n for n in names if not is_ip(n) and not inside(n, org)]


@functools.lru_cache(maxsize=64)
def _normalized_domains(domains: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(normalize_host(d) for d in domains if d.strip())
