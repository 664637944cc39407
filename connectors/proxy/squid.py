"""Squid: keep the list of rogue server-certificate SHA-1s that a fingerprint ACL loads.

The proxy configuration owns the policy; certsoar owns only one file, loaded by an ACL such as::

    acl rogue_certs server_cert_fingerprint "/etc/squid/rogue_fp.txt"
    ssl_bump peek step1
    ssl_bump peek step2
    ssl_bump terminate step3 rogue_certs
    ssl_bump splice all

The file holds one fingerprint per line in the form ``openssl x509 -fingerprint -sha1`` prints
(upper-case, colon-separated), each after a ``#`` line giving the reason; Squid skips ``#``
lines in ACL files. No ``-sha1`` flag is written (Squid 6 removed it; SHA-1 is the default).
With ``reconfigure: true`` the new file is validated with ``squid -k parse`` and applied with
``squid -k reconfigure``; if either fails the previous file is put back.
"""

from __future__ import annotations

import re
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from certsoar.certs.fingerprints import SHA1_DIGITS, normalize_digest
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.errors import ConnectorError, ConnectorRejected
from certsoar.fileio import locked, printable_line, write_atomically
from certsoar.proc import run_tool

_SHA1 = re.compile(r"[0-9A-Fa-f]{40}|(?:[0-9A-Fa-f]{2}:){19}[0-9A-Fa-f]{2}")
COMMENT_MAX_CHARS = 200
HEADER = (
    "# Managed by certsoar: SHA-1 fingerprints of rogue TLS server certificates,\n"
    '# loaded by a Squid "server_cert_fingerprint" ACL. Rewritten on every change; do not edit.\n'
)
_HEADER_LINES = frozenset(HEADER.splitlines())
_PROBLEM = re.compile(r"FATAL|ERROR|unrecognized|Bungled", re.IGNORECASE)
_NEW_FILE_MODE = 0o644  # Squid reads the file after dropping to its own user


class SquidSettings(ConnectorSettings):
    fingerprint_file: Path = Field(description="File loaded by the server_cert_fingerprint ACL.")
    reconfigure: bool = Field(False, description="Run 'squid -k parse' then 'squid -k reconfigure' after a change.")
    squid: str = Field("squid", description="squid binary (name on PATH or absolute path).")
    squid_config: Path | None = Field(None, description="squid.conf passed as -f (Squid's default when unset).")
    timeout: float = Field(30, gt=0, description="Seconds allowed per squid call.")


def normalize_sha1(text: str) -> str:
    """``normalize_digest`` of a SHA-1 in exactly the two forms this file holds (40 hex digits, or
    colon-separated pairs); ConnectorRejected for any other text."""
    sha1 = normalize_digest(text, SHA1_DIGITS) if isinstance(text, str) and _SHA1.fullmatch(text) else None
    if sha1 is None:
        raise ConnectorRejected(f"not a SHA-1 fingerprint (40 hex digits, colons optional): {text!r}")
    return sha1


def squid_form(sha1: str) -> str:
    """Lower-case hex → ``AB:CD:...`` as openssl prints it."""
    return ":".join(sha1[i : i + 2] for i in range(0, 40, 2)).upper()


def sanitize_comment(comment: str) -> str:
    """One line of printable ASCII, whitespace collapsed, bounded length."""
    return printable_line(comment, COMMENT_MAX_CHARS)


@dataclass(frozen=True)
class _Entry:
    sha1: str
    comment: str


def render(entries: list[_Entry]) -> str:
    lines = [HEADER]
    for entry in entries:
        if entry.comment:
            lines.append(f"# {entry.comment}\n")
        lines.append(squid_form(entry.sha1) + "\n")
    return "".join(lines)


def parse(text: str, source: Path) -> list[_Entry]:
    """Entries in file order, duplicates dropped (first one kept)."""
    entries: list[_Entry] = []
    seen: set[str] = set()
    pending_comment = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or raw in _HEADER_LINES:
            continue
        if line.startswith("#"):
            pending_comment = sanitize_comment(line.lstrip("#"))
            continue
        try:
            sha1 = normalize_sha1(line)
        except ConnectorRejected:
            raise ConnectorRejected(f"{source}:{number}: not a SHA-1 fingerprint: {line[:80]!r}") from None
        if sha1 not in seen:
            seen.add(sha1)
            entries.append(_Entry(sha1, pending_comment))
        pending_comment = ""
    return entries


