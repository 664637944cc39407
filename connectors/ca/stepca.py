"""``stepca``: Smallstep step-ca, over its HTTP API.

Reads: the CA certificates from ``GET /intermediates`` (step-ca 0.25+; ``GET /roots`` before it) and the
CRL from ``GET /1.0/crl`` (DER; ca.json ``"crl": {"enabled": true, "generateOnRevoke": true}``), whose
signature is checked against those certificates before it counts as evidence.
Write: ``POST /1.0/revoke`` with ``{"serial" (decimal), "ott", "reasonCode", "reason", "passive": true}``
(step-ca implements passive revocation only). The one-time token is a JWT signed with the JWK
provisioner's private key: ``iss`` the provisioner name, ``sub`` the decimal serial, ``aud`` the revoke
URL, ``nbf``/``iat``/``exp`` five minutes, a fresh ``jti`` (step-ca refuses a token used twice) and the
key id in the header. A serial the CRL already lists is not sent again; step-ca answers a second
revocation with 400 "… is already revoked", which is taken as done.

What step-ca cannot do through its API: list the certificates it issued or hand one back by serial
(they stay in its database). ``certificate`` and ``iter_issued`` say so with ConnectorRejected, so the
sweep reports that this CA cannot be enumerated, and ``status`` knows a serial only once it is revoked.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, ClassVar

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from pydantic import Field, SecretStr, field_validator

from certsoar.certs.fingerprints import serial_hex
from certsoar.config import required_secrets
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.ca import IssuedCertificate, RevocationReason, RevocationStatus
from certsoar.connectors.ca.evidence import CrlFinding, crl_finding, parse_serial
from certsoar.connectors.http import HttpClient, HttpSettings, json_object, secret
from certsoar.errors import CannotEnumerate, ConfigError, ConnectorRejected

REASON_CODES = {
    RevocationReason.unspecified: 0,
    RevocationReason.key_compromise: 1,
    RevocationReason.ca_compromise: 2,
    RevocationReason.affiliation_changed: 3,
    RevocationReason.superseded: 4,
    RevocationReason.cessation_of_operation: 5,
    RevocationReason.certificate_hold: 6,
    RevocationReason.remove_from_crl: 8,
    RevocationReason.privilege_withdrawn: 9,
    RevocationReason.aa_compromise: 10,
}
"""RFC 5280 CRLReason codes, which step-ca's ``reasonCode`` takes (0–10)."""
TOKEN_LIFETIME = 300
CANNOT_READ = (
    "step-ca's API serves no issued certificate: it cannot list them or hand one back by serial "
    "(they stay in its database)"
)

_CURVES: dict[str, tuple[type[ec.EllipticCurve], str, hashes.HashAlgorithm]] = {
    "P-256": (ec.SECP256R1, "ES256", hashes.SHA256()),
    "P-384": (ec.SECP384R1, "ES384", hashes.SHA384()),
    "P-521": (ec.SECP521R1, "ES512", hashes.SHA512()),
}


class StepCaSettings(HttpSettings):
    provisioner: str = Field(description="Name of the JWK provisioner (the token's iss).")
    provisioner_kid: str = Field(description="Key id of the provisioner's JWK (`kid` in ca.json).")
    provisioner_key: str = Field(
        description="The provisioner's private key, a JWK (JSON, as `step crypto jwe decrypt` prints the "
        "encryptedKey) or an unencrypted PEM, as env:NAME or file:PATH.",
        json_schema_extra={"secret": True},
    )
    crl_path: str = Field(default="/1.0/crl", description="Where step-ca serves its CRL (/crl or /1.0/crl).")

    _key_reference = required_secrets("provisioner_key", what="the provisioner key")

    @field_validator("crl_path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/") or "?" in v:
            raise ValueError("an absolute path such as /1.0/crl")
        return v


