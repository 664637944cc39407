"""A config mistake stops every command before anything runs (exit 2, the field named, no run left behind):
`connectors check` loads the config exactly as `run` does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Cli


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
