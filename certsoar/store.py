"""The run store: SQLite (stdlib, WAL) in the state dir.

Tables: runs, run_leases (who executes a run, until when), steps (the journal), approvals and
decisions, effects (the ledger) with the per-run view run_effects, and audit, a keyed chain whose
head is anchored beside the database (certsoar.audit) so that a rewritten, removed or cut-off
record shows. Rows come out as the frozen dataclasses below.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path
from typing import Any

from certsoar.audit import (
    GENESIS,
    KEY_FILE,
    AuditKey,
    ChainStatus,
    anchor_path,
    read_anchor,
    record_mac,
    record_verifies,
    verify_chain,
    write_anchor,
)
from certsoar.errors import ApprovalError, AuditError, RunBusy, RunError, RunNotFound
from certsoar.fileio import locked_between_processes

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    playbook TEXT NOT NULL,
    alert_id TEXT,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,
    dry_run INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    requester TEXT,
    alert TEXT,
    definition TEXT,
    error TEXT,
    UNIQUE (playbook, alert_id)
);
CREATE TABLE IF NOT EXISTS run_leases (
    run_id TEXT PRIMARY KEY REFERENCES runs(id),
    owner TEXT NOT NULL,
    expires TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL REFERENCES runs(id),
    step_id TEXT NOT NULL,
    action TEXT,
    seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    started TEXT NOT NULL,
    finished TEXT,
    attempts INTEGER NOT NULL DEFAULT 1,
    output TEXT,
    error TEXT,
    PRIMARY KEY (run_id, step_id)
);
CREATE TABLE IF NOT EXISTS approvals (
    run_id TEXT NOT NULL REFERENCES runs(id),
    step_id TEXT NOT NULL,
    roles TEXT NOT NULL,
    required INTEGER NOT NULL,
    distinct_from_requester INTEGER NOT NULL,
    requester TEXT,
    expires TEXT NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (run_id, step_id)
);
CREATE TABLE IF NOT EXISTS decisions (
    run_id TEXT NOT NULL,
    step_id TEXT NOT NULL,
    analyst TEXT NOT NULL,
    decision TEXT NOT NULL,
    comment TEXT,
    time TEXT NOT NULL,
    PRIMARY KEY (run_id, step_id, analyst)
);
CREATE TABLE IF NOT EXISTS effects (
    key TEXT PRIMARY KEY,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    state TEXT NOT NULL,
    run_id TEXT NOT NULL,
    verified INTEGER NOT NULL DEFAULT 0,
    evidence TEXT,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS run_effects (
    run_id TEXT NOT NULL,
    key TEXT NOT NULL,
    step_id TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    changed INTEGER NOT NULL,
    verified INTEGER NOT NULL,
    planned INTEGER NOT NULL DEFAULT 0,
    evidence TEXT,
    PRIMARY KEY (run_id, key)
);
CREATE TABLE IF NOT EXISTS watermarks (
    source TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    run_id TEXT,
    event TEXT NOT NULL,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
"""

LEASE_SECONDS = 60.0
"""How long a run's executor holds it without renewing; a crashed executor's run is free after this
(at once when the executor was a process on this host that no longer exists)."""


_AUDIT_COLUMNS = ("seq", "time", "run_id", "event", "data", "prev_hash", "hash")
_VERIFIED_KEPT = 4096
"""How many audit records a store remembers as verified (the recent ones its runs write and read back)."""


BUSY_SECONDS = 10.0
"""How long a write waits for another process's transaction before the store reports it locked."""


_CLAIM_PASSES = "('failed', 'expired')"
"""Run statuses whose claims the next run may take: it failed, or its approval expired with nobody deciding."""


RESTARTABLE_TRIGGERS = frozenset({"release"})
"""Runs that answer a request (``certsoar release``) rather than an alert: asking again after a denial, an expiry
or a failure starts a new run under the same id (an alert's run starts afresh only when corrected after a
failure)."""


class RunStatus(StrEnum):
    QUEUED = "queued"  # accepted and persisted (the service), not yet started by a worker
    RUNNING = "running"
    WAITING_APPROVAL = "waiting_approval"
    COMPLETED = "completed"
    FAILED = "failed"
    DENIED = "denied"
    EXPIRED = "expired"


class GateStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"


class StepStatus(StrEnum):
    """A journaled step. A replay keeps completed, skipped (its when was false) and failed (it failed under
    ``on_error: continue``); error (it ended the run) and cancelled (a parallel sibling failed) run again."""

    COMPLETED = "completed"
    SKIPPED = "skipped"
    FAILED = "failed"
    ERROR = "error"
    CANCELLED = "cancelled"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# rows -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRow:
    id: str
    playbook: str
    alert_id: str | None
    trigger: str
    status: RunStatus
    dry_run: bool
    created: str
    updated: str
    requester: str | None
    alert: Any
    definition: str | None
    error: str | None


@dataclass(frozen=True)
class StepRow:
    run_id: str
    step_id: str
    action: str | None
    seq: int
    status: StepStatus
    started: str
    finished: str | None
    attempts: int
    output: Any
    error: str | None


@dataclass(frozen=True)
class Decision:
    analyst: str
    decision: str
    comment: str | None
    time: str


@dataclass(frozen=True)
class GateRow:
    """An approval gate of a run with the decisions recorded on it."""

    run_id: str
    step_id: str
    roles: list[str]
    required: int
    distinct_from_requester: bool
    requester: str | None
    expires: datetime
    status: GateStatus
    decisions: tuple[Decision, ...]

    def describe(self) -> str:
        who = ", ".join(f"{d.decision} by {d.analyst}" for d in self.decisions) or "no decision"
        return f"gate {self.step_id} is {self.status} ({who})"


@dataclass(frozen=True)
class EffectRow:
    """The ledger's record of one change: state intent, done, or unverified (written, not read back)."""

    key: str
    action: str
    target: str
    state: str
    run_id: str
    verified: bool
    evidence: Any
    updated: str


@dataclass(frozen=True)
class RunEffectRow:
    run_id: str
    key: str
    step_id: str
    action: str
    target: str
    changed: bool
    verified: bool
    planned: bool
    evidence: Any


