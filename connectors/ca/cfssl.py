"""``cfssl``: CloudFlare's CFSSL (``cfssl serve`` with a certificate database), as Debian's golang-cfssl 1.2.0 ships it.

Reads: the CA certificate from ``POST /api/v1/cfssl/info``; what was issued and its revocation state from
the certdb ``cfssl serve -db-config`` writes (a SQLite file, table ``certificates``, read-only here:
CFSSL 1.2.0 serves no API to read it). Write: ``POST /api/v1/cfssl/revoke`` with ``serial`` (decimal,
as the certdb keys it), ``authority_key_id`` and ``reason``. CFSSL 1.2.0 answers a second revoke by
overwriting the first one's time and reason, so a serial the certdb already marks revoked is not sent
again. CFSSL 1.2.0 serves no CRL: ``cfssl gencrl`` signs one of every serial the certdb marks revoked
under this CA, written (DER) to the ``crl`` file a web server publishes; its signature is checked
against the CA certificate before it counts as evidence. That CRL carries no CRL number and no reason
codes, each entry is dated when the CRL was signed, and it is valid seven days (1.2.0 ignores the
lifetime argument).

Authentication: ``cfssl serve`` 1.2.0 checks no credential on revoke; put it behind mutual TLS
(``-mutual-tls-ca``) and give ``client_cert``/``client_key`` here.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import sqlite3
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import Field

from certsoar.certs.chain import directly_issued_by
from certsoar.certs.fingerprints import serial_hex
from certsoar.certs.revocation import crl_signer, parse_crl
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.ca import IssuedCertificate, RevocationReason, RevocationStatus
from certsoar.connectors.ca.described import describe_issued
from certsoar.connectors.ca.evidence import CrlFinding, crl_finding, issued_state, parse_serial
from certsoar.connectors.http import HttpClient, HttpSettings, json_object, vendor_message
from certsoar.errors import ConnectorRejected, ConnectorUnavailable, CrlError
from certsoar.fileio import locked, replacing
from certsoar.proc import run_tool

API = "/api/v1/cfssl"
REASON_NAMES = {
    0: "unspecified",
    1: "keyCompromise",
    2: "CACompromise",
    3: "affiliationChanged",
    4: "superseded",
    5: "cessationOfOperation",
    6: "certificateHold",
    8: "removeFromCRL",
    9: "privilegeWithdrawn",
    10: "AACompromise",
}
"""certdb ``reason`` (the RFC 5280 CRLReason code) → its name."""

_COLUMNS = "rowid, serial_number, authority_key_identifier, status, reason, revoked_at, pem"


class CfsslSettings(HttpSettings):
    url: str = Field(default="http://127.0.0.1:8888", description="Base URL of `cfssl serve`.")
    certdb: Path = Field(description="The SQLite certdb `cfssl serve -db-config` writes (read here, never written).")
    ca_key: Path = Field(
        description="PEM key of the CA that `cfssl gencrl` signs the CRL with (read by cfssl only).",
        json_schema_extra={"secret": True},
    )
    crl: Path = Field(description="Where the CRL (DER) is written for the web server that publishes it.")
    cfssl: str = Field(default="cfssl", description="The cfssl command.")
    tool_timeout: float = Field(default=30.0, gt=0, le=600, description="Seconds cfssl gencrl may take.")
    label: str | None = Field(default=None, description="CA label of a multi-root cfssl (sent to info).")


class CfsslCa:
    """CertificateAuthority on ``cfssl serve`` and its SQLite certdb."""

    settings_model: ClassVar[type[ConnectorSettings]] = CfsslSettings

    def __init__(self, settings: CfsslSettings, env: ConnectorEnv) -> None:
        self.settings = settings
        self.instance = env.name
        self.certdb = env.resolve(settings.certdb)
        self.ca_key = env.resolve(settings.ca_key)
        self.crl = env.resolve(settings.crl)
        self.http = HttpClient(settings, env)

    def __repr__(self) -> str:
        return f"CfsslCa(instance={self.instance!r}, url={self.settings.url!r}, certdb={str(self.certdb)!r})"

    # ---------------------------------------------------------------- read

    async def ca_certificates(self) -> list[str]:
        return [(await self._ca_cert()).public_bytes(serialization.Encoding.PEM).decode("ascii")]

    async def list_issued(self, since: datetime | None = None) -> list[IssuedCertificate]:
        issued = [c async for c in self.iter_issued()]
        return [c for c in issued if since is None or c.not_before is None or c.not_before >= since]

    async def iter_issued(self, since: str | None = None) -> AsyncIterator[IssuedCertificate]:
        """In certdb row order; the watermark is the SQLite rowid (cfssl 1.2.0 leaves ``created_at`` empty),
        which grows with each insert because cfssl never deletes a row."""
        after = _rowid(since)
        ca = await self._ca_cert()
        while True:
            rows = await self._rows(
                f"SELECT {_COLUMNS} FROM certificates WHERE rowid > ? ORDER BY rowid LIMIT 500", after
            )
            if not rows:
                return
            for row in rows:
                after = int(row["rowid"])
                described = self._describe(row, ca)
                if described is not None:
                    yield described

    async def certificate(self, serial: str) -> IssuedCertificate | None:
        number = parse_serial(serial)
        ca = await self._ca_cert()
        row = await self._row(number, ca)
        return self._describe(row, ca) if row is not None else None

    async def status(self, serial: str) -> RevocationStatus:
        number = parse_serial(serial)
        ca = await self._ca_cert()
        row = await self._row(number, ca)
        evidence = {"certdb": f"{self.certdb} (serial_number {number})"}
        held = self._describe(row, ca) if row is not None else None
        if held is None:
            evidence["certdb_check"] = "(the certdb holds no certificate of this CA under this serial)"
        else:
            evidence["certdb_check"] = f"status {held.status}" + (
                f", revoked {held.revoked_at.isoformat()}" if held.revoked_at else ""
            )
        crl = self._crl_finding(number, ca, evidence)
        revoked = held is not None and _revoked(row)
        reason = REASON_NAMES.get(int(row["reason"] or 0)) if row is not None and revoked else None
        return RevocationStatus(
            serial=serial_hex(number),
            known=held is not None,
            revoked=revoked,
            reason=reason,
            revoked_at=held.revoked_at if held else None,
            in_crl=crl.listed,
            crl_number=crl.number,  # None: cfssl gencrl numbers no CRL
            crl_next_update=crl.next_update,
            evidence=evidence,
        )

    # --------------------------------------------------------------- write

    async def revoke(self, serial: str, reason: RevocationReason) -> RevocationStatus:
        """Revoke unless the certdb already marks it revoked, then publish a CRL that lists it."""
        number = parse_serial(serial)
        async with locked(self.crl, timeout=self.settings.tool_timeout, connector=self.instance):
            ca = await self._ca_cert()
            row = await self._row(number, ca)
            if row is None:
                raise ConnectorRejected(
                    f"serial {serial_hex(number)} was not issued by this CA", connector=self.instance
                )
            if not _revoked(row):
                body = {
                    "serial": str(number),
                    "authority_key_id": str(row["authority_key_identifier"] or ""),
                    "reason": reason.value,
                }
                # a repeat would only overwrite the time and reason of this revocation
                self._result(await self.http.request("POST", f"{API}/revoke", json_body=body, idempotent=True))
                if not _revoked(await self._row(number, ca)):
                    raise ConnectorRejected(
                        f"cfssl answered the revocation of serial {serial_hex(number)} with success, "
                        "but its certdb does not mark it revoked",
                        connector=self.instance,
                    )
            await self._publish(ca)
        return await self.status(serial)

    async def publish_crl(self) -> None:
        async with locked(self.crl, timeout=self.settings.tool_timeout, connector=self.instance):
            await self._publish(await self._ca_cert())

    # ------------------------------------------------------------- helpers

    def _result(self, response: httpx.Response) -> dict[str, Any]:
        """The ``result`` of cfssl's envelope ``{"success", "result", "errors", "messages"}``."""
        body = json_object(response, self.instance)
        if not body.get("success"):
            message = vendor_message(response) or "success is not true"
            raise ConnectorRejected(f"{response.request.url.path}: cfssl refused: {message}", connector=self.instance)
        result = body.get("result")
        return result if isinstance(result, dict) else {}

    async def _ca_cert(self) -> x509.Certificate:
        body = {"label": self.settings.label or ""}
        result = self._result(await self.http.request("POST", f"{API}/info", json_body=body, idempotent=True))
        try:
            return x509.load_pem_x509_certificate(str(result["certificate"]).encode("ascii"))
        except (KeyError, TypeError, ValueError, UnicodeEncodeError):
            raise ConnectorRejected("info: the answer holds no PEM certificate", connector=self.instance) from None

    async def _rows(self, query: str, *args: Any) -> list[sqlite3.Row]:
        return await asyncio.to_thread(self._read, query, args)

    def _read(self, query: str, args: tuple[Any, ...]) -> list[sqlite3.Row]:
        if not self.certdb.is_file():
            raise ConnectorRejected(f"certdb {self.certdb}: no such file", connector=self.instance)
        try:
            with sqlite3.connect(f"{self.certdb.as_uri()}?mode=ro", uri=True, timeout=5) as db:
                db.row_factory = sqlite3.Row
                return db.execute(query, args).fetchall()
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise ConnectorUnavailable(f"certdb {self.certdb}: {exc}", connector=self.instance) from None
            raise ConnectorRejected(f"certdb {self.certdb}: {exc}", connector=self.instance) from None
        except sqlite3.DatabaseError as exc:
            raise ConnectorRejected(
                f"certdb {self.certdb}: not a cfssl certdb ({exc})", connector=self.instance
            ) from None

    async def _row(self, number: int, ca: x509.Certificate) -> sqlite3.Row | None:
        """The certdb row of ``number`` issued by ``ca`` (the certdb may hold several CAs' certificates)."""
        rows = await self._rows(f"SELECT {_COLUMNS} FROM certificates WHERE serial_number = ?", str(number))
        return next((row for row in rows if self._cert(row, ca) is not None), None)

    def _cert(self, row: sqlite3.Row, ca: x509.Certificate) -> x509.Certificate | None:
        pem = row["pem"]
        try:
            cert = x509.load_pem_x509_certificate(pem if isinstance(pem, bytes) else str(pem).encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            return None
        return cert if directly_issued_by(cert, ca) else None

    def _describe(self, row: sqlite3.Row, ca: x509.Certificate) -> IssuedCertificate | None:
        cert = self._cert(row, ca)
        if cert is None:
            return None
        state = issued_state(cert, _revoked(row))
        return describe_issued(cert, status=state, revoked_at=_revoked_at(row), position=str(row["rowid"]))

    async def _publish(self, ca: x509.Certificate) -> None:
        rows = await self._rows(f"SELECT {_COLUMNS} FROM certificates WHERE status = 'revoked' ORDER BY rowid")
        serials = sorted({int(str(r["serial_number"])) for r in rows if self._cert(r, ca) is not None})
        work = self.crl.parent
        work.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=work, prefix=f".{self.crl.name}.") as scratch:
            listing, cert = Path(scratch) / "serials", Path(scratch) / "ca.pem"
            listing.write_text("".join(f"{s}\n" for s in serials))
            cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
            result = await run_tool(
                [self.settings.cfssl, "gencrl", str(listing), str(cert), str(self.ca_key)],
                timeout=self.settings.tool_timeout,
                connector=self.instance,
                label="cfssl gencrl",
            )
        if result.returncode != 0:
            raise ConnectorRejected(
                f"cfssl gencrl failed (exit {result.returncode}): {result.stderr.strip()[-300:]}",
                connector=self.instance,
            )
        try:
            der = base64.b64decode(result.stdout.strip(), validate=True)
            signed = parse_crl(der, "cfssl gencrl")
        except (binascii.Error, ValueError, CrlError):
            raise ConnectorRejected("cfssl gencrl printed no base64 CRL", connector=self.instance) from None
        if crl_signer(signed, [ca]) is None:
            raise ConnectorRejected(
                "cfssl gencrl signed the CRL with a key that is not the CA's (check ca_key)", connector=self.instance
            )
        with replacing(self.crl) as fresh:
            fresh.write_bytes(der)

    def _crl_finding(self, number: int, ca: x509.Certificate, evidence: dict[str, str]) -> CrlFinding:
        evidence["crl"] = str(self.crl)
        try:
            data = self.crl.read_bytes()
        except FileNotFoundError:
            evidence["crl_check"] = "no CRL published yet"
            return CrlFinding()
        except OSError as exc:
            evidence["crl_check"] = f"unreadable CRL: {exc.strerror}"
            return CrlFinding()
        return crl_finding(data, str(self.crl), [ca], number, evidence)


def _revoked(row: sqlite3.Row | None) -> bool:
    return row is not None and str(row["status"]) == "revoked"


def _revoked_at(row: sqlite3.Row | None) -> datetime | None:
    """cfssl writes ``revoked_at`` as Go's zero time until a revocation (``0001-01-01 00:00:00+00:00``)."""
    if not _revoked(row):
        return None
    assert row is not None
    try:
        when = datetime.fromisoformat(str(row["revoked_at"]))
    except ValueError:
        return None
    when = when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
    return when if when.year > 1 else None


def _rowid(since: str | None) -> int:
    if since is None:
        return 0
    if not since.isdigit():
        raise ConnectorRejected(f"{since[:80]!r} is not a cfssl watermark (a certdb row number)")
    return int(since)


__all__ = ["CfsslCa", "CfsslSettings", "REASON_NAMES"]