class ProvisionerKey:
    """A JWK provisioner's private key: signs one-time tokens (JWS compact, ES256/384/512 or EdDSA)."""

    def __init__(self, text: SecretStr, kid: str) -> None:
        self.kid = kid
        self._key, self.alg, self._hash = _load_key(text.get_secret_value())
        self._secrets = [text.get_secret_value(), *_private_numbers(self._key)]

    def token(self, claims: dict[str, Any]) -> str:
        header = {"alg": self.alg, "kid": self.kid, "typ": "JWT"}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}".encode()
        if isinstance(self._key, ed25519.Ed25519PrivateKey):
            signature = self._key.sign(signing_input)
        else:
            r, s = decode_dss_signature(self._key.sign(signing_input, ec.ECDSA(self._hash)))
            size = (self._key.curve.key_size + 7) // 8
            signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
        return f"{signing_input.decode()}.{_b64(signature)}"

    def secrets(self) -> list[str]:
        return list(self._secrets)

    def __repr__(self) -> str:
        return f"ProvisionerKey(kid={self.kid!r}, alg={self.alg!r})"


class StepCa:
    """CertificateAuthority on step-ca: revoke and CRL status; no inventory (the API has none)."""

    settings_model: ClassVar[type[ConnectorSettings]] = StepCaSettings

    def __init__(self, settings: StepCaSettings, env: ConnectorEnv) -> None:
        self.settings = settings
        self.instance = env.name
        try:
            self.key = ProvisionerKey(secret(settings.provisioner_key), settings.provisioner_kid)
        except ValueError as exc:
            raise ConfigError(f"{env.name}: provisioner_key: {exc}") from None
        self.http = HttpClient(settings, env)
        self.http.redactor.add(self.key.secrets())

    def __repr__(self) -> str:
        return (
            f"StepCa(instance={self.instance!r}, url={self.settings.url!r}, provisioner={self.settings.provisioner!r})"
        )

    # ---------------------------------------------------------------- read

    async def ca_certificates(self) -> list[str]:
        return [c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in await self._ca_certs()]

    async def list_issued(self, since: datetime | None = None) -> list[IssuedCertificate]:
        raise CannotEnumerate(f"cannot be enumerated: {CANNOT_READ}", connector=self.instance)

    async def iter_issued(self, since: str | None = None) -> AsyncIterator[IssuedCertificate]:
        raise CannotEnumerate(f"cannot be enumerated: {CANNOT_READ}", connector=self.instance)
        yield  # pragma: no cover - makes this an async generator

    async def certificate(self, serial: str) -> IssuedCertificate | None:
        parse_serial(serial)
        raise ConnectorRejected(f"cannot read serial {serial}: {CANNOT_READ}", connector=self.instance)

    async def status(self, serial: str) -> RevocationStatus:
        number = parse_serial(serial)
        evidence: dict[str, str] = {"certificate": f"(not readable: {CANNOT_READ})"}
        crl = await self._crl_finding(number, evidence)
        return RevocationStatus(
            serial=serial_hex(number),
            known=crl.listed,  # step-ca shows a serial only in its CRL, once revoked
            revoked=crl.listed,
            reason=crl.reason,
            revoked_at=crl.revoked_at,
            in_crl=crl.listed,
            crl_number=crl.number,
            crl_next_update=crl.next_update,
            evidence=evidence,
        )

    # --------------------------------------------------------------- write

    async def revoke(self, serial: str, reason: RevocationReason) -> RevocationStatus:
        number = parse_serial(serial)
        before = await self.status(serial)
        if before.in_crl:
            return before
        audience = f"{self.settings.url}/1.0/revoke"
        now = int(time.time())
        ott = self.key.token(
            {
                "iss": self.settings.provisioner,
                "sub": str(number),
                "aud": audience,
                "nbf": now,
                "iat": now,
                "exp": now + TOKEN_LIFETIME,
                "jti": secrets.token_hex(16),
            }
        )
        body = {"serial": str(number), "ott": ott, "reasonCode": REASON_CODES[reason], "reason": reason.value}
        # not repeated by the HTTP layer: step-ca refuses a token it has seen, so a later try signs a new one
        response = await self.http.request("POST", "/1.0/revoke", json_body={**body, "passive": True}, ok=(400,))
        answer = self.http.redactor.text(_message(response)) if response.status_code == 400 else "ok"
        if response.status_code == 400 and "already revoked" not in answer:
            raise ConnectorRejected(f"POST /1.0/revoke: HTTP 400: {answer}", connector=self.instance)
        after = await self.status(serial)
        # step-ca said it holds the revocation, even when no CRL shows it yet (or the CRL is disabled)
        evidence = {**after.evidence, "revoke": f"step-ca answered: {answer}"}
        return after.model_copy(update={"known": True, "revoked": True, "evidence": evidence})

    # ------------------------------------------------------------- helpers

    async def _ca_certs(self) -> list[x509.Certificate]:
        response = await self.http.request("GET", "/intermediates", authenticated=False, ok=(404,))
        if response.status_code == 404:  # before step-ca 0.25
            response = await self.http.request("GET", "/roots", authenticated=False)
        try:
            pems = json_object(response, self.instance)["crts"]
            return [x509.load_pem_x509_certificate(str(p).encode("ascii")) for p in pems]
        except (KeyError, TypeError, ValueError, UnicodeEncodeError):
            raise ConnectorRejected(
                f"{response.request.url.path}: the answer holds no PEM certificates", connector=self.instance
            ) from None

    async def _crl_finding(self, number: int, evidence: dict[str, str]) -> CrlFinding:
        evidence["crl"] = f"{self.settings.url}{self.settings.crl_path}"
        response = await self.http.request("GET", self.settings.crl_path, authenticated=False, ok=(404,))
        if response.status_code == 404:
            evidence["crl_check"] = "no CRL: enable it in ca.json (crl.enabled, generateOnRevoke)"
            return CrlFinding()
        return crl_finding(response.content, "step-ca crl", await self._ca_certs(), number, evidence)


