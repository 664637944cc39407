"""Taking containment back (`certsoar release`) and the ticket's life, through the real CLI on the lab (real
OpenSSL CA, nftables ruleset, Squid fingerprint list, local tickets): approval with four eyes, the firewall and
proxy lists back as before and read back, the ticket released, the revocation said to stay; a second release
changes nothing; a denied one changes nothing; a run that blocked nothing has nothing to release; two releases
at once unblock once; a partly refused containment is partially-contained; an ended ticket is reopened."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from clidriver import Cli

from certsoar.connectors.proxy.squid import squid_form
from certsoar.playbook import shipped_playbooks_dir

BLOCKS = ("firewall.block", "proxy.block_certificate")


def _db(cli: Cli) -> sqlite3.Connection:
    return sqlite3.connect(cli.lab.root.parent / "runs.sqlite3")


def _lists(cli: Cli) -> tuple[str, str]:
    """The nft ruleset's element lines and the Squid list's fingerprint lines, as the lab's files hold them."""
    nft = cli.lab.root / "firewall" / "certsoar.nft"
    squid = cli.lab.root / "proxy" / "rogue-certs.txt"
    nft_lines = nft.read_text().splitlines(True) if nft.exists() else []
    squid_lines = squid.read_text().splitlines(True) if squid.exists() else []
    elements = "".join(line for line in nft_lines if line.startswith("\t\t\t"))
    fingerprints = "".join(line for line in squid_lines if not line.startswith("#"))
    return elements, fingerprints


def _json_list(cli: Cli, *args: str) -> list[dict[str, Any]]:
    done = cli.run(*args, "--json")
    assert done.returncode == 0, done.stderr
    found: list[dict[str, Any]] = json.loads(done.stdout)
    return found


def _ledger(cli: Cli) -> dict[str, tuple[str, str]]:
    return {key: (run, state) for key, run, state in _db(cli).execute("SELECT key, run_id, state FROM effects")}


def _ticket(cli: Cli, ticket_id: str) -> dict[str, Any]:
    return cli.json("tickets", "show", ticket_id)


def _contain(cli: Cli, alert: str = "internal", alert_id: str | None = None) -> dict[str, Any]:
    path = cli.lab.alerts[alert]
    if alert_id is not None:
        body = json.loads(path.read_text())
        body["id"] = alert_id
        run = cli.json("run", "certificate-alert", "--alert", "-", stdin=json.dumps(body).encode())
    else:
        run = cli.json("run", "certificate-alert", "--alert", str(path))
    assert run["status"] == "waiting_approval"
    return cli.json("approve", run["id"], "--as", "alice")


def _mtimes(cli: Cli) -> list[int]:
    return [(cli.lab.root / p).stat().st_mtime_ns for p in ("firewall/certsoar.nft", "proxy/rogue-certs.txt")]


def test_release_takes_back_the_blocks_and_says_the_revocation_stays(cli: Cli) -> None:
    contained = _contain(cli)
    assert contained["status"] == "completed" and contained["ticket"]["status"] == "contained"
    blocked = {e["action"]: e["target"] for e in contained["effects"] if e["action"] in BLOCKS and e["changed"]}
    elements, fingerprints = _lists(cli)
    assert blocked["firewall.block"] in elements and squid_form(blocked["proxy.block_certificate"]) in fingerprints
    serial = next(e["target"] for e in contained["effects"] if e["action"] == "ca.revoke")

    asked = cli.json("release", contained["id"], "--as", "alice", "--comment", "false positive: pentest host PT-3")
    assert asked["playbook"] == "certificate-release" and asked["status"] == "waiting_approval"
    request = next(n["body"] for n in asked["notifications"] if n["template"] == "approval/release.md.j2")
    assert f"Unblock server `{blocked['firewall.block']}`" in request and "pentest host PT-3" in request
    assert f"serial {serial} stays revoked (keyCompromise)" in request
    assert _lists(cli) == (elements, fingerprints)  # nothing taken back before the approval

    own = cli.run("approve", asked["id"], "--as", "alice")  # four eyes: the analyst who asked may not approve
    assert own.returncode == 1 and "may not approve" in own.stderr
    released = cli.json("approve", asked["id"], "--as", "bob")
    assert released["status"] == "completed", released["error"]

    assert _lists(cli) == ("", "")  # the ruleset and the Squid list hold nothing again
    undone = {e["action"]: e for e in released["effects"] if e["action"].endswith(("unblock", "unblock_certificate"))}
    assert {e["target"] for e in undone.values()} == set(blocked.values())
    assert all(e["changed"] and e["verified"] for e in undone.values())
    ledger = _ledger(cli)
    assert {ledger[e["key"]] for e in contained["effects"] if e["action"] in BLOCKS} == {(contained["id"], "released")}
    assert ledger[next(e["key"] for e in contained["effects"] if e["action"] == "ca.revoke")][1] == "done"
    index = (cli.lab.ca_dir / "index.txt").read_text().splitlines()
    assert sum(line.startswith("R") for line in index) == 1  # a revocation stays

    assert released["ticket"]["status"] == "released"
    assert cli.json("runs", "show", contained["id"])["released_by"] == asked["id"]
    assert cli.json("runs", "show", asked["id"])["released_by"] is None
    ticket = _ticket(cli, contained["ticket"]["id"])
    assert ticket["status"] == "released" and asked["id"] in ticket["runs"]
    assert (
        f"serial {serial} stays revoked" in ticket["comments"][-1] and "unblocked (verified)" in ticket["comments"][-1]
    )
    assert [t["status"] for t in _json_list(cli, "tickets", "list")] == ["released"]

    # the containment sweep holds only what is in force: a released block is no drift, the revocation still counts
    swept = cli.json("sweep", "containment")
    assert (swept["drift"], swept["examined"]) == (0, 1), swept

    # asked again: the same release run, nothing written again
    stamps = _mtimes(cli)
    again = cli.json("release", contained["id"], "--as", "carol", "--comment", "again")
    assert again["id"] == asked["id"] and again["status"] == "completed"
    assert _mtimes(cli) == stamps and _ledger(cli) == ledger
    assert _ticket(cli, contained["ticket"]["id"])["comments"] == ticket["comments"]


