"""SIEM actions: related events (L1 step 4), certificate-creation burst (E2), traffic change (E3).

Everything goes through the Siem protocol, so any SIEM connector serves; the decisions themselves are pure
functions in certsoar.correlation.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from certsoar.alert import CertificateAlert
from certsoar.certs import CertificateFacts
from certsoar.connectors.siem import Siem, SiemEvent, SiemQuery, search_with_warnings
from certsoar.context import ActionContext
from certsoar.correlation.burst import Incident, add_identity, decide, earlier_lookups, exclude, incidents_from_events
from certsoar.correlation.identity import format_server
from certsoar.correlation.periodicity import Beacon
from certsoar.correlation.traffic import TrafficStat, measure
from certsoar.registry import action
from certsoar.timeparse import Duration, parse_duration

MAX_EVENTS_KEPT = 50
QUERY_LIMIT = 10_000
BULK_LIMIT = 100_000
CERTIFICATE_KINDS = frozenset({"sha256", "sha1", "serial", "serial_issuer", "spki"})
CREATION_KINDS = ["adcs", "process", "script", "x509", "tls"]


WARNINGS_DESCRIPTION = (
    "Sources the SIEM could not search (missing, unreadable, too large): this answer may lack their evidence."
)


class _Searches:
    """An action's SIEM searches, gathering the warnings of all of them."""

    def __init__(self, siem: Siem) -> None:
        self._siem = siem
        self.warnings: list[str] = []

    async def __call__(self, query: SiemQuery) -> list[SiemEvent]:
        report = await search_with_warnings(self._siem, query)
        self.warnings.extend(w for w in report.warnings if w not in self.warnings)
        return report.events


class RelatedInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    alert: CertificateAlert = Field(description="The normalized alert.")
    cert: CertificateFacts = Field(description="Facts from certificate.analyze.")
    window: Duration = Field(
        default="7d", description="Search this long before and after the alert time (90s, 15m, 24h, 7d, 2w)."
    )


class RelatedOutput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    count: int = Field(description="Events found (all of them, not only those kept).")
    events: list[SiemEvent] = Field(description=f"The first {MAX_EVENTS_KEPT} events by time.")
    by_indicator: dict[str, int] = Field(default_factory=dict, description="Events that matched each indicator kind.")
    servers: list[str] = Field(
        description="Servers that presented this certificate (hash/serial match) and the alert's server."
    )
    clients: list[str] = Field(description="Clients that received the certificate or talked to the alert's server.")
    first_seen: datetime | None = Field(
        description="Earliest event carrying the certificate itself (hash, serial+issuer, SPKI), from the logs; never notBefore."
    )
    sources: list[str] = Field(description="Log sources the events came from.")
    warnings: list[str] = Field(default_factory=list, description=WARNINGS_DESCRIPTION)


def certificate_indicators(alert: CertificateAlert, cert: CertificateFacts) -> dict[str, list[str]]:
    """Indicators naming the certificate itself: SHA-256, SHA-1, serial (+issuer when known), SPKI."""
    wanted: dict[str, list[str]] = {}

    def add(kind: str, value: str | None) -> None:
        if value and value not in wanted.setdefault(kind, []):
            wanted[kind].append(value)

    logged = alert.logged_certificate
    add("sha256", cert.sha256)
    add("sha256", alert.sha256)
    add("sha1", cert.sha1)
    add("sha1", alert.sha1)
    add("spki", cert.spki_sha256)
    serial = cert.serial or (logged.serial if logged else None)
    issuer = cert.issuer or (logged.issuer if logged else None)
    if serial and issuer:
        add("serial_issuer", f"{serial}|{issuer}")
    # the serial alone too: AD CS events and Suricata records without an issuer DN still name it
    add("serial", serial)
    return {k: v for k, v in wanted.items() if v}


def _indicators(alert: CertificateAlert, cert: CertificateFacts) -> dict[str, list[str]]:
    wanted = certificate_indicators(alert, cert)

    def add(kind: str, value: str | None) -> None:
        if value and value not in wanted.setdefault(kind, []):
            wanted[kind].append(value)

    add("sni", alert.sni)
    add("ip", alert.dst_ip)
    if alert.dst_ip and alert.dst_port is not None:
        add("server", format_server(alert.dst_ip, alert.dst_port))
    add("ja3", alert.ja3)
    add("ja3s", alert.ja3s)
    add("host", alert.host)
    add("requester", alert.requester)
    return {k: v for k, v in wanted.items() if v}


def _unique(values: list[str | None]) -> list[str]:
    seen: list[str] = []
    for value in values:
        if value and value not in seen:
            seen.append(value)
    return seen


def _carrying(events: list[SiemEvent]) -> list[SiemEvent]:
    return [e for e in events if CERTIFICATE_KINDS & set(e.matched)]


