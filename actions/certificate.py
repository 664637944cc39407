"""certificate.analyze: turn the alert's certificate (or what a log recorded of it) into CertificateFacts."""

from __future__ import annotations

from cryptography import x509
from pydantic import BaseModel, ConfigDict, Field

from certsoar.alert import CertificateAlert, LoggedCertificate
from certsoar.certs import AnalysisContext, CertificateFacts, analyze_alert, load_pem_bundle
from certsoar.certs.analysis import with_requester
from certsoar.certs.intelfiles import catalogue_path, sslbl_path
from certsoar.certs.trustfiles import read_crl, read_roots
from certsoar.connectors.siem import SiemQuery
from certsoar.context import ActionContext
from certsoar.correlation.identity import same_dn
from certsoar.errors import ConnectorError, ConnectorRejected
from certsoar.registry import action
from certsoar.timeparse import Duration, parse_duration
from certsoar.windows_events import alt_names


class AnalyzeInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    alert: CertificateAlert = Field(description='The normalized alert; in a playbook: "{{ alert }}".')
    lookup_window: Duration = Field(
        default="7d",
        description="When the alert carries only a fingerprint, look for the certificate's logged attributes "
        "(x509/tls records) in the SIEM this long before and after the alert.",
    )


async def _managed_cas(ctx: ActionContext) -> list[x509.Certificate]:
    cas: list[x509.Certificate] = []
    for instance, ca in ctx.connectors.each("ca"):  # every configured CA is managed
        for pem in await ca.ca_certificates():
            try:
                cas.extend(load_pem_bundle(pem.encode()))
            except ValueError as exc:
                raise ConnectorRejected(f"CA certificate is not PEM: {exc}", connector=f"ca:{instance}") from exc
    return cas


async def analysis_context(alert: CertificateAlert, ctx: ActionContext) -> AnalysisContext:
    """The AnalysisContext of ``alert`` from the configuration and the CA connector."""
    config = ctx.config
    return AnalysisContext(
        at=alert.time,
        internal_roots=[cert for path in config.trust.internal_roots for cert in read_roots(config.resolve(path))],
        managed_cas=await _managed_cas(ctx),
        org_domains=list(config.organization.domains),
        crls=[read_crl(config.resolve(path)) for path in config.trust.crls],
        sslbl=sslbl_path(config),
        catalogue=catalogue_path(config),
        allowlist=list(config.allowlist),
        now=ctx.now,
    )


@action("certificate.analyze")
async def analyze(inp: AnalyzeInput, ctx: ActionContext) -> CertificateFacts:
    """Analyze the alert's certificate: identifiers, chain trust, CRL status, self-signature, issuer mimicry,
    tool defaults, anomalies, SSLBL and allowlist.

    With only logged attributes the facts say ``source="log"``; with only hashes ``source="fingerprint"``.
    Managed CAs come from every configured CA connector, internal roots and CRLs from ``trust``, the SSLBL
    file from ``intel.sslbl``, the observation time from the alert, allowlist expiry from the run's clock.
    """
    alert, note = await _with_logged_attributes(inp.alert, inp.lookup_window, ctx)
    facts = analyze_alert(alert, await analysis_context(alert, ctx))
    facts = facts.model_copy(update={"notes": [*facts.notes, note]}) if note else facts
    return await _with_issuance_requester(facts, alert, inp.lookup_window, ctx)


ISSUED_EVENT = "4887"


async def _with_issuance_requester(
    facts: CertificateFacts, alert: CertificateAlert, window: str, ctx: ActionContext
) -> CertificateFacts:
    """A certificate an internal CA issued, alerted on without its request: the requester the CA's issuance
    event (AD CS 4887, same serial and subject) names, to judge whom the SAN names against."""
    internal = facts.issued_by_managed_ca or facts.chain.store == "internal"
    if facts.requester or not facts.serial or not internal or not ctx.connectors.has("siem"):
        return facts
    span = parse_duration(window)
    query = SiemQuery(
        indicators={"serial": [facts.serial]}, kinds=["adcs"], start=alert.time - span, end=alert.time + span, limit=200
    )
    try:
        events = await ctx.connectors.siem.search(query)
    except ConnectorError as exc:
        note = f"the CA's issuance event could not be searched for the requester: {exc}"
        return facts.model_copy(update={"notes": [*facts.notes, note]})
    issued = sorted(
        (
            e
            for e in events
            if e.event_code == ISSUED_EVENT
            and e.requester
            and e.serial == facts.serial
            and (e.subject is None or same_dn(e.subject, facts.subject))
        ),
        key=lambda e: e.time,
    )
    if not issued:
        return facts
    event = issued[-1]
    assert event.requester is not None
    # the certificate's own SAN decides when it was parsed; a log-only alert also takes the event's names
    shown = alt_names(event.raw.get("win.san"), event.raw.get("win.attributes"))
    extra = ([], []) if facts.parsed else (shown.upn, shown.dns)
    return with_requester(
        facts,
        event.requester,
        upns=extra[0],
        dns=extra[1],
        source=f"the CA's issuance event (request {event.request_id or '?'}, {event.time.isoformat()}, {event.source})",
    )


async def _with_logged_attributes(
    alert: CertificateAlert, window: str, ctx: ActionContext
) -> tuple[CertificateAlert, str | None]:
    """A fingerprint-only alert gets the attributes the SIEM's x509/tls records hold for that fingerprint."""
    hashes = {k: [v] for k, v in (("sha256", alert.sha256), ("sha1", alert.sha1)) if v}
    if alert.certificate_pem or alert.logged_certificate or not hashes or not ctx.connectors.has("siem"):
        return alert, None
    span = parse_duration(window)
    query = SiemQuery(
        indicators=hashes, kinds=["x509", "tls"], start=alert.time - span, end=alert.time + span, limit=200
    )
    try:
        events = await ctx.connectors.siem.search(query)
    except ConnectorError as exc:
        return alert, f"the alert carries only a fingerprint and the SIEM lookup of its attributes failed: {exc}"
    found = next((e for e in sorted(events, key=lambda e: e.time) if e.subject or e.issuer), None)
    if found is None:
        return alert, "the alert carries only a fingerprint and the SIEM holds no record of its attributes"
    logged = LoggedCertificate(
        subject=found.subject, issuer=found.issuer, serial=found.serial, validation_status=found.validation_status
    )
    update = {"logged_certificate": logged, "sha256": alert.sha256 or found.sha256, "sha1": alert.sha1 or found.sha1}
    note = (
        f"the alert carries only a fingerprint: subject, issuer and serial are those {found.source} logged "
        f"at {found.time.isoformat()}"
    )
    return alert.model_copy(update=update), note
