"""A non-editable install carries every package and the package data (playbooks, templates)."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from realcomponents import require_python_modules

ROOT = Path(__file__).resolve().parent.parent


def declared_packages() -> tuple[set[str], dict[str, str]]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    packages = {p.strip() for p in cfg["options"]["packages"].split() if p.strip()}
    mapping = {}
    for line in cfg["options"]["package_dir"].strip().splitlines():
        name, _, folder = (part.strip() for part in line.partition("="))
        mapping[name] = folder
    return packages, mapping


def test_every_python_package_in_the_tree_is_declared() -> None:
    packages, mapping = declared_packages()
    found = set()
    for name, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *rel.parts]) if rel.parts else name)
    assert found - packages == set(), "add these to setup.cfg [options] packages"


@pytest.mark.real
def test_non_editable_install_runs_from_site_packages(tmp_path: Path) -> None:
    require_python_modules("pip", "setuptools", "wheel")  # --no-build-isolation builds with these
    source = tmp_path / "src"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "*.egg-info", ".certsoar*", "__pycache__", ".pytest_cache", ".hypothesis"
        ),
    )
    target = tmp_path / "site"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import certsoar, sys; assert certsoar.__file__.startswith(sys.argv[1]), certsoar.__file__\n"
            "from certsoar.cli import main; sys.argv = ['certsoar', 'validate']; main()",
            str(target),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.strip() == "ok"
    assert (target / "certsoar" / "playbooks" / "certificate-alert.yaml").is_file()
    assert (target / "certsoar" / "templates" / "l1" / "summary.md.j2").is_file()
    assert (target / "certsoar" / "export" / "templates" / "xsoar" / "CertSOAR.py.tmpl").is_file()
    assert (target / "certsoar" / "export" / "templates" / "splunk_soar" / "app.py.j2").is_file()


LICENSE_TEXTS = {"Apache-2.0": ("Apache License", "Version 2.0, January 2004", "END OF TERMS AND CONDITIONS")}


def test_the_license_file_is_the_license_setup_cfg_names() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    declared = cfg["metadata"]["license"]
    assert declared in LICENSE_TEXTS, f"no LICENSE text known for {declared}"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert all(part in text for part in LICENSE_TEXTS[declared])


def test_shell_completion_works_as_the_readme_says() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert 'eval "$(_CERTSOAR_COMPLETE=bash_source certsoar)"' in readme
    command = [str(Path(sys.executable).parent / "certsoar")]  # the name the completion variable is made of
    script = subprocess.run(
        command, env={**os.environ, "_CERTSOAR_COMPLETE": "bash_source"}, capture_output=True, text=True, timeout=60
    )
    assert script.returncode == 0 and "_certsoar_completion()" in script.stdout
    env = {**os.environ, "_CERTSOAR_COMPLETE": "bash_complete", "COMP_WORDS": "certsoar runs li", "COMP_CWORD": "2"}
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert completed.stdout.split() == ["plain,list"]
