from __future__ import annotations

import pytest
from certfactory import build, dn

from certsoar.certs.brands import brand_core, reference_brands
from certsoar.certs.mimicry import levenshtein, match_issuer, skeleton


def self_signed_with_issuer(**issuer: str) -> bytes:
    return build(dn(**issuer), sans=["login.example.org"]).pem


@pytest.mark.parametrize(
    ("org", "brand"),
    [
        ("DigiCert lnc", "DigiCert Inc"),
        ("Micr0soft Corporation", "Microsoft Corporation"),
        ("\u041cicrosoft", "Microsoft Corporation"),  # Cyrillic capital EM
        ("G\u043e\u043egle Trust Services", "Google Trust Services"),  # Cyrillic o
    ],
)
def test_homoglyph_issuers_fire(analyze, org, brand):
    facts = analyze(self_signed_with_issuer(O=org, CN="Secure Server"))
    assert facts.self_signed
    assert facts.mimicry.matched and facts.mimicry.kind == "homoglyph"
    assert facts.mimicry.brand == brand
    assert facts.mimicry.attribute == "O" and facts.mimicry.value == org
    assert facts.mimicry.score == 1.0


@pytest.mark.parametrize(
    "issuer",
    [
        {"O": "NetLock Kft.", "CN": "NetLock Üzleti (Class B) Tanúsítványkiadó"},  # non-ASCII brand, copied exactly
        {"O": "Hellenic Academic and Research Institutions CA", "CN": "HARICA TLS RSA Root CA 2021"},
    ],
)
def test_self_signed_copy_of_a_real_ca_name_is_exact_brand_untrusted(analyze, issuer):
    facts = analyze(self_signed_with_issuer(**issuer))
    assert facts.mimicry.kind == "exact_brand_untrusted"


def test_genuine_looking_self_signed_brand_is_exact_brand_untrusted(analyze):
    facts = analyze(self_signed_with_issuer(O="DigiCert Inc", CN="DigiCert Global G2 TLS RSA SHA256 2020 CA1"))
    assert facts.self_signed and facts.chain.store == "none"
    assert facts.mimicry.kind == "exact_brand_untrusted"
    assert facts.mimicry.brand == "DigiCert Inc"


def test_fuzzy_brand_is_medium_evidence(analyze):
    facts = analyze(self_signed_with_issuer(O="Sectlgo Limited"))
    assert facts.mimicry.kind == "fuzzy"
    assert facts.mimicry.brand == "Sectigo Limited"
    assert facts.mimicry.score is not None and 0.85 <= facts.mimicry.score < 1.0


@pytest.mark.parametrize(
    "issuer",
    [
        {"O": "Example Corp", "CN": "Example Corp Root CA"},
        {"O": "Példa Tanúsítványkiadó Kft.", "CN": "Példa Minősített Tanúsítványkiadó"},  # legit Hungarian
        {"O": "ООО Ромашка", "CN": "Головной удостоверяющий центр"},  # legit Cyrillic
        {"O": "Internet Widgits Pty Ltd", "C": "AU"},
        {"O": "沃通电子认证服务有限公司", "CN": "沃通根证书"},  # WoSign's Chinese name
        {"O": "Минкомсвязь России", "CN": "Головной удостоверяющий центр"},  # e-trust.ru
    ],
)
def test_ordinary_and_non_ascii_names_do_not_fire(analyze, issuer):
    facts = analyze(self_signed_with_issuer(**issuer))
    assert facts.self_signed
    assert facts.mimicry.matched is False, facts.mimicry


