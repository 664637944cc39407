"""The two stories of the demo, through the CLI, with real effects in real formats."""

from __future__ import annotations

import json
import sqlite3
import subprocess

from clidriver import Cli, snapshot
from cryptography import x509


def serial_hex(path) -> str:
    return format(x509.load_pem_x509_certificate(path.read_bytes()).serial_number, "X")


def test_mimicry_story_blocks_servers_and_fingerprint_without_revoking(cli: Cli) -> None:
    run = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["mimicry"]))
    assert run["status"] == "waiting_approval"
    reasons = {r["rule"]: r["reason"] for r in run["verdict"]["reasons"]}
    assert "DigiCert" in reasons["issuer_mimicry"]
    assert "unauthorized_internal" not in reasons
    assert run["ticket"]["status"] == "open"

    done = cli.json("approve", run["id"], "--as", "alice", "--comment", "rogue")
    assert done["status"] == "completed"
    by_action = {}
    for e in done["effects"]:
        by_action.setdefault(e["action"], []).append(e)
    assert "ca.revoke" not in by_action
    assert sorted(e["target"] for e in by_action["firewall.block"]) == ["203.0.113.45", "203.0.113.46"]
    assert all(
        e["changed"] and e["verified"] for e in by_action["firewall.block"] + by_action["proxy.block_certificate"]
    )
    steps = {s["id"]: s for s in done["steps"]}
    assert steps["revoke"]["status"] == "skipped"
    outcome = next(n for n in done["notifications"] if n["step"] == "outcome")
    assert "not attempted: the certificate was not issued by a CA we manage" in outcome["body"]

    sha1 = (
        x509.load_pem_x509_certificate(cli.lab.certificates["mimicry"].read_bytes())
        .fingerprint(__import__("cryptography.hazmat.primitives.hashes", fromlist=["SHA1"]).SHA1())
        .hex()
    )
    fingerprints = (cli.lab.root / "proxy" / "rogue-certs.txt").read_text()
    assert ":".join(sha1[i : i + 2] for i in range(0, 40, 2)).upper() in fingerprints
    ruleset = (cli.lab.root / "firewall" / "certsoar.nft").read_text()
    assert "203.0.113.45" in ruleset and "203.0.113.46" in ruleset


def test_internal_story_revokes_and_the_crl_proves_it(cli: Cli) -> None:
    run = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]))
    assert [r["rule"] for r in run["verdict"]["reasons"]] == ["unauthorized_internal"]
    rogue = cli.lab.certificates["rogue"]
    verify = [
        "openssl",
        "verify",
        "-crl_check",
        "-CAfile",
        str(cli.lab.ca_cert),
        "-CRLfile",
        str(cli.lab.crl),
        str(rogue),
    ]
    assert subprocess.run(verify, capture_output=True, text=True).returncode == 0

    done = cli.json("approve", run["id"], "--as", "bob")
    assert done["status"] == "completed"
    revoke = next(e for e in done["effects"] if e["action"] == "ca.revoke")
    assert revoke["changed"] and revoke["verified"] and revoke["evidence"]["in_crl"]
    checked = subprocess.run(verify, capture_output=True, text=True)
    assert checked.returncode != 0 and "certificate revoked" in checked.stdout + checked.stderr
    status = subprocess.run(
        ["openssl", "ca", "-config", str(cli.lab.ca_config), "-status", serial_hex(rogue).zfill(4)],
        cwd=cli.lab.ca_dir,
        capture_output=True,
        text=True,
    )
    assert "Revoked" in status.stdout + status.stderr


def test_refused_approval_keeps_the_run_waiting(cli: Cli) -> None:
    run = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]))
    refused = cli.run("approve", run["id"], "--as", "carol")
    assert refused.returncode == 1
    assert "carol has roles ['soc-l1']" in refused.stderr
    assert cli.json("runs", "show", run["id"])["status"] == "waiting_approval"
    denied = cli.json("deny", run["id"], "--as", "alice", "--comment", "expected test cert")
    assert denied["status"] == "denied"
    assert not [e for e in denied["effects"] if e["action"] in ("ca.revoke", "firewall.block")]


