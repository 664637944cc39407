"""The revocation sweep on a real ``openssl ca`` with good and bad issuances, driven through `certsoar sweep`."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from realcomponents import require_tool
from sweeplab import ISSUANCES, POLICY, build_sweep_lab, ca_status, verify_with_crl, write_config

from certsoar.faults import CRASH_ENV, CRASH_EXIT_CODE
from certsoar.store import RunStore, executor_id

pytestmark = pytest.mark.real

BAD = [i.name for i in ISSUANCES if i.bad]
GOOD = [i.name for i in ISSUANCES if not i.bad]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    require_tool("openssl")
    root = tmp_path_factory.mktemp("sweeplab")
    return root, build_sweep_lab(root)


class Lab:
    def __init__(self, root: Path, serials: dict[str, str]) -> None:
        self.root = root
        self.serials = serials

    def configure(self, **kw: Any) -> None:
        write_config(self.root, **kw)

    def run(self, *args: str, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CERTSOAR_")}
        if crash_at:
            env[CRASH_ENV] = crash_at
        return subprocess.run(
            [sys.executable, "-m", "certsoar", *args, "--config", str(self.root / "config.yaml")],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def json(self, *args: str, expect: int = 0) -> dict[str, Any]:
        done = self.run(*args, "--json")
        assert done.returncode == expect, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return json.loads(done.stdout)

    def sweep(self, *args: str, expect: int = 0) -> dict[str, Any]:
        return self.json("sweep", "revocation", *args, expect=expect)

    def revoked(self) -> set[str]:
        """The names whose certificate `openssl ca -status` calls revoked; `openssl verify -crl_check` must agree."""
        found = set()
        for item in ISSUANCES:
            status = ca_status(self.root, self.serials[item.name])
            verified = verify_with_crl(self.root, item.name)
            if "Revoked" in status:
                assert verified.returncode != 0 and "revoked" in verified.stdout + verified.stderr, item.name
                found.add(item.name)
            else:
                assert "Valid" in status, (item.name, status)
                assert verified.returncode == 0, (item.name, verified.stdout + verified.stderr)
        return found

    def store(self) -> sqlite3.Connection:
        return sqlite3.connect(self.root / "state" / "runs.sqlite3")


@pytest.fixture
def lab(pristine: tuple[Path, dict[str, str]], tmp_path: Path) -> Lab:
    root, serials = pristine
    copy = tmp_path / "lab"
    shutil.copytree(root, copy)
    made = Lab(copy, serials)
    made.configure()
    return made


def test_sweep_revokes_exactly_the_bad_ones_and_a_second_changes_nothing(lab: Lab) -> None:
    first = lab.sweep()
    assert first["status"] == "completed"
    assert (first["examined"], first["violations"], first["revoked"], first["awaiting_approval"]) == (8, 6, 6, 0)
    assert lab.revoked() == set(BAD)
    index = (lab.root / "ca" / "index.txt").read_bytes()
    crl = (lab.root / "ca" / "crl.pem").read_bytes()

    again = lab.sweep()
    assert (again["examined"], again["violations"], again["revoked"]) == (0, 0, 0)
    assert again["watermarks"] == first["watermarks"]
    everything = lab.sweep("--full")
    assert (everything["examined"], everything["violations"], everything["revoked"], everything["skipped"]) == (
        8,
        0,
        0,
        6,
    )
    assert (lab.root / "ca" / "index.txt").read_bytes() == index
    assert (lab.root / "ca" / "crl.pem").read_bytes() == crl
    # the findings went out once, with every violator in them; the sweeps that found nothing sent nothing
    reports = [p.read_text() for p in (lab.root / "outbox").rglob("*") if p.is_file()]
    assert len(reports) == 1 and "Revocation sweep" in reports[0]
    assert all(f"`{lab.serials[b]}`" in reports[0] for b in BAD)


def test_each_violation_names_its_rule(lab: Lab) -> None:
    real = lab.sweep()
    shown = lab.json("runs", "show", real["run"])
    examine = next(s for s in shown["steps"] if s["id"] == "examine")
    rules = {v["serial"]: v["rules"] for v in examine["output"]["violations"]}
    assert rules == {
        lab.serials["bad-outside"]: ["outside_domains"],
        lab.serials["bad-subca"]: ["ca_true"],
        lab.serials["bad-wildcard"]: ["wildcard"],
        lab.serials["bad-5years"]: ["max_validity_days"],
        lab.serials["bad-1024"]: ["min_rsa_bits"],
        lab.serials["bad-esc1"]: ["upn_san_mismatch"],
    }


def test_over_budget_the_rest_waits_for_one_batch_approval(lab: Lab) -> None:
    lab.configure(sweep={"max_per_run": 2})
    result = lab.sweep()
    assert result["status"] == "waiting_approval"
    assert (result["revoked"], result["awaiting_approval"]) == (2, 4)
    assert any("over the budget" in n for n in result["notes"])
    assert len(lab.revoked()) == 2
    shown = lab.json("runs", "show", result["run"])
    assert shown["approval"]["step_id"] == "batch_approval"
    waiting = {v["serial"] for v in next(s for s in shown["steps"] if s["id"] == "revoke_auto")["output"]["pending"]}
    assert len(waiting) == 4
    request = next(s for s in shown["steps"] if s["id"] == "batch_approval.request")["output"]["body"]
    assert all(f"Serial `{serial}`" in request or serial in request for serial in waiting)
    # a sweep while the batch waits reports none of them again
    assert lab.sweep("--full")["violations"] == 0

    approved = lab.json("approve", result["run"], "--as", "alice")
    assert approved["status"] == "completed"
    assert lab.revoked() == set(BAD)


def test_rules_without_auto_revoke_wait_for_approval(lab: Lab) -> None:
    lab.configure(policy={**POLICY, "auto_revoke": []})
    result = lab.sweep()
    assert (result["status"], result["revoked"], result["awaiting_approval"]) == ("waiting_approval", 0, 6)
    assert lab.revoked() == set()
    denied = lab.json("deny", result["run"], "--as", "alice")
    assert denied["status"] == "denied"
    assert lab.revoked() == set()


def test_findings_whose_approval_expired_are_reported_again_and_denied_ones_are_not(lab: Lab) -> None:
    lab.configure(policy={**POLICY, "auto_revoke": []})
    first = lab.sweep()
    assert (first["status"], first["awaiting_approval"]) == ("waiting_approval", 6)
    with closing(lab.store()) as db, db:
        db.execute("UPDATE approvals SET expires='2000-01-01T00:00:00+00:00' WHERE run_id=?", (first["run"],))
    [ended] = lab.json("runs", "expire")
    assert ended["status"] == "expired"
    second = lab.sweep()  # nobody decided: the findings come back for a decision
    assert (second["violations"], second["awaiting_approval"]) == (6, 6)
    assert lab.json("deny", second["run"], "--as", "alice")["status"] == "denied"
    assert lab.sweep("--full")["violations"] == 0  # a denial is a decision: not asked again
    assert lab.revoked() == set()


def test_max_per_day_counts_every_sweep_of_the_day(lab: Lab) -> None:
    lab.configure(sweep={"max_per_run": 10, "max_per_day": 3})
    first = lab.sweep()
    assert (first["revoked"], first["awaiting_approval"]) == (3, 3)
    assert len(lab.revoked()) == 3


@pytest.mark.parametrize("point", ["intent", "write"])
def test_a_kill_mid_sweep_and_a_rerun_revoke_each_exactly_once(lab: Lab, point: str) -> None:
    second_bad = lab.serials[BAD[1]]
    crashed = lab.run("sweep", "revocation", "--json", crash_at=f"{point}:ca:openssl-ca:revoke:{second_bad}")
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    assert len(lab.revoked()) == (1 if point == "intent" else 2)

    rerun = lab.sweep()
    assert rerun["resumed"], "the cut-short sweep run is carried on first"
    assert lab.revoked() == set(BAD)
    with lab.store() as db:
        changed = db.execute(
            "SELECT key, count(*) FROM run_effects WHERE changed=1 AND key LIKE '%:revoke:%' GROUP BY key"
        ).fetchall()
        done = db.execute("SELECT key FROM effects WHERE state='done' AND verified=1 AND key LIKE '%:revoke:%'")
        ledger = sorted(k for (k,) in done)
    # one change recorded per certificate, across the crashed run and the rerun
    assert sorted(k for k, _ in changed) == ledger == sorted(f"ca:openssl-ca:revoke:{lab.serials[b]}" for b in BAD)
    assert all(n == 1 for _, n in changed), changed
    index = (lab.root / "ca" / "index.txt").read_text()
    assert index.count("\nR\t") + index.startswith("R\t") == len(BAD)


def test_dry_run_writes_nothing(lab: Lab) -> None:
    before = {p: p.read_bytes() for p in sorted(lab.root.rglob("*")) if p.is_file()}
    plan = lab.sweep("--dry-run")
    assert (plan["dry_run"], plan["violations"], plan["revoked"]) == (True, 6, 6)
    after = {p: p.read_bytes() for p in sorted(lab.root.rglob("*")) if p.is_file()}
    assert after == before
    assert lab.revoked() == set()


def test_two_sweeps_never_run_at_once(lab: Lab) -> None:
    with RunStore.in_state_dir(lab.root / "state") as store:
        store.take_lease("sweep:revocation", executor_id())  # this test process: alive
        busy = lab.run("sweep", "revocation", "--json")
        assert busy.returncode == 2
        assert "being executed by" in busy.stderr
        assert lab.revoked() == set()


def test_sweep_all_runs_every_shipped_sweep_by_name(lab: Lab) -> None:
    from certsoar.api import available_sweeps
    from certsoar.config import load_config

    done = lab.run("sweep", "all", "--dry-run", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    shown = json.loads(done.stdout)
    # the lab configures no SIEM: the certificate sweep has nothing to read and is skipped, saying so
    assert (
        sorted(shown)
        == sorted(available_sweeps(load_config(lab.root / "config.yaml")))
        == ["containment", "revocation"]
    )
    assert "skipped the certificates sweep" in done.stderr
    assert shown["revocation"]["violations"] == len(BAD)


def test_a_sweep_without_a_policy_fails_and_says_why(lab: Lab) -> None:
    lab.configure(policy=None)
    done = lab.run("sweep", "revocation", "--json")
    assert done.returncode == 1, done.stderr
    assert "needs an issuance policy" in json.loads(done.stdout)["errors"][0]
    assert lab.revoked() == set()


def _failing_openssl(lab: Lab, serials: list[str]) -> None:
    """The CA's openssl fails `ca -revoke` of these serials (a CA that refuses, or breaks, mid-sweep)."""
    script = lab.root / "openssl-failing"
    script.write_text(
        "#!/bin/sh\n"
        f"for serial in {' '.join(serials)}; do\n"
        '  case "$*" in *-revoke*/$serial.pem*) echo "simulated CA failure" >&2; exit 1;; esac\n'
        "done\n"
        'exec openssl "$@"\n'
    )
    script.chmod(0o755)
    config = lab.root / "config.yaml"
    config.write_text(config.read_text().replace("type: openssl-ca", f"type: openssl-ca\n    openssl: {script}"))


