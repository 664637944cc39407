"""``adcs``: a Microsoft Active Directory Certificate Services CA, through ``certutil.exe`` over PowerShell
remoting (WinRM; the transport is connectors/ca/psrp.py, the output format connectors/ca/certutil.py).

Reads: the inventory with ``certutil -view -restrict "RequestID>N,RequestID<=M" -out "…" csv`` (request ID,
serial, disposition, requester, template, revocation date and reason, the certificate), in windows of
``page_size`` request IDs: the request ID is the watermark of ``iter_issued``. One serial with ``-restrict
"SerialNumber=…"``. The CA certificate with ``-ca.cert`` and the CRL with ``-getcrl`` (written to a
temporary file on the CA host and read back); the CRL's signature is checked against the CA certificate
before it counts as evidence. Write: ``certutil -revoke <serial> <reason code>`` then ``certutil -crl``
(AD CS publishes no CRL on revoke). A second ``-revoke`` would overwrite the first one's date and reason,
so a serial the database already marks revoked (disposition 21) is not sent again, and a revoke whose
answer was lost is not repeated before the database is read again.

Authentication: a domain account that is a CA officer ("Issue and Manage Certificates") and may use WinRM
on the CA host, with NTLM, Kerberos, Negotiate or CredSSP; its password from ``env:``/``file:``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, ClassVar, Literal, TypeVar
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import Field, field_validator, model_validator
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from certsoar.certs.fingerprints import serial_hex
from certsoar.config import secret_reference
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.ca import IssuedCertificate, RevocationReason, RevocationStatus
from certsoar.connectors.ca import certutil as fmt
from certsoar.connectors.ca.described import describe_issued
from certsoar.connectors.ca.evidence import CrlFinding, crl_finding, issued_state, parse_serial
from certsoar.connectors.ca.psrp import (
    OUT_FILE,
    CertutilTransport,
    Completed,
    PsrpEndpoint,
    PsrpTransport,
    Retryable,
)
from certsoar.connectors.http import Redactor, retry_wait, secret
from certsoar.errors import ConnectorRejected, ConnectorUnavailable

log = logging.getLogger("certsoar.connectors.ca.adcs")

REASON_CODES = {
    RevocationReason.unspecified: 0,
    RevocationReason.key_compromise: 1,
    RevocationReason.ca_compromise: 2,
    RevocationReason.affiliation_changed: 3,
    RevocationReason.superseded: 4,
    RevocationReason.cessation_of_operation: 5,
    RevocationReason.certificate_hold: 6,
    RevocationReason.remove_from_crl: 8,
}
"""The reason codes ``certutil -revoke`` takes (MS-CSRA ICertAdminD::RevokeCertificate): RFC 5280's, without
privilegeWithdrawn and aACompromise, which AD CS does not accept."""
REASON_NAMES = {code: reason.value for reason, code in REASON_CODES.items()}
COLUMNS = (
    "RequestID",
    "SerialNumber",
    "Request.Disposition",
    "Request.RequesterName",
    "CertificateTemplate",
    "Request.RevokedWhen",
    "Request.RevokedReason",
    "RawCertificate",
)
"""What ``-view`` prints of each certificate, in this order (the csv is read by position)."""
_LOGGED_OUTPUT = 300
_T = TypeVar("_T")


class AdcsSettings(ConnectorSettings):
    url: str = Field(
        description="The CA host's WinRM endpoint: https://ca01.corp.example:5986/wsman (http:// only with "
        "NTLM/Kerberos message encryption, which pypsrp applies)."
    )
    username: str = Field(description="Domain account, CORP\\svc-certsoar or svc-certsoar@corp.example.")
    password: str | None = Field(
        default=None,
        description="The account's password as env:NAME or file:PATH (not needed with a Kerberos ticket).",
        json_schema_extra={"secret": True},
    )
    auth: Literal["negotiate", "ntlm", "kerberos", "credssp"] = Field(
        default="negotiate", description="WinRM authentication."
    )
    ca_config: str | None = Field(
        default=None,
        description="certutil -config: HOST\\CA Name (default: the CA on the host WinRM reaches).",
    )
    verify_tls: bool = Field(default=True, description="Verify the WinRM endpoint's certificate.")
    ca_bundle: str | None = Field(
        default=None, description="PEM file of the CAs that issue the endpoint's certificate."
    )
    connect_timeout: float = Field(default=10.0, gt=0, le=120, description="Seconds to open a connection.")
    read_timeout: float = Field(default=120.0, gt=0, le=3600, description="Seconds one certutil command may take.")
    attempts: int = Field(default=3, ge=1, le=10, description="Tries of a command the CA host did not answer.")
    backoff: float = Field(default=1.0, ge=0, le=60, description="First wait between tries, doubled after each.")
    max_retry_after: float = Field(default=60.0, ge=0, le=3600, description="Longest Retry-After honoured, seconds.")
    page_size: int = Field(default=500, ge=1, le=100000, description="Request IDs read by one certutil -view.")

    @field_validator("url")
    @classmethod
    def _winrm_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host (https://ca01:5986/wsman)")
        if parts.username or parts.password or parts.query:
            raise ValueError("must carry no credentials and no query string (credentials go in their own fields)")
        return v.rstrip("/")

    @field_validator("password")
    @classmethod
    def _password_reference(cls, v: str | None) -> str | None:
        return secret_reference(v, "the password")

    @field_validator("ca_config", "username")
    @classmethod
    def _printable(cls, v: str | None) -> str | None:
        if v is not None and (not v.strip() or any(ord(c) < 0x20 or c == '"' for c in v)):
            raise ValueError("must be printable text without double quotes")
        return v

    @model_validator(mode="after")
    def _credentials(self) -> "AdcsSettings":
        if self.password is None and self.auth != "kerberos":
            raise ValueError(f"{self.auth} authentication needs a password (only kerberos can use a ticket cache)")
        return self


def endpoint_of(settings: AdcsSettings, ca_bundle: str | None) -> PsrpEndpoint:
    parts = urlsplit(settings.url)
    https = parts.scheme == "https"
    assert parts.hostname is not None
    return PsrpEndpoint(
        host=parts.hostname,
        port=parts.port or (5986 if https else 5985),
        ssl=https,
        path=parts.path.lstrip("/") or "wsman",
        username=settings.username,
        auth=settings.auth,
        cert_validation=(ca_bundle or True) if settings.verify_tls else False,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
    )


def certutil_serial(number: int) -> str:
    """certutil's spelling of a serial: lower-case hex, an even number of digits (MS-CSRA, ICertAdmin)."""
    digits = f"{number:x}"
    return digits if len(digits) % 2 == 0 else "0" + digits