def test_a_new_alert_after_a_release_asks_again_and_reopens_the_ticket(cli: Cli) -> None:
    contained = _contain(cli, "mimicry")
    asked = cli.json("release", contained["id"], "--as", "alice", "--comment", "red team")
    cli.json("approve", asked["id"], "--as", "bob")

    alert = json.loads(cli.lab.alerts["mimicry"].read_text())
    alert["id"] = "after-release-1"
    again = cli.json("run", "certificate-alert", "--alert", "-", stdin=json.dumps(alert).encode())
    # the released blocks no longer count as contained: no containment_bypass, and a new approval is asked
    assert "containment_bypass" not in {r["rule"] for r in again["verdict"]["reasons"]}
    assert again["status"] == "waiting_approval"
    assert again["ticket"]["id"] == contained["ticket"]["id"] and again["ticket"]["status"] == "open"
    reopened = again["ticket"]["comments"][-1]
    assert reopened.startswith(f"Reopened by run {again['id']}") and "after the ticket was released" in reopened

    done = cli.json("approve", again["id"], "--as", "bob")
    blocks = [e for e in done["effects"] if e["action"] in BLOCKS]
    assert blocks and all(e["changed"] and e["verified"] for e in blocks)  # blocked again, for real
    assert done["ticket"]["status"] == "contained"
    assert all(_ledger(cli)[e["key"]] == (again["id"], "done") for e in blocks)


def test_a_denied_release_changes_nothing(cli: Cli) -> None:
    contained = _contain(cli)
    lists, ledger = _lists(cli), _ledger(cli)
    ticket = _ticket(cli, contained["ticket"]["id"])
    asked = cli.json("release", contained["id"], "--as", "alice", "--comment", "looks benign")
    denied = cli.json("deny", asked["id"], "--as", "bob", "--comment", "no: beacons to a known C2")
    assert denied["status"] == "denied"
    assert _lists(cli) == lists
    assert {k: v for k, v in _ledger(cli).items() if not k.startswith("notify")} == {
        k: v for k, v in ledger.items() if not k.startswith("notify")
    }
    after = _ticket(cli, contained["ticket"]["id"])
    assert (after["status"], after["comments"]) == ("contained", ticket["comments"])
    outcome = next(n["body"] for n in denied["notifications"] if n["template"] == "outcome/release.md.j2")
    assert "Nothing was released: the approval was denied" in outcome and "known C2" in outcome


