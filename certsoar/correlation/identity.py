"""Canonical forms of distinguished names, accounts and host names, so different log sources compare equal.

Zeek and cryptography write DNs RFC 4514 style (``CN=a,O=b``), Suricata and AD CS OpenSSL/Windows style
(``C=US, O=b, CN=a`` in the opposite order, ``S=`` for state, ``E=`` for e-mail). DNs are parsed by
certsoar.certs.dn and compared as the multiset of their (attribute, value) pairs, case-insensitively, as
the certificate analysis compares them.
"""

from __future__ import annotations

from functools import lru_cache

from certsoar.addresses import canonical_ip
from certsoar.certs.dn import comparison_key, parse_dn, starts_with_attribute


@lru_cache(maxsize=8192)  # a sweep compares the same few thousand DNs once per certificate
def canonical_dn(text: str | None) -> str | None:
    """``C=US, O=Acme, CN=x`` and ``CN=x,O=Acme,C=US`` → the same string; None when it is not a DN."""
    if not text or not starts_with_attribute(text):
        return None
    attrs = parse_dn(text)
    if not attrs:
        return None
    return ";".join(sorted(f"{label.upper()}={value}" for label, value in comparison_key(attrs)))


def same_dn(a: str | None, b: str | None) -> bool:
    ca, cb = canonical_dn(a), canonical_dn(b)
    return ca is not None and ca == cb


def canonical_account(value: str | None) -> str | None:
    """``CORP\\Alice`` → ``corp\\alice``; UPNs keep their form, lower-cased; ``-`` (Windows for none) → None."""
    if value is None:
        return None
    text = str(value).strip().casefold()
    if not text or text in ("-", "n/a", "null"):
        return None
    return text


def account_name(value: str | None) -> str | None:
    """The account without its domain: ``corp\\alice`` → ``alice``, ``alice@corp.example`` → ``alice``."""
    account = canonical_account(value)
    if account is None:
        return None
    account = account.rsplit("\\", 1)[-1]
    return account.split("@", 1)[0] or None


def machine_of_account(value: str | None) -> str | None:
    """``CORP\\WS01$`` (a computer account) → ``ws01``; None for user accounts."""
    name = account_name(value)
    return name[:-1] if name and name.endswith("$") and len(name) > 1 else None


def canonical_host(value: str | None) -> str | None:
    """Host names lower-case without the trailing dot; IPs in their canonical form."""
    if value is None:
        return None
    text = str(value).strip().rstrip(".").casefold()
    if not text:
        return None
    try:
        return canonical_ip(text)
    except ValueError:
        return text


def short_host(value: str | None) -> str | None:
    """``ws01.corp.example`` → ``ws01``; IPs stay whole."""
    host = canonical_host(value)
    if host is None:
        return None
    try:
        return canonical_ip(host)
    except ValueError:
        return host.split(".", 1)[0]


def parse_server(value: str) -> tuple[str, int] | None:
    """``203.0.113.5:443`` or ``[2001:db8::1]:443`` → (ip, port); None when malformed."""
    text = value.strip()
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
    else:
        host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return None
    try:
        ip = canonical_ip(host)
    except ValueError:
        return None
    number = int(port)
    return (ip, number) if 0 <= number <= 65535 else None


def format_server(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
