"""Reference CA brands an issuer name may imitate (cert-domain §1.6)."""

from __future__ import annotations

import re
import unicodedata
from functools import cache

from cryptography import x509
from cryptography.x509.oid import NameOID

from certsoar.certs.chain import certifi_roots

CURATED_BRANDS: tuple[str, ...] = (
    "DigiCert Inc",
    "Sectigo Limited",
    "Comodo CA Limited",
    "GlobalSign",
    "GoDaddy.com, Inc.",
    "Starfield Technologies, Inc.",
    "Entrust, Inc.",
    "Amazon",
    "Google Trust Services",
    "Microsoft Corporation",
    "Apple Inc.",
    "Cloudflare, Inc.",
    "ZeroSSL",
    "IdenTrust",
    "Let's Encrypt",
    "Internet Security Research Group",
    "Baltimore",
    "Thawte, Inc.",
    "VeriSign, Inc.",
    "GeoTrust Inc.",
    "RapidSSL",
    "Symantec Corporation",
    "Buypass AS",
    "Actalis S.p.A.",
    "SSL.com",
    "Certum",
)

# Vendors that run private PKIs under their own name beside (or instead of) a public CA: their name as a
# leaf's issuer does not claim public trust. Microsoft: Windows Update's servers chain to "Microsoft Update
# Secure Server CA 2.1" under "Microsoft Root Certificate Authority 2011", a root of Windows' store that is
# not in Mozilla's (microsoft.com/pkiops); Apple: push, device and IST services under "Apple Root CA"
# (apple.com/certificateauthority); Cloudflare: Origin CA certificates valid up to 15 years, trusted only by
# Cloudflare's edge (developers.cloudflare.com/ssl/origin-configuration/origin-ca); Amazon: AWS IoT device
# certificates under Amazon's own CA (docs.aws.amazon.com/iot/latest/developerguide/x509-client-certs.html).
PRIVATE_PKI_VENDORS: tuple[str, ...] = ("Microsoft Corporation", "Apple Inc.", "Cloudflare, Inc.", "Amazon")

# Words that carry no brand identity: stripped before fuzzy scoring so "Example Root CA" is not
# close to "Entrust Root CA" just because both end in "Root CA".
GENERIC_WORDS: frozenset[str] = frozenset(
    """
    root rootca ca cas cert certs certificate certificates certification authority authorities secure security server servers
    global tls ssl trust trusted services service network networks public primary class level issuing
    intermediate validation validated domain organization extended ev ov dv hybrid code signing timestamping
    rsa ecc ecdsa sha sha1 sha2 sha256 sha384 and of the for de la del
    inc incorporated ltd limited llc corp corporation co company gmbh ag sa spa s p a as nv bv plc pty kft zrt
    srl sarl oy ab kk sas sl
    """.split()
)
_GENERATION = re.compile(r"^(?:[a-z]{0,2}\d+[a-z]?|x\d+|\d{4})$")  # G2, R3, E5, X3, 2011, v3
_TOKEN_SPLIT = re.compile(r"[^\w]+", re.UNICODE)


def tokens(text: str) -> list[str]:
    return [t for t in _TOKEN_SPLIT.split(unicodedata.normalize("NFKC", text).casefold()) if t]


def identifying_words(text: str) -> str:
    """The identifying words of a name in their written case: generic words and generation markers removed.

    Case is kept because confusable prototypes are case-sensitive (Cyrillic М looks like M, not m).
    """
    kept = []
    for token in _TOKEN_SPLIT.split(unicodedata.normalize("NFKC", text)):
        folded = token.casefold()
        if folded and folded not in GENERIC_WORDS and not _GENERATION.match(folded):
            kept.append(token)
    return " ".join(kept)


def brand_core(text: str) -> str:
    """The identifying words of a name, casefolded."""
    return identifying_words(text).casefold()


def _organization(name: x509.Name) -> list[str]:
    values: list[str] = []
    for attr in name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME):
        if isinstance(attr.value, str):
            values.append(attr.value)
    return values


@cache
def certifi_brands() -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for root in certifi_roots():
        for org in _organization(root.subject):
            seen.setdefault(org.casefold(), org)
    return tuple(sorted(seen.values()))


def names_of_cas(cas: list[x509.Certificate]) -> list[str]:
    """O= and CN= values of the managed CAs (their names are brands an attacker may copy too)."""
    found: list[str] = []
    for ca in cas:
        for oid in (NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME):
            for attr in ca.subject.get_attributes_for_oid(oid):
                if isinstance(attr.value, str) and attr.value not in found:
                    found.append(attr.value)
    return found


def reference_brands(extra: list[str] | None = None) -> list[str]:
    """Curated brands, certifi O= values and ``extra`` (managed CA names), de-duplicated by casefold."""
    merged: dict[str, str] = {}
    for name in (*CURATED_BRANDS, *certifi_brands(), *(extra or [])):
        merged.setdefault(name.casefold(), name)
    return list(merged.values())


@cache
def _public_cores() -> dict[str, str]:
    cores: dict[str, str] = {}
    for name in (*CURATED_BRANDS, *certifi_brands()):
        core = brand_core(name)
        if len(core) >= 4:
            cores.setdefault(core, name)
    return cores


def public_brand_named(attributes: list[tuple[str, str]]) -> str | None:
    """The public CA brand an issuer's O or CN names (identifying words equal), or None."""
    cores = _public_cores()
    for label, value in attributes:
        if label not in ("O", "CN") or not isinstance(value, str):
            continue
        brand = cores.get(brand_core(value))
        if brand is not None:
            return brand
    return None


@cache
def _private_pki_cores() -> frozenset[str]:
    return frozenset(brand_core(name) for name in PRIVATE_PKI_VENDORS)


def runs_private_pki(brand: str) -> bool:
    """``brand`` (a name public_brand_named returned) also issues from private PKIs under its own name."""
    return brand_core(brand) in _private_pki_cores()
