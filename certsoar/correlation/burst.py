"""E2, certificate-creation burst: incidents from SIEM events, renewal/automation/duplicate exclusion,
unrelated groups, and the sliding-window decision (cert-domain §4 E2).

Two incidents are related when they share a host, a requester account or a subject DN; an unknown value
relates to nothing. Incidents linked through any chain of shared values form one group; the number of
groups inside a window is the number of *unrelated* incidents. A window is counted only if it contains the
alert's time, so the question answered is "is this certificate part of a burst".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from certsoar.connectors.siem import SiemEvent
from certsoar.correlation.commands import command_subject, creation_command
from certsoar.correlation.identity import account_name, canonical_account, canonical_dn, machine_of_account, short_host

IncidentKind = Literal["adcs-4887", "command", "first-seen-untrusted"]
DUPLICATE_SPAN = timedelta(minutes=2)
TRUSTED_STATUS = "ok"


class Incident(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    time: datetime
    host: str | None = Field(
        default=None,
        description="Host that created it (process host, machine-account requester) or the server presenting it.",
    )
    requester: str | None = Field(default=None, description="Account that requested or created it.")
    subject: str | None = Field(default=None, description="Subject DN as logged (or named on the command line).")
    kind: IncidentKind
    evidence: str = Field(
        description="What was seen: the command line, the AD CS request, the certificate and why untrusted."
    )
    source: str = Field(description="Log source of the event.")
    key_id: str | None = Field(
        default=None, description="Key identity (SPKI SHA-256 or AD CS SubjectKeyIdentifier) for renewal detection."
    )
    certificate: str | None = Field(default=None, description="Certificate id (SHA-256, SHA-1 or serial) when known.")
    template: str | None = None
    group: int | None = Field(
        default=None, description="Unrelated-group number within the decisive window (same number = related)."
    )


@dataclass(frozen=True)
class BurstDecision:
    burst: bool
    reason: str
    unrelated_in_window: int
    unrelated_in_short_window: int
    window_incidents: list[Incident]


# --- incidents from events ---------------------------------------------------------------------------------


def _adcs_incident(event: SiemEvent) -> Incident | None:
    if event.event_code != "4887":
        return None
    if event.disposition not in (None, "", "3"):
        return None
    certificate = event.serial or event.sha256 or event.sha1
    return Incident(
        time=event.time,
        host=machine_of_account(event.requester),
        requester=event.requester,
        subject=event.subject,
        kind="adcs-4887",
        evidence=f"AD CS issued request {event.request_id or '?'} (template {event.template or '?'}, serial {event.serial or '?'}) on {event.host or 'the CA'}",
        source=event.source,
        key_id=event.spki or event.subject_key_id,
        certificate=certificate,
        template=event.template,
    )


def _command_incident(event: SiemEvent) -> Incident | None:
    if event.kind == "script":  # PowerShell 4104 script block: cmdlets count anywhere
        label = creation_command(event.command, script=True)
    elif event.kind == "process":
        label = creation_command(event.command) or creation_command(event.image)
    else:
        return None
    if label is None:
        return None
    return Incident(
        time=event.time,
        host=event.host,
        requester=event.requester,
        subject=command_subject(event.command),
        kind="command",
        evidence=f"{label}: {(event.command or event.image or '')[:300]}",
        source=event.source,
    )


def _certificate_id(event: SiemEvent) -> str | None:
    return (
        event.sha256
        or event.sha1
        or (f"serial:{event.serial}|{canonical_dn(event.issuer) or ''}" if event.serial else None)
    )


def _badly_validated(event: SiemEvent) -> bool:
    return bool(event.validation_status) and event.validation_status.strip().casefold() != TRUSTED_STATUS


def _self_issued(event: SiemEvent) -> bool:
    return bool(event.subject and event.issuer) and canonical_dn(event.subject) == canonical_dn(event.issuer)


def _chain_ca(event: SiemEvent) -> bool:
    """Logged as a CA sent in a chain, below the endpoint's own certificate: a server sending its public or
    corporate root, not a certificate made for it. A record that does not say (ssl.log, Suricata, most SIEM
    field maps) is not one; a self-signed leaf with CA:TRUE (``openssl req -x509``) served as the host's is not."""
    return event.host_cert is False and event.ca is True


def _untrusted_sighting(event: SiemEvent) -> bool:
    return (_badly_validated(event) or _self_issued(event)) and not _chain_ca(event)


def _untrusted_why(events: Sequence[SiemEvent]) -> str | None:
    for event in events:
        if _badly_validated(event):
            return f"validation_status '{event.validation_status}'"
    for event in events:
        if _self_issued(event):
            return "subject equals issuer"
    return None


