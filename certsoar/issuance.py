"""Judging what a managed CA issued against the issuance policy (config ``policy:``): a pure function."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from certsoar.addresses import IpNetwork, parse_ip, parse_network
from certsoar.certs.dn import first, parse_dn
from certsoar.certs.names import covered_names, outside_domains
from certsoar.config import IssuancePolicy, PolicyException, name_pattern_matches
from certsoar.connectors.ca import IssuedCertificate

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


def judge(cert: IssuedCertificate, policy: IssuancePolicy, org_domains: list[str], now: datetime) -> Judgement:
    """Every rule of ``policy`` that ``cert`` breaks, with a reason an analyst can check, split into those
    an unexpired exception excuses and the rest."""
    found = list(_breaches(cert, policy, org_domains))
    live = [e for e in policy.exceptions if e.expires > now and _names(e, cert)]
    breaches, excused = [], []
    for breach in found:
        exception = next((e for e in live if not e.rules or breach.rule in e.rules), None)
        if exception is None:
            breaches.append(breach)
        else:
            excused.append((breach, exception))
    return Judgement(breaches, excused)


def _names(exception: PolicyException, cert: IssuedCertificate) -> bool:
    if exception.serial is not None and exception.serial != cert.serial:
        return False
    if exception.sha256 is not None and exception.sha256 != cert.sha256:
        return False
    return exception.subject is None or name_pattern_matches(exception.subject, cert.subject)


def _breaches(cert: IssuedCertificate, policy: IssuancePolicy, org_domains: list[str]) -> Iterator[Breach]:
    cn = cert.common_name or first(parse_dn(cert.subject), "CN")
    names, _ = covered_names(cert.san_dns, [], cn)
    domains = policy.allowed_domains if policy.allowed_domains is not None else org_domains
    if domains:
        outside = outside_domains(names, domains)
        if outside:
            yield Breach("outside_domains", f"names outside {', '.join(domains)}: {', '.join(outside)}")
    if policy.max_validity_days is not None and cert.not_before is not None:
        days = (cert.not_after - cert.not_before).total_seconds() / 86400
        if days > policy.max_validity_days:
            yield Breach("max_validity_days", f"valid {days:.0f} days, more than {policy.max_validity_days}")
    if policy.min_rsa_bits is not None and cert.key_type == "rsa" and (cert.key_bits or 0) < policy.min_rsa_bits:
        yield Breach("min_rsa_bits", f"RSA key of {cert.key_bits} bits, fewer than {policy.min_rsa_bits}")
    if policy.allowed_curves is not None and cert.key_type == "ec" and cert.curve not in policy.allowed_curves:
        yield Breach("allowed_curves", f"EC curve {cert.curve} is not one of {', '.join(policy.allowed_curves)}")
    forbid = policy.forbid
    if forbid.ca_true and cert.is_ca:
        yield Breach("ca_true", "a CA certificate (basicConstraints cA=TRUE) from an issuing CA")
    if forbid.any_eku and ANY_EKU in cert.ekus:
        yield Breach("any_eku", "the anyExtendedKeyUsage EKU")
    if forbid.wildcard:
        wildcards = [n for n in names if n.startswith("*")]
        if wildcards:
            yield Breach("wildcard", f"wildcard name {', '.join(wildcards)}")
    if forbid.ip_outside is not None:
        allowed = [parse_network(n, strict=False) for n in forbid.ip_outside]
        outside_ips = [ip for ip in cert.san_ip if not _inside(ip, allowed)]
        if outside_ips:
            yield Breach(
                "ip_outside", f"IP address(es) outside {', '.join(forbid.ip_outside)}: {', '.join(outside_ips)}"
            )
    if forbid.upn_san_mismatch:
        principal = _account(cert.requester) if cert.requester else (cn or "").lower()
        whose = f"the requester {cert.requester}" if cert.requester else f"the subject CN {cn!r}"
        others = [u for u in cert.san_upn if u.partition("@")[0].lower() != principal]
        if others:
            yield Breach("upn_san_mismatch", f"SAN UPN {', '.join(others)} names another principal than {whose}")
    if policy.requesters is not None and cert.requester is not None:
        if _account(cert.requester) not in {_account(r) for r in policy.requesters}:
            yield Breach("requesters", f"requested by {cert.requester}, who may not request certificates")
    if policy.templates is not None and cert.template is not None and cert.template not in policy.templates:
        yield Breach("templates", f"template {cert.template} is not allowed")


def _account(name: str) -> str:
    """``CORP\\alice``, ``alice@corp.example`` and ``alice`` are one account."""
    return name.rpartition("\\")[2].partition("@")[0].lower()


def _inside(ip: str, networks: list[IpNetwork]) -> bool:
    try:
        address = parse_ip(ip)
    except ValueError:
        return False
    return any(address in n for n in networks)