class AdcsCa:
    """CertificateAuthority on an AD CS CA, through certutil on its host."""

    settings_model: ClassVar[type[ConnectorSettings]] = AdcsSettings

    def __init__(self, settings: AdcsSettings, env: ConnectorEnv, transport: CertutilTransport | None = None) -> None:
        self.settings = settings
        self.instance = env.name
        password = secret(settings.password) if settings.password is not None else None
        self.redactor = Redactor([password.get_secret_value()] if password is not None else [])
        bundle = str(env.resolve(settings.ca_bundle)) if settings.ca_bundle else None
        self.transport = transport or PsrpTransport(endpoint_of(settings, bundle), password)

    def __repr__(self) -> str:
        return f"AdcsCa(instance={self.instance!r}, url={self.settings.url!r}, ca_config={self.settings.ca_config!r})"

    # ---------------------------------------------------------------- read

    async def ca_certificates(self) -> list[str]:
        return [c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in await self._ca_certs()]

    async def list_issued(self, since: datetime | None = None) -> list[IssuedCertificate]:
        issued = [c async for c in self.iter_issued()]
        return [c for c in issued if since is None or c.not_before is None or c.not_before >= since]

    async def iter_issued(self, since: str | None = None) -> AsyncIterator[IssuedCertificate]:
        """Issued and revoked certificates in request-ID order, ``page_size`` request IDs per certutil -view.
        Each one's ``position`` is its request ID, unless a request before it is still pending (a template that
        needs a CA manager's approval): then the position stays before that request, so the sweep that resumes
        there sees it once it is issued. Denied and failed requests are passed over."""
        after = _request_id(since)
        pending: int | None = None  # the first request not yet decided
        while True:
            upto = after + self.settings.page_size
            rows = await self._view(f"RequestID>{after},RequestID<={upto}")
            for row in rows:
                request_id, disposition = fmt.number(row["RequestID"]), fmt.number(row["Request.Disposition"])
                if pending is None and disposition is not None and disposition <= fmt.DISPOSITION_QUEUE_MAX:
                    pending = request_id
                described = self._describe(row)
                if described is not None:
                    position = request_id if pending is None or request_id is None else pending - 1
                    yield described.model_copy(update={"position": str(position)})
            if rows:
                after = upto
                continue
            # a window of deleted rows (certutil -deleterow): jump to the next request ID, if there is one
            later = await self._view(f"RequestID>{upto}", columns=("RequestID",))
            ids = [fmt.number(r["RequestID"]) for r in later]
            known = [i for i in ids if i is not None]
            if not known:
                return
            after = min(known) - 1

    async def certificate(self, serial: str) -> IssuedCertificate | None:
        row = await self._row(parse_serial(serial))
        return self._describe(row) if row is not None else None

    async def status(self, serial: str) -> RevocationStatus:
        number = parse_serial(serial)
        row = await self._row(number)
        evidence = {"view": f"certutil -view -restrict SerialNumber={certutil_serial(number)}"}
        held = self._describe(row) if row is not None else None
        disposition = fmt.number(row["Request.Disposition"]) if row is not None else None
        revoked = held is not None and disposition == fmt.DISPOSITION_REVOKED
        if held is None:
            evidence["view_check"] = "(the CA database holds no issued certificate under this serial)"
        else:
            evidence["view_check"] = f"disposition {disposition}, status {held.status}"
        crl = await self._crl_finding(number, evidence)
        reason_code = fmt.number(row["Request.RevokedReason"]) if row is not None and revoked else None
        return RevocationStatus(
            serial=serial_hex(number),
            known=held is not None,
            revoked=revoked,
            reason=REASON_NAMES.get(reason_code) if reason_code is not None else crl.reason,
            revoked_at=(held.revoked_at or crl.revoked_at) if held is not None and revoked else None,
            in_crl=crl.listed,
            crl_number=crl.number,
            crl_next_update=crl.next_update,
            evidence=evidence,
        )

    # --------------------------------------------------------------- write

    async def revoke(self, serial: str, reason: RevocationReason) -> RevocationStatus:
        """Revoke unless the database already marks it revoked, publish a CRL, return the status read back."""
        number = parse_serial(serial)
        code = REASON_CODES.get(reason)
        if code is None:
            raise ConnectorRejected(
                f"AD CS takes no revocation reason {reason.value} (certutil -revoke accepts "
                f"{', '.join(r.value for r in REASON_CODES)})",
                connector=self.instance,
            )

        async def revoke_once() -> None:
            # read again on every try: a -revoke whose answer was lost may have been applied
            row = await self._row(number, retry=False)
            if row is None:
                raise ConnectorRejected(
                    f"serial {serial_hex(number)} was not issued by this CA", connector=self.instance
                )
            if fmt.number(row["Request.Disposition"]) == fmt.DISPOSITION_REVOKED:
                return
            await self._verb(["-revoke", certutil_serial(number), str(code)], "-revoke", retry=False)
            again = await self._row(number, retry=False)
            if again is None or fmt.number(again["Request.Disposition"]) != fmt.DISPOSITION_REVOKED:
                raise ConnectorRejected(
                    f"certutil -revoke of serial {serial_hex(number)} succeeded, "
                    "but the CA database does not mark it revoked",
                    connector=self.instance,
                )

        await self._retrying(revoke_once)
        status = await self.status(serial)
        if status.revoked and not status.in_crl:
            await self.publish_crl()
            status = await self.status(serial)
        return status

    async def release_hold(self, serial: str) -> RevocationStatus:
        """``certutil -revoke <serial> -1`` (unrevoke) of a certificate held with reason certificateHold, then a
        CRL that no longer lists it."""
        number = parse_serial(serial)

        async def release_once() -> None:
            row = await self._row(number, retry=False)
            if row is None:
                raise ConnectorRejected(
                    f"serial {serial_hex(number)} was not issued by this CA", connector=self.instance
                )
            if fmt.number(row["Request.Disposition"]) != fmt.DISPOSITION_REVOKED:
                return
            reason = fmt.number(row["Request.RevokedReason"])
            if reason != REASON_CODES[RevocationReason.certificate_hold]:
                name = REASON_NAMES.get(reason, "unspecified") if reason is not None else "unspecified"
                raise ConnectorRejected(
                    f"serial {serial_hex(number)} was revoked with reason {name}: only a certificateHold can be "
                    "taken back",
                    connector=self.instance,
                )
            await self._verb(["-revoke", certutil_serial(number), "-1"], "-revoke", retry=False)

        await self._retrying(release_once)
        status = await self.status(serial)
        if status.in_crl:
            await self.publish_crl()
            status = await self.status(serial)
        return status

    async def publish_crl(self) -> None:
        await self._verb(["-crl"], "-crl")

    # ------------------------------------------------------------- helpers

    def _config(self) -> list[str]:
        return ["-config", self.settings.ca_config] if self.settings.ca_config else []

    async def _view(
        self, restrict: str, *, columns: Sequence[str] = COLUMNS, retry: bool = True
    ) -> list[dict[str, str | None]]:
        args = [*self._config(), "-gmt", "-seconds", "-view", "-restrict", restrict, "-out", ",".join(columns), "csv"]
        done = await self._verb(args, "-view", retry=retry)
        try:
            return list(fmt.view_rows(done.output, columns))
        except fmt.CertutilFormatError as exc:
            raise ConnectorRejected(f"certutil -view: {exc}", connector=self.instance) from None

    async def _row(self, number: int, *, retry: bool = True) -> dict[str, str | None] | None:
        """The database row of an issued or revoked certificate under ``number``."""
        rows = await self._view(f"SerialNumber={certutil_serial(number)}", retry=retry)
        for row in rows:
            if fmt.serial(row["SerialNumber"]) == number and fmt.number(row["Request.Disposition"]) in (
                fmt.DISPOSITION_ISSUED,
                fmt.DISPOSITION_REVOKED,
            ):
                return row
        return None

    def _describe(self, row: dict[str, str | None]) -> IssuedCertificate | None:
        disposition = fmt.number(row["Request.Disposition"])
        pem = row["RawCertificate"]
        if disposition not in (fmt.DISPOSITION_ISSUED, fmt.DISPOSITION_REVOKED) or pem is None:
            return None
        try:
            cert = _certificate(pem.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise ConnectorRejected(
                f"certutil -view: request {row['RequestID']} holds no readable certificate", connector=self.instance
            ) from None
        revoked = disposition == fmt.DISPOSITION_REVOKED
        described = describe_issued(
            cert,
            status=issued_state(cert, revoked),
            revoked_at=fmt.gmt_date(row["Request.RevokedWhen"]) if revoked else None,
            position=str(fmt.number(row["RequestID"])),
        )
        return described.model_copy(
            update={"requester": row["Request.RequesterName"], "template": row["CertificateTemplate"]}
        )

    async def _ca_certs(self) -> list[x509.Certificate]:
        done = await self._verb([*self._config(), "-ca.cert", OUT_FILE], "-ca.cert")
        try:
            return [_certificate(done.file or b"")]
        except ValueError:
            raise ConnectorRejected("certutil -ca.cert wrote no certificate", connector=self.instance) from None

    async def _crl_finding(self, number: int, evidence: dict[str, str]) -> CrlFinding:
        evidence["crl"] = "certutil -getcrl (the CA's current base CRL)"
        try:
            done = await self._verb([*self._config(), "-getcrl", OUT_FILE], "-getcrl")
        except ConnectorRejected as exc:
            evidence["crl_check"] = f"no CRL: {exc}"
            return CrlFinding()
        return crl_finding(done.file or b"", "certutil -getcrl", await self._ca_certs(), number, evidence)

    async def _verb(self, args: list[str], verb: str, *, retry: bool = True) -> Completed:
        """certutil ``args`` on the CA host; ConnectorRejected when certutil says ``verb`` failed."""
        done = await (self._retrying(self._once, args) if retry else self._once(args))
        failed = fmt.failure(verb, done.exit_code, done.output)
        if failed is not None:
            message = self.redactor.text(failed)
            if "0x80070005" in failed or "ACCESS_DENIED" in failed:
                message = f"not authorized: the account lacks the CA permission ({message})"
            raise ConnectorRejected(f"certutil {verb}: {message}", connector=self.instance)
        return done

    async def _once(self, args: list[str]) -> Completed:
        shown = self.redactor.text(" ".join(args))
        started = time.monotonic()
        try:
            done = await self.transport.certutil(args)
        except (ConnectorRejected, ConnectorUnavailable) as exc:
            message = self.redactor.text(str(exc))
            status = getattr(exc, "status", None)
            outcome = f"HTTP {status}: {message}" if status is not None else message
            self._log(shown, outcome, started)
            if isinstance(exc, Retryable):
                raise Retryable(message, retry_after=exc.retry_after) from None
            kind = ConnectorRejected if isinstance(exc, ConnectorRejected) else ConnectorUnavailable
            raise kind(message, connector=self.instance) from None
        head = self.redactor.text(done.output[:_LOGGED_OUTPUT])
        self._log(shown, f"exit {done.exit_code}: {head!r}", started)
        return done

    def _log(self, shown: str, outcome: str, started: float) -> None:
        log.debug(
            "%s: %s certutil %s -> %s in %.0f ms",
            self.instance,
            self.settings.url,
            shown,
            outcome,
            (time.monotonic() - started) * 1000,
        )

    async def _retrying(self, call: Callable[..., Awaitable[_T]], *args: Any) -> _T:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.attempts),
            wait=self._wait,
            retry=retry_if_exception_type(Retryable),
            reraise=True,
        )
        try:
            return await retrying(call, *args)
        except Retryable as exc:
            raise ConnectorUnavailable(
                f"{exc} (gave up after {self.settings.attempts} attempts)", connector=self.instance
            ) from None

    def _wait(self, state: RetryCallState) -> float:
        return retry_wait(
            state,
            longest_retry_after=self.settings.max_retry_after,
            backoff=self.settings.backoff,
            longest_backoff=60.0,
        )


def _certificate(data: bytes) -> x509.Certificate:
    """A certificate certutil printed (PEM) or wrote (DER, or base64 with -encode's headers)."""
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def _request_id(since: str | None) -> int:
    if since is None:
        return 0
    if not since.isdigit():
        raise ConnectorRejected(f"{since[:80]!r} is not an AD CS watermark (a request ID)")
    return int(since)


__all__ = ["AdcsCa", "AdcsSettings", "REASON_CODES", "certutil_serial"]
