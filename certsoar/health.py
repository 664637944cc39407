"""`certsoar connectors check`: build every configured connector instance and make its cheapest read.

Each instance is reported on its own: whether its target answered (reachable), whether it took the credentials
(authenticated, where the answer tells), and for a CA whether it can list what it issued (``iter_issued``, one
certificate read). Nothing is written: the run store is opened read-only and no connector is asked to change.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field

from certsoar.api import open_store
from certsoar.config import INSTANCE_KINDS, Config, ConnectorSection
from certsoar.connections import Connections
from certsoar.connectors.proxy import blocks_by
from certsoar.connectors.siem import SiemQuery, search_with_warnings
from certsoar.errors import CertsoarError, ConnectorRejected, ConnectorUnavailable
from certsoar.store import utcnow

PROBE_TIMEOUT = 60.0
"""Seconds one instance's read may take before it is reported unreachable."""

_AUTH_REFUSED = re.compile(
    r"HTTP 40[13]|authentication failed|not authori[sz]ed|permission denied|credentials|invalid token", re.I
)


class ConnectorCheck(BaseModel):
    kind: str
    instance: str
    type: str
    ok: bool
    detail: str
    reachable: bool | None = Field(
        default=None, description="Its target answered (None: not tried, the connector could not be built)."
    )
    authenticated: bool | None = Field(
        default=None, description="The target took the credentials (None: unknown, it did not answer or said nothing)."
    )
    can_list: bool | None = Field(
        default=None, description="CAs: it lists what it issued (iter_issued); None for other kinds."
    )
    list_detail: str | None = Field(default=None, description="CAs: why it cannot list, when it cannot.")


def facets(check: ConnectorCheck) -> str:
    """``reachable, authenticated, can list`` as the human output shows them."""

    def said(value: bool | None, yes: str, no: str) -> list[str]:
        return [] if value is None else [yes if value else no]

    shown = said(check.reachable, "reachable", "unreachable")
    shown += said(check.authenticated, "authenticated", "credentials refused")
    shown += said(check.can_list, "can list", "cannot list")
    return ", ".join(shown) or "not built"


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
        return f"{len(await connector.ca_certificates())} CA certificate(s)"
    if kind == "firewall":
        return f"{len(await connector.blocked())} address(es) blocked"
    if kind == "proxy":
        if "fingerprint" not in blocks_by(connector):
            return f"{len(await connector.blocked_names())} name(s) blocked"
        return f"{len(await connector.blocked_fingerprints())} fingerprint(s) blocked"
    if kind == "ticket":
        await connector.find("certsoar-connectors-check")
        return "ticket store readable"
    return "built (a notifier is checked only by sending)"


async def _lists(ca: Any) -> str:
    """The CA streams what it issued: its first certificate is read (not the whole inventory)."""
    stream = ca.iter_issued(None)
    try:
        first = await anext(stream, None)
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()
    return "lists what it issued" if first is not None else "lists what it issued (nothing yet)"


def _failure(exc: BaseException) -> tuple[str, bool | None, bool | None]:
    """(detail, reachable, authenticated) of a failed read."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {PROBE_TIMEOUT:g}s", False, None
    if isinstance(exc, ConnectorRejected):  # the target answered, and said no
        return str(exc), True, False if _AUTH_REFUSED.search(str(exc)) else None
    if isinstance(exc, CertsoarError):
        return str(exc), False, None
    return f"{type(exc).__name__}: {exc}", False, None


def _has_credentials(section: ConnectorSection) -> bool:
    """The section names a secret (``env:``/``file:``): its target can refuse them."""

    def secret(value: Any) -> bool:
        if isinstance(value, str):
            return value.startswith(("env:", "file:"))
        if isinstance(value, dict):
            return any(secret(v) for v in value.values())
        return isinstance(value, list) and any(secret(v) for v in value)

    return secret(section.settings())


async def check_instance(kind: str, section: ConnectorSection, connections: Connections) -> ConnectorCheck:
    """The check of one configured instance."""
    instance, type_name = section.instance, section.type
    try:
        connector = dict(connections.notify)[instance] if kind == "notify" else connections.connector(kind, instance)
    except CertsoarError as exc:
        return ConnectorCheck(kind=kind, instance=instance, type=type_name, ok=False, detail=str(exc))
    check = ConnectorCheck(kind=kind, instance=instance, type=type_name, ok=True, detail="")
    try:
        detail = await asyncio.wait_for(_probe(kind, connector), PROBE_TIMEOUT)
    except (CertsoarError, OSError, TimeoutError) as exc:
        detail, reachable, authenticated = _failure(exc)
        return check.model_copy(
            update={"ok": False, "detail": detail, "reachable": reachable, "authenticated": authenticated}
        )
    # without credentials there is nothing to be refused: authenticated stays unknown (None)
    update: dict[str, Any] = {"detail": detail, "reachable": True, "authenticated": _has_credentials(section) or None}
    if kind == "ca":
        try:
            update["detail"] = f"{detail}; {await asyncio.wait_for(_lists(connector), PROBE_TIMEOUT)}"
            update["can_list"] = True
        except (CertsoarError, OSError, TimeoutError, NotImplementedError, AttributeError) as exc:
            why, reachable, authenticated = _failure(exc)
            update["can_list"] = False
            update["list_detail"] = str(exc) if isinstance(exc, NotImplementedError) else why
            update["detail"] = f"{detail}; cannot list what it issued: {update['list_detail']}"
            # a CA that cannot enumerate can still revoke (the sweep says it cannot list); one that refuses the
            # credentials or went away cannot
            if authenticated is False or reachable is False:
                update.update(ok=False, reachable=reachable, authenticated=authenticated)
    return check.model_copy(update=update)


async def check_connectors(config: Config) -> list[ConnectorCheck]:
    """Read-only: the run store is opened read-only and no connector is asked to write."""
    with open_store(config, read_only=True) as store:
        return await _check_all(config, Connections(config, store))


async def _check_all(config: Config, connections: Connections) -> list[ConnectorCheck]:
    """Every instance of every kind, checked concurrently, reported in config order."""
    instances = [
        (kind, section) for kind in (*INSTANCE_KINDS, "notify") for section in config.connectors.sections(kind)
    ]
    return list(await asyncio.gather(*(check_instance(kind, section, connections) for kind, section in instances)))
