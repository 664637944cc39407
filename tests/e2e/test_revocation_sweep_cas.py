"""The revocation sweep over two real ``openssl ca`` CAs of one name that number their serials alike: each CA
read from its own watermark, each violation revoked at the CA that issued it and nowhere else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from realcomponents import require_tool
from sweeplab import BAD_COUNT, ISSUANCES, POLICY, build_sweep_lab, ca_status

pytestmark = pytest.mark.real


def sweep(config: Path, *args: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTSOAR_")}
    done = subprocess.run(
        [sys.executable, "-m", "certsoar", "sweep", "revocation", *args, "--config", str(config), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_each_ca_revokes_what_it_issued(tmp_path: Path) -> None:
    require_tool("openssl")
    serials = {name: build_sweep_lab(tmp_path / name) for name in ("one", "two")}
    assert serials["one"] == serials["two"]  # the same serials at both: only the CA tells them apart
    # the first CA revokes only what breaks its own policy: its wildcard certificate is fine there
    lenient = {**POLICY, "forbid": {**POLICY["forbid"], "wildcard": False}}  # type: ignore[dict-item]
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "state_dir": "state",
                "connectors": {
                    "ca": [
                        {
                            "type": "openssl-ca",
                            "name": "one",
                            "openssl_config": "one/ca/openssl.cnf",
                            "policy": lenient,
                        },
                        {"type": "openssl-ca", "name": "two", "openssl_config": "two/ca/openssl.cnf"},
                    ]
                },
                "organization": {"domains": ["corp.example"]},
                "policy": POLICY,
                "sweeps": {"revocation": {"max_per_run": 50}},
            }
        ),
        encoding="utf-8",
    )
    first = sweep(config)
    assert first["status"] == "completed", first
    assert (first["examined"], first["violations"], first["revoked"]) == (16, 2 * BAD_COUNT - 1, 2 * BAD_COUNT - 1)
    assert set(first["watermarks"]) == {"ca:one", "ca:two"}
    for name in ("one", "two"):
        revoked = {i.name for i in ISSUANCES if "Revoked" in ca_status(tmp_path / name, serials[name][i.name])}
        expected = {i.name for i in ISSUANCES if i.bad}
        assert revoked == (expected - {"bad-wildcard"} if name == "one" else expected), name

    again = sweep(config)
    assert (again["examined"], again["revoked"]) == (0, 0) and again["watermarks"] == first["watermarks"]
