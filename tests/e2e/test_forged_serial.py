"""A log-only alert that claims a serial of our CA for another certificate (issue 8.2): the CA's
certificate under that serial is compared with the claim before anyone is asked to revoke, and
``ca.revoke`` itself refuses, so the legitimate certificate stays valid (``openssl ca -status``)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from clidriver import Cli
from cryptography import x509

from certsoar.playbook import find_playbook

FORGED_SUBJECT = "CN=login.microsoftonline.com,O=Microsoft Corporation,L=Redmond,ST=Washington,C=US"


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def notable(cli: Cli, event_id: str, serial: int, subject: str) -> bytes:
    """A Splunk notable with CIM Certificates fields: serial, subject and issuer, no certificate, no hash."""
    time = json.loads(cli.lab.alerts["internal"].read_text())["time"]
    return json.dumps(
        {
            "result": {
                "event_id": event_id,
                "rule_name": "Internal CA certificate for a foreign name",
                "_time": time,
                "src_ip": "10.20.0.61",
                "dest_ip": "203.0.113.80",
                "dest_port": "443",
                "ssl_serial": format(serial, "X"),
                "ssl_subject": subject,
                "ssl_issuer": _cert(cli.lab.ca_cert).subject.rfc4514_string(),
            }
        }
    ).encode()


def ca_status(cli: Cli, serial: int) -> str:
    done = subprocess.run(
        ["openssl", "ca", "-config", str(cli.lab.ca_config), "-status", format(serial, "04X")],
        cwd=cli.lab.ca_dir,
        capture_output=True,
        text=True,
    )
    return done.stdout + done.stderr


def run(cli: Cli, playbook: str, alert: bytes) -> dict[str, Any]:
    return cli.json("run", playbook, "--alert", "-", "--config", str(cli.lab.config), stdin=alert)


def test_forged_serial_is_escalated_as_a_mismatch_and_never_offered_for_revocation(cli: Cli) -> None:
    wiki = _cert(cli.lab.certificates["wiki"]).serial_number
    crl_before = cli.lab.crl.read_bytes()
    result = run(cli, "certificate-alert", notable(cli, "forged-1", wiki, FORGED_SUBJECT))

    rules = {r["rule"]: r["reason"] for r in result["verdict"]["reasons"]}
    assert "unauthorized_internal" not in rules
    assert (
        "login.microsoftonline.com" in rules["ca_certificate_differs"]
        and "wiki.corp.example" in rules["ca_certificate_differs"]
    )
    assert result["status"] == "completed" and not result["verdict"]["contain"]
    steps = {s["id"]: s for s in result["steps"]}
    assert steps["approval"]["status"] == "skipped" and steps["contain"]["status"] == "skipped"
    assert not [e for e in result["effects"] if e["action"] in ("ca.revoke", "firewall.block")]
    assert f"{format(wiki, '04X')}=Valid" in ca_status(cli, wiki)
    assert cli.lab.crl.read_bytes() == crl_before


def test_approval_request_shows_what_the_ca_holds_and_marks_the_claim(cli: Cli, tmp_path: Path) -> None:
    # a playbook that asks for approval whatever the lookup said: the request must still show the CA's certificate
    text = find_playbook("certificate-alert").read_text()
    gate = '  - id: approval\n    when: "{{ steps.verdict.contain and not steps.prior.all_contained }}"'
    assert gate in text
    text = text.replace(gate, '  - id: approval\n    when: "{{ true }}"')
    playbook = tmp_path / "always-ask.yaml"
    playbook.write_text(text)
    wiki = _cert(cli.lab.certificates["wiki"]).serial_number
    waiting = run(cli, str(playbook), notable(cli, "forged-2", wiki, FORGED_SUBJECT))
    assert waiting["status"] == "waiting_approval"
    request = next(n for n in waiting["notifications"] if n["template"] == "approval/request.md.j2")["body"]
    held, claimed = request.split("What the alert claims (not verified):")
    assert "wiki.corp.example" in held and "login.microsoftonline.com" not in held.split("holds under serial")[1]
    assert "login.microsoftonline.com" in claimed
    assert "differs from the alert's" in request and "No revocation" in request and "- Revoke serial" not in request

    # approved anyway: nothing is revoked, and the servers the SIEM relates to that serial (the wiki's) stay open
    related = next(s for s in waiting["steps"] if s["id"] == "related")["output"]["servers"]
    wiki_servers = [server for server in related if server != "203.0.113.80"]
    assert wiki_servers, "the SIEM related no other server: the test proves nothing"
    done = cli.json("approve", waiting["id"], "--as", "alice", "--config", str(cli.lab.config))
    assert not [e for e in done["effects"] if e["action"] == "ca.revoke"]
    assert [e["target"] for e in done["effects"] if e["action"] == "firewall.block"] == ["203.0.113.80"]
    ruleset = (cli.lab.root / "firewall" / "certsoar.nft").read_text()
    assert not [server for server in wiki_servers if server in ruleset]
    assert f"{format(wiki, '04X')}=Valid" in ca_status(cli, wiki)


def test_a_playbook_that_skips_the_check_still_cannot_revoke_the_wrong_certificate(cli: Cli, tmp_path: Path) -> None:
    # the old playbook's logic: revoke whatever serial the alert names once our CA's name is on it
    text = find_playbook("certificate-alert").read_text()
    check = "\n            and (steps.ca_cert.matches_alert | default(true)))"
    assert text.count(check) == 1
    text = text.replace(check, ")")  # unauthorized_internal fires on our CA's name alone
    revoke = 'when: "{{ steps.cert.issued_by_managed_ca and (steps.ca_cert.matches_alert | default(false)) }}"'
    assert revoke in text
    text = text.replace(revoke, 'when: "{{ steps.cert.issued_by_managed_ca }}"')
    playbook = tmp_path / "no-check.yaml"
    playbook.write_text(text)
    wiki = _cert(cli.lab.certificates["wiki"]).serial_number
    waiting = run(cli, str(playbook), notable(cli, "forged-3", wiki, FORGED_SUBJECT))
    assert waiting["status"] == "waiting_approval"

    approved = cli.run("approve", waiting["id"], "--as", "alice", "--config", str(cli.lab.config), "--json")
    assert approved.returncode == 1, approved.stdout + approved.stderr
    failed = cli.json("runs", "show", waiting["id"], "--config", str(cli.lab.config))
    assert failed["status"] == "failed"
    revoke = next(s for s in failed["steps"] if s["id"] == "revoke")
    assert f"not revoking serial {format(wiki, 'X')}" in revoke["error"]
    assert "login.microsoftonline.com" in revoke["error"] and "wiki.corp.example" in revoke["error"]
    assert f"{format(wiki, '04X')}=Valid" in ca_status(cli, wiki)
    assert not [line for line in (cli.lab.ca_dir / "index.txt").read_text().splitlines() if line.startswith("R")]


def test_a_true_log_only_alert_for_that_serial_still_revokes(cli: Cli) -> None:
    rogue = _cert(cli.lab.certificates["rogue"])
    result = run(cli, "certificate-alert", notable(cli, "true-1", rogue.serial_number, rogue.subject.rfc4514_string()))
    assert [r["rule"] for r in result["verdict"]["reasons"]] == ["unauthorized_internal"]
    request = next(n for n in result["notifications"] if n["template"] == "approval/request.md.j2")["body"]
    assert "The CA's certificate is the one the alert is about." in request and "- Revoke serial" in request

    done = cli.json("approve", result["id"], "--as", "alice", "--config", str(cli.lab.config))
    assert done["status"] == "completed"
    revoke = next(e for e in done["effects"] if e["action"] == "ca.revoke")
    assert revoke["changed"] and revoke["verified"]
    assert f"{format(rogue.serial_number, '04X')}=Revoked" in ca_status(cli, rogue.serial_number)


def test_a_malformed_serial_is_refused_at_intake(cli: Cli) -> None:
    alert = json.loads(notable(cli, "bad-1", 1, FORGED_SUBJECT))
    alert["result"]["ssl_serial"] = "10;02"
    done = cli.run(
        "run", "certificate-alert", "--alert", "-", "--config", str(cli.lab.config), stdin=json.dumps(alert).encode()
    )
    assert done.returncode == 2 and "ssl_serial" in done.stderr and "not a hexadecimal serial" in done.stderr
    assert cli.run("runs", "list", "--json", "--config", str(cli.lab.config)).stdout.strip() in ("[]", "")
