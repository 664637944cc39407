"""Several certsoar processes at the same instant, against the real CLI and the lab (OpenSSL CA):
one executor per run, one decision per gate, and a run store that fails clearly when it is broken."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from clidriver import Cli
from realcomponents import missing
from test_crash_resume import effects_in_targets

from certsoar.lab import lab_paths
from certsoar.store import RunStatus, RunStore

RELEASED = """
import os, sys, time
import certsoar.api, certsoar.cli, certsoar.intake, certsoar.runner  # imported before the start line
ready, go = sys.argv[1], sys.argv[2]
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.0005)
sys.argv = ["certsoar", *sys.argv[3:]]
certsoar.cli.main()
"""


def at_once(cli: Cli, *commands: list[str], where: Path) -> list[subprocess.CompletedProcess[str]]:
    """Start one process per command, let each import certsoar, then release them all at the same instant."""
    go = where / "go"
    go.unlink(missing_ok=True)
    procs = []
    for i, args in enumerate(commands):
        ready = where / f"ready.{i}"
        ready.unlink(missing_ok=True)
        procs.append(
            (
                ready,
                args,
                subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        RELEASED,
                        str(ready),
                        str(go),
                        *args,
                        "--config",
                        str(cli.lab.config),
                        "--json",
                    ],
                    env=cli.env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
        )
    deadline = time.monotonic() + 60
    while not all(ready.exists() for ready, _, _ in procs):
        assert time.monotonic() < deadline, "the processes never got ready"
        time.sleep(0.01)
    go.touch()
    done = []
    for _, args, proc in procs:
        out, err = proc.communicate(timeout=180)
        done.append(subprocess.CompletedProcess(args, proc.returncode, out, err))
    return done


def fresh_cli(pristine: Path, where: Path) -> Cli:
    state = where / "state"
    shutil.copytree(pristine, state)
    lab = lab_paths(state / "lab")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTSOAR_")}
    return Cli(lab=lab, env=env)


def cmd(cli: Cli, *args: str, expect: int = 0) -> dict:
    return cli.json(*args, "--config", str(cli.lab.config), expect=expect)


def audit_events(cli: Cli, run_id: str) -> list[str]:
    return [r["event"] for r in cmd(cli, "runs", "audit", run_id)["records"]]


def sent(cli: Cli) -> list[str]:
    """The messages in the outbox by step (their names start with the run id)."""
    return sorted(p.name.split("_", 1)[1] for p in (cli.lab.root / "outbox").iterdir())


def test_approve_and_four_resumes_execute_the_run_once(pristine_lab: Path, tmp_path: Path) -> None:
    reference = fresh_cli(pristine_lab, tmp_path / "reference")
    ref_run = cmd(reference, "run", "certificate-alert", "--alert", str(reference.lab.alerts["internal"]))
    cmd(reference, "approve", ref_run["id"], "--as", "alice")
    ref_events = audit_events(reference, ref_run["id"])
    ref_outbox = sent(reference)

    for trial in range(3):
        cli = fresh_cli(pristine_lab, tmp_path / f"trial{trial}")
        run = cmd(cli, "run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]))
        assert run["status"] == "waiting_approval"
        done = at_once(
            cli, ["approve", run["id"], "--as", "alice"], *[["runs", "resume", run["id"]]] * 4, where=tmp_path
        )
        assert done[0].returncode == 0, done[0].stderr
        for resumed in done[1:]:  # nothing to do, or refused because the approver executes it
            assert resumed.returncode == 0 or (resumed.returncode == 2 and "is being executed by" in resumed.stderr), (
                resumed.stderr
            )
        assert cmd(cli, "runs", "show", run["id"])["status"] == "completed"
        assert effects_in_targets(cli) == {"revoked": 1, "firewall": 1, "proxy": 1, "tickets": 1, "comments": 1}
        events = audit_events(cli, run["id"])
        assert Counter(events) == Counter(ref_events), (
            trial,
            Counter(events) - Counter(ref_events),
            Counter(ref_events) - Counter(events),
        )
        assert events.count("run.resumed") == 1
        assert sent(cli) == ref_outbox and "outcome.md" in ref_outbox  # the outcome sent once


def test_two_concurrent_runs_of_one_alert_execute_it_once(pristine_lab: Path, tmp_path: Path) -> None:
    for trial in range(3):
        cli = fresh_cli(pristine_lab, tmp_path / f"trial{trial}")
        alert = str(cli.lab.alerts["internal"])
        done = at_once(
            cli,
            ["run", "certificate-alert", "--alert", alert],
            ["run", "certificate-alert", "--alert", alert],
            where=tmp_path,
        )
        assert [d.returncode for d in done] == [0, 0], [d.stderr for d in done]
        views = [json.loads(d.stdout) for d in done]
        assert views[0]["id"] == views[1]["id"]
        for view in views:  # the loser sees the run as it stands, and who executes it
            assert view["status"] == "waiting_approval" or (
                view["status"] == "running" and view["executor"]["owner"]
            ), view
        records = cmd(cli, "runs", "audit", views[0]["id"])["records"]
        journaled = [r["data"]["step"] for r in records if r["event"].startswith("step.")]
        assert len(journaled) == len(set(journaled)), journaled  # no step executed twice
        events = [r["event"] for r in records]
        assert events.count("run.created") == 1 and events.count("approval.requested") == 1
        outbox = list((cli.lab.root / "outbox").iterdir())
        assert len(outbox) == 2, sorted(p.name for p in outbox)  # one L1 summary, one approval request


def contained(cli: Cli) -> dict[str, int]:
    """What the targets hold; a ruleset or list never written holds nothing."""

    def text(path: Path) -> str:
        return path.read_text() if path.exists() else ""

    squid = text(cli.lab.root / "proxy" / "rogue-certs.txt")
    return {
        "revoked": sum(line.startswith("R\t") for line in text(cli.lab.ca_dir / "index.txt").splitlines()),
        "firewall": text(cli.lab.root / "firewall" / "certsoar.nft").count("198.51.100.23 comment"),
        "proxy": sum(1 for line in squid.splitlines() if line and not line.startswith("#")),
    }


def test_approve_and_deny_at_the_same_instant_one_decision_wins(pristine_lab: Path, tmp_path: Path) -> None:
    seen = set()
    for trial in range(8):
        cli = fresh_cli(pristine_lab, tmp_path / f"trial{trial}")
        run = cmd(cli, "run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]))
        approve, deny = at_once(
            cli, ["approve", run["id"], "--as", "alice"], ["deny", run["id"], "--as", "bob"], where=tmp_path
        )
        assert sorted([approve.returncode, deny.returncode]) == [0, 1], (approve.stderr, deny.stderr)
        final = cmd(cli, "runs", "show", run["id"])
        decisions = final["approval"]["decisions"]
        assert len(decisions) == 1, decisions
        targets = contained(cli)
        if approve.returncode == 0:
            assert "not waiting for approval: gate approval is approved (approved by alice)" in deny.stderr
            assert (final["status"], final["approval"]["status"], decisions[0]["analyst"]) == (
                "completed",
                "approved",
                "alice",
            )
            assert targets == {"revoked": 1, "firewall": 1, "proxy": 1}
        else:
            assert "not waiting for approval: gate approval is denied (denied by bob)" in approve.stderr
            assert (final["status"], final["approval"]["status"], decisions[0]["analyst"]) == (
                "denied",
                "denied",
                "bob",
            )
            assert targets == {"revoked": 0, "firewall": 0, "proxy": 0}
        seen.add(final["status"])
    print("decided:", seen)


def test_a_run_held_by_a_live_executor_is_refused_to_resume(cli: Cli) -> None:
    run = cmd(cli, "run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]))
    until = (datetime.now(timezone.utc) + timedelta(minutes=5)).isoformat()
    with RunStore(cli.lab.root.parent / "runs.sqlite3") as store:  # another host's executor took the run
        store.update_run(run["id"], status=RunStatus.RUNNING)  # audited, as its executor would
        with store.transaction() as db:
            db.execute("INSERT INTO run_leases VALUES (?, 'soar-worker-2:4242:ab12', ?)", (run["id"], until))
    refused = cli.run("runs", "resume", run["id"], "--config", str(cli.lab.config))
    assert refused.returncode == 2
    assert f"run {run['id']} is being executed by soar-worker-2:4242:ab12" in refused.stderr
    again = cmd(cli, "run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]))
    assert (again["id"], again["status"], again["executor"]["owner"]) == (
        run["id"],
        "running",
        "soar-worker-2:4242:ab12",
    )


def test_a_corrupt_run_store_is_a_clear_error(cli: Cli) -> None:
    store = cli.lab.root.parent / "runs.sqlite3"
    store.write_bytes(b"this is not a database" * 100)
    for args in (
        ["runs", "list"],
        ["runs", "show", "x"],
        ["runs", "audit"],
        ["run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"])],
    ):
        done = cli.run(*args, "--config", str(cli.lab.config))
        assert done.returncode == 2, (args, done.stderr)
        assert "run store " in done.stderr and "runs.sqlite3: " in done.stderr and "Traceback" not in done.stderr, (
            done.stderr
        )


def test_a_broken_page_is_a_clear_error_not_an_intact_audit(cli: Cli) -> None:
    run = cmd(cli, "run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]))
    store = cli.lab.root.parent / "runs.sqlite3"
    db = sqlite3.connect(store)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    root = db.execute("SELECT rootpage FROM sqlite_master WHERE name='audit'").fetchone()[0]
    db.close()
    with store.open("r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(os.urandom(page_size))
    done = cli.run("runs", "audit", "--config", str(cli.lab.config))
    # the audit cannot be verified: an audit failure (exit 1), never "intact"
    assert done.returncode == 1 and "intact" not in done.stdout, (done.stdout, done.stderr)
    assert (
        "run store " in done.stderr and "runs.sqlite3 is damaged" in done.stderr and "Traceback" not in done.stderr
    ), done.stderr
    shown = cli.run("approve", run["id"], "--as", "alice", "--config", str(cli.lab.config))
    assert shown.returncode == 2 and "Traceback" not in shown.stderr, shown.stderr


def test_a_read_only_run_store_is_a_clear_error(cli: Cli) -> None:
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"], check=False).returncode != 0:
        raise missing(
            "unshare -m (a mount namespace) to mount the state dir read-only; as root even 0444 files are writable"
        )
    run = cmd(cli, "run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]))
    state = cli.lab.root.parent
    script = (
        f'mount --bind -o ro "{state}" "{state}" && exec "{sys.executable}" -m certsoar approve {run["id"]} '
        f'--as alice --config "{cli.lab.config}"'
    )
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script], env=cli.env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "run store " in done.stderr and "runs.sqlite3: " in done.stderr and "Traceback" not in done.stderr, (
        done.stderr
    )
    assert cmd(cli, "runs", "show", run["id"])["status"] == "waiting_approval"