@action("siem.related")
async def related(inp: RelatedInput, ctx: ActionContext) -> RelatedOutput:
    """Search the SIEM ± window around the alert for the certificate (hashes, serial+issuer, SPKI), its SNI, server, JA3/JA3S, host and requester."""
    alert, cert = inp.alert, inp.cert
    span = parse_duration(inp.window)
    query = SiemQuery(
        indicators=_indicators(alert, cert), start=alert.time - span, end=alert.time + span, limit=QUERY_LIMIT
    )
    search = _Searches(ctx.connectors.siem)
    events = sorted(await search(query), key=lambda e: e.time)
    carrying = _carrying(events)
    to_server = [e for e in events if alert.dst_ip and e.dst_ip == alert.dst_ip]
    counts = Counter(kind for e in events for kind in e.matched)
    return RelatedOutput(
        count=len(events),
        events=events[:MAX_EVENTS_KEPT],
        by_indicator=dict(sorted(counts.items())),
        servers=_unique([alert.dst_ip, *(e.dst_ip for e in carrying)]),
        clients=_unique([alert.src_ip, *(e.src_ip for e in carrying + to_server)]),
        first_seen=carrying[0].time if carrying else None,
        sources=_unique([e.source for e in events]),
        warnings=search.warnings,
    )


# --- E2 ------------------------------------------------------------------------------------------------------


class CreationsInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    alert: CertificateAlert = Field(description="The normalized alert; its time anchors the sliding windows.")
    cert: CertificateFacts = Field(description="Facts from certificate.analyze.")
    window: Duration | None = Field(
        default=None, description="Sliding window; default thresholds.creation_burst.window."
    )
    short_window: Duration | None = Field(
        default=None, description="Short sliding window; default thresholds.creation_burst.short_window."
    )


class CreationsOutput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    burst: bool
    reason: str
    incidents: list[Incident] = Field(
        description="Creation incidents counted around the alert (window before and after), in time order."
    )
    unrelated_in_window: int
    unrelated_in_short_window: int
    excluded: list[str] = Field(
        description="Incidents not counted: allowlisted automation, duplicates, renewals; with why."
    )
    window: str
    short_window: str
    sources: list[str]
    warnings: list[str] = Field(default_factory=list, description=WARNINGS_DESCRIPTION)


@action("siem.certificate_creations")
async def certificate_creations(inp: CreationsInput, ctx: ActionContext) -> CreationsOutput:
    """E2: count unrelated certificate-creation incidents (AD CS 4887, creation commands, first-seen untrusted
    certificates) in sliding windows around the alert."""
    limits = ctx.config.thresholds.creation_burst
    window_text = inp.window or limits.window
    short_text = inp.short_window or limits.short_window
    window, short_window = parse_duration(window_text), parse_duration(short_text)
    renewal = parse_duration(limits.renewal_window)
    at = inp.alert.time
    search = _Searches(ctx.connectors.siem)
    recent = await search(SiemQuery(kinds=CREATION_KINDS, start=at - window, end=at + window, limit=BULK_LIMIT))
    earlier = await _earlier_issuances(search, recent, at - window - renewal, at - window - timedelta(microseconds=1))
    events = earlier + recent
    kept, excluded = exclude(incidents_from_events(events), limits.automation, renewal)
    around = [i for i in kept if at - window <= i.time <= at + window]
    decision = decide(
        around, at, window=window, count=limits.count, short_window=short_window, short_count=limits.short_count
    )
    truncated = " (the SIEM returned its limit of events; counts may be low)" if len(recent) >= BULK_LIMIT else ""
    grouped = {(i.time, i.evidence): i.group for i in decision.window_incidents}
    return CreationsOutput(
        burst=decision.burst,
        reason=decision.reason + truncated,
        incidents=[i.model_copy(update={"group": grouped.get((i.time, i.evidence))}) for i in around],
        unrelated_in_window=decision.unrelated_in_window,
        unrelated_in_short_window=decision.unrelated_in_short_window,
        excluded=[str(e) for e in excluded if e.incident.time >= at - window],
        window=window_text,
        short_window=short_text,
        sources=_unique([i.source for i in around]),
        warnings=search.warnings,
    )


async def _earlier_issuances(
    search: _Searches, recent: list[SiemEvent], start: datetime, end: datetime
) -> list[SiemEvent]:
    """The issuances before E2's window that decide renewals and whether a certificate was already known before
    it: every AD CS event, and the x509 sightings that can matter (burst.earlier_lookups), not the month of
    certificates a busy network logs (read for every alert, that was most of a sweep's time)."""
    earlier = await search(SiemQuery(kinds=["adcs"], start=start, end=end, limit=BULK_LIMIT))
    keys, identities = earlier_lookups(recent)
    if keys:
        by_key = await search(
            SiemQuery(kinds=["x509"], indicators={"spki": sorted(keys)}, start=start, end=end, limit=BULK_LIMIT)
        )
        for event in by_key:  # every sighting of those certificates dates and judges them, with or without the key
            add_identity(identities, event)
    if identities:
        indicators = {kind: sorted(values) for kind, values in identities.items()}
        earlier += await search(
            SiemQuery(kinds=["x509"], indicators=indicators, start=start, end=end, limit=BULK_LIMIT)
        )
    return sorted(earlier, key=lambda e: e.time)


