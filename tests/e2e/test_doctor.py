"""`certsoar doctor` on a good install says everything checks (exit 0); on a broken one it names each problem
with what to fix and exits 1, without changing anything."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Cli, snapshot


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
