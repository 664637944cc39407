"""Canonical forms of distinguished names, accounts and host names, so different log sources compare equal.

Zeek and cryptography write DNs RFC 4514 style (``CN=a,O=b``), Suricata and AD CS OpenSSL/Windows style
(``C=US, O=b, CN=a`` in the opposite order, ``S=`` for state, ``E=`` for e-mail). A DN is compared as the
multiset of its (attribute, value) pairs, case-insensitively.
"""

from __future__ import annotations

import ipaddress
import re

_ATTRIBUTE_ALIASES = {
    "S": "ST", "STATEORPROVINCENAME": "ST", "E": "EMAILADDRESS", "EMAIL": "EMAILADDRESS",
    "COMMONNAME": "CN", "ORGANIZATIONNAME": "O", "ORGANIZATIONALUNITNAME": "OU", "COUNTRYNAME": "C",
    "LOCALITYNAME": "L", "2.5.4.3": "CN", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST",
    "1.2.840.113549.1.9.1": "EMAILADDRESS", "DOMAINCOMPONENT": "DC", "0.9.2342.19200300.100.1.25": "DC",
}
_ATTRIBUTE = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$|^\d+(?:\.\d+)+$")


def _split_unescaped(text: str, separators: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    quoted = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char == '"':
            quoted = not quoted
            current.append(char)
        elif char in separators and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _unescape_value(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return re.sub(r"\\(.)", r"\1", value)


def canonical_dn(text: str | None) -> str | None:
    """``C=US, O=Acme, CN=x`` and ``CN=x,O=Acme,C=US`` → the same string; None when it is not a DN."""
    if not text or not text.strip():
        return None
    body = text.strip()
    if body.startswith("/"):  # OpenSSL -subj form: /C=US/O=Acme/CN=x
        pieces = [p for p in _split_unescaped(body[1:], "/") if p]
    else:
        pieces = [p for p in _split_unescaped(body, ",;+") if p.strip()]
    pairs: list[str] = []
    for piece in pieces:
        name, sep, value = piece.partition("=")
        name = name.strip()
        if not sep or not _ATTRIBUTE.match(name):
            if pairs:  # an unescaped comma inside a value (Windows renders "O=Acme, Inc." unescaped)
                pairs[-1] += "," + re.sub(r"\\(.)", r"\1", piece.rstrip()).casefold()
                continue
            return None
        attribute = _ATTRIBUTE_ALIASES.get(name.upper(), name.upper())
        pairs.append(f"{attribute}={_unescape_value(value).casefold()}")
    return ";".join(sorted(pairs)) if pairs else None


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
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


def short_host(value: str | None) -> str | None:
    """``ws01.corp.example`` → ``ws01``; IPs stay whole."""
    host = canonical_host(value)
    if host is None:
        return None
    try:
        ipaddress.ip_address(host)
        return host
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
        ip = str(ipaddress.ip_address(host))
    except ValueError:
        return None
    number = int(port)
    return (ip, number) if 0 <= number <= 65535 else None


def format_server(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
