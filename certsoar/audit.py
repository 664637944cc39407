"""The audit log's integrity: a keyed chain of record MACs, and its head anchored outside the database.

Each record carries HMAC-SHA256(key, previous MAC, seq, time, run, event, data), so without the
key no record can be changed, inserted, removed or renumbered and the chain recomputed. Cutting
records off the end leaves a valid shorter chain; the anchor, a file beside the database holding
the head (seq, MAC) under its own MAC, is what shows that. Whoever holds the key and can write both
the store and the anchor can still rewrite history: the key is the trust boundary.

The store moves the anchor once per run (or per write outside a run), and only after syncing the
records it names to disk: after a power cut the anchor may lag the database (the records after it
are reported as not anchored yet), never lead it (which would read as records cut off).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from certsoar.config import Config, secret_from
from certsoar.errors import AuditError, ConfigError
from certsoar.fileio import write_atomically

GENESIS = "0" * 64
KEY_FILE = "audit.key"
ANCHOR_SUFFIX = ".audit-head"
MIN_KEY_CHARS = 32
_MAC_PATTERN = r"^[0-9a-f]{64}$"


class AuditKey:
    """The secret of the audit MACs: from the config (``env:``/``file:``), generated once into a key
    file, or ephemeral for an in-memory store. ``source`` says where it is, never what it is."""

    def __init__(self, source: str, *, material: bytes | None = None, file: Path | None = None) -> None:
        self.source = source
        self._material = material
        self._file = file

    def __repr__(self) -> str:
        return f"AuditKey({self.source})"

    @classmethod
    def from_reference(cls, reference: str) -> "AuditKey":
        try:
            secret = secret_from(reference)
        except ConfigError as exc:
            raise ConfigError(f"audit.key: {exc}") from None
        if len(secret) < MIN_KEY_CHARS:
            raise ConfigError(
                f"audit.key: the key in {reference} is shorter than {MIN_KEY_CHARS} characters "
                "(make one with `openssl rand -hex 32`)"
            )
        return cls(reference, material=secret.encode())

    @classmethod
    def generated(cls, file: Path) -> "AuditKey":
        return cls(f"file:{file} (generated)", file=file)

    @classmethod
    def ephemeral(cls) -> "AuditKey":
        return cls("ephemeral (in-memory store)", material=secrets.token_hex(32).encode())

    def material(self, *, create: bool) -> bytes:
        """The key's bytes; a generated key file is created first when ``create`` and it is missing."""
        if self._material is None:
            assert self._file is not None
            self._material = _key_from_file(self._file, create=create)
        return self._material


def key_for(config: Config) -> AuditKey:
    """The configured key (a relative ``file:`` path resolves against the config's folder), else the
    one generated into the state dir."""
    if not config.audit.key:
        return AuditKey.generated(config.state_dir / KEY_FILE)
    kind, _, ref = config.audit.key.partition(":")
    return AuditKey.from_reference(f"file:{config.resolve(ref)}" if kind == "file" else config.audit.key)


def _key_from_file(path: Path, *, create: bool) -> bytes:
    if create and not path.exists():
        _publish_new_key(path)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise AuditError(f"the audit key {path} does not exist: the audit log cannot be verified without it") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditError(
            f"cannot read the audit key {path}: {getattr(exc, 'strerror', None) or type(exc).__name__}"
        ) from None
    if stat.S_IMODE(mode) & 0o077:
        raise AuditError(f"the audit key {path} is readable by others (mode {stat.S_IMODE(mode):04o}): chmod 600 it")
    if len(text) < MIN_KEY_CHARS:
        raise AuditError(f"the audit key {path} is shorter than {MIN_KEY_CHARS} characters")
    return text.encode()


def _publish_new_key(path: Path) -> None:
    """Write a random key to a private temporary file, then link it into place.

    link() fails when the name exists, like O_CREAT|O_EXCL, but publishes a complete file: a process
    that loses the race reads the winner's key, never a half-written one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(temp)


def record_mac(key: bytes, *, prev: str, seq: int, time: str, run_id: str | None, event: str, data: str) -> str:
    message = json.dumps(["certsoar-audit-record-v1", prev, seq, time, run_id, event, data], separators=(",", ":"))
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def record_verifies(key: bytes, record: sqlite3.Row) -> bool:
    expected = record_mac(
        key,
        prev=record["prev_hash"],
        seq=record["seq"],
        time=record["time"],
        run_id=record["run_id"],
        event=record["event"],
        data=record["data"],
    )
    return hmac.compare_digest(expected, str(record["hash"]))


class Anchor(BaseModel):
    """The head of the chain as of the last anchoring: ``seq`` 0 with the genesis MAC for an empty chain."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int = Field(ge=0)
    mac: str = Field(pattern=_MAC_PATTERN)
    anchor_mac: str = Field(pattern=_MAC_PATTERN)


