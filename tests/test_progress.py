"""Progress lines: on a terminal only, silenced by quiet, with counts, rate and findings; the SIEM files
connector reports its scan; `certsoar --quiet` and a pipe see none (through a real pseudo-terminal)."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest

from certsoar import progress as progress_module
from certsoar.progress import progress, set_quiet


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def not_quiet() -> None:
    set_quiet(False)
    yield
    set_quiet(False)


def test_a_terminal_sees_counts_rate_and_findings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module, "REDRAW_SECONDS", 0.0)
    out = Terminal()
    with progress("SIEM files: searching the logs", unit="records", stream=out) as bar:
        bar.advance(4096)
        bar.advance(4096, findings=3)
    text = out.getvalue()
    assert "\r\x1b[KSIEM files: searching the logs: 4,096 records, " in text
    assert text.endswith("8,192 records, " + text.rsplit("records, ", 1)[1])
    assert "/s, 3 finding(s) so far\n" in text


def test_a_known_total_shows_the_share_and_the_callback_form_takes_running_totals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(progress_module, "REDRAW_SECONDS", 0.0)
    out = Terminal()
    with progress("sweep", total=200, unit="certificates", stream=out) as bar:
        report = bar.report
        report(50, 1)
        report(100, 2)
    assert "sweep: 100 of 200 certificates (50%)" in out.getvalue() and "2 finding(s) so far" in out.getvalue()


def test_not_a_terminal_or_quiet_writes_nothing() -> None:
    piped = io.StringIO()
    with progress("x", stream=piped) as bar:
        bar.advance(10, findings=1)
    assert piped.getvalue() == ""
    terminal = Terminal()
    with progress("x", stream=terminal, quiet=True) as bar:
        bar.advance(10)
    set_quiet(True)
    with progress("x", stream=terminal) as bar:
        bar.advance(10)
    assert terminal.getvalue() == "" and bar.examined == 10  # counted, not shown


def test_a_label_cannot_move_the_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module, "REDRAW_SECONDS", 0.0)
    out = Terminal()
    with progress("logs/\x1b]0;owned\x07x", stream=out) as bar:
        bar.advance()
    assert "\x07" not in out.getvalue() and "␛]0;owned␇" in out.getvalue()


def test_the_files_siem_reports_its_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    from datetime import datetime, timedelta, timezone

    from certsoar.connectors import ConnectorEnv
    from certsoar.connectors.siem import SiemQuery
    from certsoar.connectors.siem.files import PROGRESS_EVERY, FilesSiem, FilesSiemSettings

    now = datetime.now(timezone.utc).replace(microsecond=0)
    lines = [
        f'{{"timestamp": "{(now - timedelta(seconds=i)).isoformat()}", "event_type": "tls", "src_ip": "10.0.0.1", '
        f'"dest_ip": "203.0.113.{i % 250}", "dest_port": 443, "tls": {{"sni": "host{i}.example"}}}}'
        for i in range(2 * PROGRESS_EVERY + 10)
    ]
    (tmp_path / "eve.json").write_text("\n".join(lines) + "\n")
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(progress_module, "REDRAW_SECONDS", 0.0)
    siem = FilesSiem(FilesSiemSettings(paths=[str(tmp_path)]), ConnectorEnv(name="files", state_dir=tmp_path))
    query = SiemQuery(indicators={"sni": ["host7.example"]}, start=now - timedelta(days=1), end=now, limit=10)
    asyncio.run(siem.search_report(query))
    shown = terminal.getvalue()
    assert f"SIEM files: searching the logs: {2 * PROGRESS_EVERY:,} records" in shown
    assert "1 finding(s) so far" in shown


def run_on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Run certsoar with standard error on a pseudo-terminal (standard output a pipe); returns the exit code,
    what the terminal showed and what went to standard output."""
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "certsoar", *args], stdout=subprocess.PIPE, stderr=child, env=env, text=True
    )
    os.close(child)
    seen = b""
    while True:
        ready, _, _ = select.select([main], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    out, _ = proc.communicate(timeout=120)
    os.close(main)
    return proc.returncode, seen.decode(errors="replace"), out


@pytest.mark.real
def test_lab_creation_shows_progress_on_a_terminal_and_none_with_quiet(tmp_path: Path) -> None:
    from realcomponents import require_tool

    require_tool("openssl")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTSOAR_")}
    code, shown, _ = run_on_a_terminal(["demo", "--state-dir", str(tmp_path / "a")], env)
    assert code == 0, shown[-2000:]
    assert "building the lab: 7 of 7 stages (100%)" in shown
    code, shown, _ = run_on_a_terminal(["--quiet", "demo", "--state-dir", str(tmp_path / "b")], env)
    assert code == 0 and "building the lab" not in shown


def test_a_sweep_shows_examined_rate_and_findings_on_a_terminal_and_none_with_quiet(tmp_path: Path) -> None:
    import json

    from sweeplab import generate_ca, write_config

    generate_ca(tmp_path, 1200, outside_every=100)  # 1 200 certificates, 12 of them outside corp.example
    config = str(write_config(tmp_path, policy={"max_validity_days": 398}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTSOAR_")}
    sweep = ["sweep", "revocation", "--dry-run", "--json", "--config", config]
    code, shown, out = run_on_a_terminal(sweep, env)
    assert code == 0, shown[-2000:]
    frames = [frame for frame in shown.split("\r\x1b[K") if frame.startswith("revocation sweep: ")]
    assert frames[0].startswith("revocation sweep: 500 certificates, ")  # drawn while the sweep examines
    assert re.fullmatch(r"revocation sweep: 1,200 certificates, [\d,.]+/s, 12 finding\(s\) so far\r?\n", frames[-1])
    summary = json.loads(out)  # the terminal line never reaches standard output
    assert (summary["examined"], summary["violations"], summary["dry_run"]) == (1200, 12, True)
    code, shown, out = run_on_a_terminal(["--quiet", *sweep], env)
    assert code == 0 and "revocation sweep" not in shown and json.loads(out)["examined"] == 1200
