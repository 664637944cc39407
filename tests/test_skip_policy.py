"""The skip policy of tests/conftest.py, run on a tiny suite in a subprocess: a real-component test that
skips is a failure in CI and a skip with its reason elsewhere; other skips stay skips."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest
import realcomponents
from realcomponents import require_squid_with_ssl_bump

TESTS = Path(__file__).resolve().parent


def _load_suite_conftest() -> ModuleType:
    # by path: `import conftest` would get whichever directory's conftest was imported last
    spec = importlib.util.spec_from_file_location("certsoar_suite_conftest", TESTS / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


suite_conftest = _load_suite_conftest()

TINY_SUITE = """
import pytest
from realcomponents import require_tool

@pytest.mark.real
def test_marked_real_skips():
    pytest.skip("openssl is not installed")

def test_unmarked_probe_skips():
    require_tool("certsoar-no-such-tool")

def test_plain_skip():
    pytest.skip("not relevant on this platform")

@pytest.mark.real
def test_real_that_runs():
    assert True
"""

MODULE_SKIP = """
from realcomponents import require_tool

require_tool("certsoar-no-such-tool", module=True)

def test_never_collected():
    pass
"""


def _outcomes(tmp_path: Path, ci: str | None) -> tuple[dict[str, str], str]:
    suite = tmp_path / f"suite-{ci}"
    suite.mkdir()
    shutil.copy(TESTS / "conftest.py", suite / "conftest.py")
    shutil.copy(TESTS / "realcomponents.py", suite / "realcomponents.py")
    (suite / "pytest.ini").write_text("[pytest]\nmarkers =\n    real: needs a real component\n")
    (suite / "test_tiny.py").write_text(TINY_SUITE)
    (suite / "test_module_skip.py").write_text(MODULE_SKIP)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "-rs",
            "--continue-on-collection-errors",
            "--junitxml",
            str(suite / "report.xml"),
            str(suite),
        ],
        cwd=suite,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    outcomes = {}
    for case in ET.parse(suite / "report.xml").getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcomes[".".join(filter(None, (case.get("classname"), case.get("name"))))] = kinds[0] if kinds else "passed"
    return outcomes, done.stdout


def test_in_ci_a_skipped_real_component_test_fails(tmp_path: Path) -> None:
    outcomes, output = _outcomes(tmp_path, "true")
    assert outcomes == {
        "test_tiny.test_marked_real_skips": "failure",
        "test_tiny.test_unmarked_probe_skips": "failure",  # a probe's skip counts even unmarked
        "test_tiny.test_plain_skip": "skipped",
        "test_tiny.test_real_that_runs": "passed",
        "test_module_skip": "error",  # the whole module skipped at import by a probe
    }, output
    assert (
        "CI: a real-component test may not skip (needs a real component: certsoar-no-such-tool is not installed)"
        in output
    )


def test_outside_ci_the_same_tests_skip_with_the_reason(tmp_path: Path) -> None:
    outcomes, output = _outcomes(tmp_path, None)
    assert outcomes == {
        "test_tiny.test_marked_real_skips": "skipped",
        "test_tiny.test_unmarked_probe_skips": "skipped",
        "test_tiny.test_plain_skip": "skipped",
        "test_tiny.test_real_that_runs": "passed",
        "test_module_skip": "skipped",
    }, output
    assert "needs a real component: certsoar-no-such-tool is not installed" in output  # -rs prints why


@pytest.mark.parametrize(
    ("value", "ci"),
    [
        ("true", True),
        ("1", True),
        ("yes", True),
        ("TRUE", True),
        ("", False),
        ("false", False),
        ("0", False),
        ("no", False),
    ],
)
def test_what_counts_as_ci(monkeypatch: pytest.MonkeyPatch, value: str, ci: bool) -> None:
    monkeypatch.setenv("CI", value)
    assert suite_conftest.in_ci() is ci


def test_the_policy_and_the_probes_agree_on_the_prefix() -> None:
    assert suite_conftest.MISSING == realcomponents.MISSING


def test_a_squid_without_ssl_bump_is_a_missing_component(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # configure options of a plain build (no --with-openssl, no --enable-ssl-crtd), as `squid -v` prints them
    fake = tmp_path / "squid"
    fake.write_text(
        "#!/bin/sh\necho 'Squid Cache: Version 5.7'\n"
        "echo \"configure options:  '--prefix=/usr' '--enable-delay-pools' '--with-default-user=proxy'\"\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(
        pytest.skip.Exception, match="built without ssl-bump support .*--with-openssl, --enable-ssl-crtd"
    ):
        require_squid_with_ssl_bump()
    fake.write_text("#!/bin/sh\necho \"configure options:  '--with-openssl' '--enable-ssl-crtd'\"\n")
    other = tmp_path / "bin2"
    other.mkdir()
    shutil.copy(fake, other / "squid")
    monkeypatch.setenv("PATH", f"{other}{os.pathsep}{os.environ['PATH']}")
    assert require_squid_with_ssl_bump() == str(other / "squid")