def test_a_failed_canary_stops_every_other_revocation(lab: Lab) -> None:
    _failing_openssl(lab, [lab.serials[BAD[0]]])
    result = lab.sweep()
    assert (result["revoked"], result["awaiting_approval"]) == (0, len(BAD))
    assert len(result["errors"]) == 1 and "simulated CA failure" in result["errors"][0]
    assert any("canary" in n for n in result["notes"])
    assert lab.revoked() == set()


def test_the_circuit_breaker_stops_after_max_errors(lab: Lab) -> None:
    lab.configure(sweep={"max_per_run": 10, "max_errors": 2})
    _failing_openssl(lab, [lab.serials[b] for b in BAD[1:3]])
    result = lab.sweep()
    assert result["revoked"] == 1  # the canary, then two failures open the breaker
    assert any("circuit breaker: 2" in n for n in result["notes"])
    assert lab.revoked() == {BAD[0]}
    assert result["awaiting_approval"] == len(BAD) - 1


RUN_THE_SWEEP_PLAYBOOK = """
import asyncio, sys, time
from pathlib import Path
from certsoar import api
from certsoar.config import load_config
from certsoar.connections import Connections
from certsoar.runner import Runner
from certsoar.store import utcnow
from certsoar.sweeps import sweep_alert

config = load_config(sys.argv[1])
book, text = api.load_shipped_playbook("revocation-sweep")
with api.open_store(config) as store:
    runner = Runner(config, store, connections=Connections(config, store))
    go = Path(sys.argv[2])
    while not go.exists():
        time.sleep(0.001)
    alert = sweep_alert("revocation", utcnow(), full=False, watermarks={})
    print(asyncio.run(runner.start(book, alert, trigger="schedule", definition=text)))
"""


