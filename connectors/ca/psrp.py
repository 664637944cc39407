"""How the ``adcs`` connector reaches ``certutil.exe`` on the CA: one small interface (run certutil with these
arguments, get its exit code, output and any file it wrote) and its production form over PowerShell remoting
(WinRM) with pypsrp.

pypsrp is the ``adcs`` extra (``pip install certsoar[adcs]``), imported only when a connection is made, so
nothing else pays for it. A failure of the remoting itself is turned into the connector errors here, the
same way for the real transport and the test's: ``winrm_failure`` says what an HTTP status of the WinRM
endpoint means.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from certsoar.connectors.http import RetryLater
from certsoar.errors import ConfigError, ConnectorRejected

OUT_FILE = "<out-file>"
"""An argument that stands for a fresh temporary file on the CA host: certutil writes to it (``-getcrl``,
``-ca.cert``) and its bytes come back in ``Completed.file``."""


@dataclass(frozen=True)
class Completed:
    exit_code: int
    output: str
    """What certutil printed (its standard output and error, in that order)."""
    file: bytes | None = None
    """The bytes certutil wrote to OUT_FILE, when an argument was OUT_FILE and it wrote one."""


class Retryable(RetryLater):
    """The CA host or its WinRM endpoint did not answer, or answered 429/5xx: worth another try."""

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.status = status


class WinRmRefused(ConnectorRejected):
    """The WinRM endpoint answered an HTTP status that another try will not change (401, 403, other 4xx)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class CertutilTransport(Protocol):
    async def certutil(self, args: Sequence[str]) -> Completed:
        """Run ``certutil.exe`` with ``args`` on the CA host. Raises Retryable or ConnectorRejected when the
        remoting fails; certutil's own failure is a Completed with a non-zero exit code."""
        ...


def winrm_failure(status: int, message: str, retry_after: float | None = None) -> WinRmRefused | Retryable:
    """What an HTTP ``status`` of the WinRM endpoint means (``message``: the endpoint's own words)."""
    detail = f": {message}" if message else ""
    if status == 401:
        return WinRmRefused(f"WinRM: authentication failed, the credentials were refused (HTTP 401){detail}", status)
    if status == 403:
        return WinRmRefused(f"WinRM: not authorized, the account lacks the permission (HTTP 403){detail}", status)
    if status == 429 or status >= 500:
        return Retryable(f"WinRM: HTTP {status}{detail}", retry_after=retry_after, status=status)
    return WinRmRefused(f"WinRM: HTTP {status}{detail}", status)


def powershell_literal(text: str) -> str:
    """``text`` as a single-quoted PowerShell string (PowerShell also ends a string at the typographic quotes)."""
    if any(ord(c) < 0x20 for c in text):
        raise ValueError("an argument with a control character cannot be passed to certutil")
    escaped = "".join(c * 2 if c in "'\u2018\u2019\u201a\u201b" else c for c in text)
    return f"'{escaped}'"


def certutil_script(args: Sequence[str]) -> str:
    """The PowerShell that runs certutil with ``args`` and prints one JSON object: its exit code, output and
    (base64) the file it wrote to OUT_FILE, which is removed afterwards."""
    for arg in args:
        if '"' in arg:  # Windows PowerShell 5.1 passes an embedded double quote to a native program unescaped
            raise ValueError("an argument with a double quote cannot be passed to certutil")
    literals = ", ".join("$out" if a == OUT_FILE else powershell_literal(a) for a in args)
    return "\n".join(
        [
            "$ErrorActionPreference = 'Continue'",
            "$out = Join-Path ([IO.Path]::GetTempPath()) ('certsoar-' + [guid]::NewGuid().ToString('N') + '.bin')",
            f"$argv = @({literals})",
            "$lines = & certutil.exe @argv 2>&1",
            "$code = $LASTEXITCODE",
            "$text = ($lines | ForEach-Object { if ($_ -is [Management.Automation.ErrorRecord]) "
            '{ $_.Exception.Message } else { [string]$_ } }) -join "`n"',
            "$file = ''",
            "if (Test-Path -LiteralPath $out) { $file = [Convert]::ToBase64String([IO.File]::ReadAllBytes($out)); "
            "Remove-Item -LiteralPath $out -Force }",
            "[pscustomobject]@{ exit = $code; output = $text; file = $file } | ConvertTo-Json -Compress",
        ]
    )


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore")

    exit: int
    output: str | None = None
    file: str | None = None


