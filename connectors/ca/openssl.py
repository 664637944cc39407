"""``openssl-ca``: an internal CA run with ``openssl ca`` (index.txt database, newcerts/, CRL file).

Reads come from the files the CA keeps (index.txt, newcerts/<SERIAL>.pem, the CRL) and are
checked with ``cryptography``; writes go through the ``openssl ca`` command, run with the working
directory set to the folder of the openssl.cnf so relative paths mean what they mean to openssl.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import Field, field_validator

from certsoar.certs.dn import to_rfc4514
from certsoar.certs.fingerprints import serial_hex, serial_number, sha256_hex
from certsoar.certs.revocation import crl_reason, crl_signer, parse_crl
from certsoar.config import secret_from, secret_reference
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.ca import IssuedCertificate, RevocationReason, RevocationStatus
from certsoar.connectors.ca.described import CertificateReading, Listed
from certsoar.connectors.ca.openssl_index import IndexEntry, parse_index_line, parse_index_text
from certsoar.errors import ConfigError, ConnectorRejected, CrlError
from certsoar.fileio import locked, replacing
from certsoar.opensslcnf import parse_openssl_config
from certsoar.proc import ToolResult, require_success, run_tool, withhold_from_tools
from certsoar.timeparse import as_utc

PASSIN_VAR = "CERTSOAR_CA_PASSIN"
LOCK_TARGET = "certsoar-ca"
"""The name the CA's lock file is derived from (fileio.lock_file_for: ``.certsoar-ca.lock``)."""
_SECTION_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_POSITION = re.compile(r"^(\d{1,12}):([0-9A-Fa-f]{1,200})$")
_YIELD_EVERY = 256
_HEX_SERIAL = re.compile(r"^[0-9A-Fa-f]{1,200}$")
# `openssl ca -crl_reason` knows the first eight RFC 5280 reasons only.
_UNSUPPORTED_REASONS = {RevocationReason.privilege_withdrawn, RevocationReason.aa_compromise}


class OpenSslCaSettings(ConnectorSettings):
    openssl_config: Path = Field(description="The openssl.cnf that defines the CA (relative to the certsoar config).")
    section: str | None = Field(default=None, description="CA section of the cnf; default: [ca] default_ca.")
    openssl: str = Field(default="openssl", description="The openssl binary to run.")
    crl_days: int = Field(default=7, ge=1, le=3650, description="Validity of a CRL generated after a revocation.")
    timeout: float = Field(default=30, gt=0, description="Seconds one openssl command may take.")
    passphrase: str | None = Field(default=None, description="CA key passphrase as env:NAME or file:PATH.")

    @field_validator("section")
    @classmethod
    def _section_name(cls, v: str | None) -> str | None:
        if v is not None and not _SECTION_NAME.match(v):
            raise ValueError("a section name is letters, digits, '_', '.' or '-'")
        return v

    @field_validator("passphrase")
    @classmethod
    def _secret_reference(cls, v: str | None) -> str | None:
        return secret_reference(v, "the passphrase")


@dataclass(frozen=True)
class CaLayout:
    """Absolute paths of the files of one ``openssl ca`` section."""

    config: Path
    workdir: Path
    section: str
    home: Path
    database: Path
    certificate: Path
    crl: Path
    new_certs_dir: Path | None
    private_key: Path | None


@dataclass(frozen=True)
class CrlFinding:
    listed: bool
    number: int | None
    next_update: datetime | None
    evidence: dict[str, str]


def load_layout(config_path: Path, section: str | None) -> CaLayout:
    """Find the CA files named by ``config_path``; ConfigError when the cnf does not define a CA."""
    cnf = parse_openssl_config(config_path)
    name = section or cnf.get("ca", "default_ca")
    if not name:
        raise ConfigError(f"{config_path}: no CA section given and no [ca] default_ca")
    if name not in cnf.sections:
        raise ConfigError(f"{config_path}: no section [{name}]")
    workdir = config_path.parent

    def path_of(key: str, required: bool) -> Path | None:
        value = cnf.get(name, key)
        if not value:
            if required:
                raise ConfigError(f"{config_path}: [{name}] has no '{key}'")
            return None
        p = Path(value)
        return p if p.is_absolute() else workdir / p

    home = path_of("dir", False) or workdir
    database = path_of("database", True)
    certificate = path_of("certificate", True)
    assert database is not None and certificate is not None
    return CaLayout(
        config=config_path,
        workdir=workdir,
        section=name,
        home=home,
        database=database,
        certificate=certificate,
        crl=path_of("crl", False) or home / "crl.pem",
        new_certs_dir=path_of("new_certs_dir", False),
        private_key=path_of("private_key", False),
    )


