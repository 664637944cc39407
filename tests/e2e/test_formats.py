"""`certsoar run certificate-alert --alert X --dry-run --json` for alerts in every supported format:
the verdict, every fired rule with its reason, and the facts behind it."""

from __future__ import annotations

from pathlib import Path

import pytest
from clidriver import Cli

DATA = Path(__file__).resolve().parent.parent / "data" / "intake"
SAMPLES = [
    ("generic", DATA / "generic" / "alert.json"),
    ("zeek-x509", DATA / "zeek" / "x509.cryptography-io.json"),
    ("zeek-ssl", DATA / "zeek" / "ssl.cryptography-io.json"),
    ("suricata-tls", DATA / "suricata" / "tls-with-certificate.json"),
    ("adcs", DATA / "adcs" / "4887-v1.xml"),
    ("adcs", DATA / "adcs" / "4887-v1.winlogbeat.json"),
    ("adcs", DATA / "adcs" / "4886-v1.xml"),
    ("adcs", DATA / "adcs" / "4870-v0.xml"),
    ("splunk-notable", DATA / "splunk" / "notable-export.json"),
    ("ecs", DATA / "ecs" / "tls-search-hit.json"),
]


@pytest.mark.parametrize(("fmt", "path"), SAMPLES, ids=[f"{f}:{p.name}" for f, p in SAMPLES])
def test_dry_run_shows_verdict_reasons_and_facts(cli: Cli, fmt: str, path: Path) -> None:
    plan = cli.json("run", "certificate-alert", "--alert", str(path), "--dry-run")
    assert plan["status"] == "completed", plan["error"]
    assert plan["steps"][0]["output"] == plan["facts"]
    facts = plan["facts"]
    assert facts["source"] in ("certificate", "log", "fingerprint")
    assert facts["sha256"] or facts["sha1"] or facts["serial"] or fmt == "adcs"
    verdict = plan["verdict"]
    assert set(verdict) >= {"escalate", "contain", "severity", "reasons"}
    assert all(r["reason"].strip() for r in verdict["reasons"])
    assert verdict["escalate"] == bool(verdict["reasons"])
    summary = plan["notifications"][0]
    assert summary["template"] == "l1/summary.md.j2"
    for question in (
        "1. Are there recent entries",
        "2. Does the certificate",
        "3. Was it installed",
        "4. Has there been",
    ):
        assert question in summary["body"]


@pytest.mark.parametrize(("fmt", "path"), SAMPLES[:4], ids=[f for f, _ in SAMPLES[:4]])
def test_explicit_format_matches_detection(cli: Cli, fmt: str, path: Path) -> None:
    plan = cli.json("run", "certificate-alert", "--alert", str(path), "--format", fmt, "--dry-run")
    assert plan["status"] == "completed"


def test_wrong_explicit_format_is_a_clear_usage_error(cli: Cli) -> None:
    done = cli.run(
        "run", "certificate-alert", "--alert", str(DATA / "generic" / "alert.json"), "--format", "ecs", "--dry-run"
    )
    assert done.returncode == 2 and "not ecs" in done.stderr
