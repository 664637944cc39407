"""containment.prior: what earlier runs already contained of the targets this alert names, read from the
effect ledger.

A certificate certsoar revoked or blocked at the proxy that shows up again in a new alert means the
containment is being bypassed (another path, another sensor). The ledger is the only judge of "already
contained": the alert names the certificate and the servers, never whether they were contained, so an
alert cannot make a target look contained. Targets no run has contained yet are listed as uncontained:
they still need the approval the playbook demands.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from certsoar.actions.ca import UnknownIfEmpty, revoke_key
from certsoar.actions.firewall import block_key as server_block_key
from certsoar.actions.firewall import normalized_address
from certsoar.actions.proxy import block_key as certificate_block_key
from certsoar.alert import CertificateAlert
from certsoar.blocking import BlockingPolicy, refusal
from certsoar.certs.fingerprints import SHA1_DIGITS, checked_serial, normalize_digest
from certsoar.context import ActionContext
from certsoar.correlation.identity import format_server
from certsoar.errors import ActionError
from certsoar.registry import action
from certsoar.routing import issuing_cas, key_identifier_hex


class PriorInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alert: CertificateAlert = Field(description='The new alert; in a playbook: "{{ alert }}".')
    serial: str | None = Field(
        default=None, description="Serial to revoke: only when our CA issued the alert's certificate (else none)."
    )
    issuer: Annotated[str | None, UnknownIfEmpty] = Field(
        default=None,
        max_length=4096,
        description="Issuer DN of the certificate: with several CAs, which one revoked it.",
    )
    authority_key_id: Annotated[str | None, UnknownIfEmpty] = Field(
        default=None, max_length=512, description="Its authority key identifier (hex), with issuer (certsoar.routing)."
    )
    sha1: str | None = Field(default=None, description="SHA-1 the proxy would block.")
    addresses: list[str] = Field(default_factory=list, max_length=256, description="Servers the firewall would block.")

    @field_validator("serial")
    @classmethod
    def _serial(cls, v: str | None) -> str | None:
        return checked_serial(v)

    @field_validator("authority_key_id")
    @classmethod
    def _key_id(cls, v: str | None) -> str | None:
        return key_identifier_hex(v)

    @field_validator("sha1")
    @classmethod
    def _sha1(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        digest = normalize_digest(v, SHA1_DIGITS)
        if digest is None:
            raise ValueError("a SHA-1 is 40 hex digits")
        return digest

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(normalized_address(v) for v in values))


class PriorEffect(BaseModel):
    key: str
    action: str
    target: str
    run_id: str = Field(description="The run that made the change.")
    updated: str = Field(description="When the ledger recorded it done.")


class PriorOutput(BaseModel):
    contained: bool = Field(
        description="An earlier run contained this certificate: its revocation or its proxy block is done and "
        "verified in the ledger."
    )
    effects: list[PriorEffect] = Field(description="This alert's targets that earlier runs contained.")
    runs: list[str] = Field(description="The earlier runs that contained them.")
    uncontained: list[str] = Field(
        description="Targets of this alert no run has contained yet (revoke:<serial>, proxy:<sha1>, firewall:<ip>)."
    )
    all_contained: bool = Field(
        description="Contained before, and nothing this alert names is left to contain: no approval is needed."
    )
    ticket_key: str | None = Field(description="Key of the ticket the earlier runs opened for the certificate.")
    addresses: list[str] = Field(description="The servers to block, normalized (what firewall.block is given).")
    seen: str = Field(description="Where the new alert saw the certificate: source, sensor/host, connection.")


@action("containment.prior")
async def prior(inp: PriorInput, ctx: ActionContext) -> PriorOutput:
    """Read the effect ledger for this alert's containment targets: which earlier runs contained them, which
    are left, and the ticket of the case."""
    connectors = ctx.connectors
    # each target with the ledger keys that contain it: a revocation at the CA that issued the certificate (any
    # of them when the alert cannot tell), a block at every proxy and every firewall
    certificate: list[tuple[list[str], str]] = []
    if inp.serial is not None and connectors.has("ca"):
        cas = await _revoking_cas(inp, ctx)
        certificate.append(([revoke_key(name, inp.serial) for name in cas], f"revoke:{inp.serial}"))
    if inp.sha1 is not None:
        proxies = connectors.instances("proxy")
        certificate += [
            ([certificate_block_key(name, inp.sha1)], _label("proxy", name, inp.sha1, several=len(proxies) > 1))
            for name in proxies
        ]
    servers: list[tuple[list[str], str]] = []
    firewalls = connectors.instances("firewall")
    if firewalls:
        policy = BlockingPolicy.from_config(ctx.config)
        servers = [
            ([server_block_key(name, address)], _label("firewall", name, address, several=len(firewalls) > 1))
            for name in firewalls
            for address in inp.addresses
            if refusal(address, policy) is None  # never blocked, so never waiting for an approval
        ]
    effects: list[PriorEffect] = []
    uncontained: list[str] = []
    for keys, label in certificate + servers:
        found = [(key, done) for key in keys if (done := ctx.ledger.done_before(key)) is not None]
        if not found:
            uncontained.append(label)
        for key, done in found:
            effects.append(
                PriorEffect(key=key, action=done.action, target=done.target, run_id=done.run_id, updated=done.updated)
            )
    certificate_keys = {key for keys, _ in certificate for key in keys}
    # the runs that contained the certificate itself: a server may have been blocked for another certificate
    runs = list(dict.fromkeys(e.run_id for e in effects if e.key in certificate_keys))
    contained = bool(runs)
    tickets = [key for run in runs for key in ctx.ledger.targets_of(run, "ticket.open")]
    return PriorOutput(
        contained=contained,
        effects=effects if contained else [],
        runs=runs,
        uncontained=uncontained,
        all_contained=contained and not uncontained,
        ticket_key=tickets[0] if tickets else None,
        addresses=inp.addresses,
        seen=seen_at(inp.alert),
    )


def _label(kind: str, instance: str, target: str, *, several: bool) -> str:
    return f"{kind}:{instance}:{target}" if several else f"{kind}:{target}"


async def _revoking_cas(inp: PriorInput, ctx: ActionContext) -> list[str]:
    """The CA instances a revocation of the alert's serial would have gone to (certsoar.routing); none when no
    configured CA issued it."""
    if len(ctx.connectors.instances("ca")) == 1:
        return ctx.connectors.instances("ca")
    try:
        return [c.instance for c in await issuing_cas(ctx.connectors, inp.issuer, inp.authority_key_id)]
    except ActionError:
        return []


def seen_at(alert: CertificateAlert) -> str:
    """``zeek-ssl alert A17 (event ssl) on sensor-2, 10.0.0.5 -> 203.0.113.9:443, SNI x.example``."""
    parts = [f"{alert.source_format} alert {alert.id}" + (f" (event {alert.event})" if alert.event else "")]
    if alert.host:
        parts.append(f"on {alert.host}")
    if alert.src_ip or alert.dst_ip:
        server = alert.dst_ip or "(server not named)"
        if alert.dst_ip and alert.dst_port is not None:
            server = format_server(alert.dst_ip, alert.dst_port)
        parts.append(f"{alert.src_ip or '(client not named)'} -> {server}")
    if alert.sni:
        parts.append(f"SNI {alert.sni}")
    return ", ".join(parts)
