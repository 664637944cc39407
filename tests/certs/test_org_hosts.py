"""Issue 9 item 5: a self-signed certificate for one of the organization's hosts (CN=<host>.<org domain>,
every Windows host's RDP certificate) is not brand imitation, whatever the host is called; an issuer that
imitates the organization's own CA names, or a look-alike of its domains, is."""

from __future__ import annotations

import pytest
from certfactory import NOW, build, dn

from certsoar.alert import CertificateAlert, LoggedCertificate
from certsoar.certs import AnalysisContext, analyze_alert

ORG_CA = build(dn(CN="Contoso Issuing CA", O="Contoso"), ca=True, days=3650)
DOMAINS = ["contoso.corp", "contoso.co", "contoso.com"]
CTX = AnalysisContext(at=NOW, internal_roots=[ORG_CA.cert], managed_cas=[ORG_CA.cert], org_domains=DOMAINS)

# The host part decided the verdict before: ws01/dc1/x1 read as generation markers ("R3", "G2") and were
# stripped, leaving exactly the CA's name "Contoso"; web01/fileserver were kept and did not match.
OUR_HOSTS = [
    "ws01.contoso.corp",
    "dc1.contoso.corp",
    "x1.contoso.co",
    "pc12.contoso.corp",
    "web01.contoso.corp",
    "fileserver.contoso.corp",
    "rdp.contoso.com",
    "WS01.Contoso.Corp",
]


def self_signed(cn: str) -> CertificateAlert:
    san = cn.lower().encode("idna").decode("ascii")  # a SAN holds the A-label (xn--) form
    return CertificateAlert(id="a", time=NOW, certificate_pem=build(dn(CN=cn), sans=[san]).pem.decode())


def logged_self_signed(cn: str) -> CertificateAlert:
    return CertificateAlert(
        id="z",
        time=NOW,
        source_format="zeek-x509",
        logged_certificate=LoggedCertificate(serial="1F", subject=f"CN={cn}", issuer=f"CN={cn}", san_dns=[cn]),
    )


@pytest.mark.parametrize("make", [self_signed, logged_self_signed], ids=["certificate", "log"])
@pytest.mark.parametrize("host", OUR_HOSTS)
def test_our_hosts_self_signed_certificates_are_not_mimicry(host, make):
    facts = analyze_alert(make(host), CTX)
    assert facts.self_signed
    assert facts.mimicry.matched is False, facts.mimicry
    assert facts.outside_domains == []


@pytest.mark.parametrize(
    "host",
    [
        "ws01.c\u043entoso.corp",  # Cyrillic o: outside our domains, a look-alike of our CA's name
        "ws01.c0ntoso.corp",
        "ws01.contoso.corp.attacker.example",  # our name inside someone else's domain
    ],
)
def test_look_alikes_of_our_domains_are_still_compared(host):
    facts = analyze_alert(self_signed(host), CTX)
    assert facts.outside_domains
    if "attacker" in host:
        assert facts.mimicry.matched is False  # the exact word inside a longer name is not imitation
    else:
        assert facts.mimicry.matched and facts.mimicry.brand in ("Contoso", "Contoso Issuing CA")


@pytest.mark.parametrize(
    ("issuer", "kind"),
    [
        ({"CN": "Contoso Issuing CA", "O": "Contoso"}, "exact_brand_untrusted"),  # copies our CA, signs itself
        ({"CN": "C\u043entoso Issuing CA"}, "homoglyph"),  # Cyrillic o
        ({"CN": "Cont0so Issuing CA"}, "homoglyph"),
        ({"O": "Contosso"}, "fuzzy"),
    ],
)
def test_an_issuer_imitating_our_ca_still_fires(issuer, kind):
    pem = build(dn(**issuer), sans=["ws01.contoso.corp"]).pem.decode()
    facts = analyze_alert(CertificateAlert(id="a", time=NOW, certificate_pem=pem), CTX)
    assert facts.self_signed and facts.mimicry.kind == kind
