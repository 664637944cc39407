"""Pure certificate analysis: a certificate, a log record or hashes → CertificateFacts (no network I/O)."""

from certsoar.certs.allowlist import AllowlistMatch
from certsoar.certs.analysis import AnalysisContext, analyze_alert, facts_from_log
from certsoar.certs.facts import (
    CertificateFacts,
    ChainFacts,
    MimicryFacts,
    analyze_certificate,
    facts_from_fingerprints,
    load_pem_bundle,
)
from certsoar.certs.intel import SslblMatch, load_sslbl
from certsoar.certs.revocation import LoadedCrl, RevocationFacts, load_crl
from certsoar.certs.tools import ToolMatch

__all__ = [
    "AllowlistMatch",
    "AnalysisContext",
    "CertificateFacts",
    "ChainFacts",
    "LoadedCrl",
    "MimicryFacts",
    "RevocationFacts",
    "SslblMatch",
    "ToolMatch",
    "analyze_alert",
    "analyze_certificate",
    "facts_from_fingerprints",
    "facts_from_log",
    "load_crl",
    "load_pem_bundle",
    "load_sslbl",
]