def test_two_sweeps_started_at_the_same_instant_revoke_each_certificate_once(lab: Lab) -> None:
    """Past the sweep's lease (a sweep stalled longer than its lease while another started): both runs read
    every certificate at once; each violation is claimed by one run only, so each certificate is revoked,
    reported and notified once."""
    go = lab.root / "go"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTSOAR_")}
    command = [sys.executable, "-c", RUN_THE_SWEEP_PLAYBOOK, str(lab.root / "config.yaml"), str(go)]
    sweeps = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in "ab"
    ]
    go.touch()
    outputs = [p.communicate(timeout=180) for p in sweeps]
    assert all(p.returncode == 0 for p in sweeps), outputs
    runs = [out.strip().splitlines()[-1] for out, _ in outputs]
    found = []
    for run in runs:
        shown = lab.json("runs", "show", run)
        assert shown["status"] == "completed", (shown["error"], [(s["id"], s["error"]) for s in shown["steps"]])
        examine = next(s for s in shown["steps"] if s["id"] == "examine")["output"]
        assert examine["examined"] == len(ISSUANCES)  # both really swept the whole CA
        found += [v["serial"] for v in examine["violations"]]
    assert sorted(found) == sorted(lab.serials[b] for b in BAD)  # each violation in exactly one run
    assert lab.revoked() == set(BAD)
    with lab.store() as db:
        changed = db.execute(
            "SELECT key, count(*) FROM run_effects WHERE changed=1 AND key LIKE '%:revoke:%' GROUP BY key"
        ).fetchall()
    assert len(changed) == len(BAD) and all(n == 1 for _, n in changed)
    reports = [p.read_text() for p in (lab.root / "outbox").rglob("*") if p.is_file()]
    assert all(sum(f"`{lab.serials[b]}`" in r for r in reports) == 1 for b in BAD)  # notified once each