def test_a_run_that_blocked_nothing_has_nothing_to_release(cli: Cli) -> None:
    run = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["mimicry"]))
    denied = cli.json("deny", run["id"], "--as", "bob", "--comment", "known red-team exercise")
    lists, ledger = _lists(cli), _ledger(cli)
    release = cli.json("release", denied["id"], "--as", "alice", "--comment", "tidy up")
    assert release["status"] == "completed" and release["approval"] is None  # nothing to approve
    assert not [e for e in release["effects"] if e["action"] != "notify.send"]
    outcome = next(n["body"] for n in release["notifications"] if n["template"] == "outcome/release.md.j2")
    assert "blocked nothing a release can take back: nothing was changed" in outcome
    assert _lists(cli) == lists
    after = _ledger(cli)
    assert after.pop(f"release:{denied['id']}") == (release["id"], "done")  # only the release is on record
    assert {k: v for k, v in after.items() if not k.startswith("notify")} == {
        k: v for k, v in ledger.items() if not k.startswith("notify")
    }
    assert _ticket(cli, denied["ticket"]["id"])["status"] == "closed"

    unknown = cli.run("release", "0123456789abcdef", "--as", "alice", "--comment", "x")
    assert unknown.returncode == 2 and "0123456789abcdef" in unknown.stderr
    itself = cli.run("release", release["id"], "--as", "alice", "--comment", "x")
    assert itself.returncode == 2 and "is a release itself" in itself.stderr


def test_two_releases_at_once_make_one_release_that_unblocks_once(cli: Cli) -> None:
    contained = _contain(cli)
    asking = [
        subprocess.Popen(
            [sys.executable, "-m", "certsoar", "release", contained["id"], "--as", who, "--comment", "fp", "--json"],
            env=cli.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in ("alice", "carol")
    ]
    outputs = [p.communicate(timeout=120) for p in asking]
    assert all(p.returncode == 0 for p in asking), outputs
    ids = {json.loads(out)["id"] for out, _ in outputs}
    assert len(ids) == 1  # one release run for the run, whoever asked first
    [release_id] = ids

    deciding = [
        subprocess.Popen(
            [sys.executable, "-m", "certsoar", *args],
            env=cli.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in (("approve", release_id, "--as", "bob"), ("runs", "resume", release_id))
    ]
    for process in deciding:
        process.communicate(timeout=120)
    done = cli.json("runs", "show", release_id)
    assert done["status"] == "completed", done["error"]
    assert _lists(cli) == ("", "")
    intents = [
        json.loads(data)["key"]
        for (data,) in _db(cli).execute("SELECT data FROM audit WHERE event='effect.intent'")
        if ":unblock:" in json.loads(data)["key"]
    ]
    blocked = [e for e in contained["effects"] if e["action"] in BLOCKS and e["changed"]]
    assert len(intents) == len(set(intents)) == len(blocked)  # each block taken back exactly once
    released = [r for (r,) in _db(cli).execute("SELECT data FROM audit WHERE event='effect.released'")]
    assert len(released) == len(blocked)


def test_a_partly_refused_containment_is_partially_contained_and_released_as_far_as_it_went(
    cli: Cli, tmp_path: Path
) -> None:
    config = yaml.safe_load(cli.lab.config.read_text())
    config["protected_networks"] = [*config.get("protected_networks", []), "203.0.113.46/32"]
    cli.lab.config.write_text(yaml.safe_dump(config))
    contained = _contain(cli, "mimicry")
    assert contained["status"] == "completed"
    block = next(s for s in contained["steps"] if s["id"] == "block_servers")["output"]
    assert block["blocked"] == ["203.0.113.45"] and [r["address"] for r in block["refused"]] == ["203.0.113.46"]
    assert contained["ticket"]["status"] == "partially-contained"
    comment = contained["ticket"]["comments"][-1]
    assert "**Partially contained**: 1 server address(es) were refused" in comment and "203.0.113.46" in comment

    asked = cli.json("release", contained["id"], "--as", "alice", "--comment", "fp")
    released = cli.json("approve", asked["id"], "--as", "bob")
    assert [e["target"] for e in released["effects"] if e["action"] == "firewall.unblock"] == ["203.0.113.45"]
    assert released["ticket"]["status"] == "released"


def test_a_new_alert_for_a_closed_case_reopens_its_ticket(cli: Cli) -> None:
    run = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["mimicry"]))
    denied = cli.json("deny", run["id"], "--as", "bob", "--comment", "known red-team exercise RT-7")
    assert denied["ticket"]["status"] == "closed"
    alert = json.loads(cli.lab.alerts["mimicry"].read_text())
    alert["id"] = "after-denial-1"
    again = cli.json("run", "certificate-alert", "--alert", "-", stdin=json.dumps(alert).encode())
    assert again["ticket"]["id"] == denied["ticket"]["id"]
    assert again["ticket"]["status"] == "open"
    assert again["ticket"]["comments"][:-1] == denied["ticket"]["comments"]
    assert "after the ticket was closed" in again["ticket"]["comments"][-1]
    opened = next(e for e in again["effects"] if e["action"] == "ticket.reopen")
    assert opened["changed"] and opened["verified"]
    [listed] = _json_list(cli, "tickets", "list")
    assert listed["status"] == "open"