def _first_seen_incidents(events: Sequence[SiemEvent]) -> list[Incident]:
    sightings_of = [e for e in events if e.kind in ("x509", "tls")]
    # only a certificate with an untrusted sighting makes an incident: the others (most, on a busy network:
    # E2 reads a month of certificates around every alert) are never grouped
    # a certificate logged only as a CA in chains is no creation by itself (the leaf it signed is judged on its own)
    untrusted = {_certificate_id(e) for e in sightings_of if _untrusted_sighting(e)}
    untrusted.discard(None)
    by_certificate: dict[str, list[SiemEvent]] = {}
    for event in sightings_of if untrusted else ():
        certificate = _certificate_id(event)
        if certificate is not None and certificate in untrusted:
            by_certificate.setdefault(certificate, []).append(event)
    found: list[Incident] = []
    for certificate, sightings in by_certificate.items():
        sightings.sort(key=lambda e: e.time)
        why = _untrusted_why(sightings)
        if why is None:
            continue
        first = sightings[0]
        server = next((e.dst_ip for e in sightings if e.dst_ip), None)
        subject = next((e.subject for e in sightings if e.subject), None)
        found.append(
            Incident(
                time=first.time,
                host=server,
                subject=subject,
                kind="first-seen-untrusted",
                evidence=f"certificate {certificate} first seen{f' on {server}' if server else ''}: {why}",
                source=first.source,
                key_id=next((e.spki for e in sightings if e.spki), None),
                certificate=certificate,
            )
        )
    return found


def incidents_from_events(events: Sequence[SiemEvent]) -> list[Incident]:
    """Creation incidents in time order: AD CS 4887 issued, creation commands, first-seen untrusted certificates."""
    incidents = [i for e in events for i in (_adcs_incident(e), _command_incident(e)) if i is not None]
    incidents.extend(_first_seen_incidents(events))
    return sorted(incidents, key=lambda i: i.time)


def earlier_lookups(recent: Sequence[SiemEvent]) -> tuple[set[str], dict[str, set[str]]]:
    """What E2 must read of the span before its window, given the window's events: the key ids (SPKI) of the
    window's incidents, whose earlier x509 sightings may make one a renewal, and the identities of the window's
    certificates that an earlier sighting may date or turn into an incident (untrusted in the window, or showing
    one of those keys). Nothing else from before the window can change what is counted or excluded in it: an
    earlier incident is never in the window, its duplicates are of the same certificate (AD CS events are all
    read), and a renewal needs the same subject and key."""
    incidents = incidents_from_events(recent)
    keys = {i.key_id for i in incidents if i.key_id and i.subject}
    identities: dict[str, set[str]] = {}
    for event in recent:
        if event.kind in ("x509", "tls") and (
            _untrusted_sighting(event) or (event.spki is not None and event.spki in keys)
        ):
            add_identity(identities, event)
    return keys, identities


def add_identity(identities: dict[str, set[str]], event: SiemEvent) -> None:
    """The indicator that finds every sighting grouped with ``event`` (``_certificate_id``; by serial, any issuer)."""
    kind, value = (
        ("sha256", event.sha256) if event.sha256 else ("sha1", event.sha1) if event.sha1 else ("serial", event.serial)
    )
    if value:
        identities.setdefault(kind, set()).add(value)


# --- exclusions ----------------------------------------------------------------------------------------------


def describe(incident: Incident) -> str:
    who = ", ".join(
        part
        for part in (
            f"host {incident.host}" if incident.host else "",
            f"requester {incident.requester}" if incident.requester else "",
            f"subject {incident.subject}" if incident.subject else "",
        )
        if part
    )
    return f"{incident.kind} at {incident.time.isoformat()} ({who or 'no identity'})"


def automation_match(incident: Incident, automation: Sequence[str]) -> str | None:
    """The automation entry (account or template) an incident comes from, if any."""
    requester = canonical_account(incident.requester)
    for entry in automation:
        wanted = canonical_account(entry)
        if wanted is None:
            continue
        if requester and (
            requester == wanted or ("\\" not in wanted and "@" not in wanted and account_name(requester) == wanted)
        ):
            return entry
        if incident.template and incident.template.casefold() == wanted:
            return entry
    return None


def _duplicate_key(incident: Incident) -> tuple[object, ...]:
    if incident.kind == "adcs-4887" and incident.certificate:
        return ("adcs", incident.certificate)
    return (
        incident.kind,
        short_host(incident.host),
        canonical_account(incident.requester),
        canonical_dn(incident.subject),
        incident.evidence,
    )


@dataclass(frozen=True)
class Exclusion:
    incident: Incident
    why: str

    def __str__(self) -> str:
        return f"{describe(self.incident)}: {self.why}"


