"""Templates an operator changes without editing site-packages (config `templates:`), previewed against a
real run and still sandboxed; structured JSON logs that carry run, step, connector and duration but never a
secret from the config. The real CLI on the lab."""

from __future__ import annotations

import json
from pathlib import Path

from clidriver import Cli

SECRET = "T0KEN-do-not-log-9f8e7d6c5b4a"


def config_with(cli: Cli, name: str, extra: str, replace: tuple[str, str] | None = None) -> Path:
    text = cli.lab.config.read_text()
    if replace:
        assert replace[0] in text
        text = text.replace(*replace)
    config = cli.lab.config.with_name(name)  # beside the lab's config: its relative paths still resolve
    config.write_text(text + "\n" + extra)
    return config


def test_a_template_folder_overrides_one_shipped_template(cli: Cli) -> None:
    folder = cli.lab.root / "my-templates"
    (folder / "l1").mkdir(parents=True)
    (folder / "l1" / "summary.md.j2").write_text(
        "# Our summary for {{ alert.id }}\n\nSeverity {{ steps.verdict.severity }}; SNI {{ alert.sni }}.\n"
    )
    (folder / "custom").mkdir()
    (folder / "custom" / "page.md.j2").write_text("# Page the on-call for {{ run.id }}\n")
    config = config_with(cli, "custom-templates.yaml", "templates: [my-templates]\n")

    plan = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["mimicry"]), "--config", str(config))
    bodies = {n["template"]: n["body"] for n in plan["notifications"]}
    assert bodies["l1/summary.md.j2"].startswith(f"# Our summary for {plan['alert_id']}")
    assert bodies["approval/request.md.j2"].startswith("# Approval needed")  # the others stay the shipped ones

    listed = {
        t["name"]: t["folder"]
        for t in json.loads(cli.run("templates", "list", "--json", "--config", str(config)).stdout)
    }
    assert listed["l1/summary.md.j2"] == str(folder) and listed["custom/page.md.j2"] == str(folder)
    assert listed["approval/request.md.j2"] != str(folder)

    shown = cli.run("templates", "render", "custom/page.md.j2", "--run", plan["id"], "--config", str(config))
    assert shown.returncode == 0 and shown.stdout == f"# Page the on-call for {plan['id']}\n"

    playbook = cli.lab.root / "paging.yaml"
    playbook.write_text(
        "id: paging\ntrigger: {alert: certificate}\nsteps:\n"
        "  - {id: page, action: notify.send, with: {template: custom/page.md.j2}}\n"
    )
    accepted = cli.run("validate", str(playbook), "--json", "--config", str(config))
    assert json.loads(accepted.stdout) == {"ok": True, "errors": []}, accepted.stderr
    refused = cli.run("validate", str(playbook), "--json", "--config", str(cli.lab.config))
    assert refused.returncode == 1
    [error] = json.loads(refused.stdout)["errors"]
    assert error["file"] == str(playbook) and "custom/page.md.j2" in error["message"]


def test_a_missing_template_folder_is_a_config_error(cli: Cli) -> None:
    config = config_with(cli, "no-folder.yaml", "templates: [nowhere]\n")
    done = cli.run("templates", "list", "--config", str(config))
    assert done.returncode == 2 and "templates[0]" in done.stderr and "nowhere is not a folder" in done.stderr


def test_a_hostile_override_stays_in_the_sandbox(cli: Cli) -> None:
    folder = cli.lab.root / "hostile"
    (folder / "l1").mkdir(parents=True)
    config = config_with(cli, "hostile.yaml", "templates: [hostile]\n")
    run = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]))
    escapes = {
        "attribute": "{{ alert.__class__.__mro__[1].__subclasses__() }}",
        "globals": "{{ lipsum.__globals__['os'].popen('id').read() }}",
        "include": "{% include '../../../../../../etc/passwd' %}",
        "format": "{{ '{0.__class__}'.format(alert) }}",
        "range": "{% for i in range(10 ** 9) %}x{% endfor %}",
        "arithmetic": "{{ alert.id // 0 }}",
    }
    for name, body in escapes.items():
        (folder / "l1" / "summary.md.j2").write_text(body)
        done = cli.run("templates", "render", "l1/summary.md.j2", "--run", run["id"], "--config", str(config))
        assert done.returncode != 0, (name, done.stdout)
        assert "uid=" not in done.stdout + done.stderr and "root:" not in done.stdout + done.stderr, name
        assert "template l1/summary.md.j2" in done.stderr and "Traceback" not in done.stderr, (name, done.stderr)


def test_an_override_that_does_not_compile_is_named_with_its_line(cli: Cli) -> None:
    folder = cli.lab.root / "broken"
    (folder / "l1").mkdir(parents=True)
    (folder / "l1" / "summary.md.j2").write_text("# Summary\n{% if alert.id %}\n")
    config = config_with(cli, "broken.yaml", "templates: [broken]\n")
    checked = cli.run("validate", "--json", "--config", str(config))
    assert checked.returncode == 1
    [error] = json.loads(checked.stdout)["errors"]
    assert "template 'l1/summary.md.j2' does not compile" in error["message"], error
    assert f"{folder / 'l1' / 'summary.md.j2'}, line 2" in error["message"], error
    run = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]))
    shown = cli.run("templates", "render", "l1/summary.md.j2", "--run", run["id"], "--config", str(config))
    assert shown.returncode == 1 and "does not compile" in shown.stderr and "no template" not in shown.stderr


def json_lines(text: str) -> list[dict]:
    found = []
    for line in text.splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


def test_json_logs_carry_run_step_connector_and_duration_never_a_secret(cli: Cli) -> None:
    config = config_with(
        cli,
        "with-secret.yaml",
        "",
        replace=(
            "notify: [{type: console}, {type: file, outbox: outbox}]",
            "notify: [{type: console}, {type: file, outbox: outbox}, "
            "{type: slack, name: soc-slack, webhook_url: env:SOC_SLACK_HOOK, attempts: 1}]",
        ),
    )
    cli.env["SOC_SLACK_HOOK"] = f"http://127.0.0.1:9/services/{SECRET}"
    done = cli.run(
        "--log-format", "json", "run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]),
        "--config", str(config),
    )  # fmt: skip
    assert SECRET not in done.stdout + done.stderr
    events = json_lines(done.stderr)
    steps = {e["step"]: e for e in events if e["event"] == "step"}
    [run_event] = [e for e in events if e["event"] == "run"]
    assert all(e["run_id"] == run_event["run_id"] for e in steps.values())
    assert steps["related"]["connector"] == "siem:files" and steps["related"]["status"] == "completed"
    assert isinstance(steps["related"]["duration_ms"], int) and steps["related"]["attempts"] == 1
    assert steps["summary"]["connector"] == "notify:console,notify:file,notify:soc-slack"
    assert steps["summary"]["status"] == "error" and "soc-slack" in steps["summary"]["error"]
    assert isinstance(run_event["duration_ms"], int) and run_event["playbook"] == "certificate-alert"

    cli.env["CERTSOAR_LOG"] = "json"
    again = cli.run("run", "certificate-alert", "--alert", str(cli.lab.alerts["mimicry"]), "--dry-run")
    assert any(e["event"] == "run.dry_run" for e in json_lines(again.stderr))
    quiet = {k: v for k, v in cli.env.items() if k != "CERTSOAR_LOG"}
    cli.env.clear()
    cli.env.update(quiet)
    plain = cli.run("run", "certificate-alert", "--alert", str(cli.lab.alerts["mimicry"]), "--dry-run")
    assert json_lines(plain.stderr) == []
