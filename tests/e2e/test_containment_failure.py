"""A containment step that fails after the approval (issue 12): the run ends failed naming the step, and the
ticket says containment failed and what, instead of staying open without a word; once the cause is fixed,
resuming the run completes the containment and the ticket moves to contained."""

from __future__ import annotations

import shutil

from clidriver import Cli

CONTAINMENT = ("ca.revoke", "firewall.block", "proxy.block_certificate")


def test_a_failed_containment_is_said_on_the_ticket_and_a_resume_completes_it(cli: Cli) -> None:
    squid_list = cli.lab.root / "proxy" / "rogue-certs.txt"
    squid_list.unlink(missing_ok=True)
    squid_list.mkdir(parents=True)  # the proxy connector cannot read or write its list
    waiting = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]))
    assert waiting["status"] == "waiting_approval"

    failed = cli.json("approve", waiting["id"], "--as", "alice", expect=1)
    assert failed["status"] == "failed" and "step block_cert failed" in failed["error"]
    ticket = cli.json("tickets", "show", failed["ticket"]["id"])
    in_place = [e for e in failed["effects"] if e["action"] in CONTAINMENT]  # a cancelled sibling's change counts
    assert ticket["status"] == ("partially-contained" if in_place else "open")
    [said] = [c for c in ticket["comments"] if "Containment FAILED" in c]
    assert f"run {failed['id']}" in said and "block_cert" in said and "Is a directory" in said
    assert all(f"in place: {e['action']} `{e['target']}`" in said for e in in_place)
    assert f"certsoar runs resume {failed['id']}" in said

    shutil.rmtree(squid_list)
    resumed = cli.json("runs", "resume", failed["id"])
    assert resumed["status"] == "completed" and resumed["error"] is None
    assert cli.json("tickets", "show", failed["ticket"]["id"])["status"] == "contained"
