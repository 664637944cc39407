"""CertificateFacts: everything the playbook needs to know about one certificate."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import BaseModel, ConfigDict, Field

from certsoar.certs import anomalies as checks
from certsoar.certs.allowlist import AllowlistMatch
from certsoar.certs.chain import (
    ChainFacts,
    certifi_by_subject,
    certifi_roots,
    directly_issued_by,
    is_trust_anchor,
    load_certificates_quietly,
    self_signed_by_signature,
    validate_chain,
)
from certsoar.certs.dn import attributes_of
from certsoar.certs.fingerprints import (
    SHA1_DIGITS,
    SHA256_DIGITS,
    normalize_digest,
    serial_hex,
    sha1_hex,
    sha256_hex,
    spki_sha256,
)
from certsoar.certs.intel import SslblMatch
from certsoar.certs.mimicry import MimicryFacts
from certsoar.certs.names import covered_names, outside_domains
from certsoar.certs.revocation import LoadedCrl, RevocationFacts, check_revocation
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
from certsoar.certs.vendors import vendor_ca_of, vendor_cas
from certsoar.errors import AlertError
from certsoar.timeparse import as_utc

__all__ = [
    "CertificateFacts",
    "ChainFacts",
    "MimicryFacts",
    "analyze_certificate",
    "facts_from_fingerprints",
    "ioc_reasons",
    "load_pem_bundle",
]

MAX_CERT_BYTES = 1024 * 1024


class CertificateFacts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    parsed: bool = Field(description="False when only fingerprints were known (no certificate body).")
    sha256: str | None = Field(default=None, description="SHA-256 of the DER, lower-case hex.")
    sha1: str | None = Field(default=None, description="SHA-1 of the DER, lower-case hex.")
    spki_sha256: str | None = Field(default=None, description="SHA-256 of the SubjectPublicKeyInfo, lower-case hex.")
    serial: str | None = Field(default=None, description="Upper-case hex, no separators ('-' first when negative).")
    subject: str | None = Field(default=None, description="RFC 4514.")
    issuer: str | None = Field(default=None, description="RFC 4514.")
    authority_key_id: str | None = Field(
        default=None, description="Authority key identifier (the issuing CA's key), lower-case hex, when present."
    )
    subject_cn: str | None = None
    issuer_cn: str | None = None
    issuer_org: str | None = None
    names: list[str] = Field(
        default_factory=list, description="DNS SANs plus a host-like CN, lower-case, IDNA-decoded."
    )
    ip_addresses: list[str] = Field(default_factory=list)
    upns: list[str] = Field(default_factory=list, description="User principal names in the SAN (otherName UPN).")
    requester: str | None = Field(default=None, description="Account that requested it, as the CA's event names it.")
    names_others: list[str] = Field(
        default_factory=list,
        description="SAN names that are not the requester's own: another account's UPN, another host's DNS name "
        "for a computer account (AD CS ESC1/ESC6/ESC9-15).",
    )
    not_before: datetime | None = None
    not_after: datetime | None = None
    validity_days: int | None = None
    key_type: str | None = Field(default=None, description="RSA, EC, DSA, Ed25519, Ed448 or 'unsupported (<oid>)'.")
    key_size: int | None = None
    signature_algorithm: str | None = None
    self_signed: bool = Field(default=False, description="The certificate's own key verifies its signature.")
    self_signed_name: bool = Field(default=False, description="Issuer DN equals subject DN.")
    chain: ChainFacts = Field(default_factory=lambda: ChainFacts(store="none", reason="certificate not available"))
    mimicry: MimicryFacts = Field(default_factory=MimicryFacts)
    issued_by_managed_ca: bool = False
    managed_ca: str | None = Field(default=None, description="Subject (RFC 4514) of the managed CA that signed it.")
    outside_domains: list[str] = Field(default_factory=list, description="Names outside the organization's domains.")
    anomalies: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list, description="What could not be parsed.")
    source: Literal["certificate", "log", "fingerprint"] = Field(
        default="certificate",
        description="certificate: parsed DER; log: attributes a log recorded; fingerprint: hashes only.",
    )
    tools: list[ToolMatch] = Field(
        default_factory=list, description="Tool default certificates it matches (exact first)."
    )
    sslbl: SslblMatch | None = Field(default=None, description="SSLBL blacklist entry for its SHA-1.")
    allowlisted: AllowlistMatch | None = Field(default=None, description="The unexpired allowlist entry that matches.")
    revocation: RevocationFacts | None = Field(
        default=None, description="CRL status, when a configured CRL's issuer signed it."
    )
    public_ca_named: bool = Field(default=False, description="The issuer's O or CN names a public CA brand.")
    public_ca_brand: str | None = Field(default=None, description="That brand.")
    public_tls_leaf: bool = Field(
        default=False,
        description="A TLS server leaf (CA:FALSE; serverAuth, anyEKU or no EKU) that claims public trust: the CA/B "
        "Forum lifetime limit applies to it.",
    )
    lifetime_exceeded: bool = Field(
        default=False,
        description="A public TLS leaf valid longer than the CA/B Forum limit in force at its notBefore (398 d; "
        "200/100/47 d from 2026/2027/2029-03-15).",
    )
    vendor_ca: str | None = Field(
        default=None,
        description="The known vendor private CA (certs/data/vendor-private-cas.txt) it is or that signed it.",
    )
    ioc_reasons: list[str] = Field(default_factory=list, description="Always-escalate indicators, as sentences.")
    notes: list[str] = Field(
        default_factory=list, description="What an analyst should know about how the facts were derived."
    )


def ioc_reasons(facts: CertificateFacts) -> list[str]:
    """SSLBL hit, exact tool default other than OpenSSL's, public-CA-named leaf beyond the lifetime limit."""
    reasons: list[str] = []
    if facts.sslbl is not None:
        listed = f", listed {facts.sslbl.listed.date().isoformat()}" if facts.sslbl.listed else ""
        reasons.append(f"SHA-1 {facts.sslbl.sha1} is on the abuse.ch SSL blacklist ({facts.sslbl.reason}{listed}).")
    for match in facts.tools:
        if match.exact and match.tool != "openssl":
            reasons.append(f"It is the exact default certificate of {match.tool}: {'; '.join(match.matched_on)}.")
    internal = facts.chain.store == "internal" or facts.issued_by_managed_ca
    if facts.public_tls_leaf and facts.lifetime_exceeded and not internal and facts.not_before and facts.not_after:
        limit = checks.public_leaf_limit(facts.not_before)
        claimed = f"the public CA {facts.public_ca_brand}" if facts.public_ca_brand else "public trust"
        reasons.append(
            f"The TLS server leaf claims {claimed}, but it is valid for {facts.validity_days} days, "
            f"above the {limit}-day limit for certificates issued on {facts.not_before.date().isoformat()}: "
            "no public CA issues that."
        )
    return reasons


