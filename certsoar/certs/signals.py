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
from certsoar.certs.brands import names_of_cas, public_brand_named, reference_brands
from certsoar.certs.dn import Attribute, first
from certsoar.certs.mimicry import MimicryFacts, match_issuer

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


def serial_anomalies(serial: int | None) -> list[str]:
    """RFC 5280 wants a positive serial; zero and negative ones are tool or hand-made certificates."""
    return ["non_positive_serial"] if serial is not None and serial <= 0 else []


def presented_as_leaf(is_ca: bool | None, *, trust_anchor: bool, ours: bool) -> bool:
    """The certificate an alert is about is judged as a leaf unless it is a CA we know: CA:TRUE on a
    certificate that is neither a trust anchor nor one of our CAs is a leaf claiming to be a CA."""
    return not is_ca or not (trust_anchor or ours)


@dataclass(frozen=True)
class ValiditySignals:
    anomalies: list[str]
    validity_days: int
    lifetime_exceeded: bool


def public_ca_brand(issuer: list[Attribute]) -> str | None:
    return public_brand_named(issuer)


def validity_signals(
    not_before: datetime, not_after: datetime, at: datetime, *, leaf: bool, chains_public: bool, brand: str | None
) -> ValiditySignals:
    """Validity anomalies at ``at``, and whether a leaf outlives the public-CA lifetime limit in force at its
    notBefore (an anomaly when its issuer names the public CA ``brand``)."""
    found = checks.validity_anomalies(not_before, not_after, at, is_ca=not leaf, chains_public=chains_public)
    exceeded = leaf and checks.lifetime_exceeded(not_before, not_after)
    if brand is not None and exceeded and "exceeds_public_max_validity" not in found:
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


def issuer_mimicry(issuer: list[Attribute], our_cas: Sequence[x509.Certificate], *, trusted: bool) -> IssuerMimicry:
    """The issuer's distinct O, CN and OU values (in that order, at most MAX_MIMICRY_VALUES) against the
    reference brands and our CAs' names."""
    distinct = list(
        dict.fromkeys((label, value) for wanted in _MIMICRY_LABELS for label, value in issuer if label == wanted)
    )
    compared = distinct[:MAX_MIMICRY_VALUES]
    if not compared:
        return IssuerMimicry(MimicryFacts(), 0)
    facts = match_issuer(compared, reference_brands(names_of_cas(list(our_cas))), trusted=trusted)
    return IssuerMimicry(facts, len(distinct) - len(compared))
