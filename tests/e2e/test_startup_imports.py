"""Start-up of the CLI for a SOAR that calls it once per alert (issue 12): a command imports only what it uses.
Each command runs in a process of its own, as a SOAR starts it; what it imported is read from ``sys.modules``
when that process exits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from clidriver import Cli

from certsoar import registry

PROBE = """
import atexit, json, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
from certsoar.cli import main
sys.argv[0] = "certsoar"
main()
"""

NEVER_FOR_A_TRIAGE = {"fastapi", "uvicorn", "starlette", "httpx", "rich", "pygments", "multipart"}
NEVER_FOR_HELP = NEVER_FOR_A_TRIAGE | {"asyncio", "pydantic", "jinja2", "cryptography", "yaml", "sqlite3", "tenacity"}


def imported(cli: Cli, tmp_path: Path, *args: str) -> set[str]:
    """The top-level packages a ``certsoar ARGS`` process had imported when it exited."""
    return {name.split(".")[0] for name in imported_modules(cli, tmp_path, *args)}


def imported_modules(cli: Cli, tmp_path: Path, *args: str) -> set[str]:
    """Every module a ``certsoar ARGS`` process had imported when it exited."""
    modules = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(modules), *args],
        env=cli.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(modules.read_text()))


def test_help_imports_nothing_heavy(cli: Cli, tmp_path: Path) -> None:
    loaded = imported(cli, tmp_path, "--help")
    assert "click" in loaded  # the probe saw the command's imports
    assert loaded & NEVER_FOR_HELP == set()


def test_a_dry_run_triage_imports_no_web_or_http_stack(cli: Cli, tmp_path: Path) -> None:
    args = ("run", "certificate-alert", "--alert", str(cli.lab.alerts["mimicry"]), "--dry-run", "--json")
    loaded = imported(cli, tmp_path, *args)
    assert {"pydantic", "jinja2", "cryptography"} <= loaded  # the probe saw the triage's imports
    assert loaded & NEVER_FOR_A_TRIAGE == set()


# what a triage never needs: the service, the SOAR exports, the lab, doctor, the HTTP layer and what only the
# sweeps, a release or a Windows CA (WinRM) use
NEVER_IN_A_TRIAGE = (
    "certsoar.service",
    "certsoar.export.",
    "certsoar.lab",
    "certsoar.doctor",
    "certsoar.connectors.http",
    "certsoar.connectors.notify.delivery",
    "certsoar.connectors.ca.psrp",
)


def test_a_dry_run_triage_imports_no_connector_it_is_not_configured_with(cli: Cli, tmp_path: Path) -> None:
    args = ("run", "certificate-alert", "--alert", str(cli.lab.alerts["mimicry"]), "--dry-run", "--json")
    loaded = imported_modules(cli, tmp_path, *args)
    configured = yaml.safe_load(cli.lab.config.read_text())["connectors"]
    unused: set[str] = set()
    for kind, sections in configured.items():
        types = {section["type"] for section in (sections if isinstance(sections, list) else [sections])}
        modules = {ep.name: ep.module for ep in registry.in_group(registry.connector_group(kind))}
        assert types <= set(modules)  # the probe knows every configured type
        assert {modules[t] for t in types} <= loaded  # ... and saw them loaded
        unused |= {module for name, module in modules.items() if name not in types}
    assert "certsoar.connectors.siem.splunk" in unused and "certsoar.connectors.notify.slack" in unused
    assert loaded & unused == set()
    assert sorted(m for m in loaded if m.startswith(NEVER_IN_A_TRIAGE)) == []
