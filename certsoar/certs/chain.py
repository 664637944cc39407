"""Trust decisions: chain validation against certifi and internal roots, and signature checks."""

from __future__ import annotations

import hashlib
import re
import warnings
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Literal

import certifi
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store, VerificationError
from pydantic import BaseModel, ConfigDict, Field

StoreName = Literal["public", "internal", "none"]


class ChainFacts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    store: StoreName = Field(
        description="Which trust store the certificate chains to: public (certifi), internal or none."
    )
    reason: str | None = Field(default=None, description="Why validation failed, or what had to be relaxed to pass.")


def load_certificates_quietly(data: bytes) -> list[x509.Certificate]:
    """PEM bundle → certificates, silencing the deprecation warning for serial-0 roots (§7)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return x509.load_pem_x509_certificates(data)


@cache
def certifi_roots() -> tuple[x509.Certificate, ...]:
    return tuple(load_certificates_quietly(Path(certifi.where()).read_bytes()))


@cache
def certifi_root_sha256s() -> frozenset[str]:
    return frozenset(hashlib.sha256(r.public_bytes(Encoding.DER)).hexdigest() for r in certifi_roots())


@cache
def certifi_by_subject() -> dict[bytes, tuple[x509.Certificate, ...]]:
    """certifi roots indexed by their DER-encoded subject (a dict lookup instead of ~120 name comparisons)."""
    index: dict[bytes, list[x509.Certificate]] = {}
    for root in certifi_roots():
        index.setdefault(root.subject.public_bytes(), []).append(root)
    return {k: tuple(v) for k, v in index.items()}


@cache
def certifi_store() -> Store:
    return Store(list(certifi_roots()))


def signed_by_key(cert: x509.Certificate, public_key: object) -> bool:
    """Does ``public_key`` verify the signature of ``cert``? False for mismatches and unsupported algorithms."""
    tbs, signature = cert.tbs_certificate_bytes, cert.signature
    try:
        hash_alg = cert.signature_hash_algorithm
        if isinstance(public_key, rsa.RSAPublicKey):
            params = cert.signature_algorithm_parameters
            pad = params if isinstance(params, (padding.PSS, padding.PKCS1v15)) else padding.PKCS1v15()
            if hash_alg is None:
                return False
            public_key.verify(signature, tbs, pad, hash_alg)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            if hash_alg is None:
                return False
            public_key.verify(signature, tbs, ec.ECDSA(hash_alg))
        elif isinstance(public_key, dsa.DSAPublicKey):
            if hash_alg is None:
                return False
            public_key.verify(signature, tbs, hash_alg)
        elif isinstance(public_key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            public_key.verify(signature, tbs)
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def self_signed_by_signature(cert: x509.Certificate) -> bool | None:
    """True when the certificate's own key verifies its signature; None when the key cannot be loaded."""
    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
        return None
    return signed_by_key(cert, key)


def directly_issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Name chaining plus signature verified with ``issuer``'s key (a same-named impostor fails)."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


_EXTENSION_NAMES = {
    "2.5.29.17": "subjectAltName",
    "2.5.29.19": "basicConstraints",
    "2.5.29.15": "keyUsage",
    "2.5.29.37": "extendedKeyUsage",
    "2.5.29.35": "authorityKeyIdentifier",
}
_PROCESSING = re.compile(r"\s*\(encountered processing <Certificate.*\)$", re.DOTALL)


def _readable(error: str) -> str:
    """Verifier messages name extensions by OID and embed a certificate repr: make them readable."""
    text = _PROCESSING.sub("", error)
    text = text.replace(
        "validation failed: candidates exhausted: all candidates exhausted with no interior errors",
        "no path to a root of this store (no issuer found)",
    )
    for oid, name in _EXTENSION_NAMES.items():
        text = text.replace(f"{oid}:", f"{name} ({oid}):")
    return text


def _verify(leaf: x509.Certificate, intermediates: list[x509.Certificate], store: Store, at: datetime) -> str | None:
    """Validate with a client verifier and a permissive end-entity policy; return the error text or None.

    A server verifier needs a server name the alert may not have, and the webpki end-entity policy
    rejects leaves without SAN (internal mTLS certificates, PKITS): the chain, CA constraints and
    validity are what we judge here; SAN/EKU problems are reported separately as anomalies.
    """
    builder = (
        PolicyBuilder()
        .store(store)
        .time(at)
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.permit_all())
    )
    try:
        builder.build_client_verifier().verify(leaf, intermediates)
    except VerificationError as exc:
        return _readable(str(exc))
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _strict_server_gap(
    leaf: x509.Certificate, intermediates: list[x509.Certificate], store: Store, at: datetime
) -> str | None:
    """What the default webpki leaf policy would still reject once the chain itself is fine."""
    builder = (
        PolicyBuilder()
        .store(store)
        .time(at)
        .extension_policies(
            ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.webpki_defaults_ee()
        )
    )
    try:
        builder.build_client_verifier().verify(leaf, intermediates)
    except VerificationError as exc:
        text = _readable(str(exc))
        return None if "extended key usage" in text.lower() or "eku" in text.lower() else text
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None
    return None


def _is_store_root(cert: x509.Certificate, roots: list[x509.Certificate] | tuple[x509.Certificate, ...]) -> bool:
    return any(cert == root for root in roots)


def is_trust_anchor(cert: x509.Certificate, internal_roots: list[x509.Certificate]) -> bool:
    """The certificate is itself a root of the public or the internal store."""
    return _is_store_root(cert, certifi_roots()) or _is_store_root(cert, internal_roots)


def validate_chain(
    leaf: x509.Certificate,
    intermediates: list[x509.Certificate],
    *,
    at: datetime,
    internal_roots: list[x509.Certificate],
    extra_internal_intermediates: list[x509.Certificate] | None = None,
) -> ChainFacts:
    """Try certifi's roots, then the internal roots; report the first store that validates the chain."""
    if _is_store_root(leaf, certifi_roots()):
        return ChainFacts(store="public", reason="the certificate is itself a root in the public store")
    if internal_roots and _is_store_root(leaf, internal_roots):
        return ChainFacts(store="internal", reason="the certificate is itself an internal root")

    failures: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        public_error = _verify(leaf, intermediates, certifi_store(), at)
        if public_error is None:
            return ChainFacts(store="public", reason=_relaxed_note(leaf, intermediates, certifi_store(), at))
        failures.append(f"public: {public_error}")
        if internal_roots:
            store = Store(internal_roots)
            pool = intermediates + list(extra_internal_intermediates or [])
            internal_error = _verify(leaf, pool, store, at)
            if internal_error is None:
                return ChainFacts(store="internal", reason=_relaxed_note(leaf, pool, store, at))
            failures.append(f"internal: {internal_error}")
        else:
            failures.append("internal: no internal roots configured")
    return ChainFacts(store="none", reason="; ".join(failures))


def _relaxed_note(
    leaf: x509.Certificate, intermediates: list[x509.Certificate], store: Store, at: datetime
) -> str | None:
    gap = _strict_server_gap(leaf, intermediates, store, at)
    if gap is None:
        return None
    return f"chain validates; the webpki leaf policy would reject it: {gap}"
