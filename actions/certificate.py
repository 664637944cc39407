"""certificate.analyze: turn the alert's certificate into CertificateFacts."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from pydantic import BaseModel, ConfigDict, Field

from certsoar.alert import CertificateAlert
from certsoar.certs import CertificateFacts, analyze_certificate, facts_from_fingerprints, load_pem_bundle
from certsoar.context import ActionContext
from certsoar.errors import ConfigError, ConnectorRejected
from certsoar.registry import action


class AnalyzeInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    alert: CertificateAlert = Field(description="The normalized alert; in a playbook: \"{{ alert }}\".")


def _read_roots(path: Path) -> list[x509.Certificate]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"trust.internal_roots: {path}: cannot read: {exc.strerror or exc}") from exc
    try:
        roots = load_pem_bundle(data)
    except ValueError as exc:
        raise ConfigError(f"trust.internal_roots: {path}: not a PEM certificate bundle: {exc}") from exc
    return roots


async def _managed_cas(ctx: ActionContext) -> list[x509.Certificate]:
    if not ctx.connectors.has("ca"):
        return []
    cas: list[x509.Certificate] = []
    for pem in await ctx.connectors.ca.ca_certificates():
        try:
            cas.extend(load_pem_bundle(pem.encode()))
        except ValueError as exc:
            raise ConnectorRejected(f"CA certificate is not PEM: {exc}", connector=f"ca:{ctx.connectors.instance('ca')}") from exc
    return cas


@action("certificate.analyze")
async def analyze(inp: AnalyzeInput, ctx: ActionContext) -> CertificateFacts:
    """Analyze the alert's certificate: identifiers, chain trust, self-signature, issuer mimicry, anomalies.

    An alert that carries only hashes yields facts with ``parsed=False``. Managed CAs come from the
    configured CA connector, internal roots from ``trust.internal_roots``, the time from the alert.
    """
    alert = inp.alert
    if not alert.certificate_pem:
        return facts_from_fingerprints(alert.sha256, alert.sha1)
    roots = [cert for path in ctx.config.trust.internal_roots for cert in _read_roots(ctx.config.resolve(path))]
    facts = analyze_certificate(
        alert.certificate_pem.encode("utf-8"),
        at=alert.time,
        internal_roots=roots,
        managed_cas=await _managed_cas(ctx),
        org_domains=list(ctx.config.organization.domains),
    )
    mismatches = [
        f"alert {name} {claimed} does not match the certificate ({actual})"
        for name, claimed, actual in (("sha256", alert.sha256, facts.sha256), ("sha1", alert.sha1, facts.sha1))
        if claimed and claimed != actual
    ]
    if mismatches:
        facts = facts.model_copy(update={"errors": facts.errors + mismatches})
    return facts