def test_same_alert_twice_returns_the_same_run(cli: Cli) -> None:
    first = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["mimicry"]))
    second = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["mimicry"]))
    assert first["id"] == second["id"]
    listed = json.loads(cli.run("runs", "list", "--json").stdout)
    assert [r["id"] for r in listed] == [first["id"]]


def test_dry_run_writes_nothing_and_shows_the_plan(cli: Cli) -> None:
    state = cli.lab.root.parent
    before = snapshot(state)
    plan = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]), "--dry-run")
    assert snapshot(state) == before
    assert plan["status"] == "completed" and plan["dry_run"]
    planned = {e["action"] for e in plan["effects"] if e["planned"]}
    assert {"ca.revoke", "firewall.block", "proxy.block_certificate", "ticket.open", "notify.send"} <= planned
    assert not any(e["changed"] and not e["planned"] for e in plan["effects"])
    templates = [n["template"] for n in plan["notifications"]]
    assert templates == ["l1/summary.md.j2", "approval/request.md.j2", "outcome/containment.md.j2"]
    assert "would be revoked" in plan["notifications"][-1]["body"]
    human = cli.run("run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]), "--dry-run")
    assert human.returncode == 0 and "[dry run: nothing was stored or changed]" in human.stdout
    assert "# Approval needed" in human.stdout
    assert snapshot(state) == before


def test_audit_chain_is_intact_after_a_story(cli: Cli) -> None:
    run = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]))
    cli.json("approve", run["id"], "--as", "alice")
    db = sqlite3.connect(cli.lab.root.parent / "runs.sqlite3")
    events = [r[0] for r in db.execute("SELECT event FROM audit WHERE run_id=? ORDER BY seq", (run["id"],))]
    assert events[0] == "run.created" and "approval.approved" in events and "effect.done" in events
    from certsoar.store import RunStore

    store = RunStore(cli.lab.root.parent / "runs.sqlite3")
    assert store.verify_audit() > 20
    store.close()
    trail = cli.run("runs", "audit", run["id"])
    assert trail.returncode == 0 and "audit chain intact" in trail.stdout and "approval.approved" in trail.stdout
    with db:
        db.execute("UPDATE audit SET data='{}' WHERE seq=3")
    broken = cli.run("runs", "audit")
    assert broken.returncode == 1 and "audit chain broken at record 3" in broken.stderr


def test_a_fingerprint_only_alert_is_analyzed_from_what_the_siem_logged(cli: Cli) -> None:
    from cryptography.hazmat.primitives import hashes

    cert = x509.load_pem_x509_certificate(cli.lab.certificates["mimicry"].read_bytes())
    base = json.loads(cli.lab.alerts["mimicry"].read_text())
    alert = {
        "id": "notable-fp-only",
        "time": base["time"],
        "host": base["host"],
        "dst_ip": base["dst_ip"],
        "dst_port": 443,
        "sha1": cert.fingerprint(hashes.SHA1()).hex().upper(),
    }
    plan = cli.json("run", "certificate-alert", "--alert", "-", "--dry-run", stdin=json.dumps(alert).encode())
    facts = plan["facts"]
    assert (facts["source"], facts["self_signed"], facts["mimicry"]["brand"]) == ("log", True, "DigiCert Inc")
    assert any(
        "the alert carries only a fingerprint: subject, issuer and serial are those eve.json" in n
        for n in facts["notes"]
    )
    assert "issuer_mimicry" in [r["rule"] for r in plan["verdict"]["reasons"]]

    unknown = {**alert, "id": "notable-unknown", "sha1": "00" * 20}
    plan = cli.json("run", "certificate-alert", "--alert", "-", "--dry-run", stdin=json.dumps(unknown).encode())
    assert plan["facts"]["source"] == "fingerprint"
    assert "the SIEM holds no record of its attributes" in " ".join(plan["facts"]["notes"])
    assert "issuer_mimicry" not in [r["rule"] for r in plan["verdict"]["reasons"]]
