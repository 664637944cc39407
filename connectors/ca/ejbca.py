"""``ejbca``: one CA of an EJBCA (Keyfactor) instance, over its REST API (``/ejbca/ejbca-rest-api/v1``, ``/v2``).

Reads: the CA certificate from ``GET v1/ca/{subject_dn}/certificate/download``; one serial with
``POST v1/certificate/search`` (criteria QUERY = the serial, CA = the CA's name) and its state with
``GET v1/certificate/{issuer_dn}/{serial}/revocationstatus``; the inventory, page by page with the
requesting end entity (``username``) and certificate profile, with ``POST v2/certificate/search`` (v1
search has no paging); the CRL with ``GET v1/ca/{issuer_dn}/getLatestCrl`` (base64 DER in JSON), whose
signature is checked against the CA certificate before it counts as evidence.
Write: ``PUT v1/certificate/{issuer_dn}/{serial}/revoke?reason=…``; EJBCA answers 409 for a serial
already revoked (success here, nothing changed) and 202 when an approval is pending. When the CRL does
not list a revoked serial yet, ``POST v1/ca/{issuer_dn}/createcrl`` issues a new one.

Authentication: a client certificate of an administrator with a REST role (``client_cert`` and
``client_key``); EJBCA Enterprise also accepts an OAuth bearer token (``token``).
Serials travel as hex (current EJBCA) or decimal (older releases parsed ``new BigInteger(s)``): ``serial_format``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import Field, field_validator, model_validator

from certsoar.certs.fingerprints import serial_hex
from certsoar.config import secret_reference
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.ca import IssuedCertificate, RevocationReason, RevocationStatus
from certsoar.connectors.ca.described import describe_issued
from certsoar.connectors.ca.evidence import CrlFinding, crl_finding, issued_state, parse_serial
from certsoar.connectors.http import HttpClient, HttpSettings, bearer_auth, json_object, secret
from certsoar.errors import ConnectorRejected, ConnectorUnavailable

REASONS = {
    RevocationReason.unspecified: "UNSPECIFIED",
    RevocationReason.key_compromise: "KEY_COMPROMISE",
    RevocationReason.ca_compromise: "CA_COMPROMISE",
    RevocationReason.affiliation_changed: "AFFILIATION_CHANGED",
    RevocationReason.superseded: "SUPERSEDED",
    RevocationReason.cessation_of_operation: "CESSATION_OF_OPERATION",
    RevocationReason.certificate_hold: "CERTIFICATE_HOLD",
    RevocationReason.remove_from_crl: "REMOVE_FROM_CRL",
    RevocationReason.privilege_withdrawn: "PRIVILEGES_WITHDRAWN",
    RevocationReason.aa_compromise: "AA_COMPROMISE",
}
"""RFC 5280 reason → EJBCA's RevocationReasons name (the ``reason`` query parameter of revoke)."""
REASON_NAMES = {v: k.value for k, v in REASONS.items()}
CERT_REVOKED = 40  # EJBCA CertificateConstants.CERT_REVOKED (v2 search "status")


class EjbcaSettings(HttpSettings):
    api_path: str = Field(default="/ejbca/ejbca-rest-api", description="Where the REST API is mounted.")
    issuer_dn: str = Field(description="Subject DN of the CA, as EJBCA spells it (CN=Issuing CA,O=Example).")
    ca_name: str = Field(description="The CA's name in EJBCA (the CA search criterion).")
    serial_format: Literal["hex", "decimal"] = Field(
        default="hex", description="How this EJBCA reads a serial in a path: hex (current) or decimal (older)."
    )
    page_size: int = Field(default=100, ge=1, le=1000, description="Certificates per search page.")
    token: str | None = Field(
        default=None,
        description="OAuth bearer token (EJBCA Enterprise) as env:NAME or file:PATH, instead of a client certificate.",
        json_schema_extra={"secret": True},
    )

    @field_validator("token")
    @classmethod
    def _token_reference(cls, v: str | None) -> str | None:
        return secret_reference(v, "the token")

    @field_validator("api_path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/") or "?" in v or "#" in v:
            raise ValueError("an absolute path such as /ejbca/ejbca-rest-api")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _credentials(self) -> "EjbcaSettings":
        if self.client_cert is None and self.token is None:
            raise ValueError("EJBCA needs client_cert (and client_key) of a REST administrator, or a token")
        return self


