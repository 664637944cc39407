"""Allowlist entries (cert-domain §4 L1 step 2): SHA-256, SPKI SHA-256, or subject/issuer pattern + assets.

Every criterion an entry gives must hold. ``assets`` are the networks of the servers the entry vouches
for, matched against the alert's server only (the responder: Zeek ``id.resp_h``, Suricata ``dest_ip``,
generic ``dst_ip``), never its client: an attacker can copy a subject, and can talk to an internal
client, but cannot present from our server's address. An alert without a server (an AD CS issuance)
matches no entry that has assets. The config checked each entry when it loaded (certsoar.config).
An entry past its expiry suppresses nothing; the caller records that it would have matched.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from certsoar.config import AllowlistEntry, name_pattern_matches
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
    server: str | None
    """The address that presented the certificate (the TLS responder), when the alert names one."""


def _describe(entry: AllowlistEntry) -> str:
    return f"allowlist entry of {entry.owner} ({entry.reason})"


def _criteria(entry: AllowlistEntry, who: Identity) -> list[str] | None:
    """What matched, or None when a criterion the entry gives does not hold."""
    matched: list[str] = []
    for label, wanted, actual in (
        ("sha256", entry.sha256, who.sha256),
        ("spki_sha256", entry.spki_sha256, who.spki_sha256),
    ):
        if wanted:
            if actual != wanted:
                return None
            matched.append(label)
    for label, pattern, value in (("subject", entry.subject, who.subject), ("issuer", entry.issuer, who.issuer)):
        if pattern:
            if value is None or not name_pattern_matches(pattern, value):
                return None
            matched.append(f"{label} ~ {pattern!r}")
    if entry.assets:
        hit = _server_in_assets(entry, who.server)
        if hit is None:
            return None
        matched.append(hit)
    return matched


def _server_in_assets(entry: AllowlistEntry, server: str | None) -> str | None:
    if server is None:
        return None
    try:
        address = ipaddress.ip_address(server)
    except ValueError:
        return None
    for network in entry.assets:
        if address in ipaddress.ip_network(network):
            return f"server {server} in asset {network}"
    return None


def match_allowlist(
    entries: list[AllowlistEntry], who: Identity, *, now: datetime
) -> tuple[AllowlistMatch | None, list[str]]:
    """The first matching entry that has not expired, and notes (expired or unusable entries)."""
    notes: list[str] = []
    for entry in entries:
        matched = _criteria(entry, who)
        if not matched:
            continue
        expires = as_utc(entry.expires)
        if expires <= now:
            notes.append(
                f"{_describe(entry)} matches ({', '.join(matched)}) but expired on {entry.expires.isoformat()}: it no longer suppresses"
            )
            continue
        return AllowlistMatch(owner=entry.owner, reason=entry.reason, expires=expires, matched_on=matched), notes
    return None, notes
