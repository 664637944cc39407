"""The `certsoar` command run as a child process on a copy of the lab (the e2e tests' driver), importable
under a name no other test folder uses."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certsoar.lab import LabPaths


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


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()
    }
