"""The approval page in a real browser (Debian's chromium driven by Selenium) against `certsoar serve`
on a loopback port, on a real lab run waiting for approval: alice logs in, sees the rule and the
planned containment, approves and sees the verified outcome; bob (soc-tier1) sees no approve button and his
forged POST is refused; dave releases the containment in the browser, alice approves the release, the nft set and
the Squid list are back as before."""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from pagelab import PASSWORDS, PageLab, page_lab, pristine_page_lab  # noqa: F401 (fixtures)
from realcomponents import require_chromium

from certsoar import api
from certsoar.config import load_config

pytestmark = pytest.mark.real

SCREENSHOT_ENV = "CERTSOAR_PAGE_SCREENSHOT"
"""Where to copy the screenshot of the run page as well (the README's docs/approval-page.png)."""
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--window-size=1280,2400",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(page_lab: PageLab) -> Iterator[str]:  # noqa: F811
    """`certsoar serve` in its own process on a free loopback port; its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTSOAR_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "certsoar", "serve", "--config", str(page_lab.config)]
        + ["--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/approvals", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            assert time.monotonic() < deadline, "the page did not come up within 30 s"
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=20)
        if server.stderr is not None:
            server.stderr.close()


@pytest.fixture
def browser() -> Iterator[object]:
    chromium, chromedriver = require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    driver.set_page_load_timeout(180)  # approving executes the containment before the page answers
    try:
        yield driver
    finally:
        driver.quit()


def navigates(driver, act: Callable[[], object], timeout: float = 180) -> None:  # type: ignore[no-untyped-def]
    """Do ``act`` (a click, a form submitted) and wait until the browser has left the page it was on."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    page = driver.find_element(By.TAG_NAME, "html")
    act()

    def left(_: object) -> bool:
        # chromium reports a node of a document it has left as stale, or as "does not belong to the document"
        try:
            page.is_enabled()
        except WebDriverException:
            return True
        return False

    WebDriverWait(driver, timeout).until(left)
    WebDriverWait(driver, timeout).until(lambda d: d.execute_script("return document.readyState") == "complete")


def log_in(driver, base: str, name: str) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{base}/approvals")
    driver.find_element(By.ID, "analyst").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(PASSWORDS[name])
    navigates(driver, driver.find_element(By.ID, "login").click)
    assert driver.find_element(By.ID, "signed-in").text == name


