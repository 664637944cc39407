"""End-to-end fixtures: a real lab (OpenSSL CA, Zeek/Suricata logs) driven through the real CLI."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from clidriver import Cli
from realcomponents import require_tool

from certsoar.lab import ensure_lab, lab_paths


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test on the lab (the cli fixture included) needs openssl: it is a real-component test."""
    for item in items:
        if "pristine_lab" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.real)


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
