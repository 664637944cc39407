"""A real lab (OpenSSL CA, logs) with analysts who have page passwords, and a run of it waiting for approval:
what the approval page tests log in to and decide."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from argon2 import PasswordHasher
from realcomponents import require_tool

from certsoar.lab import ensure_lab, lab_paths

PASSWORDS = {"alice": "alice-correct-horse", "bob": "bob-battery-staple", "dave": "dave-second-pair-of-eyes"}
ROLES = {"alice": ["soc-tier2"], "bob": ["soc-tier1"], "carol": ["soc-l1"], "dave": ["soc-tier2"]}


@dataclass
class PageLab:
    root: Path
    config: Path

    def write_config(self, **service: object) -> Path:
        """The lab's config with page passwords for alice and dave (soc-tier2) and bob (soc-tier1), and
        ``service``."""
        data = yaml.safe_load((self.root / "config.yaml").read_text(encoding="utf-8"))
        hasher = PasswordHasher()
        data["analysts"] = {
            name: {"roles": roles, **({"password_hash": hasher.hash(PASSWORDS[name])} if name in PASSWORDS else {})}
            for name, roles in ROLES.items()
        }
        if service:
            data["service"] = service
        self.config.write_text(yaml.safe_dump(data), encoding="utf-8")
        return self.config

    def certsoar(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "certsoar", *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def waiting_run(self, alert: str = "mimicry") -> str:
        """Run a lab alert through the real CLI as carol: it stops at the approval gate. Returns its id."""
        alert_file = str(self.root / "alerts" / f"{alert}.json")
        run = json.loads(self.certsoar("run", "certificate-alert", "--alert", alert_file, "--as", "carol", "--json"))
        assert run["status"] == "waiting_approval", run
        return str(run["id"])


@pytest.fixture(scope="session")
def pristine_page_lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("openssl")
    state = tmp_path_factory.mktemp("page-pristine")
    ensure_lab(state)
    return state


@pytest.fixture
def page_lab(pristine_page_lab: Path, tmp_path: Path) -> PageLab:
    state = tmp_path / "state"
    shutil.copytree(pristine_page_lab, state)
    root = lab_paths(state / "lab").root
    lab = PageLab(root=root, config=root / "page-config.yaml")
    lab.write_config()
    return lab
