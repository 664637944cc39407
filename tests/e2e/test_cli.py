"""The CLI's contract: exit codes, clear errors naming the field, nothing written on bad input,
hostile alert fields rendered literally."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clidriver import Cli, snapshot


def alert(cli: Cli, **changes: object) -> bytes:
    data = json.loads(cli.lab.alerts["internal"].read_text())
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v is not None}).encode()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"certificate_pem": None},
            "the alert names no certificate: give certificate_pem, sha256, sha1 or a logged serial",
        ),
        ({"time": "yesterday"}, "time: Input should be a valid datetime"),
        ({"dst_ip": "not-an-ip"}, "dst_ip: Value error, 'not-an-ip' is not an IP address"),
        ({"dst_port": 70000}, "dst_port: Input should be less than or equal to 65535"),
        ({"sha1": "abc"}, "sha1: Value error, must be 40 hex digits"),
        ({"id": ""}, "id: String should have at least 1 character"),
        ({"certificate_pem": "hello"}, "certificate_pem holds no PEM certificate block"),
    ],
)
def test_bad_alert_exits_2_naming_the_field_and_writes_nothing(cli: Cli, changes: dict, message: str) -> None:
    state = cli.lab.root.parent
    before = snapshot(state)
    done = cli.run("run", "certificate-alert", "--alert", "-", stdin=alert(cli, **changes))
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert snapshot(state) == before


def test_unparseable_alert_and_missing_file(cli: Cli) -> None:
    bad = cli.run("run", "certificate-alert", "--alert", "-", stdin=b"{not json")
    assert bad.returncode == 2 and "alert is not JSON" in bad.stderr
    missing = cli.run("run", "certificate-alert", "--alert", "/nonexistent/alert.json")
    assert missing.returncode == 2 and "cannot read alert /nonexistent/alert.json" in missing.stderr
    array = cli.run("run", "certificate-alert", "--alert", "-", stdin=b"[1, 2]")
    assert array.returncode == 2 and "alert must be a JSON object" in array.stderr


def test_bad_config_exits_2_naming_the_key(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(cli.lab.config.read_text().replace("organization:", "organisation:"))
    done = cli.run("run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]), "--config", str(config))
    assert done.returncode == 2
    assert "organisation: Extra inputs are not permitted" in done.stderr

    config.write_text("connectors:\n  firewall: {type: nftables, ruleset: x.nft, aply: true}\n")
    done = cli.run("run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]), "--config", str(config))
    assert (
        done.returncode == 2 and "connectors.firewall (nftables): aply: Extra inputs are not permitted" in done.stderr
    )

    config.write_text("connectors:\n  ca: {type: no-such-ca}\n")
    done = cli.run("run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]), "--config", str(config))
    assert (
        done.returncode == 2
        and "connectors.ca.type: unknown type 'no-such-ca' (known: adcs, cfssl, ejbca, openssl-ca, stepca, vault)"
        in done.stderr
    )

    config.write_text("state_dir: [unclosed\n")
    done = cli.run("runs", "list", "--config", str(config))
    assert done.returncode == 2 and f"{config}:2: not valid YAML" in done.stderr


def test_hostile_alert_fields_render_literally(cli: Cli) -> None:
    hostile = alert(
        cli,
        id="x`](http://evil)`{{ 7*7 }}",
        host="{{ config }}<script>alert(1)</script>",
        sni="{% for x in range(10**9) %}{% endfor %}\n# forged heading",
    )
    plan = json.loads(cli.run("run", "certificate-alert", "--alert", "-", "--dry-run", "--json", stdin=hostile).stdout)
    summary = plan["notifications"][0]["body"]
    assert "{{ 7*7 }}" in summary and "49" not in summary.split("Observed")[0]
    assert "{{ config }}" in summary
    assert "{% for x in range(10**9) %}" in summary
    assert "\n# forged heading" not in summary  # untrusted text stays on one line
    assert "`x'](http://evil)'{{ 7*7 }}`" in summary  # backticks cannot close the code span


def test_runs_show_unknown_run_exits_2(cli: Cli) -> None:
    done = cli.run("runs", "show", "does-not-exist")
    assert done.returncode == 2 and "no run 'does-not-exist'" in done.stderr
    done = cli.run("approve", "does-not-exist", "--as", "alice")
    assert done.returncode == 2


def test_unknown_playbook_exits_2(cli: Cli) -> None:
    done = cli.run("run", "no-such-playbook", "--alert", str(cli.lab.alerts["internal"]))
    assert done.returncode == 2 and "no playbook 'no-such-playbook' (shipped: certificate-alert" in done.stderr


def test_validate_reports_file_line_and_exits_1(cli: Cli, tmp_path: Path) -> None:
    good = cli.run("validate")
    assert good.returncode == 0 and good.stdout.strip() == "ok"
    broken = cli.lab.root / "broken.yaml"  # beside the lab's trust root: only the connectors are broken
    broken.write_text("id: b\ntrigger: {alert: certificate}\nsteps:\n  - id: a\n    action: ca.revok\n")
    done = cli.run("validate", str(broken))
    assert done.returncode == 1
    assert done.stdout.startswith(f"{broken}:5: step a: unknown action 'ca.revok'")


def test_run_with_a_playbook_file_that_does_not_validate_exits_1(cli: Cli, tmp_path: Path) -> None:
    broken = cli.lab.root / "broken.yaml"  # beside the lab's trust root: only the connectors are broken
    broken.write_text(
        "id: b\ntrigger: {alert: certificate}\nsteps:\n  - {id: a, action: notify.send, with: {template: x.j2}}\n"
    )
    done = cli.run("run", str(broken), "--alert", str(cli.lab.alerts["internal"]))
    assert done.returncode == 1 and "template 'x.j2' does not exist" in done.stderr


def test_human_output_of_a_run(cli: Cli) -> None:
    done = cli.run("run", "certificate-alert", "--alert", str(cli.lab.alerts["mimicry"]))
    assert done.returncode == 0
    assert done.stdout.startswith("run ") and ": waiting for approval" in done.stdout.splitlines()[0]
    assert "issuer_mimicry (high)" in done.stdout
    assert "# Approval needed" in done.stderr  # the console notifier


def test_runs_expire_ends_runs_whose_approval_expired(cli: Cli) -> None:
    import sqlite3

    waiting = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]))
    fresh = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["mimicry"]))
    db = sqlite3.connect(cli.lab.root.parent / "runs.sqlite3")
    with db:
        db.execute("UPDATE approvals SET expires='2000-01-01T00:00:00+00:00' WHERE run_id=?", (waiting["id"],))
    db.close()
    ended = json.loads(cli.run("runs", "expire", "--json").stdout)
    assert [r["id"] for r in ended] == [waiting["id"]]
    assert ended[0]["status"] == "expired"
    assert not [e for e in ended[0]["effects"] if e["action"] in ("ca.revoke", "firewall.block")]
    assert cli.json("runs", "show", fresh["id"])["status"] == "waiting_approval"
    assert "0 run(s) ended expired" in cli.run("runs", "expire").stdout


def test_connectors_check_reads_each_configured_connector_and_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    state = cli.lab.root.parent
    before = snapshot(state)
    checked = json.loads(cli.run("connectors", "check", "--json").stdout)
    assert snapshot(state) == before
    assert {(c["kind"], c["ok"]) for c in checked} == {
        ("siem", True),
        ("ca", True),
        ("firewall", True),
        ("proxy", True),
        ("ticket", True),
        ("notify", True),
    }
    ca = next(c for c in checked if c["kind"] == "ca")
    assert ca["detail"] == "1 CA certificate(s); lists what it issued"
    assert ca["reachable"] and ca["can_list"] and ca["authenticated"] is None  # no credentials to refuse

    broken = cli.lab.root / "broken.yaml"  # beside the lab's trust root: only the connectors are broken
    broken.write_text(
        cli.lab.config.read_text()
        .replace("paths: [logs]", "paths: [no-such-logs]")
        .replace("openssl_config: ca/openssl.cnf", "openssl_config: ca/missing.cnf")
    )
    done = cli.run("connectors", "check", "--config", str(broken))
    assert done.returncode == 1
    failed = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
    assert [line.split()[1] for line in failed] == ["siem", "ca"]
    assert "none of the configured log paths exist" in done.stdout


def test_connectors_list_names_the_builtin_types(cli: Cli) -> None:
    listed = cli.run("connectors", "list").stdout
    assert "ca        openssl-ca   certsoar.connectors.ca.openssl.OpenSslCa" in listed
    assert "ca        vault        certsoar.connectors.ca.vault.VaultCa" in listed
    assert "ca        cfssl        certsoar.connectors.ca.cfssl.CfsslCa" in listed
    assert "ca        ejbca        certsoar.connectors.ca.ejbca.EjbcaCa" in listed
    assert "ca        stepca       certsoar.connectors.ca.stepca.StepCa" in listed
    assert "ca        adcs         certsoar.connectors.ca.adcs.AdcsCa" in listed
    assert "notify    slack        certsoar.connectors.notify.slack.SlackNotifier" in listed
    assert "notify    webhook      certsoar.connectors.notify.webhook.WebhookNotifier" in listed
    assert "notify    teams        certsoar.connectors.notify.teams.TeamsNotifier" in listed
    assert "notify    email        certsoar.connectors.notify.email.EmailNotifier" in listed
    assert "siem      splunk       certsoar.connectors.siem.splunk.SplunkSiem" in listed
    assert "siem      elastic      certsoar.connectors.siem.elastic.ElasticSiem" in listed
    assert "siem      sentinel     certsoar.connectors.siem.sentinel.SentinelSiem" in listed
    assert "siem      qradar       certsoar.connectors.siem.qradar.QradarSiem" in listed
    assert "firewall  panos        certsoar.connectors.firewall.panos.PanosFirewall" in listed
    assert "firewall  fortigate    certsoar.connectors.firewall.fortigate.FortigateFirewall" in listed
    assert "firewall  opnsense     certsoar.connectors.firewall.opnsense.OpnsenseFirewall" in listed
    assert "firewall  edl          certsoar.connectors.firewall.edl.EdlFirewall" in listed
    assert "proxy     edl          certsoar.connectors.proxy.edl.EdlProxy" in listed
    assert "ticket    jira         certsoar.connectors.ticket.jira.JiraTicketing" in listed
    assert "ticket    servicenow   certsoar.connectors.ticket.servicenow.ServiceNowTicketing" in listed
    assert "ticket    thehive      certsoar.connectors.ticket.thehive.TheHiveTicketing" in listed
    assert "proxy     zscaler      certsoar.connectors.proxy.zscaler.ZscalerProxy" in listed
    assert len(listed.splitlines()) == 29
