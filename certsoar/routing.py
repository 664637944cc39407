"""Which configured CA issued a certificate: the certificate's issuer name and authority key identifier against
each CA's own certificates (``ca_certificates()``).

The key decides: when the certificate names its issuer's key (AKI), only a CA certificate with that subject key
identifier matches, so a certificate that copies a CA's name under another key is issued by none of ours. The
name alone decides only when the certificate carries no AKI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography import x509

from certsoar.certs.dn import Attribute, attributes_of, parse_dn, same_name
from certsoar.certs.facts import load_pem_bundle
from certsoar.errors import ActionError, CertsoarError, ConfigError, ConnectorRejected

if TYPE_CHECKING:
    from certsoar.connections import Connections
    from certsoar.connectors.ca import CertificateAuthority


@dataclass(frozen=True)
class IssuingCa:
    instance: str
    ca: "CertificateAuthority"


def key_identifier_hex(value: str | None) -> str | None:
    """A key identifier in any hex form (colons, spaces, any case) as lower-case hex; None when empty."""
    if not value:
        return None
    digits = "".join(value.split()).replace(":", "").lower()
    try:
        bytes.fromhex(digits)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a key identifier in hex") from exc
    return digits or None


def key_identifiers(ca_cert: x509.Certificate) -> set[str]:
    """What an issued certificate's AKI may say for this CA: its subjectKeyIdentifier extension and the RFC 5280
    method-1 hash of its key (for a CA certificate written without the extension)."""
    found = set()
    try:
        found.add(ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest.hex())
    except x509.ExtensionNotFound:
        pass
    try:
        found.add(x509.SubjectKeyIdentifier.from_public_key(ca_cert.public_key()).digest.hex())  # type: ignore[arg-type]
    except (ValueError, TypeError):
        pass  # a key cryptography cannot load has no computed identifier
    return found


def issued_under(ca_cert: x509.Certificate, issuer: list[Attribute], authority_key_id: str | None) -> bool:
    """A certificate naming ``issuer`` and ``authority_key_id`` was issued under ``ca_cert``'s key and name."""
    same = same_name(attributes_of(ca_cert.subject), issuer)
    if authority_key_id is None:
        return same
    return authority_key_id in key_identifiers(ca_cert) and (same or not issuer)


async def issuing_cas(connections: "Connections", issuer: str | None, authority_key_id: str | None) -> list[IssuingCa]:
    """The configured CAs that issued a certificate with this issuer DN and AKI (lower-case hex); every CA when
    the certificate names neither. ActionError when no configured CA did."""
    cas = connections.each("ca")
    if not cas:
        raise ConfigError("connectors.ca: not configured")
    if not issuer and authority_key_id is None:
        return [IssuingCa(name, ca) for name, ca in cas]
    wanted = parse_dn(issuer)
    found: list[IssuingCa] = []
    unasked: list[str] = []
    for name, ca in cas:
        try:
            pems = await ca.ca_certificates()
            certs = [cert for pem in pems for cert in load_pem_bundle(pem.encode())]
        except ValueError as exc:
            raise ConnectorRejected(f"CA certificate is not PEM: {exc}", connector=f"ca:{name}") from exc
        except CertsoarError as exc:  # another CA may still be the one; said below if none is
            unasked.append(f"{name}: {exc}")
            continue
        if any(issued_under(cert, wanted, authority_key_id) for cert in certs):
            found.append(IssuingCa(name, ca))
    if found:
        return found
    named = f"issuer {issuer!r}" if issuer else "no issuer name"
    key = f"authority key id {authority_key_id}" if authority_key_id else "no authority key id"
    asked = ", ".join(name for name, _ in cas)
    unread = f"; could not read the CA certificates of {'; '.join(unasked)}" if unasked else ""
    raise ActionError(f"no configured CA issued this certificate: {named}, {key} (CAs: {asked}){unread}")
