"""``vault``: the PKI secrets engine of HashiCorp Vault or OpenBao, over its HTTP API (``/v1/<mount>/…``).

Reads: ``LIST certs`` and ``GET cert/<serial>`` (the certificate and its ``revocation_time``), the CA
certificate from ``GET ca/pem`` and the CRL from ``GET crl`` (DER), whose signature is checked against
the CA certificate before it counts as evidence. Write: ``POST revoke`` with ``serial_number``; Vault
answers a repeat with the original revocation time, so the request is safe to try again. Vault takes
no reason code: its CRL entries carry none. When the CRL does not list a revoked serial (``auto_rebuild``
delays it) the CRL is rebuilt with ``GET crl/rotate``.

Authentication: a token (``X-Vault-Token``) or AppRole (``POST /v1/auth/<approle_mount>/login``, the
token kept until shortly before its lease ends); ``namespace`` adds ``X-Vault-Namespace``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any, ClassVar

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import Field, SecretStr, field_validator, model_validator

from certsoar.certs.fingerprints import serial_hex, sha256_hex
from certsoar.certs.revocation import crl_reason, crl_signer, parse_crl
from certsoar.config import secret_reference
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.ca import IssuedCertificate, RevocationReason, RevocationStatus
from certsoar.connectors.ca.described import describe_issued
from certsoar.connectors.ca.evidence import parse_serial
from certsoar.connectors.http import CachedTokenAuth, HeaderAuth, HttpClient, HttpSettings, json_object, secret
from certsoar.errors import ConnectorRejected, ConnectorUnavailable, CrlError

_PATH_SEGMENTS = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")


class VaultSettings(HttpSettings):
    mount: str = Field(default="pki", description="Path the PKI secrets engine is mounted at.")
    namespace: str | None = Field(default=None, description="Vault Enterprise / OpenBao namespace.")
    token: str | None = Field(
        default=None, description="Vault token as env:NAME or file:PATH.", json_schema_extra={"secret": True}
    )
    approle_role_id: str | None = Field(default=None, description="AppRole role_id (instead of a token).")
    approle_secret_id: str | None = Field(
        default=None, description="AppRole secret_id as env:NAME or file:PATH.", json_schema_extra={"secret": True}
    )
    approle_mount: str = Field(default="approle", description="Path the AppRole auth method is mounted at.")

    @field_validator("mount", "approle_mount", "namespace")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        if v is not None and not _PATH_SEGMENTS.match(v.strip("/")):
            raise ValueError("a Vault path is letters, digits, '_', '.', '-' separated by '/'")
        return v.strip("/") if v is not None else None

    @field_validator("token")
    @classmethod
    def _token_reference(cls, v: str | None) -> str | None:
        return secret_reference(v, "the token")

    @field_validator("approle_secret_id")
    @classmethod
    def _secret_id_reference(cls, v: str | None) -> str | None:
        return secret_reference(v, "the AppRole secret_id")

    @model_validator(mode="after")
    def _one_way_in(self) -> "VaultSettings":
        approle = self.approle_role_id is not None or self.approle_secret_id is not None
        if approle and not (self.approle_role_id and self.approle_secret_id):
            raise ValueError("AppRole needs both approle_role_id and approle_secret_id")
        if approle == (self.token is not None):
            raise ValueError("give either token or approle_role_id with approle_secret_id")
        return self


class VaultAppRoleAuth(CachedTokenAuth):
    """Logs in with role_id and secret_id; sends the client token it got as ``X-Vault-Token``."""

    def __init__(self, login_url: str, role_id: str, secret_id: SecretStr, namespace: str | None) -> None:
        super().__init__()
        self.login_url = login_url
        self.role_id = role_id
        self._secret_id = secret_id
        self.namespace = namespace

    def token_request(self) -> httpx.Request:
        headers = {"X-Vault-Namespace": self.namespace} if self.namespace else {}
        body = {"role_id": self.role_id, "secret_id": self._secret_id.get_secret_value()}
        return httpx.Request("POST", self.login_url, json=body, headers=headers)

    def parse_token(self, response: httpx.Response) -> tuple[SecretStr, float | None]:
        auth = response.json()["auth"]
        lease = auth.get("lease_duration")
        return SecretStr(str(auth["client_token"])), float(lease) if lease else None

    def apply(self, request: httpx.Request, token: SecretStr) -> None:
        request.headers["X-Vault-Token"] = token.get_secret_value()

    def secrets(self) -> list[str]:
        return [*super().secrets(), self._secret_id.get_secret_value()]

    def __repr__(self) -> str:
        return f"VaultAppRoleAuth(login_url={self.login_url!r})"


def vault_serial(number: int) -> str:
    """Vault's spelling of a serial: lower-case hex bytes joined by ':' (``1f:a0``)."""
    raw = number.to_bytes(max(1, (number.bit_length() + 7) // 8), "big")
    return ":".join(f"{b:02x}" for b in raw)


class VaultCa:
    """CertificateAuthority on a Vault / OpenBao PKI mount."""

    settings_model: ClassVar[type[ConnectorSettings]] = VaultSettings

    def __init__(self, settings: VaultSettings, env: ConnectorEnv) -> None:
        self.settings = settings
        self.instance = env.name
        self._base = f"/v1/{settings.mount}"
        auth: httpx.Auth
        if settings.token is not None:
            auth = HeaderAuth("X-Vault-Token", secret(settings.token))
        else:
            assert settings.approle_role_id is not None and settings.approle_secret_id is not None
            auth = VaultAppRoleAuth(
                f"{settings.url}/v1/auth/{settings.approle_mount}/login",
                settings.approle_role_id,
                secret(settings.approle_secret_id),
                settings.namespace,
            )
        self.http = HttpClient(settings, env, auth=auth)
        self._headers = {"X-Vault-Namespace": settings.namespace} if settings.namespace else {}

    def __repr__(self) -> str:
        return f"VaultCa(instance={self.instance!r}, url={self.settings.url!r}, mount={self.settings.mount!r})"

    # ---------------------------------------------------------------- read

    async def ca_certificates(self) -> list[str]:
        return [c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in await self._ca_certs()]

    async def list_issued(self, since: datetime | None = None) -> list[IssuedCertificate]:
        response = await self._call("LIST", "/certs", ok=(404,))  # 404: no certificate issued yet
        keys = [] if response.status_code == 404 else _data(response).get("keys") or []
        found = await asyncio.gather(*(self.certificate(str(key)) for key in keys))
        issued = [c for c in found if c is not None]
        if since is not None:
            issued = [c for c in issued if c.not_before is None or c.not_before >= since]
        return issued

    async def iter_issued(self, since: str | None = None) -> AsyncIterator[IssuedCertificate]:
        """Every certificate the mount holds, each sweep: Vault lists serials in no issuance order, so there is
        no watermark to resume from (``since`` is ignored; the sweep's claims keep a serial from being reported
        twice)."""
        for cert in await self.list_issued():
            yield cert

    async def certificate(self, serial: str) -> IssuedCertificate | None:
        number = parse_serial(serial)
        response = await self._call("GET", f"/cert/{vault_serial(number)}", ok=(404,))
        if response.status_code == 404:
            return None
        data = _data(response)
        try:
            cert = x509.load_pem_x509_certificate(str(data["certificate"]).encode("ascii"))
        except (KeyError, ValueError, UnicodeEncodeError) as exc:
            raise ConnectorRejected(
                f"cert/{vault_serial(number)}: the answer holds no PEM certificate ({type(exc).__name__})",
                connector=self.instance,
            ) from None
        if cert.serial_number != number:
            raise ConnectorRejected(
                f"cert/{vault_serial(number)}: Vault answered with serial {serial_hex(cert.serial_number)}",
                connector=self.instance,
            )
        return _describe(cert, _revoked_at(data))

    async def status(self, serial: str) -> RevocationStatus:
        number = parse_serial(serial)
        held = await self.certificate(serial)
        evidence = {"cert": f"{self.settings.url}{self._base}/cert/{vault_serial(number)}"}
        if held is None:
            evidence["cert_check"] = "(Vault holds no certificate under this serial)"
        else:
            evidence["cert_check"] = f"status {held.status}" + (
                f", revoked {held.revoked_at.isoformat()}" if held.revoked_at else ""
            )
        crl = await self._crl_finding(number, evidence)
        return RevocationStatus(
            serial=serial_hex(number),
            known=held is not None,
            revoked=held is not None and held.revoked_at is not None,
            reason=crl.get("reason"),
            revoked_at=held.revoked_at if held else None,
            in_crl=bool(crl.get("listed")),
            crl_number=crl.get("number"),
            crl_next_update=crl.get("next_update"),
            evidence=evidence,
        )

    # --------------------------------------------------------------- write

    async def revoke(self, serial: str, reason: RevocationReason) -> RevocationStatus:
        """Revoke (``reason`` is not sent: Vault records none) and make sure the CRL lists it."""
        number = parse_serial(serial)
        held = await self.certificate(serial)
        if held is None:
            raise ConnectorRejected(f"serial {serial_hex(number)} was not issued by this CA", connector=self.instance)
        if held.revoked_at is None:
            # Vault answers a second revoke of a serial with the first one's time: a repeat changes nothing.
            response = await self._call(
                "POST", "/revoke", json_body={"serial_number": vault_serial(number)}, idempotent=True
            )
            body = json_object(response)
            data = body.get("data") or {}
            if data.get("state") == "pending":  # queued for a cross-cluster revocation: it lands later
                raise ConnectorUnavailable(
                    f"Vault queued the revocation of serial {serial_hex(number)} (state pending)",
                    connector=self.instance,
                )
            if not data.get("revocation_time") and data.get("state") != "revoked":
                warnings = "; ".join(str(w) for w in body.get("warnings") or []) or "no revocation time in the answer"
                raise ConnectorRejected(
                    f"Vault did not revoke serial {serial_hex(number)}: {warnings}", connector=self.instance
                )
        status = await self.status(serial)
        if status.revoked and not status.in_crl:
            await self._call("GET", "/crl/rotate")
            status = await self.status(serial)
        return status

    # ------------------------------------------------------------- helpers

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        idempotent: bool | None = None,
        authenticated: bool = True,
        ok: tuple[int, ...] = (),
    ) -> httpx.Response:
        return await self.http.request(
            method,
            self._base + path,
            json_body=json_body,
            headers=self._headers,
            idempotent=idempotent,
            authenticated=authenticated,
            ok=ok,
        )

    async def _ca_certs(self) -> list[x509.Certificate]:
        response = await self._call("GET", "/ca/pem", authenticated=False)
        try:
            return x509.load_pem_x509_certificates(response.content)
        except ValueError:
            raise ConnectorRejected("ca/pem: the answer is not a PEM certificate", connector=self.instance) from None

    async def _crl_finding(self, number: int, evidence: dict[str, str]) -> dict[str, Any]:
        evidence["crl"] = f"{self.settings.url}{self._base}/crl"
        try:
            response = await self._call("GET", "/crl", authenticated=False)
        except ConnectorRejected as exc:
            evidence["crl_check"] = f"no CRL: {exc}"
            return {}
        evidence["crl_sha256"] = sha256_hex(response.content)
        try:
            crl = parse_crl(response.content, "Vault crl")
        except CrlError as exc:
            evidence["crl_check"] = f"unreadable CRL: {exc}"
            return {}
        if crl_signer(crl, await self._ca_certs()) is None:
            evidence["crl_check"] = "signature invalid: the CRL was not signed by this mount's CA certificate"
            return {}
        try:
            crl_number: int | None = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        except x509.ExtensionNotFound:
            crl_number = None
        entry = crl.get_revoked_certificate_by_serial_number(number)
        if entry is None:
            evidence["crl_check"] = "signature valid; serial not listed"
        else:
            evidence["crl_check"] = f"signature valid; serial listed (revoked {entry.revocation_date_utc.isoformat()})"
        next_update = crl.next_update_utc
        if next_update is not None and next_update < datetime.now(timezone.utc):
            evidence["crl_check"] += f"; CRL expired at {next_update.isoformat()}"
        return {
            "listed": entry is not None,
            "reason": crl_reason(entry) if entry is not None else None,
            "number": crl_number,
            "next_update": next_update,
        }


def _data(response: httpx.Response) -> dict[str, Any]:
    data = json_object(response).get("data")
    return data if isinstance(data, dict) else {}


def _revoked_at(data: dict[str, Any]) -> datetime | None:
    seconds = data.get("revocation_time")
    if isinstance(seconds, int | float) and seconds > 0:
        return datetime.fromtimestamp(seconds, timezone.utc)
    return None


def _describe(cert: x509.Certificate, revoked_at: datetime | None) -> IssuedCertificate:
    if revoked_at is not None:
        state = "revoked"
    elif cert.not_valid_after_utc <= datetime.now(timezone.utc):
        state = "expired"
    else:
        state = "valid"
    return describe_issued(cert, status=state, revoked_at=revoked_at)


__all__ = ["VaultCa", "VaultSettings", "VaultAppRoleAuth", "vault_serial"]