class SquidProxy:
    settings_model: ClassVar[type[ConnectorSettings]] = SquidSettings

    def __init__(self, settings: SquidSettings, env: ConnectorEnv) -> None:
        self.settings = settings
        self.env = env
        self.path = env.resolve(settings.fingerprint_file)
        self.config = env.resolve(settings.squid_config) if settings.squid_config is not None else None

    # ----------------------------------------------------------------- read

    async def blocked_fingerprints(self) -> set[str]:
        # Under the lock (shared), so a read-back sees the result of the writer before it.
        async with self._locked(shared=True):
            return {entry.sha1 for entry in self._read()}

    async def is_blocked(self, sha1: str) -> bool:
        return normalize_sha1(sha1) in await self.blocked_fingerprints()

    # ---------------------------------------------------------------- write

    async def block_fingerprint(self, sha1: str, comment: str) -> None:
        wanted = normalize_sha1(sha1)
        async with self._locked():
            await self._block_locked(wanted, comment)

    async def unblock_fingerprint(self, sha1: str) -> None:
        unwanted = normalize_sha1(sha1)
        async with self._locked():
            entries = self._read()
            kept = [entry for entry in entries if entry.sha1 != unwanted]
            if kept != entries:
                await self._replace(render(kept))

    def _locked(self, *, shared: bool = False) -> AbstractAsyncContextManager[None]:
        """One writer at a time on the list, across processes: read, add, write, reconfigure."""
        return locked(self.path, timeout=self.settings.timeout, connector=self.env.name, shared=shared)

    async def _block_locked(self, wanted: str, comment: str) -> None:
        entries = self._read()
        if any(entry.sha1 == wanted for entry in entries):
            return
        await self._replace(render([*entries, _Entry(wanted, sanitize_comment(comment))]))

    async def _replace(self, text: str) -> None:
        """Write the list and, with ``reconfigure``, make Squid load it; a failure puts the previous file back."""
        previous = self._current_text()
        self._write(text)
        if not self.settings.reconfigure:
            return
        try:
            await self._parse_config()
            await self._squid("-k", "reconfigure")
        except ConnectorError:
            self._restore(previous)
            raise

    # -------------------------------------------------------------- helpers

    def _current_text(self) -> str | None:
        try:
            return self.path.read_text(encoding="ascii")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConnectorRejected(f"cannot read {self.path}: {exc}", connector=self.env.name) from None

    def _read(self) -> list[_Entry]:
        text = self._current_text()
        if text is None:
            return []
        try:
            return parse(text, self.path)
        except ConnectorRejected as exc:
            raise ConnectorRejected(str(exc), connector=self.env.name) from None

    def _restore(self, previous: str | None) -> None:
        if previous is None:
            self.path.unlink(missing_ok=True)
        else:
            self._write(previous)

    def _write(self, text: str) -> None:
        write_atomically(self.path, text, mode_if_new=_NEW_FILE_MODE, encoding="ascii")

    async def _parse_config(self) -> None:
        # squid -k parse exits 0 when an ACL file cannot be opened; it only logs an ERROR line.
        output = await self._squid("-k", "parse")
        for line in output.splitlines():
            if "FATAL" in line or ("ERROR" in line and str(self.path) in line):
                raise ConnectorRejected(f"squid -k parse: {line.strip()}", connector=self.env.name)

    async def _squid(self, *args: str) -> str:
        """Output of ``squid [-f conf] <args>`` (stderr merged: squid logs there).

        A non-zero exit → ConnectorRejected naming the problem lines of the output.
        """
        argv = [self.settings.squid]
        if self.config is not None:
            argv += ["-f", str(self.config)]
        label = "squid " + " ".join(args)
        result = await run_tool(
            [*argv, *args], timeout=self.settings.timeout, connector=self.env.name, merge_stderr=True, label=label
        )
        if result.returncode != 0:
            problems = [line.strip() for line in result.stdout.splitlines() if _PROBLEM.search(line)]
            detail = "; ".join(problems[-3:]) or result.stdout.strip()[-500:] or f"exit status {result.returncode}"
            raise ConnectorRejected(f"{label}: {detail}", connector=self.env.name)
        return result.stdout
