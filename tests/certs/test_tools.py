"""Tool default certificates (cert-domain §1.5): a decision table on generated certificates and on logs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from certfactory import NOW, custom, name, pem_of, rsa_key

from certsoar.alert import CertificateAlert, LoggedCertificate
from certsoar.certs import AnalysisContext, analyze_alert
from certsoar.certs.dn import parse_dn
from certsoar.certs.tools import CertView, match_tools

YEAR = timedelta(days=365)
CS_DN = name(
    ("C", "Earth"),
    ("ST", "Cyberspace"),
    ("L", "Somewhere"),
    ("O", "cobaltstrike"),
    ("OU", "AdvancedPenTesting"),
    ("CN", "Major Cobalt Strike"),
)
MSF_DN = name(
    ("C", "US"),
    ("ST", "HI"),
    ("O", "Goldner and Sons"),
    ("OU", "1080p"),
    ("CN", "goldner.sons.net"),
    ("emailAddress", "1080p@goldner.sons.net"),
)
POSH_DN = name(
    ("C", "US"), ("ST", "Minnesota"), ("L", "Minnetonka"), ("O", "Pajfds"), ("OU", "Jethpro"), ("CN", "P18055077")
)
SLIVER_CA = name(("C", "US"), ("O", "Sliver"), ("CN", "sliver-ca"))


def _cases():
    rsa = rsa_key()
    return {
        "cobalt-strike keystore": (
            lambda: custom(CS_DN, key=rsa, lifetime=90 * timedelta(days=1)),
            "cobalt-strike",
            True,
        ),
        "cobalt-strike keystore, EC key": (lambda: custom(CS_DN), "cobalt-strike", False),
        "cobalt-strike partial DN": (
            lambda: custom(name(("O", "cobaltstrike"), ("CN", "Major Cobalt Strike"))),
            "cobalt-strike",
            False,
        ),
        "cobalt-strike https serial only": (
            lambda: custom(name(("CN", "x")), serial=0x08BB00EE),
            "cobalt-strike",
            False,
        ),
        "metasploit current": (
            lambda: custom(MSF_DN, key=rsa, ca=True, not_before=NOW - 2 * YEAR, lifetime=6 * YEAR),
            "metasploit",
            True,
        ),
        "metasploit shape with SAN": (
            lambda: custom(MSF_DN, key=rsa, ca=True, sans=["goldner.sons.net"], lifetime=6 * YEAR),
            "metasploit",
            False,
        ),
        "metasploit legacy packed C": (
            lambda: custom(
                name(("C", "US/ST=Texas/L=Alice/O=Bob/CN=host.example")),
                issuer=name(("C", "US/O=Carol/CN=Dave Eve")),
                key=rsa,
                ca=False,
                lifetime=3 * YEAR,
            ),
            "metasploit-legacy",
            True,
        ),
        "metasploit in-between packed faker": (
            lambda: custom(
                name(
                    (
                        "C",
                        "/C=US/ST=HI/O=Goldner and Sons/OU=1080p/CN=goldner.sons.net/emailAddress=1080p@goldner.sons.net",
                    )
                ),
                key=rsa,
                ca=True,
                lifetime=730 * timedelta(days=1),
            ),
            "metasploit-legacy",
            True,
        ),
        "sliver": (
            lambda: custom(
                name(("C", "US"), ("ST", "Colorado"), ("O", "ACME LLC"), ("postalCode", "4821"), ("CN", "c2.example")),
                issuer=SLIVER_CA,
                sign_key=rsa,
                serial=(1 << 127) + 5,
                not_before=NOW - timedelta(days=100),
                lifetime=3 * YEAR,
            ),
            "sliver",
            True,
        ),
        "covenant": (
            lambda: custom(
                name(("CN", "203.0.113.7")),
                key=rsa,
                ips=["203.0.113.7"],
                server_auth=True,
                not_before=NOW - timedelta(days=1),
                lifetime=timedelta(days=3651),
            ),
            "covenant",
            True,
        ),
        "empire": (lambda: custom(name(("C", "US")), lifetime=YEAR), "empire", True),
        "empire variant": (
            lambda: custom(name(("C", "US"), ("O", "Empire"), ("CN", "c2.example")), lifetime=YEAR),
            "empire",
            True,
        ),
        "mythic": (lambda: custom(name(("O", "Mythic C2")), server_auth=True, lifetime=YEAR), "mythic", True),
        "mythic with CN": (
            lambda: custom(name(("O", "Mythic"), ("CN", "mythic.example")), lifetime=YEAR),
            "mythic",
            False,
        ),
        "poshc2": (lambda: custom(POSH_DN, serial=1000, lifetime=timedelta(days=3652)), "poshc2", True),
        "poshc2 other serial": (lambda: custom(POSH_DN, serial=4242, lifetime=timedelta(days=3652)), "poshc2", False),
        "new-selfsignedcertificate": (
            lambda: custom(
                name(("CN", "web01.corp.example")),
                serial=(1 << 127) + 9,
                not_before=NOW - timedelta(minutes=10),
                lifetime=YEAR + timedelta(minutes=10),
            ),
            "new-selfsignedcertificate",
            False,
        ),
        "openssl debian defaults": (
            lambda: custom(
                name(("C", "AU"), ("ST", "Some-State"), ("O", "Internet Widgits Pty Ltd"), ("CN", "10.150.0.85"))
            ),
            "openssl",
            True,
        ),
        "openssl rhel defaults": (
            lambda: custom(name(("C", "XX"), ("L", "Default City"), ("O", "Default Company Ltd"))),
            "openssl",
            True,
        ),
        "openssl org only (Nessus style)": (
            lambda: custom(
                name(
                    ("C", "FR"),
                    ("L", "Default City"),
                    ("O", "Default Company Ltd"),
                    ("OU", "Nessus Certification Authority"),
                    ("CN", "Nessus CA"),
                )
            ),
            "openssl",
            False,
        ),
    }


CASES = list(_cases().items())


@pytest.mark.parametrize(("case", "spec"), CASES, ids=[c for c, _ in CASES])
def test_tool_defaults_decision_table(analyze, case, spec):
    build, tool, exact = spec
    facts = analyze(pem_of(build()))
    found = {m.tool: m for m in facts.tools}
    assert tool in found, (case, facts.tools)
    assert found[tool].exact is exact, found[tool]
    assert found[tool].matched_on
    iocs = [r for r in facts.ioc_reasons if tool in r]
    if exact and tool not in ("openssl", "new-selfsignedcertificate"):
        assert iocs, "an exact offensive-tool default is an always-escalate indicator"
    else:
        assert not iocs


@pytest.mark.parametrize(
    "subject",
    [
        name(("CN", "www.example.com")),  # plain self-signed: no tool
        name(("C", "US"), ("O", "Test"), ("CN", "test.example.com")),  # "test" is not a substring rule
        name(("C", "US"), ("ST", "CA"), ("O", "VMware Installer"), ("CN", "esx01.corp.example")),  # appliance
        name(("O", "pfSense webConfigurator Self-Signed Certificate"), ("CN", "pfSense-5a5e")),  # appliance
        name(("C", "US"), ("O", "Mythical Creatures Inc"), ("CN", "mythic.example.org")),  # not O=Mythic
        name(("C", "US"), ("ST", "Minnesota"), ("O", "Acme"), ("CN", "P1")),  # one PoshC2 value only
    ],
)
def test_ordinary_and_appliance_certificates_match_no_tool(analyze, subject):
    facts = analyze(pem_of(custom(subject, sans=["host.example.com"])))
    assert facts.tools == []
    assert facts.ioc_reasons == []


def test_cobalt_strike_default_https_certificate_by_hash_alone():
    view = CertView(subject=[], issuer=[], sha1="6ece5ece4192683d2d84e25b0ba7e04f9cb7eb7c")
    [match] = match_tools(view)
    assert match.tool == "cobalt-strike" and match.exact


@pytest.mark.parametrize(
    ("subject", "issuer", "extra", "tool", "exact"),
    [
        (
            "CN=Major Cobalt Strike,OU=AdvancedPenTesting,O=cobaltstrike,L=Somewhere,ST=Cyberspace,C=Earth",
            "CN=Major Cobalt Strike,OU=AdvancedPenTesting,O=cobaltstrike,L=Somewhere,ST=Cyberspace,C=Earth",
            {"key_type": "rsa", "key_length": 2048},
            "cobalt-strike",
            True,
        ),
        (
            "C=/C=US/ST=HI/O=Goldner and Sons/OU=1080p/CN=goldner.sons.net/emailAddress=1080p@goldner.sons.net",
            "C=/C=US/ST=HI/O=Goldner and Sons/OU=1080p/CN=goldner.sons.net/emailAddress=1080p@goldner.sons.net",
            {"basic_constraints_ca": True},
            "metasploit-legacy",
            True,
        ),
        (
            "/C=US/ST=HI/O=Goldner and Sons/OU=1080p/CN=goldner.sons.net/emailAddress=1080p@goldner.sons.net",
            "/C=US/ST=HI/O=Goldner and Sons/OU=1080p/CN=goldner.sons.net/emailAddress=1080p@goldner.sons.net",
            {"basic_constraints_ca": True, "key_type": "rsa", "key_length": 2048},
            "metasploit",
            True,
        ),
        (
            "C=US, ST=Minnesota, L=Minnetonka, O=Pajfds, OU=Jethpro, CN=P18055077",
            "C=US, ST=Minnesota, L=Minnetonka, O=Pajfds, OU=Jethpro, CN=P18055077",
            {"serial": "03E8"},
            "poshc2",
            True,
        ),
        ("C=US", "C=US", {}, "empire", True),
        ("O=Mythic", "O=Mythic", {}, "mythic", True),
        (
            "C=AU, ST=Some-State, O=Internet Widgits Pty Ltd",
            "C=AU, ST=Some-State, O=Internet Widgits Pty Ltd",
            {},
            "openssl",
            True,
        ),
    ],
)
def test_tool_defaults_from_logged_attributes(subject, issuer, extra, tool, exact):
    logged = LoggedCertificate(subject=subject, issuer=issuer, serial=extra.pop("serial", "1A2B"), **extra)
    alert = CertificateAlert(id="t", time=NOW, source_format="zeek-x509", logged_certificate=logged)
    facts = analyze_alert(alert, AnalysisContext(at=NOW))
    assert facts.source == "log"
    found = {m.tool: m for m in facts.tools}
    assert tool in found and found[tool].exact is exact, facts.tools


def test_dn_strings_parse_to_the_same_attributes():
    expected = [("C", "US"), ("O", "b"), ("CN", "a")]
    assert parse_dn("CN=a,O=b,C=US") == expected
    assert parse_dn("/C=US/O=b/CN=a") == expected
    assert parse_dn("C=US, O=b, CN=a") == expected