# --- E3 ------------------------------------------------------------------------------------------------------


class TrafficInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    alert: CertificateAlert = Field(
        description="The normalized alert: its server, client and time (t0 when the logs never show the certificate)."
    )
    cert: CertificateFacts = Field(
        description="Facts from certificate.analyze: hashes, serial+issuer and SPKI find the first sighting."
    )
    lookback: Duration = Field(
        default="7d", description="How far before the alert to look for the certificate's first sighting."
    )
    after: Duration | None = Field(default=None, description="Override thresholds.traffic_change.after.")
    baseline: Duration | None = Field(default=None, description="Override thresholds.traffic_change.baseline.")
    z: float | None = Field(default=None, gt=0, description="Override thresholds.traffic_change.z (robust z-score).")
    ratio: float | None = Field(
        default=None, gt=0, description="Override thresholds.traffic_change.ratio (observed / baseline median)."
    )
    bytes_floor: int | None = Field(
        default=None, ge=0, description="Override thresholds.traffic_change.bytes_floor (bytes out per hour)."
    )
    connections_floor: int | None = Field(
        default=None, ge=0, description="Override thresholds.traffic_change.connections_floor (per hour)."
    )
    beacon_min_connections: int | None = Field(
        default=None, ge=3, description="Override thresholds.traffic_change.beacon_min_connections."
    )
    beacon_max_cv: float | None = Field(
        default=None, gt=0, description="Override thresholds.traffic_change.beacon_max_cv."
    )


class TrafficOutput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    changed: bool
    reason: str
    first_seen: datetime | None = Field(
        description="Earliest log sighting of the certificate (t0); None when the logs never show it (the alert time is used)."
    )
    servers: list[TrafficStat]
    clients: list[TrafficStat]
    beaconing: list[Beacon]
    sources: list[str]
    warnings: list[str] = Field(default_factory=list, description=WARNINGS_DESCRIPTION)


_OVERRIDES = (
    "after",
    "baseline",
    "z",
    "ratio",
    "bytes_floor",
    "connections_floor",
    "beacon_min_connections",
    "beacon_max_cv",
)


@action("siem.traffic_change")
async def traffic_change(inp: TrafficInput, ctx: ActionContext) -> TrafficOutput:
    """E3: per server that presented the certificate and per client, bytes out and connections per hour after
    first-seen against the trailing baseline, and beaconing."""
    limits = ctx.config.thresholds.traffic_change.model_copy(
        update={name: getattr(inp, name) for name in _OVERRIDES if getattr(inp, name) is not None}
    )
    alert = inp.alert
    search = _Searches(ctx.connectors.siem)
    after, baseline = parse_duration(limits.after), parse_duration(limits.baseline)
    sightings_query = SiemQuery(
        indicators=certificate_indicators(alert, inp.cert),
        start=alert.time - parse_duration(inp.lookback),
        end=alert.time + after,
        limit=QUERY_LIMIT,
    )
    sightings = sorted(_carrying(await search(sightings_query)), key=lambda e: e.time)
    first_seen = sightings[0].time if sightings else None
    t0 = first_seen or alert.time
    presented = [e for e in sightings if e.kind in ("tls", "x509") and e.dst_ip and e.dst_port is not None]
    servers = _unique(
        [
            format_server(alert.dst_ip, alert.dst_port) if alert.dst_ip and alert.dst_port is not None else None,
            *(format_server(e.dst_ip, e.dst_port) for e in presented if e.dst_ip and e.dst_port is not None),
        ]
    )
    clients = _unique([alert.src_ip, *(e.src_ip for e in presented)])
    conns: list[SiemEvent] = []
    if servers or clients:
        indicators = {k: v for k, v in (("server", servers), ("ip", clients)) if v}
        conns = await search(
            SiemQuery(indicators=indicators, kinds=["conn"], start=t0 - baseline, end=t0 + after, limit=BULK_LIMIT)
        )
    result = measure(conns, t0, servers, clients, limits)
    reason = (
        result.reason
        if first_seen
        else result.reason + "; the logs never show the certificate, so t0 is the alert time"
    )
    return TrafficOutput(
        changed=result.changed,
        reason=reason,
        first_seen=first_seen,
        servers=result.servers,
        clients=result.clients,
        beaconing=result.beacons,
        sources=_unique([e.source for e in sightings + conns]),
        warnings=search.warnings,
    )
