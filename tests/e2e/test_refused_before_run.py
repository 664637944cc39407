"""A config mistake or a damaged certificate stops a command before anything runs (exit 2, the field named,
no run left behind): `connectors check` loads the config exactly as `run` does."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest
from clidriver import Cli


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("  creation_burst:\n", "  traffic_change: {after: 24hours}\n  creation_burst:\n", "traffic_change.after"),
        ("trust: {internal_roots: [ca/ca.pem]}", "trust: {internal_roots: [ca/gone.pem]}", "trust.internal_roots[0]"),
    ],
)
def test_a_config_mistake_exits_2_before_any_run(cli: Cli, tmp_path: Path, old: str, new: str, field: str) -> None:
    text = cli.lab.config.read_text()
    assert old in text
    cli.lab.config.write_text(text.replace(old, new))
    for command in (
        ["connectors", "check"],
        ["run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"])],
        ["run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]), "--dry-run"],
    ):
        done = cli.run(*command)
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert field in done.stderr and "Traceback" not in done.stderr, done.stderr
    cli.lab.config.write_text(text)
    assert json.loads(cli.run("runs", "list", "--json").stdout) == []


def test_a_damaged_certificate_is_refused_at_intake_and_no_run_is_made(cli: Cli) -> None:
    alert = json.loads(cli.lab.alerts["internal"].read_text())
    der = ssl.PEM_cert_to_DER_cert(alert["certificate_pem"])
    cut = ssl.DER_cert_to_PEM_cert(der[:-40])  # a certificate cut off in transit
    damaged = json.dumps({**alert, "certificate_pem": cut}).encode()
    done = cli.run("run", "certificate-alert", "--alert", "-", "--json", stdin=damaged)
    assert done.returncode == 2, done.stderr
    assert "certificate_pem is not a readable X.509 certificate" in done.stderr and "ParseError" not in done.stderr
    assert json.loads(cli.run("runs", "list", "--json").stdout) == []
