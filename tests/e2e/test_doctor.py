"""`certsoar doctor` on a good install says everything checks (exit 0); on a broken one it names each problem
with what to fix and exits 1, without changing anything."""

from __future__ import annotations

import json
from pathlib import Path

from clidriver import Cli, snapshot


def findings(cli: Cli, *args: str, expect: int) -> dict[str, dict]:
    done = cli.run("doctor", "--json", *args)
    assert done.returncode == expect, (done.stdout, done.stderr)
    return {f["check"]: f for f in json.loads(done.stdout)}


def test_a_good_install_checks(cli: Cli) -> None:
    state = cli.lab.root.parent
    before = snapshot(state)
    found = findings(cli, expect=0)
    assert all(f["ok"] and f["fix"] is None for f in found.values()), found
    assert {"config", "openssl", "state_dir", "audit_key", "playbooks"} <= set(found)
    assert found["openssl"]["detail"].startswith("OpenSSL ")
    assert {"siem files (files)", "ca openssl-ca (openssl-ca)", "firewall nftables (nftables)"} <= set(found)
    assert "nft" not in found and "squid" not in found  # the lab neither applies nor reconfigures
    assert snapshot(state) == before
    human = cli.run("doctor")
    assert human.returncode == 0 and human.stdout.rstrip().endswith("everything checks")


def test_a_broken_install_names_each_problem_and_its_fix(cli: Cli, tmp_path: Path) -> None:
    text = cli.lab.config.read_text()
    (tmp_path / "a-file").write_text("")
    broken = (
        text.replace("state_dir: ..", f"state_dir: {tmp_path / 'a-file' / 'state'}")
        .replace("ca: {type: openssl-ca,", "ca: {type: openssl-ca, openssl: /nonexistent/openssl,")
        .replace("apply: false", "apply: true, nft: /nonexistent/nft")
        .replace("reconfigure: false", "reconfigure: true, squid: /nonexistent/squid")
    )
    assert broken.count("/nonexistent/") == 3 and "a-file" in broken
    cli.lab.config.write_text(broken)
    found = findings(cli, expect=1)
    for check, detail in [
        ("openssl", "/nonexistent/openssl"),
        ("nft", "/nonexistent/nft"),
        ("squid", "/nonexistent/squid"),
        ("state_dir", "is not a folder"),
    ]:
        assert not found[check]["ok"] and detail in found[check]["detail"], found[check]
        assert found[check]["fix"], found[check]
    assert found["config"]["ok"] and found["playbooks"]["ok"]
    assert not any(c.startswith("ca ") for c in found)  # connectors are not read without a state dir

    cli.lab.config.write_text(text.replace("ca/ca.pem", "ca/missing.pem"))
    found = findings(cli, expect=1)
    assert not found["config"]["ok"] and "trust.internal_roots[0]" in found["config"]["detail"]
    assert found["openssl"]["ok"] and found["playbooks"]["ok"]
    human = cli.run("doctor")
    assert human.returncode == 1 and "fix: " in human.stdout and "1 problem(s) found" in human.stdout


def test_an_audit_key_that_cannot_be_read_is_a_finding_not_a_crash(cli: Cli, tmp_path: Path) -> None:
    text = cli.lab.config.read_text()
    short = tmp_path / "short.key"
    short.write_text("too-short\n")
    for reference, detail in [
        ("env:CERTSOAR_TEST_NO_SUCH_KEY", "CERTSOAR_TEST_NO_SUCH_KEY is not set"),
        (f"file:{tmp_path / 'missing.key'}", "missing.key"),
        (f"file:{short}", "shorter than 32 characters"),
    ]:
        cli.lab.config.write_text(f"{text}\naudit: {{key: '{reference}'}}\n")
        done = cli.run("doctor", "--json")
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        found = {f["check"]: f for f in json.loads(done.stdout)}
        assert not found["audit_key"]["ok"] and detail in found["audit_key"]["detail"], found["audit_key"]
        assert found["audit_key"]["fix"] and found["config"]["ok"]


def test_a_tool_that_is_not_squid_or_nft_is_named(cli: Cli) -> None:
    text = cli.lab.config.read_text()
    cli.lab.config.write_text(
        text.replace("apply: false", "apply: true, nft: /bin/echo").replace(
            "reconfigure: false", "reconfigure: true, squid: /bin/echo"
        )
    )
    found = findings(cli, expect=1)
    for check in ("nft", "squid"):
        assert not found[check]["ok"] and f"/bin/echo is not {check}" in found[check]["detail"], found[check]
        assert found[check]["fix"]


def test_an_override_template_that_does_not_compile_fails_the_playbooks_check(cli: Cli) -> None:
    folder = cli.lab.root / "my-templates" / "l1"
    folder.mkdir(parents=True)
    (folder / "summary.md.j2").write_text("# Summary of {{ run.id }\n")
    cli.lab.config.write_text(cli.lab.config.read_text() + "\ntemplates: [my-templates]\n")
    found = findings(cli, expect=1)
    assert not found["playbooks"]["ok"] and "l1/summary.md.j2" in found["playbooks"]["detail"], found["playbooks"]
    assert "my-templates" in found["playbooks"]["fix"]