def facts_from_fingerprints(sha256: str | None, sha1: str | None) -> CertificateFacts:
    """Facts for an alert that carries only hashes (known tool certificates are still recognized by hash)."""
    sha256 = normalize_digest(sha256, SHA256_DIGITS) if sha256 else None
    sha1 = normalize_digest(sha1, SHA1_DIGITS) if sha1 else None
    facts = CertificateFacts(
        parsed=False,
        source="fingerprint",
        sha256=sha256,
        sha1=sha1,
        chain=ChainFacts(store="none", reason="only fingerprints known; the certificate was not available"),
        tools=match_tools(CertView(subject=[], issuer=[], sha1=sha1, sha256=sha256)),
        notes=["only the certificate's hashes are known: no attribute, chain or mimicry check was possible"],
    )
    return facts.model_copy(update={"ioc_reasons": ioc_reasons(facts)})


def authority_key_id(cert: x509.Certificate) -> str | None:
    """The keyIdentifier of the certificate's authorityKeyIdentifier, lower-case hex (None when it has none)."""
    try:
        found = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except x509.ExtensionNotFound:
        return None
    return found.hex() if found else None


def load_pem_bundle(data: bytes) -> list[x509.Certificate]:
    """Certificates of a PEM bundle (trust roots, CA files); deprecation warnings silenced."""
    return load_certificates_quietly(data)