def _load_key(text: str) -> tuple[ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey, str, hashes.HashAlgorithm]:
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            jwk = json.loads(stripped)
        except ValueError:
            raise ValueError("not a JSON JWK") from None
        if jwk.get("kty") == "EC" and jwk.get("crv") in _CURVES and "d" in jwk:
            curve, alg, digest = _CURVES[jwk["crv"]]
            key = ec.derive_private_key(int.from_bytes(_unb64(jwk["d"]), "big"), curve())
            return key, alg, digest
        if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519" and "d" in jwk:
            return ed25519.Ed25519PrivateKey.from_private_bytes(_unb64(jwk["d"])), "EdDSA", hashes.SHA512()
        raise ValueError("a private EC (P-256, P-384, P-521) or Ed25519 JWK is needed")
    try:
        loaded = serialization.load_pem_private_key(stripped.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("neither a JWK nor an unencrypted PEM private key") from None
    if isinstance(loaded, ed25519.Ed25519PrivateKey):
        return loaded, "EdDSA", hashes.SHA512()
    if isinstance(loaded, ec.EllipticCurvePrivateKey):
        for curve, alg, digest in _CURVES.values():
            if isinstance(loaded.curve, curve):
                return loaded, alg, digest
    raise ValueError("an EC (P-256, P-384, P-521) or Ed25519 private key is needed")


def _private_numbers(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> list[str]:
    """The private value in the spellings a log or an error could carry it (JWK base64url, hex, decimal)."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
    else:
        raw = key.private_numbers().private_value.to_bytes((key.curve.key_size + 7) // 8, "big")
    return [_b64(raw), raw.hex(), str(int.from_bytes(raw, "big"))]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: object) -> bytes:
    if not isinstance(text, str):
        raise ValueError("a JWK member is not a string")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _message(response: httpx.Response) -> str:
    """step-ca's error body: ``{"status": 400, "message": "The request could not be completed: …"}``."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    return str(body.get("message", ""))[:300] if isinstance(body, dict) else ""


__all__ = ["StepCa", "StepCaSettings", "ProvisionerKey", "REASON_CODES"]
