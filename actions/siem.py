"""siem.related: what else the SIEM saw of this certificate, its server and its name."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from certsoar.alert import CertificateAlert
from certsoar.certs import CertificateFacts
from certsoar.connectors.siem import SiemEvent, SiemQuery
from certsoar.context import ActionContext
from certsoar.registry import action
from certsoar.timeparse import parse_duration

MAX_EVENTS_KEPT = 50
QUERY_LIMIT = 10_000
CERTIFICATE_KINDS = frozenset({"sha256", "sha1", "serial"})


class RelatedInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    alert: CertificateAlert = Field(description="The normalized alert.")
    cert: CertificateFacts = Field(description="Facts from certificate.analyze.")
    window: str = Field(default="7d", description="Search this long before and after the alert time (90s, 15m, 24h, 7d, 2w).")

    @field_validator("window")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v)
        return v


class RelatedOutput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    count: int = Field(description="Events found (all of them, not only those kept).")
    events: list[SiemEvent] = Field(description=f"The first {MAX_EVENTS_KEPT} events by time.")
    servers: list[str] = Field(description="Servers that presented this certificate (hash/serial match) and the alert's server.")
    clients: list[str] = Field(description="Clients that received the certificate or talked to the alert's server.")
    first_seen: datetime | None = Field(description="Earliest event carrying the certificate itself (hash or serial).")
    sources: list[str] = Field(description="Log sources the events came from.")


def _indicators(alert: CertificateAlert, cert: CertificateFacts) -> dict[str, list[str]]:
    wanted: dict[str, list[str]] = {}

    def add(kind: str, value: str | None) -> None:
        if value and value not in wanted.setdefault(kind, []):
            wanted[kind].append(value)

    add("sha256", cert.sha256)
    add("sha256", alert.sha256)
    add("sha1", cert.sha1)
    add("sha1", alert.sha1)
    add("serial", cert.serial)
    add("sni", alert.sni)
    add("ip", alert.dst_ip)
    return {k: v for k, v in wanted.items() if v}


def _unique(values: list[str | None]) -> list[str]:
    seen: list[str] = []
    for value in values:
        if value and value not in seen:
            seen.append(value)
    return seen


@action("siem.related")
async def related(inp: RelatedInput, ctx: ActionContext) -> RelatedOutput:
    """Search the SIEM ± window around the alert for the certificate (SHA-256, SHA-1, serial), its SNI and server."""
    alert, cert = inp.alert, inp.cert
    span = parse_duration(inp.window)
    query = SiemQuery(indicators=_indicators(alert, cert), start=alert.time - span, end=alert.time + span, limit=QUERY_LIMIT)
    events = sorted(await ctx.connectors.siem.search(query), key=lambda e: e.time)
    carrying = [e for e in events if CERTIFICATE_KINDS & set(e.matched)]
    to_server = [e for e in events if alert.dst_ip and e.dst_ip == alert.dst_ip]
    return RelatedOutput(
        count=len(events),
        events=events[:MAX_EVENTS_KEPT],
        servers=_unique([alert.dst_ip, *(e.dst_ip for e in carrying)]),
        clients=_unique([alert.src_ip, *(e.src_ip for e in carrying + to_server)]),
        first_seen=carrying[0].time if carrying else None,
        sources=_unique([e.source for e in events]),
    )