@dataclass(frozen=True)
class Lease:
    run_id: str
    owner: str
    expires: datetime


def executor_id() -> str:
    """A lease owner id: host and pid (so a crashed local executor is recognized) and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_gone(owner: str) -> bool:
    """The owner was a process on this host that no longer exists (it crashed or was killed)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _database_error(path: str, exc: sqlite3.Error) -> RunError:
    return RunError(f"run store {path}: {exc} (a corrupt, read-only or locked database file)")


class RunStore:
    """Owns the SQLite file of runs: the runs and their journal, approval gates and decisions, the effect
    ledger, run leases, tickets (local connector) and the audit chain.

    Guarantees: every write is one BEGIN IMMEDIATE transaction, so concurrent processes serialize; one
    run per (playbook, alert id); a run has at most one live lease (its executor); a gate is decided once
    (the decision, the quorum check, the close and the claim of the run happen in one transaction); a
    database that is corrupt or cannot be written raises RunError naming the file, never sqlite3's errors.
    """

    def __init__(
        self, path: Path | str, *, read_only: bool = False, audit_key: AuditKey | None = None, audited: bool = True
    ) -> None:
        """``audit_key`` defaults to a key generated once into ``audit.key`` beside the database. An unaudited
        store (``scratch``) writes no audit records."""
        self.path = str(path)
        self.read_only = read_only
        self.audited = audited
        in_memory = self.path == ":memory:"
        self._audit_key = audit_key or (
            AuditKey.ephemeral() if in_memory else AuditKey.generated(Path(path).parent / KEY_FILE)
        )
        self._audit_anchor = None if in_memory else anchor_path(self.path)
        self._anchor_due = False
        self._anchor_deferred = 0
        self._verified_records: dict[int, tuple[Any, ...]] = {}
        try:
            if read_only:
                uri = f"file:{Path(path).resolve()}?mode=ro" if Path(path).exists() else "file::memory:"
                self.db = sqlite3.connect(
                    uri, uri=True, isolation_level=None, check_same_thread=False, timeout=BUSY_SECONDS
                )
                if not Path(path).exists():
                    self.db.executescript(SCHEMA)
            else:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                # the busy timeout from the first statement: concurrent first opens all set WAL and the schema
                self.db = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_SECONDS
                )
                # Switching to WAL does not wait out the busy timeout: concurrent first opens take turns.
                if not in_memory and self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    with locked_between_processes(Path(self.path), timeout=BUSY_SECONDS):
                        self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.executescript(SCHEMA)
            self.db.execute("SELECT 1 FROM runs LIMIT 1").fetchone()  # a file that is no database fails here
        except sqlite3.Error as exc:
            raise _database_error(self.path, exc) from exc
        except OSError as exc:
            raise RunError(f"run store {self.path}: {exc.strerror or exc}") from exc
        self.db.row_factory = sqlite3.Row

    @classmethod
    def scratch(cls) -> "RunStore":
        """A dry run's journal: in memory, gone with the process, so never audited (``check_run`` skips dry runs)."""
        return cls(":memory:", audited=False)

    @classmethod
    def in_state_dir(cls, state_dir: Path, *, read_only: bool = False, audit_key: AuditKey | None = None) -> "RunStore":
        return cls(Path(state_dir) / "runs.sqlite3", read_only=read_only, audit_key=audit_key)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self.close()
        if isinstance(exc, sqlite3.Error):
            raise _database_error(self.path, exc) from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        if self.read_only:
            raise RunError("the run store is open read-only (dry run)")
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        if not self._anchor_deferred:
            self._anchor_audit_head()

    @contextmanager
    def one_anchor(self) -> Iterator[None]:
        """Anchor the audit head once, when the block ends, instead of after each transaction in it (a run's
        steps): one sync and one anchor write for the lot. Until then the block's records are committed but
        not anchored, as a crash inside the block leaves them; the next anchoring, by any writer, covers them."""
        self._anchor_deferred += 1
        try:
            yield
        finally:
            self._anchor_deferred -= 1
            if not self._anchor_deferred:
                self._anchor_audit_head()

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside the block see one state of the store (one read transaction): rows read one after
        another (a run, then its audit records) cannot straddle another process's commit."""
        if self.db.in_transaction:
            yield
            return
        self.db.execute("BEGIN")
        try:
            yield
        finally:
            self.db.execute("COMMIT")

    # runs ---------------------------------------------------------------
    def create_run(
        self,
        *,
        playbook: str,
        alert_id: str | None,
        trigger: str,
        alert: Any,
        requester: str | None = None,
        dry_run: bool = False,
        definition: str | None = None,
        owner: str | None = None,
        status: RunStatus = RunStatus.RUNNING,
        audit_data: dict[str, Any] | None = None,
    ) -> tuple[str, bool]:
        """Create a run, or return the existing run for the same alert id. Returns (id, created).

        A created run is leased to ``owner`` (when given) in the same transaction, so no other
        process can execute it before its creator does. ``status=QUEUED`` (the service) persists an
        accepted run for a worker to start; ``audit_data`` adds to its audit record (who submitted it).
        """
        return self.create_runs(
            [
                {
                    "playbook": playbook,
                    "alert_id": alert_id,
                    "trigger": trigger,
                    "alert": alert,
                    "requester": requester,
                    "dry_run": dry_run,
                    "definition": definition,
                    "owner": owner,
                    "status": status,
                    "audit_data": audit_data,
                }
            ]
        )[0]

    def create_runs(self, runs: list[dict[str, Any]]) -> list[tuple[str, bool]]:
        """Create several runs (each the keyword arguments of ``create_run``) in one transaction: one
        commit and one audit anchor for the lot (the service's accept path groups its commits so)."""
        with self.transaction() as db:
            return [self._insert_run(db, **run) for run in runs]

    def _insert_run(
        self,
        db: sqlite3.Connection,
        *,
        playbook: str,
        alert_id: str | None,
        trigger: str,
        alert: Any,
        requester: str | None = None,
        dry_run: bool = False,
        definition: str | None = None,
        owner: str | None = None,
        status: RunStatus = RunStatus.RUNNING,
        audit_data: dict[str, Any] | None = None,
    ) -> tuple[str, bool]:
        now = utcnow()
        superseded = None
        if alert_id is not None:
            row = db.execute(
                "SELECT id, status, alert, trigger FROM runs WHERE playbook=? AND alert_id=?", (playbook, alert_id)
            ).fetchone()
            if row:
                if self._asked_again_after_refusal(db, row, now):
                    why = f"{trigger} {alert_id} was asked again after this one was {row['status']}"
                elif self._corrected_after_failure(db, row, alert, now):
                    why = f"alert {alert_id} was sent again, corrected"
                else:
                    return row["id"], False
                superseded = row["id"]
        run_id = uuid.uuid4().hex[:16]
        if superseded is not None:
            # The earlier run keeps its record (and the ledger its effects, which the new run finds done);
            # only the alert id moves to the new run, and the audit links the two.
            note = f" [superseded by run {run_id}: {why}]"
            db.execute(
                "UPDATE runs SET alert_id=NULL, error=COALESCE(error, '') || ?, updated=? WHERE id=?",
                (note, now.isoformat(), superseded),
            )
            self._audit(db, superseded, "run.superseded", {"alert_id": alert_id, "by": run_id, "note": note})
        db.execute(
            "INSERT INTO runs (id, playbook, alert_id, trigger, status, dry_run, created, updated, requester, alert,"
            " definition) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                run_id,
                playbook,
                alert_id,
                trigger,
                status,
                int(dry_run),
                now.isoformat(),
                now.isoformat(),
                requester,
                _dumps(alert),
                definition,
            ),
        )
        self._audit(
            db,
            run_id,
            "run.created",
            {
                **(audit_data or {}),
                "playbook": playbook,
                "trigger": trigger,
                "alert_id": alert_id,
                "status": str(status),
                **({"supersedes": superseded} if superseded else {}),
            },
        )
        if owner is not None:
            self._take_lease(db, run_id, owner, now)
        return run_id, True

    def _asked_again_after_refusal(self, db: sqlite3.Connection, row: sqlite3.Row, now: datetime) -> bool:
        """A request run (a release: ``RESTARTABLE_TRIGGERS``) starts afresh when asked again after it was denied,
        expired or failed and nobody is executing it; one that waits or completed is the answer (no duplicate)."""
        return (
            row["trigger"] in RESTARTABLE_TRIGGERS
            and row["status"] in (RunStatus.DENIED, RunStatus.EXPIRED, RunStatus.FAILED)
            and self._holder(db, row["id"], now) is None
        )

    def _corrected_after_failure(self, db: sqlite3.Connection, row: sqlite3.Row, alert: Any, now: datetime) -> bool:
        """The alert starts afresh rather than returning the run its id already has: that run failed, nobody is
        executing it (a resume in progress keeps it), and the alert differs from the one it failed on (the same
        alert again gets the failed run, which `runs resume` retries from its failed step)."""
        return (
            row["status"] == RunStatus.FAILED
            and self._holder(db, row["id"], now) is None
            and _loads(row["alert"]) != json.loads(_dumps(alert))
        )

    @staticmethod
    def _run_row(row: sqlite3.Row) -> RunRow:
        d = dict(row)
        return RunRow(
            **{**d, "status": RunStatus(d["status"]), "alert": _loads(d["alert"]), "dry_run": bool(d["dry_run"])}
        )

    def get_run(self, run_id: str) -> RunRow:
        row = self.db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFound(f"no run {run_id!r}")
        return self._run_row(row)

    def list_runs(
        self, limit: int = 100, *, status: RunStatus | None = None, since: datetime | None = None
    ) -> list[dict[str, Any]]:
        """The latest runs, newest first; only those with ``status`` and created at or after ``since``."""
        where, args = [], []
        if status is not None:
            where.append("status=?")
            args.append(str(status))
        if since is not None:
            where.append("created>=?")
            args.append(since.astimezone(timezone.utc).isoformat())
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self.db.execute(
            "SELECT id, playbook, alert_id, trigger, status, created, updated FROM runs"
            f"{clause} ORDER BY created DESC LIMIT ?",
            (*args, limit),
        ).fetchall()
        return [dict(r) for r in rows]

    def run_for_alert(self, playbook: str, alert_id: str) -> str | None:
        """The run of ``playbook`` that alert ``alert_id`` names now (a superseded one has given its id up)."""
        row = self.db.execute("SELECT id FROM runs WHERE playbook=? AND alert_id=?", (playbook, alert_id)).fetchone()
        return str(row["id"]) if row else None

    def run_counts(self) -> dict[str, int]:
        """How many runs are in each status."""
        return {r[0]: r[1] for r in self.db.execute("SELECT status, count(*) FROM runs GROUP BY status")}

    def runs_to_resume(self) -> list[str]:
        """Runs accepted but never started (queued) and runs cut short (running, no live executor), oldest
        first: what a restarted service carries on."""
        now = utcnow()
        rows = self.db.execute(
            "SELECT id, status FROM runs WHERE status IN ('queued', 'running') AND dry_run=0 ORDER BY created"
        ).fetchall()
        return [r["id"] for r in rows if r["status"] == RunStatus.QUEUED or self._holder(self.db, r["id"], now) is None]

    def update_run(self, run_id: str, *, status: RunStatus, error: str | None = None, owner: str | None = None) -> None:
        """Set the run's status. With ``owner`` the write happens only while ``owner`` holds the run's lease
        (RunBusy otherwise), and a status other than running releases the lease in the same transaction."""
        with self.transaction() as db:
            if owner is not None:
                self._check_lease(db, run_id, owner)
                if status != RunStatus.RUNNING:
                    db.execute("DELETE FROM run_leases WHERE run_id=? AND owner=?", (run_id, owner))
            db.execute(
                "UPDATE runs SET status=?, error=?, updated=? WHERE id=?", (status, error, utcnow().isoformat(), run_id)
            )
            self._audit(db, run_id, "run.status", {"status": str(status), "error": error})

    # leases -------------------------------------------------------------
    def _take_lease(self, db: sqlite3.Connection, run_id: str, owner: str, now: datetime) -> None:
        holder = self._holder(db, run_id, now)
        if holder is not None and holder.owner != owner:
            raise RunBusy(
                f"run {run_id} is being executed by {holder.owner} (its lease runs until "
                f"{holder.expires.isoformat(timespec='seconds')}); try again once it has finished"
            )
        db.execute(
            "INSERT INTO run_leases VALUES (?,?,?) ON CONFLICT(run_id) DO UPDATE SET owner=excluded.owner,"
            " expires=excluded.expires",
            (run_id, owner, (now + timedelta(seconds=LEASE_SECONDS)).isoformat()),
        )

    @staticmethod
    def _holder(db: sqlite3.Connection, run_id: str, now: datetime) -> Lease | None:
        """The live lease on the run, if any (an expired lease or one of a dead local process is none)."""
        row = db.execute("SELECT owner, expires FROM run_leases WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            return None
        lease = Lease(run_id=run_id, owner=row[0], expires=datetime.fromisoformat(row[1]))
        if lease.expires <= now or _owner_gone(lease.owner):
            return None
        return lease

    def _check_lease(self, db: sqlite3.Connection, run_id: str, owner: str) -> None:
        row = db.execute("SELECT owner FROM run_leases WHERE run_id=?", (run_id,)).fetchone()
        if row is None or row[0] != owner:
            raise RunBusy(
                f"run {run_id}: this executor ({owner}) no longer holds the run's lease"
                + (f"; {row[0]} does" if row else "")
            )

    def take_lease(self, run_id: str, owner: str) -> None:
        """Become the run's one executor; RunBusy naming the holder while another live executor has it."""
        with self.transaction() as db:
            self._take_lease(db, run_id, owner, utcnow())

    def renew_lease(self, run_id: str, owner: str) -> bool:
        """Extend ``owner``'s lease; False when it is no longer ``owner``'s (it expired and was taken)."""
        expires = (utcnow() + timedelta(seconds=LEASE_SECONDS)).isoformat()
        with self.transaction() as db:
            return bool(
                db.execute(
                    "UPDATE run_leases SET expires=? WHERE run_id=? AND owner=?", (expires, run_id, owner)
                ).rowcount
            )

    def release_lease(self, run_id: str, owner: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM run_leases WHERE run_id=? AND owner=?", (run_id, owner))

    def lease(self, run_id: str) -> Lease | None:
        """The live lease on the run: who executes it now."""
        return self._holder(self.db, run_id, utcnow())

    def triaged_certificates(self, playbook: str) -> list[tuple[str | None, ...]]:
        """What (non dry) runs of ``playbook`` are about: (alert id, sha256, sha1, serial, issuer) from each
        run's alert, and (None, sha256, sha1, None, None) from the hashes each run's ``cert`` step computed, so
        an alert that named a certificate by one hash is found by the other."""
        rows = self.db.execute(
            "SELECT alert_id, json_extract(alert, '$.sha256'), json_extract(alert, '$.sha1'),"
            " json_extract(alert, '$.logged_certificate.serial'), json_extract(alert, '$.logged_certificate.issuer')"
            " FROM runs WHERE playbook=? AND dry_run=0"
            " UNION ALL SELECT NULL, json_extract(s.output, '$.sha256'), json_extract(s.output, '$.sha1'), NULL, NULL"
            " FROM steps s JOIN runs r ON r.id = s.run_id WHERE r.playbook=? AND r.dry_run=0 AND s.step_id='cert'",
            (playbook, playbook),
        ).fetchall()
        return [tuple(row) for row in rows]

    def effects_in_force(self, actions: tuple[str, ...]) -> list[EffectRow]:
        """The ledger's effects of ``actions`` recorded done: what should still hold at the targets."""
        marks = ",".join("?" * len(actions))
        rows = self.db.execute(
            f"SELECT * FROM effects WHERE state='done' AND action IN ({marks}) ORDER BY key", actions
        ).fetchall()
        return [
            EffectRow(**{**dict(r), "verified": bool(r["verified"]), "evidence": _loads(r["evidence"])}) for r in rows
        ]

    # watermarks ---------------------------------------------------------
    def watermark(self, source: str) -> str | None:
        """How far a sweep has read ``source`` (a CA's issued list, a SIEM): the value its last
        successful sweep recorded, or None when none has."""
        row = self.db.execute("SELECT value FROM watermarks WHERE source=?", (source,)).fetchone()
        return None if row is None else str(row["value"])

    def set_watermarks(self, marks: dict[str, str], *, db: sqlite3.Connection | None = None) -> None:
        """Record how far a sweep has read each source, all at once (inside ``db``'s transaction when given)."""
        if db is None:
            with self.transaction() as tx:
                self.set_watermarks(marks, db=tx)
            return
        now = utcnow().isoformat()
        db.executemany(
            "INSERT INTO watermarks(source, value, updated) VALUES (?, ?, ?) "
            "ON CONFLICT(source) DO UPDATE SET value=excluded.value, updated=excluded.updated",
            [(source, value, now) for source, value in marks.items()],
        )

    def watermarks(self) -> dict[str, str]:
        """Every source's watermark."""
        return {r["source"]: r["value"] for r in self.db.execute("SELECT source, value FROM watermarks")}

    # journal ------------------------------------------------------------
    def record_step(
        self,
        run_id: str,
        step_id: str,
        *,
        action: str | None,
        status: StepStatus,
        output: Any = None,
        error: str | None = None,
        attempts: int = 1,
        started: datetime | None = None,
        owner: str | None = None,
    ) -> None:
        """Journal a step; with ``owner``, only while ``owner`` holds the run's lease (RunBusy otherwise), so
        an executor that was paused past its lease cannot write over the one that took the run over."""
        now = utcnow().isoformat()
        with self.transaction() as db:
            if owner is not None:
                self._check_lease(db, run_id, owner)
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM steps WHERE run_id=?", (run_id,)).fetchone()[0]
            db.execute(
                "INSERT INTO steps (run_id, step_id, action, seq, status, started, finished, attempts, output, error)"
                " VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(run_id, step_id) DO UPDATE SET status=excluded.status,"
                " finished=excluded.finished, attempts=excluded.attempts, output=excluded.output, error=excluded.error",
                (
                    run_id,
                    step_id,
                    action,
                    seq,
                    status,
                    (started or utcnow()).isoformat(),
                    now,
                    attempts,
                    _dumps(output),
                    error,
                ),
            )
            self._audit(db, run_id, "step." + status, {"step": step_id, "error": error})

    def discard_run(self, run_id: str) -> None:
        """Forget a run of a scratch journal (a sweep's dry run, once it has counted what the run came to)."""
        if self.audited:
            raise RunError(f"run store {self.path}: only a scratch journal forgets runs")
        with self.transaction() as db:
            db.execute("DELETE FROM steps WHERE run_id=?", (run_id,))
            db.execute("DELETE FROM run_effects WHERE run_id=?", (run_id,))
            db.execute("DELETE FROM runs WHERE id=?", (run_id,))

    def steps(self, run_id: str) -> list[StepRow]:
        rows = self.db.execute("SELECT * FROM steps WHERE run_id=? ORDER BY seq", (run_id,)).fetchall()
        return [StepRow(**{**dict(r), "status": StepStatus(r["status"]), "output": _loads(r["output"])}) for r in rows]

    # approvals ----------------------------------------------------------
    def open_approval(
        self,
        run_id: str,
        step_id: str,
        *,
        roles: list[str],
        required: int,
        distinct_from_requester: bool,
        requester: str | None,
        expires: datetime,
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO approvals VALUES (?,?,?,?,?,?,?,?)",
                (
                    run_id,
                    step_id,
                    _dumps(roles),
                    required,
                    int(distinct_from_requester),
                    requester,
                    expires.isoformat(),
                    GateStatus.PENDING,
                ),
            )
            self._audit(
                db,
                run_id,
                "approval.requested",
                {"step": step_id, "roles": roles, "required": required, "expires": expires.isoformat()},
            )

    @staticmethod
    def _gate(db: sqlite3.Connection, run_id: str, step_id: str | None, *, pending_only: bool) -> GateRow | None:
        if step_id:
            row = db.execute("SELECT * FROM approvals WHERE run_id=? AND step_id=?", (run_id, step_id)).fetchone()
        else:
            pending = " AND status='pending'" if pending_only else ""
            row = db.execute(
                f"SELECT * FROM approvals WHERE run_id=?{pending} ORDER BY rowid DESC LIMIT 1", (run_id,)
            ).fetchone()
        if row is None:
            return None
        decisions = tuple(
            Decision(*d)
            for d in db.execute(
                "SELECT analyst, decision, comment, time FROM decisions WHERE run_id=? AND step_id=? ORDER BY time",
                (run_id, row["step_id"]),
            ).fetchall()
        )
        return GateRow(
            run_id=run_id,
            step_id=row["step_id"],
            roles=_loads(row["roles"]),
            required=row["required"],
            distinct_from_requester=bool(row["distinct_from_requester"]),
            requester=row["requester"],
            expires=datetime.fromisoformat(row["expires"]),
            status=GateStatus(row["status"]),
            decisions=decisions,
        )

    def approval(self, run_id: str, step_id: str | None = None, *, pending_only: bool = True) -> GateRow | None:
        """The gate of ``step_id``, else the run's pending gate (or, with pending_only=False, its latest)."""
        return self._gate(self.db, run_id, step_id, pending_only=pending_only)

    def expired_gates(self, now: datetime) -> list[str]:
        """Runs waiting at a gate whose expiry has passed."""
        rows = self.db.execute(
            "SELECT a.run_id, a.expires FROM approvals a JOIN runs r ON r.id = a.run_id"
            " WHERE a.status='pending' AND r.status='waiting_approval'"
        ).fetchall()
        return [r["run_id"] for r in rows if datetime.fromisoformat(r["expires"]) <= now]

    def decide(
        self,
        run_id: str,
        *,
        analyst: str,
        decision: GateStatus,
        comment: str | None,
        owner: str,
        may_approve: Callable[[str], bool] = lambda _analyst: True,
        via: str = "cli",
        credential: str | None = None,
    ) -> GateRow:
        """Record ``analyst``'s decision on the run's waiting gate and settle the gate, atomically.

        One transaction re-checks that the run waits and its gate is pending (ApprovalError naming who
        decided what otherwise), records the decision (a second one by the same analyst changes
        nothing), and when the gate is settled (any denial, the required approvals, or its expiry)
        closes it and claims the run for ``owner`` (status running, lease taken). An approval counts
        only while ``may_approve`` still says its analyst may (one removed from the config or stripped
        of the role since approving no longer does). Returns the gate as it stands after; its status
        says whether the caller now executes the run. The audit record of the decision names the
        entry point (``via``: cli, api, page, slack) and the credential used.
        """
        now = utcnow()
        with self.transaction() as db:
            row = db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
            if row is None:
                raise RunNotFound(f"no run {run_id!r}")
            run = self._run_row(row)
            gate = self._gate(db, run_id, None, pending_only=True)
            if run.status != RunStatus.WAITING_APPROVAL or gate is None:
                latest = self._gate(db, run_id, None, pending_only=False)
                raise ApprovalError(
                    f"run {run_id} is {run.status}, not waiting for approval"
                    + (f": {latest.describe()}" if latest else "")
                )
            if now >= gate.expires:
                status = GateStatus.EXPIRED
            else:
                if db.execute(
                    "INSERT OR IGNORE INTO decisions VALUES (?,?,?,?,?,?)",
                    (run_id, gate.step_id, analyst, decision, comment, now.isoformat()),
                ).rowcount:
                    self._audit(
                        db,
                        run_id,
                        "approval." + decision,
                        {
                            "step": gate.step_id,
                            "analyst": analyst,
                            "comment": comment,
                            "via": via,
                            "credential": credential,
                        },
                    )
                gate = self._gate(db, run_id, gate.step_id, pending_only=False)
                assert gate is not None
                approvals = sum(
                    1 for d in gate.decisions if d.decision == GateStatus.APPROVED and may_approve(d.analyst)
                )
                if any(d.decision == GateStatus.DENIED for d in gate.decisions):
                    status = GateStatus.DENIED
                elif approvals >= gate.required:
                    status = GateStatus.APPROVED
                else:
                    return gate
            self._settle(db, run_id, gate.step_id, status, owner, now)
            settled = self._gate(db, run_id, gate.step_id, pending_only=False)
            assert settled is not None
            return settled

    def expire_gate(self, run_id: str, owner: str) -> bool:
        """Close the waiting gate of a run whose approval has expired and claim the run for ``owner``."""
        now = utcnow()
        with self.transaction() as db:
            run = db.execute("SELECT status FROM runs WHERE id=?", (run_id,)).fetchone()
            gate = self._gate(db, run_id, None, pending_only=True)
            if run is None or run[0] != RunStatus.WAITING_APPROVAL or gate is None or now < gate.expires:
                return False
            self._settle(db, run_id, gate.step_id, GateStatus.EXPIRED, owner, now)
            return True

    def _settle(
        self, db: sqlite3.Connection, run_id: str, step_id: str, status: GateStatus, owner: str, now: datetime
    ) -> None:
        db.execute(
            "UPDATE approvals SET status=? WHERE run_id=? AND step_id=? AND status='pending'", (status, run_id, step_id)
        )
        self._audit(db, run_id, "approval." + status, {"step": step_id})
        db.execute("UPDATE runs SET status=?, updated=? WHERE id=?", (RunStatus.RUNNING, now.isoformat(), run_id))
        self._take_lease(db, run_id, owner, now)
        self._audit(db, run_id, "run.resumed", {"trigger": "approval"})

    def close_approval(self, run_id: str, step_id: str, status: GateStatus) -> None:
        """Close a gate that is still pending (a replay finding it expired)."""
        with self.transaction() as db:
            if db.execute(
                "UPDATE approvals SET status=? WHERE run_id=? AND step_id=? AND status='pending'",
                (status, run_id, step_id),
            ).rowcount:
                self._audit(db, run_id, "approval." + status, {"step": step_id})

    # effects ------------------------------------------------------------
    def effect(self, key: str) -> EffectRow | None:
        row = self.db.execute("SELECT * FROM effects WHERE key=?", (key,)).fetchone()
        if row is None:
            return None
        return EffectRow(**{**dict(row), "verified": bool(row["verified"]), "evidence": _loads(row["evidence"])})

    def claim_effect(self, key: str, *, action: str, target: str, run_id: str) -> str:
        """Record ``key`` as done by ``run_id`` unless a run that has not failed or expired holds it; returns the run
        that holds it (of two concurrent claims exactly one wins; the findings of a run that failed, or whose
        approval expired with nobody deciding, pass to the next; a denial is a decision and keeps them)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO effects (key, action, target, state, run_id, verified, evidence, updated)"
                " VALUES (?,?,?,'done',?,1,NULL,?) ON CONFLICT(key) DO UPDATE SET run_id=excluded.run_id,"
                f" updated=excluded.updated WHERE (SELECT status FROM runs WHERE id=effects.run_id) IN {_CLAIM_PASSES}",
                (key, action, target, run_id, utcnow().isoformat()),
            )
            return str(db.execute("SELECT run_id FROM effects WHERE key=?", (key,)).fetchone()[0])

    def claim_passes(self, key: str, run_id: str) -> bool:
        """``run_id`` could claim ``key`` now (read only: a dry run's view of ``claim_effect``)."""
        row = self.db.execute(
            f"SELECT e.run_id, r.status IN {_CLAIM_PASSES} FROM effects e LEFT JOIN runs r ON r.id=e.run_id"
            " WHERE e.key=?",
            (key,),
        ).fetchone()
        return row is None or row[0] == run_id or bool(row[1])

    def claims_passed_on(self, action: str, prefix: str) -> list[str]:
        """Targets of ``action`` claims under keys starting with ``prefix`` whose run failed or expired: findings
        nobody decided, for the next run to take up."""
        rows = self.db.execute(
            f"SELECT e.target FROM effects e JOIN runs r ON r.id=e.run_id WHERE e.action=? AND substr(e.key, 1, ?)=?"
            f" AND r.status IN {_CLAIM_PASSES} ORDER BY e.key",
            (action, len(prefix), prefix),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def effects_done_since(self, action: str, since: datetime) -> int:
        """How many verified effects of ``action`` were completed at or after ``since`` (a daily budget)."""
        row = self.db.execute(
            "SELECT count(*) FROM effects WHERE action=? AND state='done' AND verified=1 AND updated>=?",
            (action, since.astimezone(timezone.utc).isoformat()),
        ).fetchone()
        return int(row[0])

    def effect_intent(self, key: str, *, action: str, target: str, run_id: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO effects (key, action, target, state, run_id, updated) VALUES (?,?,?,?,?,?)"
                " ON CONFLICT(key) DO UPDATE SET state='intent', run_id=excluded.run_id, updated=excluded.updated"
                " WHERE effects.state IN ('intent', 'unverified', 'released')",
                (key, action, target, "intent", run_id, utcnow().isoformat()),
            )
            self._audit(db, run_id, "effect.intent", {"key": key, "action": action, "target": target})

    def effect_done(
        self, key: str, *, action: str, target: str, run_id: str, verified: bool, evidence: dict[str, Any]
    ) -> None:
        """Record the change as made; written but not read back is state "unverified", which the next
        attempt checks and writes again."""
        now = utcnow().isoformat()
        state = "done" if verified else "unverified"
        with self.transaction() as db:
            db.execute(
                "INSERT INTO effects (key, action, target, state, run_id, verified, evidence, updated)"
                " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET state=excluded.state,"
                " verified=excluded.verified, evidence=excluded.evidence, updated=excluded.updated",
                (key, action, target, state, run_id, int(verified), _dumps(evidence), now),
            )
            self._audit(db, run_id, "effect.done", {"key": key, "verified": verified})

    def effect_released(self, key: str, *, run_id: str, by_run: str) -> bool:
        """Record that the change behind ``key``, made by ``run_id``, was undone by run ``by_run``: it no longer
        counts as done (containment.prior, the containment sweep); a later run may make it again. False when
        the ledger does not hold it done by ``run_id`` (already released, or another run's)."""
        with self.transaction() as db:
            changed = db.execute(
                "UPDATE effects SET state='released', updated=? WHERE key=? AND run_id=? AND state='done'",
                (utcnow().isoformat(), key, run_id),
            ).rowcount
            if changed:
                self._audit(db, by_run, "effect.released", {"key": key, "run": run_id})
            return bool(changed)

    def record_run_effect(
        self,
        run_id: str,
        key: str,
        *,
        step_id: str,
        action: str,
        target: str,
        changed: bool,
        verified: bool,
        planned: bool,
        evidence: dict[str, Any],
    ) -> None:
        """What one run did (or planned) about an effect; a later run may find it already done.

        A run that resumes after a crash keeps ``changed`` from its first attempt.
        """
        with self.transaction() as db:
            db.execute(
                "INSERT INTO run_effects VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(run_id, key) DO UPDATE SET"
                " changed=MAX(changed, excluded.changed), verified=excluded.verified, planned=excluded.planned,"
                " evidence=excluded.evidence",
                (run_id, key, step_id, action, target, int(changed), int(verified), int(planned), _dumps(evidence)),
            )

    def run_effects(self, run_id: str) -> list[RunEffectRow]:
        rows = self.db.execute("SELECT * FROM run_effects WHERE run_id=? ORDER BY rowid", (run_id,)).fetchall()
        return [
            RunEffectRow(
                **{
                    **dict(r),
                    "changed": bool(r["changed"]),
                    "verified": bool(r["verified"]),
                    "planned": bool(r["planned"]),
                    "evidence": _loads(r["evidence"]),
                }
            )
            for r in rows
        ]

    def runs_with_effect_target(self, target: str, actions: tuple[str, ...]) -> list[str]:
        """Ids of the runs that recorded an effect of one of ``actions`` on ``target``, newest first."""
        marks = ",".join("?" * len(actions))
        rows = self.db.execute(
            "SELECT e.run_id FROM run_effects e JOIN runs r ON r.id=e.run_id"
            f" WHERE e.target=? AND e.action IN ({marks}) GROUP BY e.run_id ORDER BY MAX(r.created) DESC",
            (target, *actions),
        ).fetchall()
        return [r[0] for r in rows]

    # audit --------------------------------------------------------------
    def audit(self, run_id: str | None, event: str, data: dict[str, Any]) -> None:
        with self.transaction() as db:
            self._audit(db, run_id, event, data)

    def _audit(self, db: sqlite3.Connection, run_id: str | None, event: str, data: dict[str, Any]) -> None:
        """Append a record inside the caller's write transaction; the head is anchored after its commit."""
        if not self.audited:
            return
        row = db.execute("SELECT * FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        prev_seq, prev = (row["seq"], row["hash"]) if row else (0, GENESIS)
        key = self._audit_key.material(create=True)
        if row is not None and not self._record_verifies(key, row):
            # Appending under another key would break the chain for every key: refuse, write nothing.
            raise AuditError(
                f"the run store {self.path}: its last audit record ({prev_seq}) does not verify with this "
                f"config's audit key ({self._audit_key.source}), so nothing is written: the state dir is used "
                "with another audit key (two configs sharing state_dir?) or the record was changed; "
                "run `certsoar runs audit`"
            )
        if prev_seq == 0 and self._audit_anchor is not None and not self._audit_anchor.exists():
            write_anchor(self._audit_anchor, key, 0, GENESIS)
        seq, time, body = prev_seq + 1, utcnow().isoformat(), _dumps(data)
        mac = record_mac(key, prev=prev, seq=seq, time=time, run_id=run_id, event=event, data=body)
        db.execute(
            "INSERT INTO audit (seq, time, run_id, event, data, prev_hash, hash) VALUES (?,?,?,?,?,?,?)",
            (seq, time, run_id, event, body, prev, mac),
        )
        self._remember_verified((seq, time, run_id, event, body, prev, mac))
        self._anchor_due = True

    def _record_verifies(self, key: bytes, rec: sqlite3.Row) -> bool:
        """``record_verifies``, computed once per record while it reads the same: a record this store wrote or
        checked before is known by its whole row (one changed since is computed again, and fails)."""
        row = tuple(rec[name] for name in _AUDIT_COLUMNS)
        if self._verified_records.get(row[0]) == row:
            return True
        if not record_verifies(key, rec):
            return False
        self._remember_verified(row)
        return True

    def _remember_verified(self, row: tuple[Any, ...]) -> None:
        if len(self._verified_records) >= _VERIFIED_KEPT:
            del self._verified_records[next(iter(self._verified_records))]
        self._verified_records[row[0]] = row

    def _anchor_audit_head(self) -> None:
        """Move the head anchor forward to the committed head, under the write lock so it never goes
        back. An anchor the chain contradicts (records cut off or rewritten) is left for ``runs audit``
        to report; only the first record creates an anchor, so a deleted one stays missing."""
        if not self._anchor_due or self._audit_anchor is None:
            return
        self._anchor_due = False
        key = self._audit_key.material(create=True)
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # locked past the busy timeout: the records are committed, anchor next time
            self._anchor_due = True
            return
        try:
            head = self.db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            try:
                anchor = read_anchor(self._audit_anchor, key)
            except AuditError:
                return
            if head is None or anchor is None or anchor.seq >= head["seq"]:
                return
            if self._audit_mac_at(anchor.seq) == anchor.mac:
                self._sync_committed()
                write_anchor(self._audit_anchor, key, head["seq"], head["hash"])
        finally:
            self.db.execute("COMMIT")

    def _sync_committed(self) -> None:
        """Put every committed transaction on disk before the anchor names its records.

        ``synchronous=NORMAL`` syncs the WAL only at checkpoints (which sync the database file too), so a
        commit since can be lost in a power cut while a file written after it survives: an anchor ahead of
        the database would report records as cut off that were only lost. Under the write lock (the
        caller's) the WAL is not restarted, so syncing it holds every committed frame on disk."""
        wal = self.path + "-wal"
        try:
            fd = os.open(wal, os.O_RDONLY)
        except FileNotFoundError:  # no WAL: no commit waits in one
            return
        except OSError as exc:
            raise AuditError(f"cannot sync {wal} before anchoring the audit head: {exc.strerror}") from None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _audit_mac_at(self, seq: int) -> str | None:
        if seq == 0:
            return GENESIS
        row = self.db.execute("SELECT hash FROM audit WHERE seq=?", (seq,)).fetchone()
        return None if row is None else str(row["hash"])

    def audit_records(self, run_id: str | None = None) -> list[dict[str, Any]]:
        if run_id is None:
            rows = self.db.execute("SELECT * FROM audit ORDER BY seq").fetchall()
        else:
            rows = self.db.execute("SELECT * FROM audit WHERE run_id=? ORDER BY seq", (run_id,)).fetchall()
        return [dict(r) for r in rows]

    @property
    def audit_key_source(self) -> str:
        return self._audit_key.source

    @property
    def audit_anchor(self) -> Path | None:
        return self._audit_anchor

    def check_audit(self) -> ChainStatus:
        """Verify the whole chain against the key and the anchor; AuditError at the first break, and when
        the database itself is damaged (a chain read from a broken file proves nothing)."""
        try:
            problems = [r[0] for r in self.db.execute("PRAGMA integrity_check(5)").fetchall()]
            if problems != ["ok"]:
                raise AuditError(
                    f"the run store {self.path} is damaged ({'; '.join(problems)}): its audit log "
                    "cannot be verified; restore it from a backup"
                )
            anchored = self._audit_anchor is not None and self._audit_anchor.exists()
            if not anchored and self.db.execute("SELECT 1 FROM audit LIMIT 1").fetchone() is None:
                return ChainStatus(records=0, anchored_seq=0)
            key = self._audit_key.material(create=False)
            # The anchor first: it is written after its records commit, so the records read next hold
            # all it anchors even while other processes append.
            anchor = read_anchor(self._audit_anchor, key) if self._audit_anchor is not None else None
            return verify_chain(self.db.execute("SELECT * FROM audit ORDER BY seq"), key, anchor, self._audit_anchor)
        except sqlite3.DatabaseError as exc:
            raise AuditError(
                f"the run store {self.path} is damaged ({exc}): its audit log cannot be verified; "
                "restore it from a backup"
            ) from None

    def verify_audit(self) -> int:
        """Check the whole chain; return the number of records or raise AuditError at the first break."""
        return self.check_audit().records

    def _audited(self, run_id: str, events: str, what: str) -> Iterator[sqlite3.Row]:
        """The run's audit records whose event matches the LIKE pattern ``events``, each MAC checked
        (AuditError naming ``what`` at the first that does not verify)."""
        rows = self.db.execute("SELECT * FROM audit WHERE run_id=? AND event LIKE ? ORDER BY seq", (run_id, events))
        for rec in rows:
            if not self._record_verifies(self._audit_key.material(create=not self.read_only), rec):
                raise AuditError(
                    f"run {run_id}: audit record {rec['seq']} of its {what} does not verify with the "
                    "audit key; run `certsoar runs audit`"
                )
            yield rec

    def check_run(self, run: RunRow, effects: list[RunEffectRow]) -> None:
        """Raise AuditError unless the run's status and error, and what its effects claim (changed,
        verified), are what its audit records show: the runs and run_effects tables carry no MAC."""
        if run.dry_run:
            return  # journaled in memory, never audited
        status: tuple[str, str | None] | None = None
        intents: set[str] = set()
        verified: set[str] = set()
        for rec in self._audited(run.id, "%", "status and effects"):
            data, event = _loads(rec["data"]), rec["event"]
            if event == "run.created":  # created running (the CLI) or queued (the service)
                status = (data.get("status", RunStatus.RUNNING), None)
            elif event == "run.resumed":
                status = (RunStatus.RUNNING, None)
            elif event == "run.status":
                status = (data.get("status"), data.get("error"))
            elif event == "run.superseded" and status is not None:  # the note added to its error
                status = (status[0], (status[1] or "") + data.get("note", ""))
            elif event == "effect.intent":
                intents.add(data.get("key"))
            elif event == "effect.done":
                (verified.add if data.get("verified") is True else verified.discard)(data.get("key"))
        if status is not None and (str(run.status), run.error) != status:
            raise AuditError(
                f"run {run.id} is recorded {run.status}, but the audit log says {status[0]}"
                + (f" ({status[1]})" if status[1] else "")
                + ": the run store was changed outside certsoar"
            )
        for e in effects:
            if (e.verified and e.key not in verified) or (e.changed and e.key not in intents):
                claim = " and ".join(w for w, on in (("changed", e.changed), ("verified", e.verified)) if on)
                raise AuditError(
                    f"run {run.id}: effect {e.key} is recorded {claim}, but the audit log shows no such change "
                    "by this run: the run store was changed outside certsoar"
                )

    def check_approval(self, run_id: str, gate: GateRow) -> None:
        """Raise AuditError unless the gate's status and decisions are the ones its audit records show:
        the approvals and decisions tables carry no MAC, the audit log does."""
        step, decided, closed = gate.step_id, [], "pending"
        for rec in self._audited(run_id, "approval.%", "approvals"):
            data = _loads(rec["data"])
            if data.get("step") != step or rec["event"] == "approval.requested":
                continue
            outcome = rec["event"].removeprefix("approval.")
            if "analyst" in data:
                decided.append((data["analyst"], outcome, data.get("comment")))
            else:
                closed = outcome
        recorded = [(d.analyst, d.decision, d.comment) for d in gate.decisions]
        if Counter(recorded) != Counter(decided) or gate.status != closed:
            raise AuditError(
                f"run {run_id}: gate {step} is recorded {gate.status} with {_decisions_text(recorded)}, but the "
                f"audit log says {closed} with {_decisions_text(decided)}: the run store was changed outside certsoar"
            )


def _decisions_text(decisions: list[tuple[str, str, str | None]]) -> str:
    return ", ".join(f"{analyst} {decision}" for analyst, decision, _ in decisions) or "no decision"
