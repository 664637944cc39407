"""An oversized alert is refused after reading at most the intake limit, from a file or standard input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from certsoar.alert import MAX_ALERT_BYTES

GIB = 1024**3
# The interpreter with certsoar imported stays well under this; reading the alert whole takes over 1 GiB.
RSS_CEILING_KIB = 300 * 1024

_MEASURE = """
import resource, subprocess, sys, json
stdin = open(sys.argv[2], "rb") if sys.argv[1] == "-" else None
done = subprocess.run(sys.argv[3:], stdin=stdin, capture_output=True, text=True)
print(json.dumps({"rc": done.returncode, "stderr": done.stderr,
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def _run_measured(tmp_path: Path, alert: Path, via_stdin: bool) -> dict[str, object]:
    config = tmp_path / "config.yaml"
    config.write_text("state_dir: state\n", encoding="utf-8")
    source = "-" if via_stdin else str(alert)
    command = [sys.executable, "-m", "certsoar", "run", "certificate-alert", "--alert", source, "--config", str(config)]
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, source, str(alert), *command],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("via_stdin", [False, True], ids=["file", "stdin"])
def test_a_one_gib_alert_is_refused_without_reading_it(tmp_path: Path, via_stdin: bool) -> None:
    alert = tmp_path / "huge.json"
    with alert.open("wb") as f:
        f.truncate(GIB)  # sparse: costs no disk
    result = _run_measured(tmp_path, alert, via_stdin)
    assert result["rc"] == 2, result
    assert isinstance(result["maxrss_kib"], int) and result["maxrss_kib"] < RSS_CEILING_KIB, result
    assert f"larger than the limit of {MAX_ALERT_BYTES} bytes" in str(result["stderr"])
    assert not (tmp_path / "state").exists()  # refused before anything was written


def test_an_alert_at_the_limit_is_read(tmp_path: Path) -> None:
    # exactly MAX_ALERT_BYTES passes the reader and reaches format detection (which refuses blank input)
    alert = tmp_path / "limit.json"
    alert.write_bytes(b" " * MAX_ALERT_BYTES)
    result = _run_measured(tmp_path, alert, via_stdin=False)
    assert result["rc"] == 2 and "alert is empty" in str(result["stderr"]), result
