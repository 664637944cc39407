"""The certificate sweep over the lab's Zeek and Suricata logs, through certsoar.api: the verdicts of alerting
each certificate one at a time, once per certificate whichever sensors logged it, nothing new the second time,
and a dry run that writes nothing."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from clidriver import snapshot

from certsoar import api
from certsoar.config import Config, load_config
from certsoar.intake import load_alert
from certsoar.lab import LabPaths, lab_paths
from certsoar.store import RunStore


def copy_lab(pristine: Path, where: Path) -> tuple[LabPaths, Config]:
    shutil.copytree(pristine, where)
    lab = lab_paths(where / "lab")
    return lab, load_config(lab.config)


def summary_of(result: dict[str, Any]) -> dict[str, Any]:
    """What api.run_sweep returns: the run's summary (its step ``summary``), with the run's id and status."""
    assert result["status"] == "completed" and result["sweep"] == "certificates", result
    return result


def verdicts(config: Config, runs: list[dict[str, Any]]) -> dict[str, tuple[bool, str | None, list[str]]]:
    """sha256 → (escalate, severity, rules that fired) of each certificate-alert run."""
    found = {}
    for listed in runs:
        run = api.show_run(config, listed["id"])
        verdict = run["verdict"]
        found[run["facts"]["sha256"]] = (
            verdict["escalate"],
            verdict.get("severity"),
            sorted(r["rule"] for r in verdict["reasons"]),
        )
    return found


def files(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and mtime, but the shared-memory index and the empty log a read-only reader of a WAL
    database creates (the database and any log with content are compared)."""
    return {
        name: content
        for name, content in snapshot(root).items()
        if not name.endswith("-shm") and not (name.endswith("-wal") and not content[0])
    }


def alert_runs(config: Config) -> list[dict[str, Any]]:
    return [r for r in api.list_runs(config, 1000) if r["playbook"] == "certificate-alert"]


def x509_alerts(lab: LabPaths) -> list[str]:
    """The first x509.log line of each certificate, with the log's header: what a SOAR would send."""
    lines = (lab.logs_dir / "zeek" / "x509.log").read_text().splitlines()
    header = [line for line in lines if line.startswith("#") and not line.startswith("#close")]
    fields = next(line for line in header if line.startswith("#fields")).split("\t")[1:]
    column = fields.index("fingerprint")
    first: dict[str, str] = {}
    for line in lines:
        if line and not line.startswith("#"):
            first.setdefault(line.split("\t")[column], line)
    return ["\n".join([*header, line]) + "\n" for line in first.values()]


def test_the_sweep_gives_the_verdicts_of_alerting_each_certificate(pristine_lab: Path, tmp_path: Path) -> None:
    lab, config = copy_lab(pristine_lab, tmp_path / "swept")
    summary = summary_of(asyncio.run(api.run_sweep(config, "certificates")))
    swept = alert_runs(config)

    single_lab, single_config = copy_lab(pristine_lab, tmp_path / "single")
    alerts = x509_alerts(single_lab)
    for text in alerts:
        asyncio.run(api.run_playbook(single_config, "certificate-alert", load_alert(text)))
    one_by_one = alert_runs(single_config)

    # every certificate once, though Zeek's ssl.log, x509.log and Suricata's eve.json each log it
    assert len(swept) == len(alerts) == summary["examined"] == 5
    expected = verdicts(single_config, one_by_one)
    assert verdicts(config, swept) == expected
    escalated = sum(1 for escalate, _, _ in expected.values() if escalate)
    assert escalated >= 2 and summary["violations"] == escalated
    assert summary["awaiting_approval"] == sum(1 for r in swept if r["status"] == "waiting_approval") >= 1
    assert summary["errors"] == [] and summary["skipped"] == 0
    # the sweep's runs carry the ids the alerts get, so a SOAR's alert for the same record finds the sweep's run
    assert {r["alert_id"] for r in swept} == {r["alert_id"] for r in one_by_one}
    assert all(r["trigger"] == "sweep" for r in swept)
    again = asyncio.run(api.run_playbook(config, "certificate-alert", load_alert(alerts[0])))
    assert again["id"] in {r["id"] for r in swept}

    second = summary_of(asyncio.run(api.run_sweep(config, "certificates")))
    assert second["examined"] == 0 and second["watermarks"] == summary["watermarks"]
    assert len(alert_runs(config)) == len(swept)

    # --full reads everything again and finds every certificate triaged already
    full = summary_of(asyncio.run(api.run_sweep(config, "certificates", full=True)))
    assert (full["examined"], full["skipped"]) == (5, 5)
    assert len(alert_runs(config)) == len(swept)


def test_a_certificate_triaged_from_another_alert_is_skipped(pristine_lab: Path, tmp_path: Path) -> None:
    lab, config = copy_lab(pristine_lab, tmp_path / "lab")
    # the SOAR sent the Suricata event of the mimicry story: a SHA-1 and the certificate, another alert id
    asyncio.run(api.run_playbook(config, "certificate-alert", load_alert(lab.alerts["mimicry-suricata"].read_bytes())))
    summary = summary_of(asyncio.run(api.run_sweep(config, "certificates")))
    assert (summary["examined"], summary["skipped"]) == (5, 1)
    assert len(alert_runs(config)) == 5


def test_a_dry_run_writes_nothing(pristine_lab: Path, tmp_path: Path) -> None:
    lab, config = copy_lab(pristine_lab, tmp_path / "lab")
    asyncio.run(api.run_sweep(config, "containment"))  # the store exists, with no certificate triaged
    before = files(tmp_path)
    progress: list[tuple[int, int]] = []
    summary = summary_of(
        asyncio.run(api.run_sweep(config, "certificates", dry_run=True, progress=lambda *p: progress.append(p)))
    )
    # the plan of a real sweep: every certificate triaged (each a dry run), escalations counted
    assert summary["dry_run"] and (summary["examined"], summary["skipped"]) == (5, 0)
    assert summary["violations"] >= 2 and summary["watermarks"]
    assert progress and progress[-1] == (5, summary["violations"])
    assert files(tmp_path) == before
    assert alert_runs(config) == []


def test_a_dry_run_journals_its_runs_in_one_scratch_store_and_keeps_none(
    pristine_lab: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    """A dry sweep does not open a store per certificate, audits nothing of what it throws away, and forgets
    each run once counted (its memory does not grow with the log); it plans what the real sweep does."""
    lab, config = copy_lab(pristine_lab, tmp_path / "dry")
    in_memory: list[RunStore] = []
    opened = RunStore.__init__

    def counted(self: RunStore, path: Path | str, **options: Any) -> None:
        opened(self, path, **options)
        if str(path) == ":memory:":
            in_memory.append(self)

    monkeypatch.setattr(RunStore, "__init__", counted)
    dry = summary_of(asyncio.run(api.run_sweep(config, "certificates", dry_run=True)))
    assert dry["examined"] == 5 and len(in_memory) == 1
    journal = in_memory[0]
    assert [tuple(row) for row in journal.db.execute("SELECT playbook FROM runs")] == [("certificate-sweep",)]
    assert journal.db.execute("SELECT count(*) FROM steps WHERE run_id != ?", (dry["run"],)).fetchone()[0] == 0
    assert journal.db.execute("SELECT count(*) FROM audit").fetchone()[0] == 0

    real_lab, real_config = copy_lab(pristine_lab, tmp_path / "real")
    real = summary_of(asyncio.run(api.run_sweep(real_config, "certificates")))
    assert (dry["examined"], dry["violations"]) == (real["examined"], real["violations"])
