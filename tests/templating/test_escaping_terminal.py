"""What certsoar prints to a terminal shows control characters and cannot forge a line: the run
report, the console notifier, CLI errors; end to end with a certificate whose names carry the
payloads, through the real CLI on the lab."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from escaping_payloads import PAYLOADS, certificate
from markdown_oracle import heading_lines, problems, raw_controls

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.notify import Message
from certsoar.escaping import visible
from certsoar.report import describe_run

TERMINAL_ATTACK = "ok\x1b[2J\x1b]0;pwned\x07\x1b]8;;http://evil\x07x\x1b]8;;\x07\u202e\x9b31m\r\nstatus completed"


def a_run(text: str) -> dict[str, Any]:
    return {
        "id": text,
        "playbook": text,
        "trigger": text,
        "status": text,
        "dry_run": True,
        "error": text,
        "verdict": {
            "escalate": True,
            "contain": True,
            "severity": text,
            "reasons": [{"rule": text, "severity": text, "reason": text}],
        },
        "steps": [{"id": text, "status": text, "error": text}],
        "effects": [
            {
                "key": f"firewall:{text}",
                "action": "firewall.block",
                "target": text,
                "planned": False,
                "changed": True,
                "verified": True,
            },
            {
                "key": f"notify:{text}:r:summary",
                "action": "notify.send",
                "target": text,
                "planned": False,
                "changed": True,
                "verified": True,
            },
        ],
        "facts": {"subject": text, "issuer": text, "subject_cn": text, "names": [text]},
        "approval": {
            "status": text,
            "required": 1,
            "roles": [text],
            "expires": text,
            "decisions": [{"analyst": text, "decision": text}],
        },
        "ticket": {"id": text, "status": text},
        "notifications": [{"step": text, "template": text, "body": f"# Title\n\nline {text}\n"}],
    }


@pytest.mark.parametrize("verbose", [False, True])
@pytest.mark.parametrize("text", [TERMINAL_ATTACK, *PAYLOADS])
def test_describe_run_shows_controls_and_keeps_its_lines(text: str, verbose: bool) -> None:
    benign, hostile = describe_run(a_run("x"), verbose=verbose), describe_run(a_run(text), verbose=verbose)
    assert f"blocked {visible(text)} at firewall " in hostile
    assert raw_controls(hostile) == []
    # only the notification body's own line breaks survive; no field adds a line, no \r rewrites one
    assert len(hostile.splitlines()) == len(benign.splitlines()) + text.count("\n")


def test_console_notifier_shows_controls(capsys: pytest.CaptureFixture[str]) -> None:
    from certsoar.connectors.notify.console import ConsoleNotifier, ConsoleNotifierSettings

    notifier = ConsoleNotifier(ConsoleNotifierSettings(), ConnectorEnv(name="console", state_dir=Path(".")))
    asyncio.run(notifier.send(Message(key="k", subject="s", body=f"# Title\nline {TERMINAL_ATTACK}\n")))
    err = capsys.readouterr().err
    assert raw_controls(err) == []
    assert "line ok␛[2J␛]0;pwned␇" in err


# --- end to end ------------------------------------------------------------------------------------


def certsoar(lab_config: Any, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    lab, _ = lab_config
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTSOAR_")}
    env["CERTSOAR_CONFIG"] = str(lab.config)
    return subprocess.run(
        [sys.executable, "-m", "certsoar", *args],
        env=env,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
        check=False,
    )


def hostile_alert(lab_config: Any) -> str:
    lab, _ = lab_config
    alert = json.loads(Path(lab.alerts["mimicry"]).read_text())
    pem = certificate(
        {"CN": "login.example.com\n# APPROVED by CISO\x1b[2J", "O": "[x](javascript:alert(1)) <script>x</script>"},
        {
            "CN": "DigiCert Global G2 TLS RSA SHA256 2020 CA1\u202e\x1b]8;;http://evil\x07",
            "O": "DigiCert Inc\r\n> quote",
        },
        ["cdn-update.net"],
    )
    alert.update(id="hostile-\x1b]0;t\x07", certificate_pem=pem, sni="evil\n## forged\x9b")
    return json.dumps(alert)


def test_a_hostile_certificate_through_the_cli_dry_run(lab_config: Any) -> None:
    lab, _ = lab_config
    plan = certsoar(
        lab_config, "run", "certificate-alert", "--alert", str(lab.alerts["mimicry"]), "--dry-run", "--json"
    )
    headings = {n["template"]: len(heading_lines(n["body"])) for n in json.loads(plan.stdout)["notifications"]}
    as_json = certsoar(
        lab_config, "run", "certificate-alert", "--alert", "-", "--dry-run", "--json", stdin=hostile_alert(lab_config)
    )
    assert as_json.returncode == 0, as_json.stderr
    notifications = json.loads(as_json.stdout)["notifications"]
    assert {n["template"] for n in notifications} == set(headings)
    for n in notifications:
        assert problems(n["body"], headings=headings[n["template"]]) == [], n["template"]
    assert (
        "Subject `O=[x](javascript:alert(1)) \\<script\\>x\\</script\\>,CN=login.example.com␊# APPROVED by CISO␛[2J`; "
        "issuer `O=DigiCert Inc␍␊\\> quote,CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1\\u202e␛]8\\;\\;http://evil␇`"
    ) in notifications[0]["body"]

    human = certsoar(
        lab_config, "run", "certificate-alert", "--alert", "-", "--dry-run", stdin=hostile_alert(lab_config)
    )
    assert human.returncode == 0, human.stderr
    assert raw_controls(human.stdout) == [] and raw_controls(human.stderr) == []
    assert not any(
        line.lstrip().startswith(("# APPROVED", "## forged", "> quote")) for line in human.stdout.splitlines()
    )


def test_a_hostile_certificate_through_the_console_and_the_outbox(lab_config: Any) -> None:
    lab, config = lab_config
    done = certsoar(lab_config, "run", "certificate-alert", "--alert", "-", stdin=hostile_alert(lab_config))
    assert done.returncode == 0, done.stderr
    assert raw_controls(done.stdout) == [] and raw_controls(done.stderr) == []
    assert "# Certificate alert" not in done.stderr and "# [" in done.stderr  # the console got the summary
    assert raw_controls(certsoar(lab_config, "runs", "list").stdout) == []  # the alert id is data too
    run_id = json.loads(certsoar(lab_config, "runs", "list", "--json").stdout)[0]["id"]
    outbox = sorted(Path(lab.config).parent.rglob(f"{run_id}*.md"))
    assert [p.name.split("_", 1)[1] for p in outbox] == ["approval.md", "summary.md"]
    for message in outbox:
        assert raw_controls(message.read_text()) == []


def test_cli_errors_show_controls(lab_config: Any) -> None:
    done = certsoar(lab_config, "run", "certificate-alert", "--alert", "/nonexistent/\x1b]0;pwned\x07\x1b[2J")
    assert done.returncode == 2
    assert "cannot read alert /nonexistent/␛]0;pwned␇␛[2J" in done.stderr and raw_controls(done.stderr) == []
