"""Kill the process at every step boundary of containment (and inside each effect) and resume:
every effect happens exactly once and the run completes."""

from __future__ import annotations

import json
import sqlite3

import pytest
from clidriver import Cli
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from certsoar.faults import CRASH_EXIT_CODE


def crash_points(cli: Cli) -> list[str]:
    rogue = x509.load_pem_x509_certificate(cli.lab.certificates["rogue"].read_bytes())
    serial = format(rogue.serial_number, "X")
    sha1 = rogue.fingerprint(hashes.SHA1()).hex()
    sha256 = rogue.fingerprint(hashes.SHA256()).hex()
    return [
        "before:approval",
        "before:contain",
        "before:revoke",
        f"intent:ca:openssl-ca:revoke:{serial}",
        f"write:ca:openssl-ca:revoke:{serial}",
        "after:revoke",
        "intent:firewall:nftables:block:198.51.100.23",
        "write:firewall:nftables:block:198.51.100.23",
        "after:block_servers",
        f"intent:proxy:squid:block:{sha1}",
        f"write:proxy:squid:block:{sha1}",
        "after:block_cert",
        "after:contain",
        "before:ticket_update",
        f"write:ticket:local:{sha256}:comment:RUN:ticket_update",
        "after:ticket_update",
        "before:outcome",
    ]


POINTS = list(range(17))


def effects_in_targets(cli: Cli) -> dict[str, int]:
    index = (cli.lab.ca_dir / "index.txt").read_text().splitlines()
    ruleset = (cli.lab.root / "firewall" / "certsoar.nft").read_text()
    squid = (cli.lab.root / "proxy" / "rogue-certs.txt").read_text()
    db = sqlite3.connect(cli.lab.root.parent / "runs.sqlite3")
    tickets = db.execute("SELECT comments FROM tickets").fetchall()
    return {
        "revoked": sum(line.startswith("R\t") for line in index),
        "firewall": ruleset.count("198.51.100.23 comment"),
        "proxy": sum(1 for line in squid.splitlines() if line and not line.startswith("#")),
        "tickets": len(tickets),
        "comments": sum(len(json.loads(c)) for (c,) in tickets),
    }


@pytest.mark.parametrize("point", POINTS)
def test_kill_and_resume_makes_every_effect_exactly_once(cli: Cli, point: int) -> None:
    run = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]))
    assert run["status"] == "waiting_approval"
    crash_at = crash_points(cli)[point].replace("RUN", run["id"])

    died = cli.run("approve", run["id"], "--as", "alice", crash_at=crash_at)
    assert died.returncode == CRASH_EXIT_CODE, f"never reached {crash_at}: {died.stdout}{died.stderr}"
    assert cli.json("runs", "show", run["id"])["status"] in ("running", "waiting_approval")

    resumed = cli.json("runs", "resume", run["id"])
    if resumed["status"] == "waiting_approval":  # died before the approval was recorded as decided
        resumed = cli.json("approve", run["id"], "--as", "alice")
    assert resumed["status"] == "completed", resumed
    assert effects_in_targets(cli) == {"revoked": 1, "firewall": 1, "proxy": 1, "tickets": 1, "comments": 1}
    revoke = next(e for e in resumed["effects"] if e["action"] == "ca.revoke")
    assert revoke["changed"] and revoke["verified"] and revoke["evidence"]["in_crl"]

    # one more resume, a second approval and the same alert again change nothing
    assert cli.json("runs", "resume", run["id"])["status"] == "completed"
    assert cli.run("approve", run["id"], "--as", "bob").returncode == 1
    assert cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]))["id"] == run["id"]
    assert effects_in_targets(cli) == {"revoked": 1, "firewall": 1, "proxy": 1, "tickets": 1, "comments": 1}


@pytest.mark.parametrize("point", ["before:cert", "after:summary", "before:ticket", "after:ticket", "before:approval"])
def test_kill_before_the_approval_and_resume(cli: Cli, point: str) -> None:
    died = cli.run("run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]), crash_at=point)
    assert died.returncode == CRASH_EXIT_CODE
    run_id = json.loads(cli.run("runs", "list", "--json").stdout)[0]["id"]
    resumed = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]))
    assert resumed["id"] == run_id and resumed["status"] == "waiting_approval"
    assert len([e for e in resumed["effects"] if e["action"] == "ticket.open"]) == 1
    done = cli.json("approve", run_id, "--as", "alice")
    assert done["status"] == "completed"
    assert effects_in_targets(cli) == {"revoked": 1, "firewall": 1, "proxy": 1, "tickets": 1, "comments": 1}
