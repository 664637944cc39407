"""Allowlist entries (cert-domain §4 L1 step 2): SHA-256, SPKI SHA-256, or subject/issuer pattern + assets.

Every criterion an entry gives must hold. A subject/issuer pattern applies only where the entry's
asset networks contain one of the alert's addresses: an attacker can copy a subject, not a server.
An entry past its expiry suppresses nothing; the caller records that it would have matched.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from certsoar.certs.fingerprints import SHA256_DIGITS, normalize_digest
from certsoar.config import AllowlistEntry
from certsoar.timeparse import as_utc


class AllowlistMatch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    owner: str
    reason: str
    expires: datetime
    matched_on: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class Identity:
    """What an allowlist entry is compared with."""

    sha256: str | None
    spki_sha256: str | None
    subject: str | None
    issuer: str | None
    addresses: tuple[str, ...]


def _hex(value: str) -> str | None:
    return normalize_digest(value, SHA256_DIGITS)


def _describe(entry: AllowlistEntry) -> str:
    return f"allowlist entry of {entry.owner} ({entry.reason})"


def _criteria(entry: AllowlistEntry, who: Identity, notes: list[str]) -> list[str] | None:
    """What matched, or None when a given criterion does not hold (or the entry is unusable)."""
    matched: list[str] = []
    if entry.sha256:
        if not who.sha256 or _hex(entry.sha256) != who.sha256:
            return None
        matched.append("sha256")
    if entry.spki_sha256:
        if not who.spki_sha256 or _hex(entry.spki_sha256) != who.spki_sha256:
            return None
        matched.append("spki_sha256")
    patterned = False
    for label, pattern, value in (("subject", entry.subject, who.subject), ("issuer", entry.issuer, who.issuer)):
        if not pattern:
            continue
        patterned = True
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            notes.append(f"{_describe(entry)}: {label} pattern {pattern!r} is not a valid regular expression ({exc}); ignored")
            return None
        if value is None or not compiled.search(value):
            return None
        matched.append(f"{label} ~ {pattern!r}")
    if patterned:
        if not entry.assets:
            notes.append(f"{_describe(entry)}: a subject/issuer pattern needs asset networks; ignored")
            return None
        hit = _asset_hit(entry, who.addresses, notes)
        if hit is None:
            return None
        matched.append(hit)
    elif entry.assets:
        hit = _asset_hit(entry, who.addresses, notes)
        if hit is None:
            return None
        matched.append(hit)
    return matched or None


def _asset_hit(entry: AllowlistEntry, addresses: tuple[str, ...], notes: list[str]) -> str | None:
    for network_text in entry.assets:
        try:
            network = ipaddress.ip_network(network_text, strict=False)
        except ValueError:
            notes.append(f"{_describe(entry)}: asset {network_text!r} is not an IP network; ignored")
            continue
        for address in addresses:
            try:
                if ipaddress.ip_address(address) in network:
                    return f"asset {network} contains {address}"
            except ValueError:
                continue
    return None


def match_allowlist(entries: list[AllowlistEntry], who: Identity, *, now: datetime) -> tuple[AllowlistMatch | None, list[str]]:
    """The first matching entry that has not expired, and notes (expired or unusable entries)."""
    notes: list[str] = []
    for entry in entries:
        matched = _criteria(entry, who, notes)
        if matched is None:
            continue
        expires = as_utc(entry.expires)
        if expires <= now:
            notes.append(f"{_describe(entry)} matches ({', '.join(matched)}) but expired on {entry.expires.isoformat()}: it no longer suppresses")
            continue
        return AllowlistMatch(owner=entry.owner, reason=entry.reason, expires=expires, matched_on=matched), notes
    return None, notes
