"""Judging what a managed CA issued against the issuance policy (config ``policy:``): a pure function.

A sweep judges every certificate a CA issued, so each fact is asked for only by a rule the policy sets (and a
costly one only once a cheap one says it matters), and the exceptions only of a certificate that breaks a
rule: of a lazily read certificate (connectors.ca.described.CertificateReading) a fact no rule needs is never
read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from certsoar.addresses import IpNetwork, parse_ip, parse_network
from certsoar.certs.dn import first, parse_dn
from certsoar.certs.names import covered_names, outside_domains
from certsoar.config import IssuancePolicy, PolicyException, name_pattern_matches
from certsoar.connectors.ca.described import CertificateReading, IssuedFacts

ANY_EKU = "2.5.29.37.0"


@dataclass(frozen=True)
class Breach:
    rule: str
    reason: str


@dataclass(frozen=True)
class Judgement:
    breaches: list[Breach]
    """The rules the certificate breaks that no exception excuses."""
    excused: list[tuple[Breach, PolicyException]]


def judge(cert: IssuedFacts, policy: IssuancePolicy, org_domains: list[str], now: datetime) -> Judgement:
    """Every rule of ``policy`` that ``cert`` breaks, with a reason an analyst can check, split into those
    an unexpired exception excuses and the rest."""
    return PolicyJudge(policy, org_domains).judge(cert, now)


class PolicyJudge:
    """``judge`` for one policy, what it needs of the policy worked out once for a sweep's many certificates."""

    def __init__(self, policy: IssuancePolicy, org_domains: list[str]) -> None:
        self.policy = policy
        forbid = policy.forbid
        self.domains = policy.allowed_domains if policy.allowed_domains is not None else org_domains
        self.wants_names = bool(self.domains) or forbid.wildcard
        self.ip_networks: list[IpNetwork] | None = None
        if forbid.ip_outside is not None:
            self.ip_networks = [parse_network(n, strict=False) for n in forbid.ip_outside]
        self.requesters = None if policy.requesters is None else {_account(r) for r in policy.requesters}

    def judge(self, cert: IssuedFacts, now: datetime) -> Judgement:
        found = self._breaches(cert)
        if not found:
            return Judgement([], [])
        live = [e for e in self.policy.exceptions if e.expires > now and _names(e, cert)]
        breaches, excused = [], []
        for breach in found:
            exception = next((e for e in live if not e.rules or breach.rule in e.rules), None)
            if exception is None:
                breaches.append(breach)
            else:
                excused.append((breach, exception))
        return Judgement(breaches, excused)

    def _breaches(self, cert: IssuedFacts) -> list[Breach]:
        policy, forbid = self.policy, self.policy.forbid
        found = []
        names: list[str] = []
        if self.wants_names:
            names, _ = covered_names(cert.san_dns, [], _common_name(cert))
        if self.domains:
            outside = outside_domains(names, self.domains)
            if outside:
                found.append(
                    Breach("outside_domains", f"names outside {', '.join(self.domains)}: {', '.join(outside)}")
                )
        if policy.max_validity_days is not None and cert.not_before is not None:
            days = (cert.not_after - cert.not_before).total_seconds() / 86400
            if days > policy.max_validity_days:
                found.append(
                    Breach("max_validity_days", f"valid {days:.0f} days, more than {policy.max_validity_days}")
                )
        if policy.min_rsa_bits is not None and _key_is(cert, "rsa") and (cert.key_bits or 0) < policy.min_rsa_bits:
            found.append(Breach("min_rsa_bits", f"RSA key of {cert.key_bits} bits, fewer than {policy.min_rsa_bits}"))
        if policy.allowed_curves is not None and _key_is(cert, "ec") and cert.curve not in policy.allowed_curves:
            found.append(
                Breach("allowed_curves", f"EC curve {cert.curve} is not one of {', '.join(policy.allowed_curves)}")
            )
        if forbid.ca_true and cert.is_ca:
            found.append(Breach("ca_true", "a CA certificate (basicConstraints cA=TRUE) from an issuing CA"))
        if forbid.any_eku and ANY_EKU in cert.ekus:
            found.append(Breach("any_eku", "the anyExtendedKeyUsage EKU"))
        if forbid.wildcard:
            wildcards = [n for n in names if n.startswith("*")]
            if wildcards:
                found.append(Breach("wildcard", f"wildcard name {', '.join(wildcards)}"))
        if self.ip_networks is not None and forbid.ip_outside is not None and cert.san_ip:
            outside_ips = [ip for ip in cert.san_ip if not _inside(ip, self.ip_networks)]
            if outside_ips:
                within = ", ".join(forbid.ip_outside)
                found.append(Breach("ip_outside", f"IP address(es) outside {within}: {', '.join(outside_ips)}"))
        if forbid.upn_san_mismatch and cert.san_upn:
            requester = cert.requester
            principal = _account(requester) if requester else (_common_name(cert) or "").lower()
            whose = f"the requester {requester}" if requester else f"the subject CN {_common_name(cert)!r}"
            others = [u for u in cert.san_upn if u.partition("@")[0].lower() != principal]
            if others:
                found.append(
                    Breach("upn_san_mismatch", f"SAN UPN {', '.join(others)} names another principal than {whose}")
                )
        if self.requesters is not None and cert.requester is not None:
            if _account(cert.requester) not in self.requesters:
                found.append(Breach("requesters", f"requested by {cert.requester}, who may not request certificates"))
        if policy.templates is not None and cert.template is not None and cert.template not in policy.templates:
            found.append(Breach("templates", f"template {cert.template} is not allowed"))
        return found


def _key_is(cert: IssuedFacts, key_type: str) -> bool:
    """``cert.key_type == key_type``; of a certificate not yet read, its key is loaded only when its algorithm
    allows that type."""
    if isinstance(cert, CertificateReading) and not cert.key_may_be(key_type):
        return False
    return cert.key_type == key_type


def _common_name(cert: IssuedFacts) -> str | None:
    return cert.common_name or first(parse_dn(cert.subject), "CN")


def _names(exception: PolicyException, cert: IssuedFacts) -> bool:
    if exception.serial is not None and exception.serial != cert.serial:
        return False
    if exception.sha256 is not None and exception.sha256 != cert.sha256:
        return False
    return exception.subject is None or name_pattern_matches(exception.subject, cert.subject)


def _account(name: str) -> str:
    """``CORP\\alice``, ``alice@corp.example`` and ``alice`` are one account."""
    return name.rpartition("\\")[2].partition("@")[0].lower()


def _inside(ip: str, networks: list[IpNetwork]) -> bool:
    try:
        address = parse_ip(ip)
    except ValueError:
        return False
    return any(address in n for n in networks)