def _load(pem_or_der: bytes) -> list[x509.Certificate]:
    if not pem_or_der:
        raise AlertError("certificate is empty")
    if len(pem_or_der) > MAX_CERT_BYTES:
        raise AlertError(f"certificate is larger than {MAX_CERT_BYTES} bytes")
    try:
        if b"-----BEGIN CERTIFICATE-----" in pem_or_der:
            return x509.load_pem_x509_certificates(pem_or_der)
        return [x509.load_der_x509_certificate(pem_or_der)]
    except (ValueError, x509.InvalidVersion) as exc:
        raise AlertError(f"certificate does not parse (neither a PEM certificate block nor DER X.509): {exc}") from exc


class _Collector:
    """Gathers anomalies and errors while tolerating any single attribute failing to parse."""

    def __init__(self) -> None:
        self.anomalies: list[str] = []
        self.errors: list[str] = []

    def flag(self, *codes: str) -> None:
        for code in codes:
            if code not in self.anomalies:
                self.anomalies.append(code)

    def attempt(self, what: str, fn: Any, default: Any = None) -> Any:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - degrade: any parse failure becomes a recorded error
            self.errors.append(f"{what}: {type(exc).__name__}: {exc}")
            return default


def _key_facts(cert: x509.Certificate) -> tuple[str, int | None]:
    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
        return f"unsupported ({cert.public_key_algorithm_oid.dotted_string})", None
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    return f"unsupported ({cert.public_key_algorithm_oid.dotted_string})", None


def _hash_name(cert: x509.Certificate) -> str | None:
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return None
    return algorithm.name if algorithm is not None else None