def test_brand_name_on_leaf_with_missing_intermediate_is_not_forgery(analyze, make_cert):
    # A real-looking leaf whose issuer (a brand name) is simply absent from the alert.
    brand_ca = make_cert(dn(O="Sectigo Limited", CN="Sectigo RSA Domain Validation Secure Server CA"), ca=True)
    leaf = make_cert(dn(CN="shop.example.org"), signer=brand_ca, sans=["shop.example.org"])
    assert analyze(leaf.pem).mimicry.matched is False
    # ... but when the presented issuer certificate with that name did not sign it, it is forged.
    impostor = make_cert(brand_ca.cert.subject, ca=True)
    bundle = leaf.pem + impostor.pem
    forged = analyze(bundle)
    assert forged.mimicry.kind == "exact_brand_untrusted"


@pytest.mark.parametrize(
    ("look_alike", "original"),
    [
        ("Micr0soft", "Microsoft"),  # 0 → O, folded
        ("DigiCert lnc", "DigiCert Inc"),  # I and l share a prototype
        ("rnicrosoft", "microsoft"),  # m → rn in confusables.txt
        ("\u041cicrosoft", "Microsoft"),  # Cyrillic capital EM
        ("G\u043e\u043egle", "Google"),  # Cyrillic small o
        ("\uff24igi\uff23ert", "DigiCert"),  # full-width letters
        ("Exarnple", "Example"),
        ("Sect\u00edgo", "Sectigo"),  # accent dropped
        ("\u0391mazon", "Amazon"),  # Greek capital alpha
    ],
)
def test_skeletons_of_look_alikes_are_equal(look_alike, original):
    assert skeleton(look_alike) == skeleton(original)


@pytest.mark.parametrize(
    ("a", "b"), [("DigiCert", "Digital"), ("Sectigo", "Sectlgo"), ("vvosign", "wosign"), ("Entrust", "GeoTrust")]
)
def test_different_names_keep_different_skeletons(a, b):
    assert skeleton(a) != skeleton(b)  # spelling variants are the fuzzy rule's job, not the skeleton's


def test_uts39_table_is_the_unicode_data():
    from certsoar.certs.confusables import prototypes, uts39_skeleton

    table = prototypes()
    assert len(table) > 6000
    assert table["\u0430"] == "a" and table["1"] == "l" and table["m"] == "rn"
    assert uts39_skeleton("paypal") == uts39_skeleton("\u0440\u0430ypal")


def test_skeleton_basics():
    assert skeleton("Tanúsítvány") == "tanusitvany"
    assert levenshtein("sectigo", "sectlgo") == 1
    assert levenshtein("", "abc") == 3
    assert brand_core("DigiCert Global Root G3") == "digicert"
    assert brand_core("Amazon RSA 2048 M02") == "amazon"


def test_reference_brands_include_certifi_curated_and_extra():
    brands = {b.casefold() for b in reference_brands(["ACME Internal Issuing CA"])}
    assert "digicert inc" in brands  # certifi and curated
    assert "zerossl" in brands  # curated only
    assert "acme internal issuing ca" in brands
    assert len(brands) > 50


def test_short_values_and_trusted_exact_names_are_ignored():
    brands = reference_brands()
    assert match_issuer([("O", "DCT")], brands, trusted=False).matched is False
    assert match_issuer([("O", "DigiCert Inc")], brands, trusted=True).matched is False
    assert match_issuer([("O", "DigiCert lnc")], brands, trusted=True).kind == "homoglyph"


@pytest.mark.parametrize("where", ["internal_roots", "managed_cas"])
def test_look_alike_of_the_customers_internal_ca_name(analyze, make_cert, where):
    root = make_cert(dn(CN="Contoso Enterprise Root", O="Contoso Holdings"), ca=True, days=3650)
    fake = build(dn(O="C\u043entoso Holdings", CN="Contoso Enterprise Root"), sans=["vpn.example.com"])  # Cyrillic o
    facts = analyze(fake.pem, **{where: [root.cert]})
    assert facts.mimicry.kind == "homoglyph" and facts.mimicry.brand == "Contoso Holdings"
    without = analyze(fake.pem)
    assert without.mimicry.matched is False  # not a public brand: only the customer's CA names make it one
