"""Hostile certificate sizes: many SANs, duplicated SANs, long and many-attribute names analyze (no timing
asserted here; bench/run.py measures them), and the de-duplication keeps first occurrences in order."""

from __future__ import annotations

import ipaddress

from certfactory import NOW, custom, name
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given, settings
from hypothesis import strategies as st

from certsoar.certs import analyze_certificate
from certsoar.certs.names import covered_names, is_ip, looks_like_host, normalize_host
from certsoar.certs.signals import MAX_MIMICRY_VALUES

BASE = int(ipaddress.ip_address("10.0.0.0"))


def _analyze(der: bytes):  # type: ignore[no-untyped-def]
    return analyze_certificate(der, at=NOW, internal_roots=[], managed_cas=[], org_domains=["corp.example"])


def test_twenty_thousand_ip_sans_twice_over() -> None:
    ips = [str(ipaddress.ip_address(BASE + i)) for i in range(20_000)]
    cert = custom(name(("CN", "10.0.0.5")), ips=ips + ips[::-1])
    facts = _analyze(cert.public_bytes(Encoding.DER))
    assert facts.ip_addresses == ips  # each once, in the order first written; the CN address is one of them
    assert facts.parsed and not facts.errors


def test_many_dns_sans_with_duplicates_and_a_host_cn() -> None:
    sans = [f"h{i % 5_000}.Example.COM." for i in range(15_000)]
    cert = custom(name(("CN", "login.corp.example")), sans=sans)
    facts = _analyze(cert.public_bytes(Encoding.DER))
    assert facts.names == [f"h{i}.example.com" for i in range(5_000)] + ["login.corp.example"]
    assert len(facts.outside_domains) == 5_000


def test_a_long_and_many_attribute_name() -> None:
    attrs = [("OU", f"unit {i}") for i in range(5_000)] + [("O", "DigiCert Inc " * 2_000), ("CN", "x" * 20_000)]
    cert = custom(name(*attrs), sans=["a.example.net"])
    facts = _analyze(cert.public_bytes(Encoding.DER))
    assert facts.subject_cn == "x" * 20_000
    assert facts.names == ["a.example.net"]


def test_an_overlong_common_name_is_not_a_country_anomaly() -> None:
    facts = _analyze(custom(name(("C", "US"), ("CN", "x" * 100)), sans=["a.example.net"]).public_bytes(Encoding.DER))
    assert "country_len_ne_2" not in facts.anomalies
    assert "country_len_ne_2" in _analyze(custom(name(("C", "USA"), ("CN", "a"))).public_bytes(Encoding.DER)).anomalies


def _reference(dns: list[str], ips: list[str], cn: str | None) -> tuple[list[str], list[str]]:
    """The original, quadratic de-duplication: the specification the linear one must keep."""
    names: list[str] = []
    addresses: list[str] = []
    for entry in dns:
        host = normalize_host(entry)
        if host and host not in names:
            names.append(host)
    for ip in ips:
        if ip.strip() and ip.strip() not in addresses:
            addresses.append(ip.strip())
    if cn and looks_like_host(cn):
        if normalize_host(cn) not in names:
            names.append(normalize_host(cn))
    elif cn and is_ip(cn) and cn.strip() not in addresses:
        addresses.append(cn.strip())
    return names, addresses


_HOSTS = st.sampled_from(
    # a DNS SAN may hold what is no host (an address, one label): the CN repeating it adds nothing or an address
    [
        "a.example.com",
        "A.example.com.",
        "xn--bcher-kva.example",
        "b.example",
        " ",
        "",
        "*.x.example",
        "10.0.0.1",
        "intranet",
    ]
)
_IPS = st.sampled_from(["10.0.0.1", "10.0.0.2", " 10.0.0.1 ", "::1", ""])


@settings(max_examples=300, deadline=None)
@given(st.lists(_HOSTS, max_size=12), st.lists(_IPS, max_size=12), st.one_of(st.none(), _HOSTS, _IPS))
def test_covered_names_matches_the_reference(dns: list[str], ips: list[str], cn: str | None) -> None:
    assert covered_names(dns, ips, cn) == _reference(dns, ips, cn)


def test_an_issuer_with_thousands_of_names_is_compared_on_a_bounded_few() -> None:
    """Each issuer value costs a comparison with every reference brand: 4 000 OU values took 16 s."""
    junk = [("OU", f"Digicert Trust Servces Unit {i}") for i in range(2_000)]
    cert = custom(name(("O", "DigiCert lnc"), *junk, ("CN", "x")), sans=["a.example.net"])
    facts = _analyze(cert.public_bytes(Encoding.DER))
    assert facts.mimicry.matched and facts.mimicry.brand is not None and facts.mimicry.value == "DigiCert lnc"
    distinct = 1 + 1 + 2_000  # O, CN and every OU
    assert (
        f"issuer mimicry: {distinct - MAX_MIMICRY_VALUES} issuer O/CN/OU values beyond the first {MAX_MIMICRY_VALUES} were not compared"
        in facts.errors
    )


def test_repeated_issuer_values_count_once() -> None:
    cert = custom(name(*[("OU", "same unit")] * 500, ("O", "DigiCert lnc")), sans=["a.example.net"])
    facts = _analyze(cert.public_bytes(Encoding.DER))
    assert facts.mimicry.matched
    assert not [e for e in facts.errors if e.startswith("issuer mimicry")]
