"""Pure certificate analysis: parse a certificate into CertificateFacts (no I/O besides certifi's bundle)."""

from certsoar.certs.facts import (
    CertificateFacts,
    ChainFacts,
    MimicryFacts,
    analyze_certificate,
    facts_from_fingerprints,
    load_pem_bundle,
)

__all__ = [
    "CertificateFacts",
    "ChainFacts",
    "MimicryFacts",
    "analyze_certificate",
    "facts_from_fingerprints",
    "load_pem_bundle",
]
