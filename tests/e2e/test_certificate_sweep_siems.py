"""The certificate sweep over several SIEMs (the lab's Zeek logs in one, Suricata and Windows in another, a third
whose logs are gone): every certificate triaged once whichever SIEM logged it, each SIEM from its own
watermark, the gone one a named error that holds back only its own watermark."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from certsoar import api
from certsoar.config import load_config
from certsoar.lab import lab_paths

SIEMS = """siem:
    - {type: files, name: zeek, paths: [logs/zeek]}
    - {type: files, name: sensors, paths: [logs/suricata, logs/windows]}
    - {type: files, name: gone, paths: [logs/decommissioned]}"""


def test_every_siem_is_swept_from_its_own_watermark(pristine_lab: Path, tmp_path: Path) -> None:
    shutil.copytree(pristine_lab, tmp_path / "lab-state")
    lab = lab_paths(tmp_path / "lab-state" / "lab")
    text = lab.config.read_text()
    assert "siem: {type: files, paths: [logs]}" in text
    lab.config.write_text(text.replace("siem: {type: files, paths: [logs]}", SIEMS))
    config = load_config(lab.config)

    summary = asyncio.run(api.run_sweep(config, "certificates"))
    assert summary["status"] == "completed", summary
    runs = [r for r in api.list_runs(config, 1000) if r["playbook"] == "certificate-alert"]
    assert summary["examined"] == len(runs) == 5  # as with one SIEM holding every log (test_certificate_sweep)
    assert set(summary["watermarks"]) == {"siem:zeek", "siem:sensors"}
    errors = summary["errors"]
    assert errors and all(e.startswith("siem gone: ") and "decommissioned" in e for e in errors), errors
    assert any("(siem:gone)" in note for note in summary["notes"])

    again = asyncio.run(api.run_sweep(config, "certificates"))
    assert again["examined"] == 0 and again["watermarks"] == summary["watermarks"]
