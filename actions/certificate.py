"""certificate.analyze: turn the alert's certificate (or what a log recorded of it) into CertificateFacts."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from pydantic import BaseModel, ConfigDict, Field

from certsoar.alert import CertificateAlert
from certsoar.certs import AnalysisContext, CertificateFacts, LoadedCrl, analyze_alert, load_crl, load_pem_bundle
from certsoar.certs.revocation import CrlError
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


def _read_crl(path: Path) -> LoadedCrl:
    try:
        return load_crl(path)
    except OSError as exc:
        raise ConfigError(f"trust.crls: {path}: cannot read: {exc.strerror or exc}") from exc
    except CrlError as exc:
        raise ConfigError(f"trust.crls: {exc}") from exc


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


async def analysis_context(alert: CertificateAlert, ctx: ActionContext) -> AnalysisContext:
    """The AnalysisContext of ``alert`` from the configuration and the CA connector."""
    config = ctx.config
    return AnalysisContext(
        at=alert.time,
        internal_roots=[cert for path in config.trust.internal_roots for cert in _read_roots(config.resolve(path))],
        managed_cas=await _managed_cas(ctx),
        org_domains=list(config.organization.domains),
        crls=[_read_crl(config.resolve(path)) for path in config.trust.crls],
        sslbl=config.resolve(config.intel.sslbl) if config.intel.sslbl is not None else None,
        allowlist=list(config.allowlist),
        now=ctx.now,
    )


@action("certificate.analyze")
async def analyze(inp: AnalyzeInput, ctx: ActionContext) -> CertificateFacts:
    """Analyze the alert's certificate: identifiers, chain trust, CRL status, self-signature, issuer mimicry,
    tool defaults, anomalies, SSLBL and allowlist.

    With only logged attributes the facts say ``source="log"``; with only hashes ``source="fingerprint"``.
    Managed CAs come from the configured CA connector, internal roots and CRLs from ``trust``, the SSLBL
    file from ``intel.sslbl``, the observation time from the alert, allowlist expiry from the run's clock.
    """
    return analyze_alert(inp.alert, await analysis_context(inp.alert, ctx))
