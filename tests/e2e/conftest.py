"""End-to-end fixtures: a real lab (OpenSSL CA, Zeek/Suricata logs) driven through the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from realcomponents import require_tool

from certsoar.lab import LabPaths, ensure_lab, lab_paths


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test on the lab (the cli fixture included) needs openssl: it is a real-component test."""
    for item in items:
        if "pristine_lab" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.real)


@dataclass
class Cli:
    lab: LabPaths
    env: dict[str, str]

    def run(
        self, *args: str, crash_at: str | None = None, stdin: bytes | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        if crash_at:
            env["CERTSOAR_TEST_CRASH_AT"] = crash_at
        return subprocess.run(
            [sys.executable, "-m", "certsoar", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            input=stdin.decode() if stdin else None,
            check=False,
        )

    def json(self, *args: str, expect: int = 0, **kw: Any) -> dict[str, Any]:
        done = self.run(*args, "--json", **kw)
        assert done.returncode == expect, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return json.loads(done.stdout)


@pytest.fixture(scope="session")
def pristine_lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("openssl")  # the lab needs it
    state = tmp_path_factory.mktemp("pristine")
    ensure_lab(state)
    return state


@pytest.fixture
def cli(pristine_lab: Path, tmp_path: Path) -> Cli:
    state = tmp_path / "state"
    shutil.copytree(pristine_lab, state)
    lab = lab_paths(state / "lab")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTSOAR_")}
    env["CERTSOAR_CONFIG"] = str(lab.config)
    return Cli(lab=lab, env=env)


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()
    }