def _openssl(cli: Cli, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=False, cwd=cli.lab.ca_dir)


def test_a_certificate_hold_is_released_at_the_ca_and_any_other_revocation_stays(cli: Cli, tmp_path: Path) -> None:
    book = yaml.safe_load((shipped_playbooks_dir() / "certificate-alert.yaml").read_text())
    book["vars"]["revocation_reason"] = "certificateHold"
    held_book = tmp_path / "certificate-alert.yaml"
    held_book.write_text(yaml.safe_dump(book))
    run = cli.json("run", str(held_book), "--alert", str(cli.lab.alerts["internal"]))
    contained = cli.json("approve", run["id"], "--as", "alice")
    serial = next(e["target"] for e in contained["effects"] if e["action"] == "ca.revoke")
    rogue = str(cli.lab.certificates["rogue"])
    verify = ("verify", "-crl_check", "-CAfile", str(cli.lab.ca_cert), "-CRLfile", str(cli.lab.crl), rogue)
    config = ("-config", str(cli.lab.ca_config))
    assert "Revoked" in _openssl(cli, "ca", *config, "-status", serial).stderr
    assert "certificate revoked" in _openssl(cli, *verify).stdout + _openssl(cli, *verify).stderr

    asked = cli.json("release", contained["id"], "--as", "alice", "--comment", "the server is ours after all")
    request = next(n["body"] for n in asked["notifications"] if n["template"] == "approval/release.md.j2")
    assert f"Release the hold on serial `{serial}`" in request and "stays revoked" not in request
    released = cli.json("approve", asked["id"], "--as", "bob")
    assert released["status"] == "completed", released["error"]
    [hold] = [e for e in released["effects"] if e["action"] == "ca.release_hold"]
    assert hold["target"] == serial and hold["changed"] and hold["verified"]

    # read back with openssl itself: valid in the CA's database, and the new CRL no longer lists it
    assert f"{serial}=Valid" in _openssl(cli, "ca", *config, "-status", serial).stderr
    checked = _openssl(cli, *verify)
    assert checked.returncode == 0 and f"{rogue}: OK" in checked.stdout, checked.stderr
    assert serial not in _openssl(cli, "crl", "-in", str(cli.lab.crl), "-noout", "-text").stdout
    assert _lists(cli) == ("", "")
    assert released["ticket"]["status"] == "released"
    assert "released from hold (verified: valid, not in the CRL)" in released["ticket"]["comments"][-1]


def test_a_block_another_run_relies_on_stays_until_that_run_is_released_too(cli: Cli) -> None:
    first = _contain(cli)
    alert = json.loads(cli.lab.alerts["internal"].read_text())
    alert.update({"id": "seen-again-new-server", "dst_ip": "203.0.113.77"})
    again = cli.json("run", "certificate-alert", "--alert", "-", stdin=json.dumps(alert).encode())
    second = cli.json("approve", again["id"], "--as", "bob")  # blocks .77; finds the first run's blocks in place
    assert second["status"] == "completed"
    lists = _lists(cli)

    first_release = cli.json("release", first["id"], "--as", "alice", "--comment", "fp")
    assert first_release["status"] == "completed" and first_release["approval"] is None  # nothing to take back
    plan = next(s for s in first_release["steps"] if s["id"] == "plan")["output"]
    assert {k["target"] for k in plan["kept"]} == {
        e["target"] for e in first["effects"] if e["action"] in BLOCKS and e["changed"]
    }
    assert all(f"run {again['id']} also relies on it" in k["reason"] for k in plan["kept"])
    assert _lists(cli) == lists and _ticket(cli, first["ticket"]["id"])["status"] == "contained"

    # the second run's release takes back everything: its own block and the ones it relied on
    second_release = cli.json("release", again["id"], "--as", "alice", "--comment", "fp")
    done = cli.json("approve", second_release["id"], "--as", "bob")
    assert done["status"] == "completed", done["error"]
    assert _lists(cli) == ("", "")
    assert done["ticket"]["status"] == "released"
    swept = cli.json("sweep", "containment")
    assert swept["drift"] == 0, swept


PROXY_LINE = "  proxy: {type: squid, fingerprint_file: proxy/rogue-certs.txt, reconfigure: false}\n"


