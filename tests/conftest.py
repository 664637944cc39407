"""Suite-wide policy: a test that needs a real component (openssl, nft, squid, a build tool) skips with
the reason locally, and fails in CI (``CI`` set and not false), where every component is installed
(.ci/run) and a skip would hide a check that never ran.

A test counts as real when it is marked ``real`` or when one of the probes in tests/realcomponents.py
skipped it (their reasons start with ``MISSING``), so a new test that calls a probe is covered unmarked.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Generator
from typing import Any

import pytest

MISSING = "needs a real component: "  # the prefix of tests/realcomponents.py's skip reasons (kept in step by a test)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _skip_reason(longrepr: Any) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.skipped and in_ci() and not hasattr(report, "wasxfail"):
        reason = _skip_reason(report.longrepr)
        if item.get_closest_marker("real") is not None or reason.startswith(MISSING):
            report.outcome = "failed"
            report.longrepr = f"CI: a real-component test may not skip ({reason})"
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    if report.skipped and in_ci():
        reason = _skip_reason(report.longrepr)
        if reason.startswith(MISSING):
            report.outcome = "failed"
            report.longrepr = f"CI: a module of real-component tests may not skip ({reason})"
    return report


def pytest_configure(config: pytest.Config) -> None:
    # The checked-playbook cache of the processes the tests start goes to a folder of this session, never
    # to the user's ~/.cache (certsoar.checkcache); a test of the cache itself sets its own.
    if "CERTSOAR_CACHE" not in os.environ:
        os.environ["CERTSOAR_CACHE"] = tempfile.mkdtemp(prefix="certsoar-test-cache-")