class EjbcaCa:
    """CertificateAuthority on one CA of an EJBCA instance."""

    settings_model: ClassVar[type[ConnectorSettings]] = EjbcaSettings

    def __init__(self, settings: EjbcaSettings, env: ConnectorEnv) -> None:
        self.settings = settings
        self.instance = env.name
        auth = bearer_auth(secret(settings.token)) if settings.token is not None else None
        self.http = HttpClient(settings, env, auth=auth)
        self._api = settings.api_path
        self._issuer = quote(settings.issuer_dn, safe="")

    def __repr__(self) -> str:
        return f"EjbcaCa(instance={self.instance!r}, url={self.settings.url!r}, ca={self.settings.ca_name!r})"

    # ---------------------------------------------------------------- read

    async def ca_certificates(self) -> list[str]:
        return [c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in await self._ca_certs()]

    async def list_issued(self, since: datetime | None = None) -> list[IssuedCertificate]:
        issued = [c async for c in self.iter_issued()]
        return [c for c in issued if since is None or c.not_before is None or c.not_before >= since]

    async def iter_issued(self, since: str | None = None) -> AsyncIterator[IssuedCertificate]:
        """Every certificate of the CA, page by page in issuance order; ``since`` is ignored (EJBCA pages by
        number, and a page number is no watermark once certificates are added: the sweep's claims keep a
        serial from being reported twice)."""
        page, previous = 1, None
        while True:
            body = {
                "pagination": {"page_size": self.settings.page_size, "current_page": page},
                "sort": {"property": "ISSUED_DATE", "operation": "ASC"},
                "criteria": [{"property": "CA", "value": self.settings.ca_name, "operation": "EQUAL"}],
            }
            found = self._json(await self._call("POST", "/v2/certificate/search", json_body=body, idempotent=True))
            entries = found.get("certificates") or []
            first = entries[0].get("serialNumber") if entries and isinstance(entries[0], dict) else None
            if page > 1 and first is not None and first == previous:
                raise ConnectorRejected(
                    f"v2/certificate/search answered page {page} with page {page - 1} again: paging is not honoured",
                    connector=self.instance,
                )
            previous = first
            for entry in entries:
                described = self._describe_v2(entry)
                if described is not None:
                    yield described
            total = (found.get("pagination_summary") or {}).get("total_certs")
            if (
                not entries
                or len(entries) < self.settings.page_size
                or (isinstance(total, int) and page * self.settings.page_size >= total)
            ):
                return
            page += 1

    async def certificate(self, serial: str) -> IssuedCertificate | None:
        number = parse_serial(serial)
        body = {
            "max_number_of_results": 10,
            "criteria": [
                {"property": "QUERY", "value": serial_hex(number), "operation": "EQUAL"},
                {"property": "CA", "value": self.settings.ca_name, "operation": "EQUAL"},
            ],
        }
        found = self._json(await self._call("POST", "/v1/certificate/search", json_body=body, idempotent=True))
        for entry in found.get("certificates") or []:
            cert = self._load(entry.get("certificate"), entry.get("response_format"))
            if cert is None or cert.serial_number != number or cert.issuer.rfc4514_string() != self._issuer_name():
                continue
            state = await self._revocation(number)
            revoked_at = _when(state.get("revocation_date")) if state.get("revoked") else None
            described = _describe(cert, bool(state.get("revoked")), revoked_at)
            return described.model_copy(update={"template": entry.get("certificate_profile") or None})
        return None

    async def status(self, serial: str) -> RevocationStatus:
        number = parse_serial(serial)
        where = f"{self._api}/v1/certificate/{self._issuer}/{self._serial(number)}/revocationstatus"
        evidence = {"revocationstatus": f"{self.settings.url}{where}"}
        state = await self._revocation(number)
        known = bool(state)
        revoked = bool(state.get("revoked"))
        evidence["revocationstatus_check"] = (
            "(EJBCA knows no certificate of this CA under this serial)"
            if not known
            else f"revoked {state.get('revocation_date')} ({state.get('revocation_reason')})"
            if revoked
            else "not revoked"
        )
        crl = await self._crl_finding(number, evidence)
        return RevocationStatus(
            serial=serial_hex(number),
            known=known,
            revoked=revoked,
            reason=REASON_NAMES.get(str(state.get("revocation_reason"))) if revoked else None,
            revoked_at=_when(state.get("revocation_date")) if revoked else None,
            in_crl=crl.listed,
            crl_number=crl.number,
            crl_next_update=crl.next_update,
            evidence=evidence,
        )

    # --------------------------------------------------------------- write

    async def revoke(self, serial: str, reason: RevocationReason) -> RevocationStatus:
        number = parse_serial(serial)
        state = await self._revocation(number)
        if not state:
            raise ConnectorRejected(f"serial {serial_hex(number)} was not issued by this CA", connector=self.instance)
        if not state.get("revoked"):
            # a repeat is answered 409 (already revoked): safe to send again
            response = await self._call(
                "PUT",
                f"/v1/certificate/{self._issuer}/{self._serial(number)}/revoke",
                params={"reason": REASONS[reason]},
                idempotent=True,
                ok=(202, 409),
            )
            if response.status_code == 202:
                raise ConnectorUnavailable(
                    f"EJBCA holds the revocation of serial {serial_hex(number)} for approval: "
                    f"{self._json(response).get('info_message') or 'waiting for approval'}",
                    connector=self.instance,
                )
        status = await self.status(serial)
        if status.revoked and not status.in_crl:
            await self._call("POST", f"/v1/ca/{self._issuer}/createcrl", params={"deltacrl": "false"})
            status = await self.status(serial)
        return status

    async def publish_crl(self) -> None:
        await self._call("POST", f"/v1/ca/{self._issuer}/createcrl", params={"deltacrl": "false"})

    # ------------------------------------------------------------- helpers

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, str] | None = None,
        idempotent: bool | None = None,
        ok: tuple[int, ...] = (),
    ) -> httpx.Response:
        return await self.http.request(
            method, self._api + path, json_body=json_body, params=params, idempotent=idempotent, ok=ok
        )

    def _serial(self, number: int) -> str:
        return str(number) if self.settings.serial_format == "decimal" else serial_hex(number)

    def _issuer_name(self) -> str:
        return x509.Name.from_rfc4514_string(self.settings.issuer_dn).rfc4514_string()

    async def _revocation(self, number: int) -> dict[str, Any]:
        """The revocationstatus answer, or {} when EJBCA knows no such certificate of this CA (404)."""
        response = await self._call(
            "GET", f"/v1/certificate/{self._issuer}/{self._serial(number)}/revocationstatus", ok=(404,)
        )
        return {} if response.status_code == 404 else self._json(response)

    async def _ca_certs(self) -> list[x509.Certificate]:
        response = await self._call("GET", f"/v1/ca/{self._issuer}/certificate/download")
        try:
            chain = x509.load_pem_x509_certificates(response.content)
        except ValueError:
            raise ConnectorRejected(
                "certificate/download: the answer is not PEM certificates", connector=self.instance
            ) from None
        own = [c for c in chain if c.subject.rfc4514_string() == self._issuer_name()]
        if not own:
            raise ConnectorRejected(
                f"certificate/download: no certificate of {self.settings.issuer_dn} in the chain",
                connector=self.instance,
            )
        return own

    def _load(self, text: object, response_format: object) -> x509.Certificate | None:
        if not isinstance(text, str):
            return None
        try:
            if response_format == "PEM" or "-----BEGIN" in text:
                return x509.load_pem_x509_certificate(text.encode("ascii"))
            return x509.load_der_x509_certificate(base64.b64decode(text, validate=True))
        except (ValueError, binascii.Error, UnicodeEncodeError):
            return None

    def _describe_v2(self, entry: dict[str, Any]) -> IssuedCertificate | None:
        cert = self._load(entry.get("base64Cert"), "DER")
        if cert is None or cert.issuer.rfc4514_string() != self._issuer_name():
            return None
        revoked = entry.get("status") == CERT_REVOKED
        revoked_at = _millis(entry.get("revocationDate")) if revoked else None
        profile = entry.get("certificateProfileId")
        return _describe(cert, revoked, revoked_at).model_copy(
            update={
                "requester": entry.get("username") or None,
                "template": str(profile) if profile is not None else None,
            }
        )

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        return json_object(response, self.instance)

    async def _crl_finding(self, number: int, evidence: dict[str, str]) -> CrlFinding:
        where = f"/v1/ca/{self._issuer}/getLatestCrl"
        evidence["crl"] = f"{self.settings.url}{self._api}{where}"
        try:
            response = await self._call("GET", where, params={"deltaCrl": "false"})
        except ConnectorRejected as exc:
            evidence["crl_check"] = f"no CRL: {exc}"
            return CrlFinding()
        try:
            der = base64.b64decode(str(self._json(response).get("crl") or ""), validate=True)
        except binascii.Error:
            evidence["crl_check"] = "unreadable CRL: getLatestCrl holds no base64"
            return CrlFinding()
        return crl_finding(der, "EJBCA getLatestCrl", await self._ca_certs(), number, evidence)


def _describe(cert: x509.Certificate, revoked: bool, revoked_at: datetime | None) -> IssuedCertificate:
    return describe_issued(cert, status=issued_state(cert, revoked), revoked_at=revoked_at)


def _when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def _millis(value: object) -> datetime | None:
    if isinstance(value, int) and value > 0:
        return datetime.fromtimestamp(value / 1000, timezone.utc)
    return None


__all__ = ["EjbcaCa", "EjbcaSettings", "REASONS"]
