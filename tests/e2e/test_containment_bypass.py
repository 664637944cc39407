"""Seen again after containment: a certificate certsoar contained shows up in a new alert. Through the CLI on
the lab (real OpenSSL CA, nftables file, Squid fingerprint list, local tickets): no second approval for what
the ledger holds contained, nothing contained twice, the same ticket commented, containment_bypass naming
where it was seen; a target not contained yet still waits for an approval."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from clidriver import Cli

CONTAINMENT = ("ca.revoke", "firewall.block", "proxy.block_certificate")


def _contain_first(cli: Cli) -> dict[str, Any]:
    first = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]))
    assert first["status"] == "waiting_approval"
    done = cli.json("approve", first["id"], "--as", "alice")
    assert done["status"] == "completed"
    assert {e["action"] for e in done["effects"] if e["changed"] and e["verified"]} >= set(CONTAINMENT)
    return done


def _again(cli: Cli, **changes: Any) -> dict[str, Any]:
    alert = json.loads(cli.lab.alerts["internal"].read_text())
    alert.update({"id": "seen-again-on-sensor-7", "host": "sensor-7.corp.example", **changes})
    return cli.json("run", "certificate-alert", "--alert", "-", stdin=json.dumps(alert).encode())


def _ledger(cli: Cli) -> dict[str, tuple[str, str]]:
    db = sqlite3.connect(cli.lab.root.parent / "runs.sqlite3")
    return {key: (run, state) for key, run, state in db.execute("SELECT key, run_id, state FROM effects")}


def _tickets(cli: Cli) -> dict[str, list[str]]:
    db = sqlite3.connect(cli.lab.root.parent / "runs.sqlite3")
    return {ticket: json.loads(comments) for ticket, comments in db.execute("SELECT id, comments FROM tickets")}


def _gates(cli: Cli, run_id: str) -> int:
    db = sqlite3.connect(cli.lab.root.parent / "runs.sqlite3")
    return db.execute("SELECT COUNT(*) FROM approvals WHERE run_id=?", (run_id,)).fetchone()[0]


def test_seen_again_escalates_without_a_second_approval_and_comments_on_the_same_ticket(cli: Cli) -> None:
    first = _contain_first(cli)
    ledger_before, tickets_before = _ledger(cli), _tickets(cli)
    again = _again(cli)

    assert again["status"] == "completed"
    assert _gates(cli, again["id"]) == 0  # the approval given in the first run is not asked again
    fired = {r["rule"]: r["reason"] for r in again["verdict"]["reasons"]}
    bypass = fired["containment_bypass"]
    assert first["id"] in bypass and "sensor-7.corp.example" in bypass and "seen-again-on-sensor-7" in bypass
    alert = json.loads(cli.lab.alerts["internal"].read_text())
    assert f"{alert['dst_ip']}:{alert['dst_port']}" in bypass and "not contained yet" not in bypass

    # nothing contained twice: no containment effect in the second run, the ledger unchanged, one revocation
    assert not [e for e in again["effects"] if e["action"] in CONTAINMENT]
    assert {k: v for k, v in _ledger(cli).items() if not k.startswith(("notify", "ticket"))} == {
        k: v for k, v in ledger_before.items() if not k.startswith(("notify", "ticket"))
    }
    index = (cli.lab.ca_dir / "index.txt").read_text().splitlines()
    assert sum(line.startswith("R") for line in index) == 1

    # one ticket, commented by the second run
    assert again["ticket"]["id"] == first["ticket"]["id"]
    opened = [e for e in again["effects"] if e["action"] == "ticket.open"]
    assert opened and not any(e["changed"] for e in opened)
    comment = next(e for e in again["effects"] if e["action"] == "ticket.comment")
    assert comment["changed"] and comment["verified"]
    tickets = _tickets(cli)
    assert list(tickets) == [first["ticket"]["id"]]
    comments = tickets[first["ticket"]["id"]]
    assert comments[:-1] == tickets_before[first["ticket"]["id"]]
    assert "Already contained by run" in comments[-1] and "sensor-7.corp.example" in comments[-1]


def test_a_new_server_for_the_contained_certificate_still_needs_approval(cli: Cli) -> None:
    first = _contain_first(cli)
    again = _again(cli, dst_ip="203.0.113.77")

    assert again["status"] == "waiting_approval"
    bypass = next(r["reason"] for r in again["verdict"]["reasons"] if r["rule"] == "containment_bypass")
    assert "not contained yet: firewall:203.0.113.77" in bypass and first["id"] in bypass
    request = next(n["body"] for n in again["notifications"] if n["template"] == "approval/request.md.j2")
    assert "This approval is for what is left: `firewall:203.0.113.77`" in request

    done = cli.json("approve", again["id"], "--as", "bob")
    assert done["status"] == "completed"
    changed = {(e["action"], e["target"]) for e in done["effects"] if e["action"] in CONTAINMENT and e["changed"]}
    assert changed == {("firewall.block", "203.0.113.77")}  # only the new target; the rest was already done
    assert all(e["verified"] for e in done["effects"] if e["action"] in CONTAINMENT)
    assert "203.0.113.77" in (cli.lab.root / "firewall" / "certsoar.nft").read_text()
    index = (cli.lab.ca_dir / "index.txt").read_text().splitlines()
    assert sum(line.startswith("R") for line in index) == 1


def test_a_certificate_waiting_for_approval_is_not_contained(cli: Cli) -> None:
    first = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]))
    assert first["status"] == "waiting_approval"
    again = _again(cli)
    assert again["status"] == "waiting_approval"
    assert "containment_bypass" not in {r["rule"] for r in again["verdict"]["reasons"]}
