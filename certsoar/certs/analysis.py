"""analyze_alert: CertificateFacts for an alert, whatever it carries (certificate, log attributes, hashes).

With the certificate: the full analysis of facts.analyze_certificate. With only what a log recorded
(``alert.logged_certificate``): the same signals from the recorded attributes, ``source="log"``, with
notes where a decision rests on names rather than signatures. With only hashes: ``source="fingerprint"``.
SSLBL, the tool catalogue and the allowlist apply in every case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path

from cryptography import x509

from certsoar.alert import CertificateAlert, LoggedCertificate
from certsoar.certs import anomalies as checks
from certsoar.certs.allowlist import Identity, match_allowlist
from certsoar.certs.catalogue import CatalogueError, load_catalogue
from certsoar.certs.chain import ChainFacts, certifi_root_sha256s, certifi_roots
from certsoar.certs.dn import Attribute, attributes_of, comparison_key, parse_dn, rfc4514, same_name
from certsoar.certs.facts import CertificateFacts, analyze_certificate, facts_from_fingerprints, ioc_reasons
from certsoar.certs.fingerprints import serial_hex, serial_number
from certsoar.certs.intel import load_sslbl
from certsoar.certs.names import covered_names, outside_domains
from certsoar.certs.requester import others_named
from certsoar.certs.revocation import LoadedCrl, check_revocation
from certsoar.certs.signals import (
    claims_public_trust,
    in_server_leaf_scope,
    issuer_mimicry,
    name_fields,
    presented_as_leaf,
    public_ca_brand,
    serial_anomalies,
    unjudged_lifetime_note,
    validity_signals,
)
from certsoar.certs.tools import CertView, ToolMatch, match_tools
from certsoar.certs.vendors import vendor_ca_sha256s
from certsoar.config import AllowlistEntry
from certsoar.errors import AlertError, SslblError
from certsoar.timeparse import as_utc

SELF_SIGNED_STATUS = "self signed certificate"
SELF_SIGNED_IN_CHAIN_STATUS = "self signed certificate in certificate chain"
_KEY_TYPES = {
    "rsa": "RSA",
    "ec": "EC",
    "ecdsa": "EC",
    "id-ecpublickey": "EC",
    "dsa": "DSA",
    "ed25519": "Ed25519",
    "ed448": "Ed448",
}


@dataclass(frozen=True)
class AnalysisContext:
    """Everything the analysis needs besides the alert (built once per run by certificate.analyze)."""

    at: datetime  # when the certificate was observed: chain validity and CRL freshness are judged here
    internal_roots: Sequence[x509.Certificate] = ()
    managed_cas: Sequence[x509.Certificate] = ()
    org_domains: Sequence[str] = ()
    crls: Sequence[LoadedCrl] = ()
    sslbl: Path | None = None
    catalogue: Path | None = None  # None: the catalogue shipped with the package
    allowlist: Sequence[AllowlistEntry] = ()
    now: datetime | None = field(default=None)  # allowlist expiry is judged here; defaults to ``at``


def analyze_alert(alert: CertificateAlert, ctx: AnalysisContext) -> CertificateFacts:
    """CertificateFacts for ``alert``; raises AlertError only when the alert names no usable certificate."""
    notes: list[str] = []
    facts: CertificateFacts | None = None
    if alert.certificate_pem:
        try:
            facts = analyze_certificate(
                alert.certificate_pem.encode("utf-8"),
                at=ctx.at,
                internal_roots=list(ctx.internal_roots),
                managed_cas=list(ctx.managed_cas),
                org_domains=list(ctx.org_domains),
                crls=ctx.crls,
            )
        except AlertError as exc:
            if not (alert.logged_certificate or alert.sha256 or alert.sha1):
                raise
            notes.append(
                f"the certificate in the alert is unusable ({exc}); facts come from what else the alert carries"
            )
        else:
            notes.extend(_hash_mismatches(alert, facts))
    if facts is None and alert.logged_certificate is not None:
        facts = facts_from_log(alert.logged_certificate, alert, ctx)
    if facts is None:
        if not (alert.sha256 or alert.sha1):
            raise AlertError("the alert carries no certificate, no logged certificate attributes and no hash")
        facts = facts_from_fingerprints(alert.sha256, alert.sha1)
    return _with_intel_and_allowlist(_with_requester(facts, alert), alert, ctx, notes)


DENIED_EVENT = "adcs-4888"


def _with_requester(facts: CertificateFacts, alert: CertificateAlert) -> CertificateFacts:
    if not alert.requester:
        return facts
    return with_requester(facts, alert.requester, denied=alert.event == DENIED_EVENT)


def with_requester(
    facts: CertificateFacts,
    requester: str,
    *,
    denied: bool = False,
    upns: Sequence[str] = (),
    dns: Sequence[str] = (),
    source: str | None = None,
) -> CertificateFacts:
    """Who asked for the certificate (the CA's event, from ``source`` when not the alert itself) against whom
    its SAN names (its own names, plus ``upns``/``dns`` the event shows); a denied request is only a note."""
    others = others_named(requester, [*facts.upns, *upns], [*facts.names, *dns])
    notes = [*facts.notes, f"requested by {requester}, as {source} says"] if source else list(facts.notes)
    if others and denied:
        notes.append(f"the CA denied {requester}'s request for a certificate naming {', '.join(others)}")
        others = []
    return facts.model_copy(update={"requester": requester, "names_others": others, "notes": notes})


def _hash_mismatches(alert: CertificateAlert, facts: CertificateFacts) -> list[str]:
    return [
        f"alert {name} {claimed} does not match the certificate ({actual})"
        for name, claimed, actual in (("sha256", alert.sha256, facts.sha256), ("sha1", alert.sha1, facts.sha1))
        if claimed and claimed != actual
    ]


def _with_intel_and_allowlist(
    facts: CertificateFacts, alert: CertificateAlert, ctx: AnalysisContext, notes: list[str]
) -> CertificateFacts:
    errors = list(facts.errors)
    mismatches = [n for n in notes if "does not match the certificate" in n]
    errors.extend(mismatches)
    notes = [n for n in notes if n not in mismatches] + list(facts.notes)
    sslbl = None
    if ctx.sslbl is not None:
        try:
            index = load_sslbl(ctx.sslbl)
        except SslblError as exc:
            notes.append(f"{exc}: the SSLBL check was skipped")
        else:
            sha1 = facts.sha1 or alert.sha1
            sslbl = index.lookup(sha1)
            if sha1 is None:
                notes.append("no SHA-1 is known for this certificate: the SSLBL check was not possible")
    tools = _with_catalogue(facts, ctx.catalogue, notes)
    who = Identity(
        sha256=facts.sha256 or alert.sha256,
        spki_sha256=facts.spki_sha256,
        subject=facts.subject,
        issuer=facts.issuer,
        server=alert.dst_ip,
    )
    allowlisted, allow_notes = match_allowlist(list(ctx.allowlist), who, now=as_utc(ctx.now or ctx.at))
    notes.extend(allow_notes)
    updated = facts.model_copy(
        update={"sslbl": sslbl, "tools": tools, "allowlisted": allowlisted, "notes": notes, "errors": errors}
    )
    return updated.model_copy(update={"ioc_reasons": ioc_reasons(updated)})


# --- facts from a log record -----------------------------------------------------------------------


def _with_catalogue(facts: CertificateFacts, path: Path | None, notes: list[str]) -> list[ToolMatch]:
    """The facts' tool matches plus the catalogue's, one per tool (an exact match wins), exact first."""
    try:
        catalogue = load_catalogue(path)
    except CatalogueError as exc:
        notes.append(f"{exc}: the tool catalogue check was skipped")
        return list(facts.tools)
    view = CertView(
        subject=parse_dn(facts.subject) if facts.subject else [],
        issuer=parse_dn(facts.issuer) if facts.issuer else [],
        serial=serial_number(facts.serial) if facts.serial else None,
        sha1=facts.sha1,
        sha256=facts.sha256,
    )
    known = {m.tool: m for m in facts.tools}
    for found in catalogue.match(view):
        if found.tool not in known or (found.exact and not known[found.tool].exact):
            known[found.tool] = found
    return sorted(known.values(), key=lambda m: not m.exact)


def _serial_int(serial: str | None) -> tuple[str | None, int | None]:
    number = serial_number(serial) if serial else None
    return (None, None) if number is None else (serial_hex(number), number)


def _key_type(logged: LoggedCertificate) -> str | None:
    if not logged.key_type:
        return None
    return _KEY_TYPES.get(logged.key_type.strip().lower(), logged.key_type.strip())


def _log_chain(status: str | None) -> ChainFacts:
    if status is None or not status.strip():
        return ChainFacts(
            store="none", reason="the log carried no certificate and no validation status: the chain was not validated"
        )
    if status.strip().lower() == "ok":
        return ChainFacts(
            store="public",
            reason="reported by the sensor (validation_status=ok, its public store); not re-validated here",
        )
    return ChainFacts(store="none", reason=f"the sensor reported: {status.strip()}; not re-validated here")


def facts_from_log(logged: LoggedCertificate, alert: CertificateAlert, ctx: AnalysisContext) -> CertificateFacts:
    """The §1 signals that the recorded attributes allow; what they cannot decide goes to ``notes``."""
    at = as_utc(ctx.at)
    notes: list[str] = []
    anomalies: list[str] = []

    def flag(*codes: str) -> None:
        anomalies.extend(c for c in codes if c not in anomalies)

    subject = parse_dn(logged.subject)
    issuer = parse_dn(logged.issuer)
    if logged.subject and not subject:
        notes.append(f"the logged subject {logged.subject[:200]!r} does not read as a distinguished name")
    if logged.issuer and not issuer:
        notes.append(f"the logged issuer {logged.issuer[:200]!r} does not read as a distinguished name")
    serial, serial_number = _serial_int(logged.serial)
    if logged.serial and serial is None:
        notes.append(f"the logged serial {logged.serial[:80]!r} is not hexadecimal")
    flag(*serial_anomalies(serial_number))
    if logged.version == 1:
        flag("x509_v1")
    if logged.subject is not None:
        flag(*checks.attribute_anomalies(subject))

    key_type = _key_type(logged)
    if key_type is not None:
        flag(*checks.key_anomalies(key_type, logged.key_length))
    flag(*checks.signature_name_anomalies(logged.signature_algorithm))

    self_signed_name = same_name(subject, issuer)
    status = (logged.validation_status or "").strip().lower()
    self_signed = self_signed_name or status == SELF_SIGNED_STATUS
    if self_signed_name:
        notes.append("self-signed decided from names only: the log carried no certificate (subject equals issuer)")
    elif status == SELF_SIGNED_STATUS:
        notes.append(
            "self-signed as the sensor reported it (validation_status 'self signed certificate'); names differ"
        )
    else:
        notes.append(
            "self-signature not verifiable from a log: a certificate signed by its own key under another issuer name (old Metasploit) is missed"
        )
    if status == SELF_SIGNED_IN_CHAIN_STATUS:
        notes.append(
            "the sensor saw an untrusted self-signed root in the presented chain (a private CA), not a self-signed leaf"
        )

    named = name_fields(subject, issuer)
    names, addresses = covered_names(logged.san_dns, logged.san_ip, named.subject_cn)

    managed = _managed_by_name(issuer, ctx.managed_cas)
    if managed is not None:
        notes.append("issuer name is a managed CA's; the signature could not be checked from a log")
    genuine_root = bool(alert.sha256 and alert.sha256 in certifi_root_sha256s())
    vendor = vendor_ca_sha256s().get(alert.sha256 or "")
    internal_root = self_signed_name and any(same_name(attributes_of(r.subject), subject) for r in ctx.internal_roots)
    is_ca = logged.basic_constraints_ca
    leaf = presented_as_leaf(
        is_ca,
        names_host=bool(names or addresses),
        trust_anchor=genuine_root or internal_root or vendor is not None,
        ours=managed is not None or _managed_by_name(subject, ctx.managed_cas) is not None,
    )
    if is_ca and leaf:
        flag("ca_true_on_leaf")
    if (
        alert.source_format.lower().startswith("zeek")
        and leaf
        and not logged.san_dns
        and not logged.san_ip
        and not (genuine_root or internal_root)
    ):
        flag("missing_san")

    chain = _log_chain(logged.validation_status)
    not_before = as_utc(logged.not_before) if logged.not_before else None
    not_after = as_utc(logged.not_after) if logged.not_after else None
    brand = public_ca_brand(issuer)
    # A log records neither the EKU nor CT timestamps: scope and claim rest on CA:FALSE and the issuer's name
    public_tls_leaf = in_server_leaf_scope(is_ca, None) and claims_public_trust(
        brand,
        chains_public=chain.store == "public",
        issued_by_public_root=not self_signed_name and _public_root_named(issuer),
        has_scts=False,
        private_chain=managed is not None or vendor is not None or status == SELF_SIGNED_IN_CHAIN_STATUS,
    )
    validity = None
    if not_before and not_after:
        validity = validity_signals(not_before, not_after, at, leaf=leaf, public_tls_leaf=public_tls_leaf)
        flag(*validity.anomalies)
        if note := unjudged_lifetime_note(brand, not_before, not_after, leaf=leaf, public_tls_leaf=public_tls_leaf):
            notes.append(note)
    # Exact brand names count only with proof (cert-domain §4 E1): here a leaf that names itself as issuer,
    # or a certificate the sensor itself found self-signed and untrusted.
    proof = not genuine_root and ((self_signed_name and leaf) or status == SELF_SIGNED_STATUS)
    trusted = chain.store != "none" or managed is not None or vendor is not None or not proof
    compared = issuer_mimicry(
        issuer, [*ctx.managed_cas, *ctx.internal_roots], trusted=trusted, org_domains=list(ctx.org_domains)
    )
    mimicry = compared.facts
    if skipped := compared.note():
        notes.append(skipped)

    view = CertView(
        subject=subject,
        issuer=issuer,
        serial=serial_number,
        sha1=alert.sha1,
        sha256=alert.sha256,
        not_before=not_before,
        not_after=not_after,
        key_type=key_type,
        key_size=logged.key_length,
        is_ca=is_ca,
        san_dns=list(logged.san_dns)
        if alert.source_format.lower().startswith("zeek")
        else (list(logged.san_dns) or None),
        san_ip=list(logged.san_ip) if alert.source_format.lower().startswith("zeek") else (list(logged.san_ip) or None),
        self_signed=True if status == SELF_SIGNED_STATUS else None,
    )
    revocation = check_revocation(
        serial=serial_number,
        issuer=issuer,
        crls=ctx.crls,
        issuer_certs=[
            c for c in (*ctx.managed_cas, *ctx.internal_roots) if same_name(attributes_of(c.subject), issuer)
        ],
        at=at,
    )
    if logged.template:
        notes.append(
            f"AD CS template {logged.template}" + (f", request {logged.request_id}" if logged.request_id else "")
        )
    facts = CertificateFacts(
        parsed=False,
        source="log",
        sha256=alert.sha256,
        sha1=alert.sha1,
        serial=serial,
        subject=rfc4514(subject) if subject else logged.subject,
        issuer=rfc4514(issuer) if issuer else logged.issuer,
        subject_cn=named.subject_cn,
        issuer_cn=named.issuer_cn,
        issuer_org=named.issuer_org,
        names=names,
        ip_addresses=addresses,
        upns=list(dict.fromkeys(logged.san_upn)),
        not_before=not_before,
        not_after=not_after,
        validity_days=validity.validity_days if validity else None,
        key_type=key_type,
        key_size=logged.key_length,
        signature_algorithm=logged.signature_algorithm,
        self_signed=self_signed,
        self_signed_name=self_signed_name,
        chain=chain,
        mimicry=mimicry,
        issued_by_managed_ca=managed is not None,
        managed_ca=managed.subject.rfc4514_string() if managed is not None else None,
        outside_domains=outside_domains(names, list(ctx.org_domains)),
        anomalies=anomalies,
        tools=match_tools(view),
        revocation=revocation,
        public_ca_named=brand is not None,
        public_ca_brand=brand,
        public_tls_leaf=public_tls_leaf,
        lifetime_exceeded=bool(validity and validity.lifetime_exceeded),
        vendor_ca=vendor.subject.rfc4514_string() if vendor is not None else None,
        notes=notes,
    )
    return facts.model_copy(update={"ioc_reasons": ioc_reasons(facts)})


def _public_root_named(issuer: list[Attribute]) -> bool:
    """``same_name`` with a certifi root's subject, looked up (a sweep asks this of every certificate)."""
    return bool(issuer) and tuple(comparison_key(issuer)) in _public_root_names()


@cache
def _public_root_names() -> frozenset[tuple[Attribute, ...]]:
    subjects = (attributes_of(root.subject) for root in certifi_roots())
    return frozenset(tuple(comparison_key(subject)) for subject in subjects if subject)


def _managed_by_name(issuer: list[Attribute], managed_cas: Sequence[x509.Certificate]) -> x509.Certificate | None:
    return next((ca for ca in managed_cas if same_name(attributes_of(ca.subject), issuer)), None)


__all__ = ["AnalysisContext", "analyze_alert", "facts_from_log", "with_requester"]