def parse_reply(text: str) -> Completed:
    """The JSON object ``certutil_script`` printed; ConnectorRejected when the remote side printed something else."""
    try:
        reply = _Reply.model_validate(json.loads(text.strip().splitlines()[-1] if text.strip() else ""))
        data = base64.b64decode(reply.file, validate=True) if reply.file else None
    except (ValueError, IndexError, ValidationError, binascii.Error):
        raise ConnectorRejected(
            f"the CA host answered something other than certutil's result: {text[:200]!r}"
        ) from None
    return Completed(exit_code=reply.exit, output=reply.output or "", file=data)


@dataclass(frozen=True)
class PsrpEndpoint:
    """Where and how to reach the CA host's WinRM endpoint."""

    host: str
    port: int
    ssl: bool
    path: str
    username: str
    auth: str
    cert_validation: bool | str
    """False, True (the system's CAs) or a CA bundle path."""
    connect_timeout: float
    read_timeout: float


class PsrpTransport:
    """CertutilTransport over PowerShell remoting (pypsrp): NTLM, Kerberos, Negotiate or CredSSP, TLS verified."""

    def __init__(self, endpoint: PsrpEndpoint, password: Any) -> None:
        self.endpoint = endpoint
        self._password = password  # SecretStr: never in a repr

    def __repr__(self) -> str:
        e = self.endpoint
        return f"PsrpTransport(host={e.host!r}, port={e.port}, user={e.username!r}, auth={e.auth!r})"

    async def certutil(self, args: Sequence[str]) -> Completed:
        script = certutil_script(args)
        output = await asyncio.to_thread(self._run, script)
        return parse_reply(output)

    def _run(self, script: str) -> str:
        try:
            import requests
            from pypsrp.client import Client
            from pypsrp.exceptions import AuthenticationError, WinRMTransportError, WSManFaultError
        except ImportError:
            raise ConfigError("the adcs connector needs pypsrp: pip install 'certsoar[adcs]'") from None
        e = self.endpoint
        # pypsrp wants the operation timeout (the server's) below the read timeout
        operation = max(1, int(e.read_timeout) - 5)
        try:
            client = Client(
                e.host,
                port=e.port,
                ssl=e.ssl,
                path=e.path,
                username=e.username,
                password=self._password.get_secret_value() if self._password is not None else None,
                auth=e.auth,
                cert_validation=e.cert_validation,
                connection_timeout=e.connect_timeout,
                read_timeout=e.read_timeout,
                operation_timeout=operation,
                reconnection_retries=0,
            )
            output, streams, had_errors = client.execute_ps(script)
        except AuthenticationError as exc:
            raise winrm_failure(401, str(exc)) from None
        except WinRMTransportError as exc:
            raise winrm_failure(int(exc.code), str(exc.response_text or "")[:300]) from None
        except WSManFaultError as exc:
            # pypsrp reads the body of an HTTP error as a WSMan fault; the HTTP status is on the error it replaced
            http = exc.__context__
            said = [f"WSMan fault {exc.code}" if exc.code is not None else "", str(exc.reason or "").strip()]
            fault = ": ".join(part for part in said if part)[:300]
            if isinstance(http, WinRMTransportError):
                raise winrm_failure(int(http.code), fault) from None
            raise ConnectorRejected(f"WinRM: {fault or 'a WSMan fault'}") from None
        except requests.exceptions.SSLError as exc:
            if _tls_verification_failed(exc):
                raise ConnectorRejected(
                    "WinRM: TLS: the host's certificate does not verify (set ca_bundle to the CA that issued it)"
                ) from None
            raise Retryable(f"WinRM: TLS failed ({type(exc).__name__})") from None
        except requests.exceptions.ConnectTimeout as exc:
            raise Retryable(f"WinRM: cannot connect ({type(exc).__name__})") from None
        except requests.exceptions.ReadTimeout as exc:
            raise Retryable(f"WinRM: ReadTimeout after {e.read_timeout:g}s ({type(exc).__name__})") from None
        except requests.exceptions.ConnectionError as exc:
            raise Retryable(f"WinRM: cannot connect ({type(exc).__name__})") from None
        if had_errors and not output.strip():
            errors = "; ".join(str(record) for record in streams.error)[:300]
            raise ConnectorRejected(f"PowerShell on the CA host failed: {errors or 'no output'}")
        return output


def _tls_verification_failed(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


__all__ = [
    "OUT_FILE",
    "CertutilTransport",
    "Completed",
    "PsrpEndpoint",
    "PsrpTransport",
    "Retryable",
    "WinRmRefused",
    "certutil_script",
    "parse_reply",
    "powershell_literal",
    "winrm_failure",
]
