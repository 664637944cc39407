"""Signals derived from a certificate's attributes, whichever way they were read: parsed from the DER
(facts.analyze_certificate) or recorded by a log (analysis.facts_from_log). Both paths call these, so
the same certificate gives the same signals either way; what only one path can know (a signature, the
trust store's verdict, a sensor's validation status) stays with that path and is passed in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from certsoar.certs import anomalies as checks
from certsoar.certs.brands import names_of_cas, public_brand_named, reference_brands, runs_private_pki
from certsoar.certs.dn import Attribute, first
from certsoar.certs.mimicry import MimicryFacts, match_issuer
from certsoar.certs.names import inside, looks_like_host, normalize_host

_MIMICRY_LABELS = ("O", "CN", "OU")
# A CA's name carries one to three of them; comparing one with every reference brand costs milliseconds,
# so a hostile name with thousands would cost minutes.
MAX_MIMICRY_VALUES = 16


@dataclass(frozen=True)
class NameFields:
    subject_cn: str | None
    issuer_cn: str | None
    issuer_org: str | None


def name_fields(subject: list[Attribute], issuer: list[Attribute]) -> NameFields:
    return NameFields(first(subject, "CN"), first(issuer, "CN"), first(issuer, "O"))


def _our_host(value: str, domains: list[str]) -> bool:
    return bool(domains) and looks_like_host(value) and inside(normalize_host(value), domains)


def serial_anomalies(serial: int | None) -> list[str]:
    """RFC 5280 wants a positive serial; zero and negative ones are tool or hand-made certificates."""
    return ["non_positive_serial"] if serial is not None and serial <= 0 else []


def presented_as_leaf(is_ca: bool | None, *, names_host: bool, trust_anchor: bool, ours: bool) -> bool:
    """Is the certificate an end entity? CA:FALSE (or no basicConstraints) is. CA:TRUE is a CA certificate,
    judged as one (sensors log every certificate of every chain: public intermediates and roots, vendor
    PKIs), unless it names a host (a DNS/IP SAN, a host-like CN): an endpoint certificate claiming to be
    a CA (Metasploit's default, ``openssl req -x509``) that is neither a trust anchor nor one of our CAs."""
    if not is_ca:
        return True
    return names_host and not (trust_anchor or ours)


@dataclass(frozen=True)
class ValiditySignals:
    anomalies: list[str]
    validity_days: int
    lifetime_exceeded: bool


def public_ca_brand(issuer: list[Attribute]) -> str | None:
    return public_brand_named(issuer)


def in_server_leaf_scope(is_ca: bool | None, server_auth: bool | None) -> bool:
    """In the scope of the CA/B Forum TLS lifetime limit: an end-entity certificate (CA:FALSE or no
    basicConstraints) whose EKU allows server authentication (serverAuth or anyExtendedKeyUsage) or is
    absent (Mozilla Root Store Policy 1.1 counts a leaf without EKU in scope). ``server_auth`` None: no
    EKU, or not known (a log does not record it)."""
    return not is_ca and server_auth is not False


def claims_public_trust(
    brand: str | None, *, chains_public: bool, issued_by_public_root: bool, has_scts: bool, private_chain: bool
) -> bool:
    """Does the certificate present itself as publicly trusted? Validating to a public root, a public root's
    name as its issuer, or embedded CT timestamps say so; so does the name of a public CA operator as its
    issuer, but not a vendor that also runs private PKIs under its own name (brands.PRIVATE_PKI_VENDORS).
    A presented chain that ends at a private root, an internal chain or a managed CA says it is private."""
    if private_chain:
        return False
    if chains_public or issued_by_public_root or has_scts:
        return True
    return brand is not None and not runs_private_pki(brand)


def unjudged_lifetime_note(
    brand: str | None, not_before: datetime, not_after: datetime, *, leaf: bool, public_tls_leaf: bool
) -> str | None:
    """Why a leaf naming a public CA brand beyond the CA/B Forum limit is not an indicator (for the analyst)."""
    if brand is None or not leaf or public_tls_leaf or not checks.lifetime_exceeded(not_before, not_after):
        return None
    return (
        f"the issuer names {brand} and the validity ({(not_after - not_before).days} days) is above the CA/B Forum "
        "limit for public TLS server leaves, but the certificate is not one (a non-server EKU, or a private PKI: "
        "a vendor's own CA, a private or internal chain): the limit does not apply"
    )


def validity_signals(
    not_before: datetime,
    not_after: datetime,
    at: datetime,
    *,
    leaf: bool,
    public_tls_leaf: bool,
) -> ValiditySignals:
    """Validity anomalies at ``at``, and whether a publicly trusted TLS server leaf (``public_tls_leaf``: in
    scope and claiming public trust) outlives the CA/B Forum limit in force at its notBefore."""
    found = checks.validity_anomalies(not_before, not_after, at, is_ca=not leaf)
    exceeded = public_tls_leaf and checks.lifetime_exceeded(not_before, not_after)
    if exceeded and "exceeds_public_max_validity" not in found:
        found.append("exceeds_public_max_validity")
    return ValiditySignals(found, (not_after - not_before).days, exceeded)


@dataclass(frozen=True)
class IssuerMimicry:
    facts: MimicryFacts
    not_compared: int
    """O/CN/OU values beyond MAX_MIMICRY_VALUES (distinct) that were not compared."""

    def note(self) -> str | None:
        if not self.not_compared:
            return None
        return f"issuer mimicry: {self.not_compared} issuer O/CN/OU values beyond the first {MAX_MIMICRY_VALUES} were not compared"


def issuer_mimicry(
    issuer: list[Attribute], our_cas: Sequence[x509.Certificate], *, trusted: bool, org_domains: Sequence[str] = ()
) -> IssuerMimicry:
    """The issuer's distinct O, CN and OU values (in that order, at most MAX_MIMICRY_VALUES) against the
    reference brands and our CAs' names. A host name inside the organization's domains is not compared:
    it names one of our hosts (the self-signed RDP or appliance certificate of every Windows host), not a
    CA; a look-alike of our domains is outside them and still compared."""
    domains = [normalize_host(d) for d in org_domains if d.strip()]
    distinct = list(
        dict.fromkeys(
            (label, value)
            for wanted in _MIMICRY_LABELS
            for label, value in issuer
            if label == wanted and not _our_host(value, domains)
        )
    )
    compared = distinct[:MAX_MIMICRY_VALUES]
    if not compared:
        return IssuerMimicry(MimicryFacts(), 0)
    facts = match_issuer(compared, reference_brands(names_of_cas(list(our_cas))), trusted=trusted)
    return IssuerMimicry(facts, len(distinct) - len(compared))