def test_alice_approves_in_the_browser_and_bob_cannot(
    page_lab: PageLab,  # noqa: F811
    served: str,
    browser,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    internal = page_lab.waiting_run("internal")
    mimicry = page_lab.waiting_run("mimicry")

    # bob (soc-tier1) sees the evidence but no button, and a forged POST with his own CSRF token is refused.
    log_in(driver, served, "bob")
    driver.get(f"{served}/approvals/runs/{mimicry}")
    assert "issuer_mimicry" in driver.find_element(By.ID, "rules").text
    assert driver.find_elements(By.ID, "approve") == [] and driver.find_elements(By.ID, "deny") == []
    assert "none of the roles this gate accepts (soc-tier2)" in driver.find_element(By.ID, "no-decision").text
    forge = functools.partial(
        driver.execute_script,
        """const form = document.createElement('form');
        form.method = 'post'; form.action = arguments[0];
        for (const [name, value] of [['decision', 'approved'], ['csrf', arguments[1]]]) {
          const input = document.createElement('input'); input.type = 'hidden';
          input.name = name; input.value = value; form.appendChild(input);
        }
        document.body.appendChild(form); form.submit();""",
        f"{served}/approvals/runs/{mimicry}/decide",
        driver.find_element(By.NAME, "csrf").get_attribute("value"),
    )
    navigates(driver, forge)
    assert "bob has none of the roles this gate accepts" in driver.find_element(By.ID, "reason").text
    config = load_config(page_lab.config)
    assert api.show_run(config, mimicry)["approval"]["decisions"] == []

    # alice: the list, the run with its rule and planned containment, approve, the verified outcome.
    log_in(driver, served, "alice")
    listed = driver.find_element(By.ID, "waiting").text
    assert internal in listed and mimicry in listed
    navigates(driver, driver.find_element(By.LINK_TEXT, internal).click)
    assert "unauthorized_internal" in driver.find_element(By.ID, "rules").text
    plan = driver.find_element(By.ID, "plan").text
    assert "ca.revoke" in plan and "revoke serial 1002" in plan and "1002=Valid" in plan
    assert "/CN=login.microsoftonline.com" in plan  # what the CA holds under the serial
    assert "firewall.block" in plan and "198.51.100.23" in plan and "proxy.block_certificate" in plan
    assert "0 of 1" in driver.find_element(By.ID, "approval").text
    shot = tmp_path / "approval-page.png"
    driver.save_screenshot(str(shot))
    if os.environ.get(SCREENSHOT_ENV):
        shutil.copyfile(shot, os.environ[SCREENSHOT_ENV])
    driver.find_element(By.ID, "comment").send_keys("our CA must never issue Microsoft names")
    navigates(driver, driver.find_element(By.ID, "approve").click)

    assert driver.find_element(By.ID, "status").text == "completed"
    outcome = driver.find_element(By.ID, "outcome").text
    effects = driver.find_elements(By.CSS_SELECTOR, "#outcome tr.effect")
    assert len(effects) == 3 and all(row.text.endswith("verified") for row in effects), outcome
    assert "NOT verified" not in outcome
    assert "alice approved" in driver.find_element(By.ID, "approval").text
    run = api.show_run(config, internal)
    assert run["status"] == "completed" and all(e["verified"] for e in run["effects"])
    revoked = subprocess.run(
        ["openssl", "ca", "-config", str(page_lab.root / "ca" / "openssl.cnf"), "-status", "1002"],
        capture_output=True,
        text=True,
        cwd=page_lab.root / "ca",
    )
    assert "Revoked" in revoked.stdout + revoked.stderr


def _lists(root: Path) -> tuple[list[str], list[str]]:
    """The nft ruleset's element lines and the Squid list's fingerprint lines."""
    nft, squid = root / "firewall" / "certsoar.nft", root / "proxy" / "rogue-certs.txt"
    elements = [line for line in (nft.read_text().splitlines() if nft.exists() else []) if line.startswith("\t\t\t")]
    fingerprints = [line for line in (squid.read_text().splitlines() if squid.exists() else []) if line[:1] != "#"]
    return elements, fingerprints


def test_dave_releases_in_the_browser_and_alice_approves_the_release(
    page_lab: PageLab,  # noqa: F811
    served: str,
    browser,  # type: ignore[no-untyped-def]
) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    before = _lists(page_lab.root)
    run_id = page_lab.waiting_run("internal")
    page_lab.certsoar("approve", run_id, "--as", "alice")
    blocked = _lists(page_lab.root)
    assert blocked != before and all(blocked)

    # dave (soc-tier2) reads what a release cannot undo, says why, and clicks
    log_in(driver, served, "dave")
    driver.get(f"{served}/approvals/runs/{run_id}")
    release = driver.find_element(By.ID, "release").text
    assert "A release cannot undo" in release and "serial 1002 stays revoked (keyCompromise)" in release
    driver.find_element(By.ID, "release-comment").send_keys("the rogue name was a sanctioned test")
    navigates(driver, driver.find_element(By.ID, "release-button").click)
    assert driver.find_element(By.ID, "status").text == "waiting_approval"
    release_id = driver.current_url.rsplit("/", 1)[1]
    assert run_id in driver.find_element(By.ID, "release-plan").text
    assert _lists(page_lab.root) == blocked  # nothing taken back before the approval

    # alice approves the release: the blocks are gone, read back
    log_in(driver, served, "alice")
    driver.get(f"{served}/approvals/runs/{release_id}")
    navigates(driver, driver.find_element(By.ID, "approve").click)
    assert driver.find_element(By.ID, "status").text == "completed"
    effects = driver.find_elements(By.CSS_SELECTOR, "#outcome tr.effect")
    assert len(effects) == 2 and all(row.text.endswith("verified") for row in effects)
    assert _lists(page_lab.root) == before
    driver.get(f"{served}/approvals/runs/{run_id}")
    assert (
        f"release run {release_id} already took this containment back" in driver.find_element(By.ID, "no-release").text
    )
    assert api.show_run(load_config(page_lab.config), run_id)["released_by"] == release_id
