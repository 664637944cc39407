"""A sweep run cut short is carried on by a (re)starting service only as that sweep's one executor: while another
process holds the sweep's lease (`certsoar sweep` from cron) the service leaves the run alone, and carries it
on, each revocation once, when that process is gone."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from realcomponents import require_tool
from sweeplab import BAD_COUNT, ISSUANCES, build_sweep_lab, write_config

from certsoar import api
from certsoar.config import Config, load_config
from certsoar.errors import RunBusy
from certsoar.faults import CRASH_ENV, CRASH_EXIT_CODE
from certsoar.service.runs import RunPool

pytestmark = pytest.mark.real

HOLD_THE_SWEEP = """
import sys, time
from certsoar.store import RunStore, executor_id
store = RunStore.in_state_dir(sys.argv[1])
store.take_lease("sweep:revocation", executor_id())
print("held", flush=True)
time.sleep(300)
"""


def certsoar(root: Path, *args: str, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTSOAR_")}
    if crash_at:
        env[CRASH_ENV] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "certsoar", *args, "--config", str(root / "config.yaml")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def revoked_in_index(root: Path) -> int:
    return sum(line.startswith("R\t") for line in (root / "ca" / "index.txt").read_text().splitlines())


async def start_and_drain(config: Config) -> None:
    """What `certsoar serve` does at start with the runs it finds cut short, until its workers are idle."""
    pool = RunPool(config)
    await pool.start()
    try:
        await asyncio.wait_for(pool._queue.join(), 120)
    finally:
        await pool.stop()


async def test_a_restarted_service_leaves_a_sweep_run_to_the_process_holding_the_sweep(tmp_path: Path) -> None:
    require_tool("openssl")
    serials = build_sweep_lab(tmp_path)
    write_config(tmp_path)
    second_bad = serials[[i.name for i in ISSUANCES if i.bad][1]]
    crashed = certsoar(tmp_path, "sweep", "revocation", "--json", crash_at=f"intent:ca:openssl-ca:revoke:{second_bad}")
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    assert revoked_in_index(tmp_path) == 1
    config = load_config(tmp_path / "config.yaml")
    [cut_short] = api.runs_to_resume(config)

    hold = [sys.executable, "-c", HOLD_THE_SWEEP, str(tmp_path / "state")]
    with subprocess.Popen(hold, stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            await start_and_drain(config)  # the service's start: its worker must refuse the run
            with pytest.raises(RunBusy, match="sweep:revocation"):
                await api.resume(config, cut_short)
            assert api.show_run(config, cut_short)["status"] == "running"
            assert revoked_in_index(tmp_path) == 1
        finally:
            holder.kill()

    await start_and_drain(config)  # the holder is gone, and its lease with it: the service carries the run on
    run = api.show_run(config, cut_short)
    assert run["status"] == "completed"
    assert revoked_in_index(tmp_path) == BAD_COUNT
    with sqlite3.connect(tmp_path / "state" / "runs.sqlite3") as db:
        changes = db.execute(
            "SELECT key, count(*) FROM run_effects WHERE changed=1 AND key LIKE '%:revoke:%' GROUP BY key"
        ).fetchall()
        marks = dict(db.execute("SELECT source, value FROM watermarks").fetchall())
    assert len(changes) == BAD_COUNT and all(n == 1 for _, n in changes)
    assert "ca:openssl-ca" in marks  # the carried-on run read the CA to the end: the next sweep starts after it