def exclude(
    incidents: Sequence[Incident], automation: Sequence[str], renewal_window: timedelta
) -> tuple[list[Incident], list[Exclusion]]:
    """Drop allowlisted automation, duplicates (same event logged twice) and renewals (same subject + key)."""
    kept: list[Incident] = []
    excluded: list[Exclusion] = []
    last_by_duplicate: dict[tuple[object, ...], Incident] = {}
    last_by_key: dict[tuple[str, str], Incident] = {}
    for incident in sorted(incidents, key=lambda i: i.time):
        entry = automation_match(incident, automation)
        if entry is not None:
            excluded.append(Exclusion(incident, f"allowlisted automation '{entry}'"))
            continue
        dup = _duplicate_key(incident)
        previous = last_by_duplicate.get(dup)
        if previous is not None and (incident.kind == "adcs-4887" or incident.time - previous.time <= DUPLICATE_SPAN):
            excluded.append(Exclusion(incident, f"duplicate of the one at {previous.time.isoformat()}"))
            continue
        last_by_duplicate[dup] = incident
        subject = canonical_dn(incident.subject)
        if subject and incident.key_id:
            key = (subject, incident.key_id.casefold())
            earlier = last_by_key.get(key)
            last_by_key[key] = incident
            if earlier is not None and incident.time - earlier.time <= renewal_window:
                excluded.append(Exclusion(incident, f"renewal (same subject and key as {earlier.time.isoformat()})"))
                continue
        kept.append(incident)
    return kept, excluded


# --- unrelated groups and the decision --------------------------------------------------------------------------


def _links(incident: Incident) -> set[tuple[str, str]]:
    links: set[tuple[str, str]] = set()
    host = short_host(incident.host)
    if host:
        links.add(("host", host))
    account = account_name(incident.requester)
    if account:
        links.add(("requester", account))
    subject = canonical_dn(incident.subject)
    if subject:
        links.add(("subject", subject))
    return links


def unrelated_groups(incidents: Sequence[Incident]) -> list[list[Incident]]:
    """Incidents grouped so that any two sharing a host, account or subject (directly or by a chain) share a group."""
    parent = list(range(len(incidents)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[str, str], int] = {}
    for index, incident in enumerate(incidents):
        for link in _links(incident):
            if link in owner:
                parent[root(index)] = root(owner[link])
            else:
                owner[link] = index
    groups: dict[int, list[Incident]] = {}
    for index, incident in enumerate(incidents):
        groups.setdefault(root(index), []).append(incident)
    return sorted(groups.values(), key=lambda g: g[0].time)


def _best_window(incidents: Sequence[Incident], at: datetime, span: timedelta) -> tuple[int, list[Incident]]:
    """Most unrelated groups in any window of length ``span`` that contains ``at``, and that window's incidents."""
    starts = {at - span, at} | {i.time for i in incidents if at - span <= i.time <= at}
    best: tuple[int, list[Incident]] = (0, [])
    for start in sorted(starts):
        inside = [i for i in incidents if start <= i.time <= start + span]
        count = len(unrelated_groups(inside))
        if count > best[0]:
            best = (count, inside)
    return best


def decide(
    incidents: Sequence[Incident],
    at: datetime,
    *,
    window: timedelta,
    count: int,
    short_window: timedelta,
    short_count: int,
) -> BurstDecision:
    """Burst when unrelated incidents ≥ ``count`` in ``window`` or ≥ ``short_count`` in ``short_window`` (sliding)."""
    long_n, long_inside = _best_window(incidents, at, window)
    short_n, short_inside = _best_window(incidents, at, short_window)
    if short_n >= short_count:
        decisive, span, n = short_inside, short_window, short_n
    else:
        decisive, span, n = long_inside, window, long_n
    burst = long_n >= count or short_n >= short_count
    groups = unrelated_groups(decisive)
    numbered = [i.model_copy(update={"group": g}) for g, members in enumerate(groups, 1) for i in members]
    numbered.sort(key=lambda i: i.time)
    if not incidents:
        reason = "no certificate-creation incidents in the logs around the alert"
    else:
        who = "; ".join(_group_label(members) for members in groups)
        verdict = "burst" if burst else "no burst"
        reason = (
            f"{verdict}: {n} unrelated certificate creation{'s' if n != 1 else ''} within {_span(span)} "
            f"(escalates at {short_count} in {_span(short_window)} or {count} in {_span(window)}): {who}"
        )
    return BurstDecision(
        burst=burst,
        reason=reason,
        unrelated_in_window=long_n,
        unrelated_in_short_window=short_n,
        window_incidents=numbered,
    )


def _group_label(members: Sequence[Incident]) -> str:
    """One unrelated group in a few words: where, who and how, from its first incident."""
    first = members[0]
    parts = [first.host or "unknown host"]
    if first.requester:
        parts.append(f"by {first.requester}")
    parts.append(f"({first.kind}{f', +{len(members) - 1} related' if len(members) > 1 else ''})")
    return " ".join(parts)


def _span(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