def _anchor_mac(key: bytes, seq: int, mac: str) -> str:
    message = json.dumps(["certsoar-audit-anchor-v1", seq, mac], separators=(",", ":"))
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def anchor_path(db_path: str) -> Path:
    return Path(db_path + ANCHOR_SUFFIX)


def read_anchor(path: Path, key: bytes) -> Anchor | None:
    """The anchor at ``path``, None when there is none; AuditError when it is unreadable or forged."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AuditError(f"cannot read the audit head anchor {path}: {exc.strerror or exc}") from None
    try:
        anchor = Anchor.model_validate_json(text)
    except ValidationError:
        raise AuditError(f"the audit head anchor {path} is not an anchor certsoar wrote") from None
    if not hmac.compare_digest(anchor.anchor_mac, _anchor_mac(key, anchor.seq, anchor.mac)):
        raise AuditError(
            f"the audit head anchor {path} does not verify with the audit key: "
            "it was changed or written with another key"
        )
    return anchor


def write_anchor(path: Path, key: bytes, seq: int, mac: str) -> None:
    anchor = Anchor(seq=seq, mac=mac, anchor_mac=_anchor_mac(key, seq, mac))
    try:
        write_atomically(path, anchor.model_dump_json() + "\n")
    except OSError as exc:
        raise AuditError(f"cannot write the audit head anchor {path}: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class ChainStatus:
    """A verified chain of ``records`` records (seq 1..records) whose head was anchored at ``anchored_seq``:
    the records after it were committed by a writer that stopped before anchoring them."""

    records: int
    anchored_seq: int


def verify_chain(
    records: Iterable[sqlite3.Row], key: bytes, anchor: Anchor | None, anchor_file: Path | None
) -> ChainStatus:
    """Check seq contiguity, linkage and every MAC, then the anchor read from ``anchor_file`` (None: an
    in-memory store, which has nothing outside to anchor to); AuditError at the first break."""
    prev_seq, prev = 0, GENESIS
    anchored_mac = GENESIS
    for rec in records:
        seq = rec["seq"]
        if seq != prev_seq + 1:
            missing = f"record {prev_seq + 1} is" if seq == prev_seq + 2 else f"records {prev_seq + 1}-{seq - 1} are"
            raise AuditError(f"audit chain broken at record {seq}: {missing} missing")
        if rec["prev_hash"] != prev:
            raise AuditError(f"audit chain broken at record {seq}: it does not link to record {prev_seq}")
        if not record_verifies(key, rec):
            raise AuditError(
                f"audit chain broken at record {seq}: its MAC does not verify with the audit key "
                "(changed, or written with another key or before the audit log was keyed)"
            )
        prev_seq, prev = seq, rec["hash"]
        if anchor is not None and seq == anchor.seq:
            anchored_mac = prev
    if anchor_file is None:
        return ChainStatus(records=prev_seq, anchored_seq=prev_seq)
    if anchor is None:
        if prev_seq:
            raise AuditError(
                f"audit chain broken: its head anchor {anchor_file} is missing, so records cut off "
                "the end would not show"
            )
        return ChainStatus(records=0, anchored_seq=0)
    if anchor.seq > prev_seq:
        raise AuditError(
            f"audit chain broken: it ends at record {prev_seq} but {anchor_file} anchors record "
            f"{anchor.seq}: records {prev_seq + 1}-{anchor.seq} were removed from the end (a power cut does not "
            "explain it: the head is anchored only once the records it names are on disk)"
        )
    if not hmac.compare_digest(anchored_mac, anchor.mac):
        raise AuditError(f"audit chain broken at record {anchor.seq}: it is not the record {anchor_file} anchors")
    return ChainStatus(records=prev_seq, anchored_seq=anchor.seq)