def _san(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


UPN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")


def _upns(san: x509.SubjectAlternativeName | None) -> list[str]:
    """The UTF8String of each otherName UPN (its value is the DER of that string)."""
    found: list[str] = []
    for other in san.get_values_for_type(x509.OtherName) if san is not None else []:
        value = other.value
        if other.type_id != UPN_OID or len(value) < 2 or value[0] != 0x0C:
            continue
        length, start = value[1], 2
        if length & 0x80:
            width = length & 0x7F
            length, start = int.from_bytes(value[2 : 2 + width], "big"), 2 + width
        text = value[start : start + length].decode("utf-8", errors="replace")
        if text and text not in found:
            found.append(text)
    return found


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _names_and_addresses(
    san: x509.SubjectAlternativeName | None, subject_cn: str | None, out: _Collector
) -> tuple[list[str], list[str]]:
    dns: list[str] = []
    ips: list[str] = []
    if san is not None:
        dns = out.attempt("SAN DNS names", lambda: san.get_values_for_type(x509.DNSName), [])
        ips = [str(ip) for ip in out.attempt("SAN IP addresses", lambda: san.get_values_for_type(x509.IPAddress), [])]
    return covered_names(dns, ips, subject_cn)


def _forged_issuer(cert: x509.Certificate, known: list[x509.Certificate]) -> bool:
    """A known certificate carries the issuer's name, yet none of them verifies the signature."""
    namesakes = [c for c in known if c.subject == cert.issuer]
    return bool(namesakes) and not any(directly_issued_by(cert, c) for c in namesakes)


def analyze_certificate(
    pem_or_der: bytes,
    *,
    at: datetime,
    internal_roots: list[x509.Certificate],
    managed_cas: list[x509.Certificate],
    org_domains: list[str],
    crls: Sequence[LoadedCrl] = (),
) -> CertificateFacts:
    """Parse the first certificate of ``pem_or_der`` (further ones are taken as presented intermediates).

    Raises AlertError only when nothing parses; anything odd inside a parsed certificate becomes an
    anomaly or an entry in ``errors``.
    """
    at = as_utc(at)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        certs = _load(pem_or_der)
        try:
            facts = _analyze(certs[0], certs[1:], at, internal_roots, managed_cas, org_domains, crls)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            facts = _fingerprints_only(certs[0], exc)
    notes = sorted({str(w.message) for w in caught})
    extra_anomalies = []
    if any("serial number which wasn't positive" in n for n in notes):
        extra_anomalies.append("non_positive_serial")
    # cryptography warns about every attribute outside its length bounds: only the 2..2 bound is a country's
    if (
        any("Attribute's length must be >= 2 and <= 2" in n for n in notes)
        and "country_len_ne_2" not in facts.anomalies
    ):
        extra_anomalies.append("country_len_ne_2")
    warnings_as_errors = [f"warning: {n}" for n in notes]
    return facts.model_copy(
        update={
            "anomalies": facts.anomalies + [a for a in extra_anomalies if a not in facts.anomalies],
            "errors": facts.errors + warnings_as_errors,
        }
    )


def _fingerprints_only(cert: x509.Certificate, exc: Exception) -> CertificateFacts:
    """Last resort for a certificate whose body is damaged beyond the fields parsed one by one."""
    der = cert.public_bytes(Encoding.DER)
    facts = CertificateFacts(
        parsed=True,
        sha256=sha256_hex(der),
        sha1=sha1_hex(der),
        chain=ChainFacts(store="none", reason="the certificate body does not parse"),
        anomalies=["malformed"],
        errors=[f"certificate body: {type(exc).__name__}: {exc}"],
        tools=match_tools(CertView(subject=[], issuer=[], sha1=sha1_hex(der), sha256=sha256_hex(der))),
        notes=["the certificate body does not parse: only its hashes were used"],
    )
    return facts.model_copy(update={"ioc_reasons": ioc_reasons(facts)})


def _analyze(
    cert: x509.Certificate,
    presented: list[x509.Certificate],
    at: datetime,
    internal_roots: list[x509.Certificate],
    managed_cas: list[x509.Certificate],
    org_domains: list[str],
    crls: Sequence[LoadedCrl] = (),
) -> CertificateFacts:
    out = _Collector()
    der = cert.public_bytes(Encoding.DER)

    if out.attempt("version", lambda: cert.version) == x509.Version.v1:
        out.flag("x509_v1")
    subject = out.attempt("subject", lambda: cert.subject.rfc4514_string())
    issuer = out.attempt("issuer", lambda: cert.issuer.rfc4514_string())
    subject_attrs = out.attempt("subject attributes", lambda: attributes_of(cert.subject), [])
    issuer_attrs = out.attempt("issuer attributes", lambda: attributes_of(cert.issuer), [])
    named = name_fields(subject_attrs, issuer_attrs)
    out.flag(*checks.attribute_anomalies(subject_attrs))
    serial_number = out.attempt("serial", lambda: cert.serial_number)
    if not isinstance(serial_number, int):
        serial_number = None
    out.flag(*serial_anomalies(serial_number))

    key_type, key_size = _key_facts(cert)
    out.flag(*checks.key_anomalies(key_type, key_size))
    if key_type.startswith("unsupported"):
        out.errors.append(f"public key: unsupported key type {key_type.removeprefix('unsupported ').strip('()')}")
    sig_oid = cert.signature_algorithm_oid.dotted_string
    hash_name = _hash_name(cert)
    signature_algorithm = checks.SIGNATURE_NAMES.get(sig_oid, sig_oid)
    out.flag(*checks.signature_anomalies(sig_oid, hash_name))

    san = out.attempt("extensions", lambda: _san(cert), None)
    extensions_ok = not any(e.startswith("extensions:") for e in out.errors)
    names, ip_addresses = _names_and_addresses(san, named.subject_cn, out)

    is_ca = out.attempt("basic constraints", lambda: _is_ca(cert), False) if extensions_ok else False

    self_signed_sig = self_signed_by_signature(cert)
    if self_signed_sig is None:
        out.errors.append("self-signed check: the public key cannot be loaded, signature not verified")
    self_signed_name = bool(out.attempt("issuer/subject comparison", lambda: cert.issuer == cert.subject, False))
    if self_signed_sig is False and self_signed_name and hash_name is None and not key_type.startswith("Ed"):
        out.errors.append(
            f"self-signed check: signature algorithm {signature_algorithm} is not supported, signature not verified"
        )

    managed = next((ca for ca in managed_cas if directly_issued_by(cert, ca)), None)
    chain = out.attempt(
        "chain validation",
        lambda: validate_chain(
            cert, presented, at=at, internal_roots=internal_roots, extra_internal_intermediates=managed_cas
        ),
        ChainFacts(store="none", reason="chain validation failed to run"),
    )
    vendor = vendor_ca_of(cert, presented)
    is_store_root = is_trust_anchor(cert, internal_roots) or cert in vendor_cas()
    leaf = presented_as_leaf(
        is_ca,
        names_host=bool(names or ip_addresses),
        trust_anchor=is_store_root,
        ours=managed is not None or any(cert == ca for ca in managed_cas),
    )
    if san is None and extensions_ok and leaf and not is_store_root:
        out.flag("missing_san")
    if is_ca and leaf:
        out.flag("ca_true_on_leaf")

    not_before = as_utc(cert.not_valid_before_utc)
    not_after = as_utc(cert.not_valid_after_utc)
    brand = public_ca_brand(issuer_attrs)
    public_tls_leaf = (
        extensions_ok
        and in_server_leaf_scope(is_ca, out.attempt("extended key usage", lambda: _eku_allows_server(cert), None))
        and claims_public_trust(
            brand,
            chains_public=chain.store == "public",
            issued_by_public_root=not self_signed_name and _names_a_public_root(cert.issuer),
            has_scts=_has_scts(cert),
            private_chain=chain.store == "internal"
            or managed is not None
            or vendor is not None
            or _private_root_presented(presented),
        )
    )
    validity = validity_signals(not_before, not_after, at, leaf=leaf, public_tls_leaf=public_tls_leaf)
    out.flag(*validity.anomalies)
    lifetime_note = unjudged_lifetime_note(brand, not_before, not_after, leaf=leaf, public_tls_leaf=public_tls_leaf)

    # An exact brand name counts only when something shows the certificate is not that brand's:
    # it signed itself, or a known certificate bearing the issuer's name did not sign it. A leaf
    # whose intermediate is merely missing is not evidence of forgery (cert-domain §4 E1).
    trusted_chain = chain.store != "none" or managed is not None or vendor is not None
    known_issuers = [
        *presented,
        *managed_cas,
        *internal_roots,
        *(root for root in certifi_roots() if root.subject == cert.issuer),
    ]
    # Self-signed is proof only for an end entity: a CA's root signs itself (retired public roots, vendor roots)
    provably_not_brand = (bool(self_signed_sig) and leaf) or _forged_issuer(cert, known_issuers)
    compared = out.attempt(
        "issuer mimicry",
        lambda: issuer_mimicry(
            issuer_attrs,
            [*managed_cas, *internal_roots],
            trusted=trusted_chain or not provably_not_brand,
            org_domains=org_domains,
        ),
        None,
    )
    mimicry = compared.facts if compared is not None else MimicryFacts()
    if compared is not None and (skipped := compared.note()):
        out.errors.append(skipped)

    view = CertView(
        subject=subject_attrs,
        issuer=issuer_attrs,
        serial=serial_number,
        sha1=sha1_hex(der),
        sha256=sha256_hex(der),
        md5=hashlib.md5(der).hexdigest(),  # noqa: S324 - only to recognize a published tool certificate
        not_before=not_before,
        not_after=not_after,
        key_type=None if key_type.startswith("unsupported") else key_type,
        key_size=key_size,
        is_ca=is_ca if extensions_ok else None,
        san_dns=_san_values(san, x509.DNSName) if extensions_ok else None,
        san_ip=[str(ip) for ip in _san_values(san, x509.IPAddress)] if extensions_ok else None,
        self_signed=self_signed_sig,
        server_auth=out.attempt("extended key usage", lambda: _server_auth(cert), None) if extensions_ok else None,
    )
    tools = out.attempt("tool defaults", lambda: match_tools(view), [])
    issuers = [c for c in (*presented, *managed_cas, *internal_roots) if directly_issued_by(cert, c)]
    revocation = out.attempt(
        "revocation",
        lambda: check_revocation(
            serial=serial_number,
            issuer=issuer_attrs,
            crls=crls,
            issuer_certs=issuers,
            at=at,
        ),
        None,
    )

    facts = CertificateFacts(
        parsed=True,
        sha256=sha256_hex(der),
        sha1=sha1_hex(der),
        spki_sha256=spki_sha256(cert),
        serial=serial_hex(serial_number) if serial_number is not None else None,
        subject=subject,
        issuer=issuer,
        authority_key_id=out.attempt("authority key identifier", lambda: authority_key_id(cert), None),
        subject_cn=named.subject_cn,
        issuer_cn=named.issuer_cn,
        issuer_org=named.issuer_org,
        names=names,
        ip_addresses=ip_addresses,
        upns=out.attempt("SAN user principal names", lambda: _upns(san), []) if extensions_ok else [],
        not_before=not_before,
        not_after=not_after,
        validity_days=validity.validity_days,
        key_type=key_type,
        key_size=key_size,
        signature_algorithm=signature_algorithm,
        self_signed=bool(self_signed_sig),
        self_signed_name=self_signed_name,
        chain=chain,
        mimicry=mimicry,
        issued_by_managed_ca=managed is not None,
        managed_ca=managed.subject.rfc4514_string() if managed is not None else None,
        outside_domains=outside_domains(names, org_domains),
        anomalies=out.anomalies,
        errors=out.errors,
        tools=tools,
        revocation=revocation,
        public_ca_named=brand is not None,
        public_ca_brand=brand,
        public_tls_leaf=public_tls_leaf,
        lifetime_exceeded=validity.lifetime_exceeded,
        vendor_ca=vendor.subject.rfc4514_string() if vendor is not None else None,
        notes=[lifetime_note] if lifetime_note else [],
    )
    return facts.model_copy(update={"ioc_reasons": ioc_reasons(facts)})


def _san_values(san: x509.SubjectAlternativeName | None, kind: Any) -> list[Any]:
    if san is None:
        return []
    try:
        return list(san.get_values_for_type(kind))
    except (ValueError, TypeError):
        return []


def _eku_allows_server(cert: x509.Certificate) -> bool | None:
    """None without an EKU extension; else whether it allows serverAuth (or any purpose)."""
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    allowing = (x509.oid.ExtendedKeyUsageOID.SERVER_AUTH, x509.oid.ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE)
    return any(purpose in usages for purpose in allowing)


def _has_scts(cert: x509.Certificate) -> bool:
    """Embedded Certificate Transparency timestamps: only a CA issuing for public trust logs its leaves."""
    try:
        cert.extensions.get_extension_for_oid(x509.oid.ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS)
    except (x509.ExtensionNotFound, ValueError):
        return False
    return True


def _private_root_presented(presented: list[x509.Certificate]) -> bool:
    """The presented chain ends at a self-signed root outside the public store: a private PKI. A root that
    copies a public root's name with another key is a forgery, not a private PKI."""
    return any(bool(self_signed_by_signature(c)) and not _names_a_public_root(c.subject) for c in presented)


def _names_a_public_root(name: x509.Name) -> bool:
    """By value, not encoding: a copy may spell a root's name with other string types."""
    return name.public_bytes() in certifi_by_subject() or any(root.subject == name for root in certifi_roots())


def _server_auth(cert: x509.Certificate) -> bool | None:
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    return x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in usages