def parse_serial(text: str) -> int:
    """A serial in any spelling ``normalize_serial`` accepts → its number; ConnectorRejected otherwise.

    A negative serial is refused: ``openssl ca`` cannot have issued one.
    """
    number = serial_number(text) if isinstance(text, str) else None
    if number is None or number < 0:
        raise ConnectorRejected(f"{text!r} is not a hexadecimal serial number")
    return number


def parse_index(path: Path) -> list[IndexEntry]:
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise ConnectorRejected(f"{path}: cannot read the CA database: {exc.strerror or exc}") from exc
    return parse_index_text(text, str(path))


class OpenSslCa:
    """CertificateAuthority on an ``openssl ca`` directory."""

    settings_model: ClassVar[type[ConnectorSettings]] = OpenSslCaSettings

    def __init__(self, settings: OpenSslCaSettings, env: ConnectorEnv) -> None:
        self.settings = settings
        self.env = env
        self.instance = env.name
        self.layout = load_layout(env.resolve(settings.openssl_config).absolute(), settings.section)
        withhold_from_tools(*self._passphrase_variables())

    # ---------------------------------------------------------------- read

    async def ca_certificates(self) -> list[str]:
        return [c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in self._ca_certs()]

    async def list_issued(self, since: datetime | None = None) -> list[IssuedCertificate]:
        since = as_utc(since) if since is not None else None
        issued = []
        for entry in parse_index(self.layout.database):
            cert = self._issued_cert(entry)
            if since is not None and cert is not None and cert.not_valid_before_utc < since:
                continue
            issued.append(self._describe(entry, cert))
        return issued

    async def iter_issued(self, since: str | None = None) -> AsyncIterator[IssuedCertificate]:
        """index.txt read line by line, each kept copy read when its line is reached. The watermark is
        ``<line>:<serial>`` of the last line read: openssl only appends to index.txt (a revocation rewrites a
        line's status in place), so a watermark whose line no longer holds its serial means the database was
        replaced, and it is read again from the start."""
        async for listed in self.iter_listed(since):
            facts = listed.read()
            yield facts.described() if isinstance(facts, CertificateReading) else facts

    async def iter_listed(self, since: str | None = None) -> AsyncIterator[Listed]:
        """What ``iter_issued`` yields, with the status and watermark from index.txt alone: the kept copy of a
        certificate is read only when its facts are asked for (a revoked or expired one never is)."""
        after, serial_text = _position(since) if since is not None else (0, None)
        if after and not self._line_holds(after, serial_text):
            after = 0
        database = self.layout.database
        try:
            lines = database.open(encoding="utf-8", errors="surrogateescape", newline="")
        except OSError as exc:
            raise ConnectorRejected(f"{database}: cannot read the CA database: {exc.strerror or exc}") from exc
        with lines:
            for lineno, line in enumerate(lines, start=1):
                if lineno <= after:
                    continue
                entry = parse_index_line(line, str(database), lineno)
                if entry is None:
                    continue
                position, state = f"{lineno}:{entry.serial_text}", self._state(entry)
                yield Listed(state, position, functools.partial(self._read, entry, state, position))
                if lineno % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # a lease renewal or a signal gets its turn

    def _line_holds(self, lineno: int, serial_text: str | None) -> bool:
        with self.layout.database.open(encoding="utf-8", errors="surrogateescape", newline="") as lines:
            for number, line in enumerate(lines, start=1):
                if number == lineno:
                    entry = parse_index_line(line, str(self.layout.database), lineno)
                    return entry is not None and entry.serial_text.upper() == (serial_text or "").upper()
        return False

    async def certificate(self, serial: str) -> IssuedCertificate | None:
        entry = self._find(parse_serial(serial))
        return None if entry is None else self._describe(entry, self._issued_cert(entry))

    async def status(self, serial: str) -> RevocationStatus:
        number = parse_serial(serial)
        entry = self._find(number)
        crl = self._crl_finding(number)
        evidence = {"index": str(self.layout.database)}
        if entry is None:
            evidence["index_line"] = "(serial not in the database)"
            return RevocationStatus(
                serial=serial_hex(number),
                known=False,
                revoked=False,
                in_crl=crl.listed,
                crl_number=crl.number,
                crl_next_update=crl.next_update,
                evidence={**evidence, **crl.evidence},
            )
        evidence["index"] = f"{self.layout.database}:{entry.lineno}"
        evidence["index_line"] = entry.line
        result = await self._run(["ca", *self._ca_args(), "-status", entry.serial_text], with_key=False)
        # `openssl ca -status` prints to stderr and exits 1 even when the serial is found,
        # so its text is evidence, not a verdict.
        evidence["openssl_ca_status"] = _without_preamble(result.stdout + result.stderr)
        return RevocationStatus(
            serial=serial_hex(number),
            known=True,
            revoked=entry.status == "R",
            reason=entry.reason,
            revoked_at=entry.revoked_at,
            in_crl=crl.listed,
            crl_number=crl.number,
            crl_next_update=crl.next_update,
            evidence={**evidence, **crl.evidence},
        )

    # --------------------------------------------------------------- write

    async def revoke(self, serial: str, reason: RevocationReason) -> RevocationStatus:
        number = parse_serial(serial)
        reason = RevocationReason(reason)
        if reason in _UNSUPPORTED_REASONS:
            raise ConnectorRejected(f"openssl ca cannot revoke with reason {reason.value}", connector=self.instance)
        async with self._write_lock():
            entry = self._find(number)
            if entry is None:
                raise ConnectorRejected(
                    f"serial {serial_hex(number)} was not issued by this CA", connector=self.instance
                )
            if entry.status != "R":
                await self._revoke_in_database(entry, reason)
            if not self._crl_finding(number).listed:
                await self._publish_crl()
            return await self.status(serial)

    async def release_hold(self, serial: str) -> RevocationStatus:
        number = parse_serial(serial)
        async with self._write_lock():
            entry = self._find(number)
            if entry is None:
                raise ConnectorRejected(
                    f"serial {serial_hex(number)} was not issued by this CA", connector=self.instance
                )
            if entry.status == "R":
                if entry.reason != RevocationReason.certificate_hold.value:
                    raise ConnectorRejected(
                        f"serial {entry.serial_text} was revoked with reason {entry.reason or 'unspecified'}: "
                        "only a certificateHold can be taken back",
                        connector=self.instance,
                    )
                self._release_in_database(entry)
            if self._crl_finding(number).listed:
                await self._publish_crl()
            return await self.status(serial)

    def _release_in_database(self, entry: IndexEntry) -> None:
        """``openssl ca`` has no command that takes a hold back: the serial's index line goes back to how openssl
        writes a valid certificate (status V, no revocation field). The next full CRL then omits it (removeFromCRL
        entries belong in delta CRLs, which ``openssl ca`` does not make)."""
        database = self.layout.database
        lines = database.read_bytes().decode("utf-8", "surrogateescape").split("\n")
        if lines[entry.lineno - 1] != entry.line:
            raise ConnectorRejected(f"{database} changed while it was read", connector=self.instance)
        fields = entry.line.split("\t")
        fields[0], fields[2] = "V", ""
        lines[entry.lineno - 1] = "\t".join(fields)
        with replacing(database) as candidate:
            candidate.write_bytes("\n".join(lines).encode("utf-8", "surrogateescape"))

    async def publish_crl(self) -> None:
        async with self._write_lock():
            await self._publish_crl()

    async def _revoke_in_database(self, entry: IndexEntry, reason: RevocationReason) -> None:
        if self.layout.new_certs_dir is None:
            raise ConnectorRejected(
                f"{self.layout.config}: [{self.layout.section}] has no new_certs_dir", connector=self.instance
            )
        cert_file = self.layout.new_certs_dir / f"{entry.serial_text}.pem"
        if not cert_file.is_file():
            raise ConnectorRejected(
                f"{cert_file}: the CA kept no copy of serial {entry.serial_text}; openssl ca -revoke needs it",
                connector=self.instance,
            )
        args = ["ca", *self._ca_args(), "-batch", "-revoke", str(cert_file), "-crl_reason", reason.value]
        result = await self._run(args, with_key=True)
        if result.returncode != 0 and "Already revoked" not in result.stderr:
            require_success(result, label="openssl ca -revoke", connector=self.instance)

    async def _publish_crl(self) -> None:
        # openssl writes the CRL beside the old one; it replaces the old one only once it reads back.
        self._remove_stale_crl_candidates()
        with replacing(self.layout.crl) as candidate:
            args = [
                "ca",
                *self._ca_args(),
                "-batch",
                "-gencrl",
                "-crldays",
                str(self.settings.crl_days),
                "-out",
                str(candidate),
            ]
            require_success(await self._run(args, with_key=True), label="openssl ca -gencrl", connector=self.instance)
            try:
                crl = parse_crl(candidate.read_bytes(), str(candidate))
            except (OSError, CrlError) as exc:
                raise ConnectorRejected(
                    f"openssl ca -gencrl wrote no readable CRL: {exc}", connector=self.instance
                ) from exc
            if crl_signer(crl, self._ca_certs()) is None:
                raise ConnectorRejected(
                    "openssl ca -gencrl wrote a CRL that no certificate of this CA verifies", connector=self.instance
                )

    def _remove_stale_crl_candidates(self) -> None:
        """Candidates a killed writer left behind; called under the write lock, so none is being written."""
        crl = self.layout.crl
        for stale in crl.parent.glob(f".{crl.name}.*.tmp"):
            stale.unlink(missing_ok=True)

    def _write_lock(self) -> AbstractAsyncContextManager[None]:
        """One writer per CA, across coroutines and processes (``.certsoar-ca.lock`` in the CA's folder)."""
        return locked(self.layout.home / LOCK_TARGET, timeout=self.settings.timeout, connector=self.instance)

    # ------------------------------------------------------------- helpers

    def _ca_args(self) -> list[str]:
        args = ["-config", str(self.layout.config)]
        if self.settings.section:
            args += ["-name", self.settings.section]
        return args

    def _find(self, number: int) -> IndexEntry | None:
        """The index line of serial ``number``. Only that line (and any whose serial cannot be read) is parsed
        whole: a sweep looks up each violator in a database of 100 000 lines."""
        database = self.layout.database
        try:
            text = database.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as exc:
            raise ConnectorRejected(f"{database}: cannot read the CA database: {exc.strerror or exc}") from exc
        for lineno, line in enumerate(text.split("\n"), start=1):
            fields = line.split("\t", 5)
            if len(fields) == 6 and _HEX_SERIAL.match(fields[3]) and int(fields[3], 16) != number:
                continue
            entry = parse_index_line(line, str(database), lineno)
            if entry is not None and entry.serial == number:
                return entry
        return None

    def _ca_certs(self) -> list[x509.Certificate]:
        path = self.layout.certificate
        try:
            return x509.load_pem_x509_certificates(path.read_bytes())
        except OSError as exc:
            raise ConnectorRejected(
                f"{path}: cannot read the CA certificate: {exc.strerror or exc}", connector=self.instance
            ) from exc
        except ValueError as exc:
            raise ConnectorRejected(f"{path}: not a PEM certificate: {exc}", connector=self.instance) from exc

    def _issued_cert(self, entry: IndexEntry) -> x509.Certificate | None:
        if self.layout.new_certs_dir is None:
            return None
        try:
            with open(os.path.join(self.layout.new_certs_dir, f"{entry.serial_text}.pem"), "rb") as kept:
                cert = x509.load_pem_x509_certificate(kept.read())
        except (OSError, ValueError):
            return None
        return cert if cert.serial_number == entry.serial else None

    def _describe(
        self, entry: IndexEntry, cert: x509.Certificate | None, position: str | None = None
    ) -> IssuedCertificate:
        """The index line, completed from the kept copy when there is one (the index has no issuer or SANs)."""
        facts = self._facts(entry, cert, self._state(entry), position)
        return facts.described() if isinstance(facts, CertificateReading) else facts

    def _read(self, entry: IndexEntry, state: str, position: str) -> IssuedCertificate | CertificateReading:
        return self._facts(entry, self._issued_cert(entry), state, position)

    def _facts(
        self, entry: IndexEntry, cert: x509.Certificate | None, state: str, position: str | None
    ) -> IssuedCertificate | CertificateReading:
        """The index line, with the kept copy's facts when there is one (read as they are asked for)."""
        if cert is None:
            ca_certs = self._ca_certs()
            return IssuedCertificate(
                serial=serial_hex(entry.serial),
                subject=to_rfc4514(entry.subject_oneline),
                issuer=ca_certs[0].subject.rfc4514_string() if ca_certs else None,
                not_after=entry.expires,
                status=state,
                revoked_at=entry.revoked_at,
                position=position,
            )
        return CertificateReading(
            cert,
            status=state,
            revoked_at=entry.revoked_at,
            not_after=entry.expires,
            position=position,
        )

    @staticmethod
    def _state(entry: IndexEntry) -> str:
        if entry.status == "R":
            return "revoked"
        if entry.status == "E" or entry.expires <= datetime.now(timezone.utc):
            return "expired"
        return "valid"

    def _crl_finding(self, number: int) -> CrlFinding:
        path = self.layout.crl
        evidence = {"crl": str(path)}
        try:
            data = path.read_bytes()
        except OSError as exc:
            evidence["crl_check"] = f"no CRL: {exc.strerror or exc}"
            return CrlFinding(False, None, None, evidence)
        evidence["crl_sha256"] = sha256_hex(data)
        try:
            crl = parse_crl(data, str(path))
        except CrlError as exc:
            evidence["crl_check"] = f"unreadable CRL: {exc}"
            return CrlFinding(False, None, None, evidence)
        ca_certs = self._ca_certs()
        if not any(c.subject == crl.issuer for c in ca_certs):
            evidence["crl_check"] = f"CRL issuer {crl.issuer.rfc4514_string()} is not this CA"
            return CrlFinding(False, None, None, evidence)
        if crl_signer(crl, ca_certs) is None:
            evidence["crl_check"] = "signature invalid: the CRL was not signed by the CA certificate's key"
            return CrlFinding(False, None, None, evidence)
        try:
            crl_number: int | None = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        except x509.ExtensionNotFound:
            crl_number = None
        next_update = crl.next_update_utc
        revoked = crl.get_revoked_certificate_by_serial_number(number)
        if revoked is None:
            evidence["crl_check"] = "signature valid; serial not listed"
        else:
            evidence["crl_check"] = (
                f"signature valid; serial listed (reason {crl_reason(revoked) or 'none'}, "
                f"revoked {revoked.revocation_date_utc.isoformat()})"
            )
        if next_update is not None and next_update < datetime.now(timezone.utc):
            evidence["crl_check"] += f"; CRL expired at {next_update.isoformat()}"
        return CrlFinding(revoked is not None, crl_number, next_update, evidence)

    def _passphrase(self) -> str | None:
        if self.settings.passphrase is None:
            return None
        return secret_from(self.settings.passphrase)

    def _passphrase_variables(self) -> list[str]:
        reference = self.settings.passphrase
        return [reference.removeprefix("env:")] if reference is not None and reference.startswith("env:") else []

    async def _run(self, args: list[str], *, with_key: bool) -> ToolResult:
        """Run openssl; the passphrase travels only in the environment of a child that uses the key,
        and is scrubbed from its output. No child inherits the variable the passphrase is read from."""
        child_env = {k: v for k, v in os.environ.items() if k != PASSIN_VAR}
        command = [self.settings.openssl, *args]
        secret = self._passphrase() if with_key else None
        if secret is not None:
            child_env[PASSIN_VAR] = secret
            command += ["-passin", f"env:{PASSIN_VAR}"]
        label = " ".join(["openssl", args[0], *(a for a in args if a in ("-status", "-revoke", "-gencrl"))])
        result = await run_tool(
            command,
            timeout=self.settings.timeout,
            connector=self.instance,
            env=child_env,
            cwd=self.layout.workdir,
            label=label,
        )
        return ToolResult(result.returncode, _scrub(result.stdout, secret), _scrub(result.stderr, secret))


def _position(text: str) -> tuple[int, str]:
    match = _POSITION.match(text)
    if match is None:
        raise ConnectorRejected(f"{text[:80]!r} is not an openssl-ca watermark (<line>:<serial>)")
    return int(match.group(1)), match.group(2)


def _scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def _without_preamble(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("Using configuration from")]
    return "\n".join(lines)


__all__ = ["OpenSslCa", "OpenSslCaSettings", "CaLayout", "load_layout", "parse_serial", "parse_index"]