def _with_name_proxy(cli: Cli) -> None:
    """The lab's Squid list, and an ``edl`` proxy beside it that blocks by name (its sni feed in the run store)."""
    text = cli.lab.config.read_text(encoding="utf-8")
    assert PROXY_LINE in text
    both = (
        "  proxy: [{type: squid, name: squid, fingerprint_file: proxy/rogue-certs.txt, reconfigure: false}, "
        "{type: edl, name: pulled}]\n"
    )
    cli.lab.config.write_text(text.replace(PROXY_LINE, both), encoding="utf-8")


def _sni_feed(cli: Cli) -> list[str]:
    try:
        rows = _db(cli).execute("SELECT value FROM feed_entries WHERE feed='sni' ORDER BY value").fetchall()
    except sqlite3.OperationalError:
        return []
    return [value for (value,) in rows]


def test_release_takes_back_the_names_a_proxy_blocked_by_name(cli: Cli) -> None:
    _with_name_proxy(cli)
    contained = _contain(cli, "mimicry")
    assert contained["status"] == "completed", contained["error"]
    by_name = [e for e in contained["effects"] if e["action"] == "proxy.block_name"]
    assert by_name and all(e["changed"] and e["verified"] and e["key"].startswith("proxy:pulled:") for e in by_name)
    names = sorted(e["target"] for e in by_name)
    assert _sni_feed(cli) == names
    published = cli.json("feeds", "write", str(cli.lab.root / "published"))
    assert published["sni"] == len(names)
    assert (cli.lab.root / "published" / "sni.txt").read_text() == "".join(f"{n}\n" for n in names)

    asked = cli.json("release", contained["id"], "--as", "alice", "--comment", "false positive")
    request = next(n["body"] for n in asked["notifications"] if n["template"] == "approval/release.md.j2")
    assert all(f"Unblock name `{n}`" in request for n in names)
    released = cli.json("approve", asked["id"], "--as", "bob")
    assert released["status"] == "completed", released["error"]
    undone = [e for e in released["effects"] if e["action"] == "proxy.unblock_name"]
    assert sorted(e["target"] for e in undone) == names and all(e["changed"] and e["verified"] for e in undone)
    assert _sni_feed(cli) == [] and _lists(cli)[1] == ""
    ledger = _ledger(cli)
    assert {ledger[e["key"]] for e in by_name} == {(contained["id"], "released")}

    again = cli.json("release", contained["id"], "--as", "carol", "--comment", "again")
    assert again["id"] == asked["id"] and _ledger(cli) == ledger and _sni_feed(cli) == []


def test_the_short_report_of_a_release_says_what_it_takes_back_and_what_stays(cli: Cli) -> None:
    run = _contain(cli)
    [address] = [e["target"] for e in run["effects"] if e["action"] == "firewall.block"]
    [sha1] = [e["target"] for e in run["effects"] if e["action"] == "proxy.block_certificate"]
    [serial] = [e["target"] for e in run["effects"] if e["action"] == "ca.revoke"]
    stays = f"  - not undone: serial {serial} stays revoked (keyCompromise): a revocation cannot be undone; issue a new"
    stays += " certificate if this one was legitimate"
    asked = cli.run("release", run["id"], "--as", "alice", "--comment", "a false positive")
    assert asked.returncode == 0, asked.stderr
    lines = asked.stdout.splitlines()
    release_id = lines[0].split()[1]
    assert lines[1:5] == [
        f"release of run {run['id']}:",
        f"  - would unblock {address} at the firewall",
        f"  - would unblock certificate SHA-1 {sha1} at the proxy",
        stays,
    ], asked.stdout
    approved = cli.run("approve", release_id, "--as", "bob")
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.splitlines()[1:5] == [
        f"release of run {run['id']}:",
        f"  - unblocked {address} at firewall nftables (verified)",
        f"  - unblocked certificate SHA-1 {sha1} at proxy squid (verified)",
        stays,
    ], approved.stdout
    assert "ticket: " in approved.stdout and "(released)" in approved.stdout


def test_the_short_report_of_a_release_lists_the_names_it_unblocks(cli: Cli) -> None:
    _with_name_proxy(cli)
    run = _contain(cli, "mimicry")
    names = sorted(e["target"] for e in run["effects"] if e["action"] == "proxy.block_name")
    assert names
    asked = cli.run("release", run["id"], "--as", "alice", "--comment", "a false positive")
    assert asked.returncode == 0, asked.stderr
    assert all(f"  - would unblock name {n} at the proxy" in asked.stdout.splitlines() for n in names), asked.stdout
    approved = cli.run("approve", asked.stdout.splitlines()[0].split()[1], "--as", "bob")
    assert approved.returncode == 0, approved.stderr
    shown = approved.stdout.splitlines()
    assert all(f"  - unblocked name {n} at proxy pulled (verified)" in shown for n in names), approved.stdout
