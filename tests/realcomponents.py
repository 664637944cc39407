"""Probes for the real components tests use (openssl, nft in a network namespace, Squid with ssl-bump,
the packaging tools): each returns what the test needs or skips with a reason that says a real
component is missing. tests/conftest.py turns those skips into failures when CI is set."""

from __future__ import annotations

import functools
import importlib.util
import shutil
import subprocess
import sys
import uuid

import pytest

MISSING = "needs a real component: "
"""Every probe's skip reason starts with this; the CI policy in tests/conftest.py recognizes it."""

SSL_BUMP_CONFIGURE_OPTIONS = ("--with-openssl", "--enable-ssl-crtd")


def missing(reason: str, *, module: bool = False) -> pytest.skip.Exception:
    """The skip of a test whose real component is absent (raise it)."""
    return pytest.skip.Exception(MISSING + reason, allow_module_level=module)


def require_tool(name: str, *, module: bool = False) -> str:
    """The path of command ``name``, or a skip naming it."""
    found = shutil.which(name)
    if found is None:
        raise missing(f"{name} is not installed", module=module)
    return found


@functools.cache
def _squid_ssl_bump_problem(squid: str) -> str | None:
    try:
        shown = subprocess.run([squid, "-v"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{squid} -v failed: {exc}"
    absent = [option for option in SSL_BUMP_CONFIGURE_OPTIONS if f"'{option}'" not in shown.stdout]
    if shown.returncode != 0 or absent:
        return (
            f"{squid} was built without ssl-bump support (configure options lack {', '.join(absent) or '?'}; "
            "on Debian install squid-openssl)"
        )
    return None


def require_squid_with_ssl_bump() -> str:
    """The squid binary, if it was built with OpenSSL and the certificate helper (ssl_bump, server_cert_fingerprint)."""
    squid = require_tool("squid")
    problem = _squid_ssl_bump_problem(squid)
    if problem is not None:
        raise missing(problem)
    return squid


def require_network_namespaces() -> None:
    """nft and ip are installed and a network namespace can be created here."""
    for tool in ("nft", "ip"):
        require_tool(tool)
    probe = f"cs-probe-{uuid.uuid4().hex[:8]}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        raise missing(f"ip netns add is not permitted here: {made.stderr.strip()}")
    subprocess.run(["ip", "netns", "del", probe], check=True)


def require_python_modules(*names: str) -> None:
    """Modules a build needs in this interpreter (pip, setuptools, wheel for --no-build-isolation)."""
    absent = [name for name in names if importlib.util.find_spec(name) is None]
    if absent:
        raise missing(f"python modules {', '.join(absent)} are not installed for {sys.executable}")


def require_chromium() -> tuple[str, str]:
    """Debian's chromium and its chromedriver, and Selenium to drive them: (chromium, chromedriver)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise missing("chromium is not installed (on Debian: apt-get install chromium chromium-driver)")
    driver = require_tool("chromedriver")
    if importlib.util.find_spec("selenium") is None:
        raise missing(f"selenium is not installed for {sys.executable} (the test extra)")
    shown = subprocess.run([browser, "--headless", "--no-sandbox", "--version"], capture_output=True, text=True)
    if shown.returncode != 0:
        raise missing(f"{browser} --version failed: {shown.stderr.strip()[:200]}")
    return browser, driver
