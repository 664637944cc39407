"""No configuration, no lab: every command that acts needs --config or $CERTSOAR_CONFIG; `certsoar init`
writes a starter config that loads and checks; only `certsoar demo` builds the lab."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from realcomponents import require_tool

from certsoar.config import load_config
from certsoar.errors import ConfigError
from certsoar.starter import write_starter_config

ALERT = {
    "id": "siem-notable-1",
    "time": "2026-11-27T08:12:44Z",
    "host": "ws-0137.corp.example",
    "src_ip": "10.20.0.37",
    "dst_ip": "203.0.113.45",
    "dst_port": 443,
    "sni": "cdn-update.net",
    "sha1": "52:D3:53:70:63:0E:6D:8C:49:F7:81:1D:B7:35:4A:17:D4:E5:7D:44",
}

COMMANDS = [
    ["run", "certificate-alert", "--alert", "alert.json"],
    ["run", "certificate-alert", "--alert", "alert.json", "--dry-run"],
    ["approve", "run-1", "--as", "alice"],
    ["deny", "run-1", "--as", "bob"],
    ["runs", "list"],
    ["runs", "show", "run-1"],
    ["runs", "resume", "run-1"],
    ["runs", "audit"],
    ["runs", "expire"],
    ["connectors", "check"],
]


def _certsoar(cwd: Path, *args: str, **env_changes: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTSOAR_")}
    env.update(env_changes)
    return subprocess.run(
        [sys.executable, "-m", "certsoar", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
@pytest.mark.parametrize("unset", ["absent", "empty"])
def test_without_a_config_every_command_exits_2_and_builds_no_lab(tmp_path: Path, args: list[str], unset: str) -> None:
    (tmp_path / "alert.json").write_text(json.dumps(ALERT), encoding="utf-8")
    extra = {"CERTSOAR_CONFIG": ""} if unset == "empty" else {}
    done = _certsoar(tmp_path, *args, CERTSOAR_HOME=str(tmp_path / "home"), **extra)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no configuration: give --config FILE or set $CERTSOAR_CONFIG" in done.stderr
    assert "certsoar init" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alert.json"]  # no ./.certsoar, no lab, no CA key


def test_load_config_refuses_to_guess(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CERTSOAR_CONFIG", raising=False)
    monkeypatch.setenv("CERTSOAR_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"--config FILE or set \$CERTSOAR_CONFIG"):
        load_config()
    assert list(tmp_path.iterdir()) == []


def test_init_writes_a_starter_config_that_loads_and_checks(tmp_path: Path) -> None:
    done = _certsoar(tmp_path, "init", "soc")
    assert done.returncode == 0, done.stderr
    config_file = tmp_path / "soc" / "config.yaml"
    text = config_file.read_text(encoding="utf-8")
    assert "FILL IN" in text and "env:" in text  # tells the user what to replace, secrets by reference
    config = load_config(config_file)
    assert config.state_dir == (tmp_path / "soc" / "state").resolve()
    # nothing that contains: a starter config never claims a block against a file nobody reads
    assert (config.connectors.ca, config.connectors.firewall, config.connectors.proxy) == (None, None, None)
    # what must never be blocked is asked for, not left for the operator to find in the examples
    assert "\nprotected_networks: []    # FILL IN: your DNS servers, domain controllers, the SIEM, the firewall" in text
    checked = _certsoar(tmp_path, "connectors", "check", "--config", str(config_file), "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    results = json.loads(checked.stdout)
    assert [r["kind"] for r in results] == ["siem", "ticket", "notify", "notify"] and all(r["ok"] for r in results)
    # and it runs an alert end to end (analysis and notification; no containment configured)
    (tmp_path / "alert.json").write_text(json.dumps(ALERT), encoding="utf-8")
    ran = _certsoar(
        tmp_path, "run", "certificate-alert", "--alert", "alert.json", "--json", CERTSOAR_CONFIG=str(config_file)
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert json.loads(ran.stdout)["status"] == "completed"


def test_init_never_overwrites(tmp_path: Path) -> None:
    existing = tmp_path / "config.yaml"
    existing.write_text("state_dir: mine\n", encoding="utf-8")
    done = _certsoar(tmp_path, "init")
    assert done.returncode == 2
    assert "config.yaml already exists; not overwritten" in done.stderr
    assert existing.read_text(encoding="utf-8") == "state_dir: mine\n"
    not_a_folder = _certsoar(tmp_path, "init", "config.yaml")
    assert not_a_folder.returncode == 2 and "'config.yaml' is a file" in not_a_folder.stderr
    with pytest.raises(ConfigError, match="config.yaml is not a folder"):
        write_starter_config(existing)
    assert existing.read_text(encoding="utf-8") == "state_dir: mine\n"


@pytest.mark.real
def test_demo_still_builds_and_uses_the_lab(tmp_path: Path) -> None:
    require_tool("openssl")  # the lab needs it
    done = _certsoar(tmp_path, "demo", "--state-dir", str(tmp_path / "demo"))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Both stories completed." in done.stdout + done.stderr
    assert (tmp_path / "demo" / "lab" / "config.yaml").is_file()
