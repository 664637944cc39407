"""The trust files a config names (internal roots, CRLs), read the one way both the config's load-time
check and certificate.analyze read them: ConfigError naming the field and the file."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from certsoar.certs.chain import load_certificates_quietly
from certsoar.certs.revocation import LoadedCrl, load_crl
from certsoar.errors import ConfigError, CrlError
from certsoar.parsedamage import damage_in_words


def read_roots(path: Path, field: str = "trust.internal_roots") -> list[x509.Certificate]:
    """The certificates of a PEM bundle of root CAs; ConfigError when it cannot be read or holds none."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{field}: {path}: cannot read: {exc.strerror or exc}") from exc
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise ConfigError(
            f"{field}: {path}: not a PEM certificate bundle: it holds no -----BEGIN CERTIFICATE----- block"
        )
    try:
        roots = load_certificates_quietly(data)
    except ValueError as exc:
        raise ConfigError(f"{field}: {path}: not a PEM certificate bundle: {damage_in_words(str(exc))}") from exc
    return roots


def read_crl(path: Path, field: str = "trust.crls") -> LoadedCrl:
    """A PEM or DER CRL file; ConfigError when it cannot be read or is not a CRL."""
    try:
        return load_crl(path)
    except OSError as exc:
        raise ConfigError(f"{field}: {path}: cannot read: {exc.strerror or exc}") from exc
    except CrlError as exc:
        raise ConfigError(f"{field}: {exc}") from exc
