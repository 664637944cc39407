"""The run store: SQLite (stdlib, WAL) in the state dir.

Tables: runs, steps (the journal), approvals and decisions, effects (the ledger) with the
per-run view run_effects, and audit, a keyed chain whose head is anchored beside the database
(certsoar.audit) so that a rewritten, removed or cut-off record shows.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from certsoar.audit import GENESIS, KEY_FILE, AuditKey, ChainStatus, anchor_path, read_anchor, record_verifies
from certsoar.audit import record_mac, verify_chain, write_anchor
from certsoar.errors import AuditError, RunError

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

def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class RunStore:
    def __init__(self, path: Path | str, *, read_only: bool = False, audit_key: AuditKey | None = None) -> None:
        """``audit_key`` defaults to a key generated once into ``audit.key`` beside the database."""
        self.path = str(path)
        self.read_only = read_only
        in_memory = self.path == ":memory:"
        self._audit_key = audit_key or (AuditKey.ephemeral() if in_memory else
                                        AuditKey.generated(Path(path).parent / KEY_FILE))
        self._audit_anchor = None if in_memory else anchor_path(self.path)
        self._anchor_due = False
        if read_only:
            uri = f"file:{Path(path).resolve()}?mode=ro" if Path(path).exists() else "file::memory:"
            self.db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            if not Path(path).exists():
                self.db.executescript(SCHEMA)
        else:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
        self.db.execute("PRAGMA busy_timeout=10000")
        self.db.row_factory = sqlite3.Row

    @classmethod
    def in_state_dir(cls, state_dir: Path, *, read_only: bool = False, audit_key: AuditKey | None = None) -> "RunStore":
        return cls(Path(state_dir) / "runs.sqlite3", read_only=read_only, audit_key=audit_key)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        self._anchor_audit_head()

    # runs ---------------------------------------------------------------
    def create_run(self, *, playbook: str, alert_id: str | None, trigger: str, alert: Any,
                   requester: str | None = None, dry_run: bool = False, definition: str | None = None) -> tuple[str, bool]:
        """Create a run, or return the existing run for the same alert id. Returns (id, created)."""
        now = utcnow().isoformat()
        with self.transaction() as db:
            if alert_id is not None:
                row = db.execute("SELECT id FROM runs WHERE playbook=? AND alert_id=?", (playbook, alert_id)).fetchone()
                if row:
                    return row["id"], False
            run_id = uuid.uuid4().hex[:16]
            db.execute(
                "INSERT INTO runs (id, playbook, alert_id, trigger, status, dry_run, created, updated, requester, alert,"
                " definition) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, playbook, alert_id, trigger, "running", int(dry_run), now, now, requester, _dumps(alert),
                 definition),
            )
            self._audit(db, run_id, "run.created", {"playbook": playbook, "trigger": trigger, "alert_id": alert_id})
        return run_id, True

    def get_run(self, run_id: str) -> dict[str, Any]:
        row = self.db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            raise RunError(f"no run {run_id!r}")
        run = dict(row)
        run["alert"] = _loads(run["alert"])
        run["dry_run"] = bool(run["dry_run"])
        return run

    def list_runs(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT id, playbook, alert_id, trigger, status, created, updated FROM runs ORDER BY created DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [dict(r) for r in rows]

    def update_run(self, run_id: str, **fields: Any) -> None:
        fields["updated"] = utcnow().isoformat()
        cols = ", ".join(f"{k}=?" for k in fields)
        with self.transaction() as db:
            db.execute(f"UPDATE runs SET {cols} WHERE id=?", (*fields.values(), run_id))
            if "status" in fields:
                self._audit(db, run_id, "run.status", {"status": fields["status"], "error": fields.get("error")})

    # journal ------------------------------------------------------------
    def record_step(self, run_id: str, step_id: str, *, action: str | None, status: str, output: Any = None,
                    error: str | None = None, attempts: int = 1, started: datetime | None = None) -> None:
        now = utcnow().isoformat()
        with self.transaction() as db:
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM steps WHERE run_id=?", (run_id,)).fetchone()[0]
            db.execute(
                "INSERT INTO steps (run_id, step_id, action, seq, status, started, finished, attempts, output, error)"
                " VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(run_id, step_id) DO UPDATE SET status=excluded.status,"
                " finished=excluded.finished, attempts=excluded.attempts, output=excluded.output, error=excluded.error",
                (run_id, step_id, action, seq, status, (started or utcnow()).isoformat(), now, attempts, _dumps(output), error),
            )
            self._audit(db, run_id, "step." + status, {"step": step_id, "error": error})

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM steps WHERE run_id=? ORDER BY seq", (run_id,)).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["output"] = _loads(d["output"])
            out.append(d)
        return out

    # approvals ----------------------------------------------------------
    def open_approval(self, run_id: str, step_id: str, *, roles: list[str], required: int,
                      distinct_from_requester: bool, requester: str | None, expires: datetime) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO approvals VALUES (?,?,?,?,?,?,?,?)",
                (run_id, step_id, _dumps(roles), required, int(distinct_from_requester), requester,
                 expires.isoformat(), "pending"),
            )
            self._audit(db, run_id, "approval.requested", {"step": step_id, "roles": roles, "required": required,
                                                           "expires": expires.isoformat()})

    def approval(self, run_id: str, step_id: str | None = None, *, pending_only: bool = True) -> dict[str, Any] | None:
        """The gate of ``step_id``, else the run's pending gate (or, with pending_only=False, its latest)."""
        if step_id:
            row = self.db.execute("SELECT * FROM approvals WHERE run_id=? AND step_id=?", (run_id, step_id)).fetchone()
        else:
            pending = " AND status='pending'" if pending_only else ""
            row = self.db.execute(f"SELECT * FROM approvals WHERE run_id=?{pending} ORDER BY rowid DESC LIMIT 1",
                                  (run_id,)).fetchone()
        if row is None:
            return None
        d = dict(row)
        d["roles"] = _loads(d["roles"])
        d["decisions"] = [dict(x) for x in self.db.execute(
            "SELECT analyst, decision, comment, time FROM decisions WHERE run_id=? AND step_id=? ORDER BY time",
            (run_id, d["step_id"])).fetchall()]
        return d

    def expired_gates(self, now: datetime) -> list[str]:
        """Runs waiting at a gate whose expiry has passed."""
        rows = self.db.execute(
            "SELECT a.run_id, a.expires FROM approvals a JOIN runs r ON r.id = a.run_id"
            " WHERE a.status='pending' AND r.status='waiting_approval'").fetchall()
        return [r["run_id"] for r in rows if datetime.fromisoformat(r["expires"]) <= now]

    def add_decision(self, run_id: str, step_id: str, *, analyst: str, decision: str, comment: str | None) -> bool:
        """Record a decision; False when this analyst already decided (a second click changes nothing)."""
        with self.transaction() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO decisions VALUES (?,?,?,?,?,?)",
                (run_id, step_id, analyst, decision, comment, utcnow().isoformat()),
            )
            if cur.rowcount:
                self._audit(db, run_id, "approval." + decision, {"step": step_id, "analyst": analyst, "comment": comment})
            return bool(cur.rowcount)

    def close_approval(self, run_id: str, step_id: str, status: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE approvals SET status=? WHERE run_id=? AND step_id=?", (status, run_id, step_id))
            self._audit(db, run_id, "approval." + status, {"step": step_id})

    # effects ------------------------------------------------------------
    def effect(self, key: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM effects WHERE key=?", (key,)).fetchone()
        if row is None:
            return None
        d = dict(row)
        d["evidence"] = _loads(d["evidence"])
        return d

    def effect_intent(self, key: str, *, action: str, target: str, run_id: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO effects (key, action, target, state, run_id, updated) VALUES (?,?,?,?,?,?)"
                " ON CONFLICT(key) DO UPDATE SET run_id=excluded.run_id, updated=excluded.updated"
                " WHERE effects.state='intent'",
                (key, action, target, "intent", run_id, utcnow().isoformat()),
            )
            self._audit(db, run_id, "effect.intent", {"key": key, "action": action, "target": target})

    def effect_done(self, key: str, *, action: str, target: str, run_id: str, verified: bool,
                    evidence: dict[str, Any]) -> None:
        now = utcnow().isoformat()
        with self.transaction() as db:
            db.execute(
                "INSERT INTO effects (key, action, target, state, run_id, verified, evidence, updated)"
                " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET state='done', verified=excluded.verified,"
                " evidence=excluded.evidence, updated=excluded.updated",
                (key, action, target, "done", run_id, int(verified), _dumps(evidence), now),
            )
            self._audit(db, run_id, "effect.done", {"key": key, "verified": verified})

    def record_run_effect(self, run_id: str, key: str, *, step_id: str, action: str, target: str, changed: bool,
                          verified: bool, planned: bool, evidence: dict[str, Any]) -> None:
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

    def run_effects(self, run_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM run_effects WHERE run_id=? ORDER BY rowid", (run_id,)).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["changed"], d["verified"], d["planned"] = bool(d["changed"]), bool(d["verified"]), bool(d["planned"])
            d["evidence"] = _loads(d["evidence"])
            out.append(d)
        return out

    # audit --------------------------------------------------------------
    def audit(self, run_id: str | None, event: str, data: dict[str, Any]) -> None:
        with self.transaction() as db:
            self._audit(db, run_id, event, data)

    def _audit(self, db: sqlite3.Connection, run_id: str | None, event: str, data: dict[str, Any]) -> None:
        """Append a record inside the caller's write transaction; the head is anchored after its commit."""
        row = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        prev_seq, prev = (row[0], row[1]) if row else (0, GENESIS)
        key = self._audit_key.material(create=True)
        if prev_seq == 0 and self._audit_anchor is not None and not self._audit_anchor.exists():
            write_anchor(self._audit_anchor, key, 0, GENESIS)
        seq, time, body = prev_seq + 1, utcnow().isoformat(), _dumps(data)
        mac = record_mac(key, prev=prev, seq=seq, time=time, run_id=run_id, event=event, data=body)
        db.execute("INSERT INTO audit (seq, time, run_id, event, data, prev_hash, hash) VALUES (?,?,?,?,?,?,?)",
                   (seq, time, run_id, event, body, prev, mac))
        self._anchor_due = True

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
                write_anchor(self._audit_anchor, key, head["seq"], head["hash"])
        finally:
            self.db.execute("COMMIT")

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
                raise AuditError(f"the run store {self.path} is damaged ({'; '.join(problems)}): its audit log "
                                 "cannot be verified; restore it from a backup")
            anchored = self._audit_anchor is not None and self._audit_anchor.exists()
            if not anchored and self.db.execute("SELECT 1 FROM audit LIMIT 1").fetchone() is None:
                return ChainStatus(records=0, anchored_seq=0)
            key = self._audit_key.material(create=False)
            # The anchor first: it is written after its records commit, so the records read next hold
            # all it anchors even while other processes append.
            anchor = read_anchor(self._audit_anchor, key) if self._audit_anchor is not None else None
            return verify_chain(self.db.execute("SELECT * FROM audit ORDER BY seq"), key, anchor, self._audit_anchor)
        except sqlite3.DatabaseError as exc:
            raise AuditError(f"the run store {self.path} is damaged ({exc}): its audit log cannot be verified; "
                             "restore it from a backup") from None

    def verify_audit(self) -> int:
        """Check the whole chain; return the number of records or raise AuditError at the first break."""
        return self.check_audit().records

    def check_approval(self, run_id: str, gate: dict[str, Any]) -> None:
        """Raise AuditError unless the gate's status and decisions are the ones its audit records show:
        the approvals and decisions tables carry no MAC, the audit log does."""
        step, decided, closed = gate["step_id"], [], "pending"
        rows = self.db.execute("SELECT * FROM audit WHERE run_id=? AND event LIKE 'approval.%' ORDER BY seq", (run_id,))
        for rec in rows:
            if not record_verifies(self._audit_key.material(create=not self.read_only), rec):
                raise AuditError(f"run {run_id}: audit record {rec['seq']} of its approvals does not verify with the "
                                 "audit key; run `certsoar runs audit`")
            data = _loads(rec["data"])
            if data.get("step") != step or rec["event"] == "approval.requested":
                continue
            outcome = rec["event"].removeprefix("approval.")
            if "analyst" in data:
                decided.append((data["analyst"], outcome, data.get("comment")))
            else:
                closed = outcome
        recorded = [(d["analyst"], d["decision"], d["comment"]) for d in gate["decisions"]]
        if Counter(recorded) != Counter(decided) or gate["status"] != closed:
            raise AuditError(
                f"run {run_id}: gate {step} is recorded {gate['status']} with {_decisions_text(recorded)}, but the "
                f"audit log says {closed} with {_decisions_text(decided)}: the run store was changed outside certsoar")


def _decisions_text(decisions: list[tuple[str, str, str | None]]) -> str:
    return ", ".join(f"{analyst} {decision}" for analyst, decision, _ in decisions) or "no decision"
