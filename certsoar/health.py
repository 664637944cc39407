"""`certsoar connectors check`: build every configured connector and make one read through it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from certsoar.api import open_store
from certsoar.config import Config
from certsoar.connections import Connections
from certsoar.connectors.siem import SiemQuery, search_with_warnings
from certsoar.errors import CertsoarError, ConnectorUnavailable
from certsoar.store import utcnow


class ConnectorCheck(BaseModel):
    kind: str
    instance: str
    type: str
    ok: bool
    detail: str


async def _probe(kind: str, connector: Any) -> str:
    """One read that needs the connector's target to be there; returns what it saw."""
    if kind == "siem":
        now = utcnow()
        report = await search_with_warnings(
            connector, SiemQuery(kinds=["tls"], start=now - timedelta(hours=1), end=now, limit=10)
        )
        if report.warnings:  # a source that is not searched is evidence a run would miss
            raise ConnectorUnavailable(f"{len(report.warnings)} source(s) not searched: {'; '.join(report.warnings)}")
        return f"searched the last hour: {len(report.events)} TLS event(s)"
    if kind == "ca":
        pems = await connector.ca_certificates()
        issued = await connector.list_issued()
        return f"{len(pems)} CA certificate(s), {len(issued)} issued"
    if kind == "firewall":
        return f"{len(await connector.blocked())} address(es) blocked"
    if kind == "proxy":
        return f"{len(await connector.blocked_fingerprints())} fingerprint(s) blocked"
    if kind == "ticket":
        await connector.find("certsoar-connectors-check")
        return "ticket store readable"
    return "built (a notifier is checked only by sending)"


async def check_connectors(config: Config) -> list[ConnectorCheck]:
    """Read-only: the run store is opened read-only and no connector is asked to write."""
    with open_store(config, read_only=True) as store:
        return await _check_all(config, Connections(config, store))


async def _check_all(config: Config, connections: Connections) -> list[ConnectorCheck]:
    results: list[ConnectorCheck] = []
    sections = [(kind, getattr(config.connectors, kind)) for kind in ("siem", "ca", "firewall", "proxy", "ticket")]
    for kind, section in sections + [("notify", s) for s in config.connectors.notify]:
        if section is None:
            continue
        try:
            if kind == "notify":
                connector = dict(connections.notify)[section.instance]
            else:
                connector = getattr(connections, kind)
            detail, ok = await _probe(kind, connector), True
        except CertsoarError as exc:
            detail, ok = str(exc), False
        except OSError as exc:
            detail, ok = f"{type(exc).__name__}: {exc}", False
        results.append(ConnectorCheck(kind=kind, instance=section.instance, type=section.type, ok=ok, detail=detail))
    return results
