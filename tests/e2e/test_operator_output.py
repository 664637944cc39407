"""What an analyst reads from the real CLI on the lab: a short run report (status, verdict and reasons, what
was done and read back, the ticket, the next command), every step only with --verbose and in the playbook's
order, no approve command for a dry run, look-alike characters named, readable numbers; tickets that move
to contained or closed and show their comments."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml
from clidriver import Cli
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from certsoar.playbook import shipped_playbooks_dir

CYRILLIC_O = "\u043e"
LOOKALIKE_NOTE = 'U+043E CYRILLIC SMALL LETTER O, looks like "o"'


def json_list(cli: Cli, *args: str) -> list[dict]:
    done = cli.run(*args, "--json")
    assert done.returncode == 0, done.stderr
    found: list[dict] = json.loads(done.stdout)
    return found


def playbook_step_ids() -> list[str]:
    ids: list[str] = []

    def walk(steps: list[dict]) -> None:
        for step in steps:
            ids.append(step["id"])
            walk(step.get("parallel") or [])

    walk(yaml.safe_load((shipped_playbooks_dir() / "certificate-alert.yaml").read_text())["steps"])
    return ids


def test_run_and_approve_print_a_short_report_with_the_next_command(cli: Cli) -> None:
    waiting = cli.run("run", "certificate-alert", "--alert", str(cli.lab.alerts["mimicry"]))
    assert waiting.returncode == 0, waiting.stderr
    run_id = json.loads(cli.run("runs", "list", "--json").stdout)[0]["id"]
    lines = waiting.stdout.splitlines()
    assert lines[0] == f"run {run_id} (certificate-alert): waiting for approval"
    assert "verdict: escalate, containment recommended, severity critical" in lines
    assert any(line.startswith("  - issuer_mimicry (high): ") for line in lines)
    assert lines[-1] == (
        f"next: certsoar approve {run_id} --as ANALYST  (or: certsoar deny {run_id} --as ANALYST --comment WHY)"
    )
    assert not any(line.lstrip().startswith(("step ", "steps:")) for line in lines)  # steps only with --verbose
    assert len(lines) < 16, waiting.stdout
    # numbers an analyst reads: no z-score of five digits, no byte counts of eight, no raw ISO stamps
    assert not re.search(r"robust z \d{3,}", waiting.stdout) and not re.search(r"\d{7,} B\b", waiting.stdout)
    assert "+00:00" not in waiting.stdout

    approved = cli.run("approve", run_id, "--as", "alice", "--comment", "confirmed rogue")
    assert approved.returncode == 0, approved.stderr
    out = approved.stdout
    run = cli.json("runs", "show", run_id)
    blocked = sorted(e["target"] for e in run["effects"] if e["action"] == "firewall.block")
    sha1 = next(e["target"] for e in run["effects"] if e["action"] == "proxy.block_certificate")
    assert out.splitlines()[0] == f"run {run_id} (certificate-alert): completed"
    for address in blocked:
        assert f"  - blocked {address} at firewall nftables (verified)\n" in out
    assert f"  - blocked certificate SHA-1 {sha1} at proxy squid (verified)\n" in out
    assert "  - no revocation: not issued by a CA we manage\n" in out
    assert 'approval: approved by alice ("confirmed rogue")\n' in out
    assert f"ticket: {run['ticket']['id']} (contained), 1 comment(s)\n" in out
    assert not any(e["key"] in out for e in run["effects"])  # targets, never the ledger's internal keys
    assert out.rstrip().endswith(f"next: certsoar runs show {run_id} --verbose  (every step and notification)")


def test_verbose_lists_every_step_in_the_playbooks_order(cli: Cli) -> None:
    run = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]))
    cli.run("approve", run["id"], "--as", "alice")
    order = playbook_step_ids()
    shown = cli.json("runs", "show", run["id"])
    journaled = [s["id"] for s in shown["steps"] if s["id"] in order]
    assert journaled == [i for i in order if i in journaled]
    assert [s["id"] for s in shown["steps"]].index("approval.request") == journaled.index("approval")

    verbose = cli.run("runs", "show", run["id"], "--verbose").stdout.splitlines()
    start = verbose.index("steps:")
    listed = [line.split()[0] for line in verbose[start + 1 :] if line.startswith("  ") and len(line.split()) >= 2]
    assert listed[: len(shown["steps"])] == [s["id"] for s in shown["steps"]]
    assert any(line.startswith("--- notification from step outcome") for line in verbose)


def test_a_dry_run_prints_no_approve_command(cli: Cli) -> None:
    human = cli.run("run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]), "--dry-run")
    assert human.returncode == 0, human.stderr
    assert "[dry run: nothing was stored or changed]" in human.stdout.splitlines()[0]
    assert "certsoar approve" not in human.stdout and "certsoar deny" not in human.stdout
    assert "next: nothing was stored; run it again without --dry-run to act on it" in human.stdout
    plan = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]), "--dry-run")
    request = next(n["body"] for n in plan["notifications"] if n["template"] == "approval/request.md.j2")
    assert "certsoar approve" not in request and "no run was stored, so there is nothing to approve" in request
    assert cli.run("runs", "show", plan["id"]).returncode == 2  # the run the command would name does not exist


def lookalike_certificate(subject_cn: str = "cdn-update.net") -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(timezone.utc)
    issuer = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "BE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"Gl{CYRILLIC_O}balSign nv-sa"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Gl{CYRILLIC_O}balSign RSA OV SSL CA 2018"),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(0x5EED)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("cdn-update.net")]), critical=False)
        .sign(key, hashes.SHA256())
        .public_bytes(Encoding.PEM)
        .decode()
    )


def test_lookalike_characters_are_named_in_the_report_the_summary_and_the_approval_request(
    cli: Cli, tmp_path: Path
) -> None:
    alert = json.loads(cli.lab.alerts["mimicry"].read_text())
    alert.update(id="lookalike-1", certificate_pem=lookalike_certificate())
    path = tmp_path / "lookalike.json"
    path.write_text(json.dumps(alert))

    human = cli.run("run", "certificate-alert", "--alert", str(path))
    assert human.returncode == 0, human.stderr
    assert f'  look-alike character "{CYRILLIC_O}" {LOOKALIKE_NOTE}' in human.stdout
    run = cli.json("runs", "show", json.loads(cli.run("runs", "list", "--json").stdout)[0]["id"])
    assert run["status"] == "waiting_approval"
    bodies = {n["template"]: n["body"] for n in run["notifications"]}
    for template in ("l1/summary.md.j2", "approval/request.md.j2"):
        assert f"- {CYRILLIC_O} U+043E CYRILLIC SMALL LETTER O" in bodies[template], template
    slack = cli.run("templates", "render", "approval/request.mrkdwn.j2", "--run", run["id"])
    assert slack.returncode == 0, slack.stderr
    assert "U+043E CYRILLIC SMALL LETTER O" in slack.stdout and "certsoar approve" in slack.stdout


def test_lookalike_characters_are_named_in_the_ticket_and_the_outcome(cli: Cli, tmp_path: Path) -> None:
    alert = json.loads(cli.lab.alerts["mimicry"].read_text())
    alert.update(id="lookalike-2", certificate_pem=lookalike_certificate(f"l{CYRILLIC_O}gin.corp.example"))
    path = tmp_path / "lookalike.json"
    path.write_text(json.dumps(alert))
    run = cli.json("run", "certificate-alert", "--alert", str(path))
    run = cli.json("deny", run["id"], "--as", "bob", "--comment", "a test box")
    outcome = next(n["body"] for n in run["notifications"] if n["template"] == "outcome/containment.md.j2")
    assert f"- {CYRILLIC_O} {LOOKALIKE_NOTE}" in outcome

    ticket = run["ticket"]["id"]
    shown = cli.json("tickets", "show", ticket)
    assert f"  - {CYRILLIC_O} {LOOKALIKE_NOTE}" in shown["body"]  # the issuer's and the subject's
    human = cli.run("tickets", "show", ticket).stdout.splitlines()
    assert human[1] == f'  look-alike character "{CYRILLIC_O}" {LOOKALIKE_NOTE}', human
    assert "--- description ---" in human and any("Look-alike characters" in line for line in human)
    listed = cli.run("tickets", "list").stdout.splitlines()
    assert listed[0].startswith(ticket) and listed[1] == f'  look-alike character "{CYRILLIC_O}" {LOOKALIKE_NOTE}'


def test_the_summary_says_what_the_alert_does_not_name(cli: Cli, tmp_path: Path) -> None:
    alert = json.loads(cli.lab.alerts["mimicry"].read_text())
    alert.pop("host", None)
    alert["id"] = "no-host-1"
    path = tmp_path / "no-host.json"
    path.write_text(json.dumps(alert))
    plan = cli.json("run", "certificate-alert", "--alert", str(path), "--dry-run")
    summary = next(n["body"] for n in plan["notifications"] if n["template"] == "l1/summary.md.j2")
    assert "on a host the alert does not name" in summary and "host unknown" not in summary
    # first-seen records of a TLS log name no requester: the summary says so instead of "by ?"
    assert "first-seen-untrusted on `203.0.113.45` by (requester not logged)" in summary
    assert "`?`" not in summary and "host unknown" not in summary


def test_tickets_move_to_contained_or_closed_and_show_their_comments(cli: Cli) -> None:
    contained = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]))
    assert contained["ticket"]["status"] == "open"
    contained = cli.json("approve", contained["id"], "--as", "alice", "--comment", "ours, revoke")
    assert contained["ticket"]["status"] == "contained"
    [comment] = contained["ticket"]["comments"]  # runs show carries the ticket's comments
    assert "revoked" in comment

    denied = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["mimicry"]))
    denied = cli.json("deny", denied["id"], "--as", "bob", "--comment", "known red-team exercise RT-7")
    assert denied["status"] == "denied" and denied["ticket"]["status"] == "closed"
    assert "known red-team exercise RT-7" in denied["ticket"]["comments"][-1]

    listed = json_list(cli, "tickets", "list")
    assert {(t["id"], t["status"]) for t in listed} == {
        (contained["ticket"]["id"], "contained"),
        (denied["ticket"]["id"], "closed"),
    }
    assert [t["id"] for t in json_list(cli, "tickets", "list", "--status", "closed")] == [denied["ticket"]["id"]]
    shown = cli.json("tickets", "show", denied["ticket"]["id"])
    assert shown["runs"] == [denied["id"]] and shown["comments"] == denied["ticket"]["comments"]
    human = cli.run("tickets", "show", denied["ticket"]["id"]).stdout
    assert f"ticket {denied['ticket']['id']} (closed, " in human and "known red-team exercise RT-7" in human
    missing = cli.run("tickets", "show", "CS-NOPE")
    assert missing.returncode == 2 and "no ticket CS-NOPE" in missing.stderr


def test_runs_list_filters_and_json_everywhere(cli: Cli) -> None:
    waiting = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]))
    done = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["mimicry"]))
    cli.json("approve", done["id"], "--as", "alice")
    assert [r["id"] for r in json_list(cli, "runs", "list", "--status", "waiting_approval")] == [waiting["id"]]
    assert [r["id"] for r in json_list(cli, "runs", "list", "--limit", "1")] == [done["id"]]
    assert len(json_list(cli, "runs", "list", "--since", "1h")) == 2
    assert json_list(cli, "runs", "list", "--since", "2999-01-01T00:00:00") == []
    bad = cli.run("runs", "list", "--since", "yesterday-ish")
    assert bad.returncode == 2 and "Invalid value for '--since': 'yesterday-ish' is neither a duration" in bad.stderr

    trail = cli.json("runs", "audit", done["id"])
    assert trail["records"] and all(isinstance(r["data"], dict) for r in trail["records"])
    assert any(r["event"] == "approval.approved" and r["data"]["step"] == "approval" for r in trail["records"])
    kinds = {c["kind"] for c in json_list(cli, "connectors", "list")}
    assert {"siem", "ca", "firewall", "proxy", "ticket", "notify"} <= kinds
    assert cli.json("validate") == {"ok": True, "errors": []}
