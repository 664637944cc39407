"""A run on partial SIEM evidence says so: in the run object's ``warnings``, in the L1 summary's answers,
and as a failure of ``connectors check`` (the real CLI against the lab, ``--config`` given explicitly)."""

from __future__ import annotations

from pathlib import Path

from clidriver import Cli

SIEM_STEPS = "creations, related, traffic"


def config_with_siem_paths(cli: Cli, paths: str) -> Path:
    original = cli.lab.config.read_text()
    assert "paths: [logs]" in original
    config = cli.lab.config.with_name("partial-logs.yaml")  # beside the lab's config: its relative paths still resolve
    config.write_text(original.replace("paths: [logs]", f"paths: [{paths}]"))
    return config


def summary(run: dict) -> str:
    return next(n["body"] for n in run["notifications"] if n["step"] == "summary")


def test_a_run_with_a_missing_log_path_and_an_empty_pattern_says_its_evidence_is_partial(cli: Cli) -> None:
    config = config_with_siem_paths(cli, "logs, archive/*.log.gz, zeek-old")
    root = cli.lab.root
    run = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["mimicry"]), "--config", str(config))
    assert run["status"] == "waiting_approval"  # what could be read is still used
    assert run["warnings"] == [
        f"{SIEM_STEPS}: {root / 'archive/*.log.gz'}: the pattern matches no file",
        f"{SIEM_STEPS}: {root / 'zeek-old'}: does not exist",
    ]
    text = summary(run)
    answers = text.split("**4. Has there been a spike in encrypted traffic?**")
    for answer in (answers[0].split("**1. Are there recent entries")[1], answers[1]):
        assert "**Incomplete:** the SIEM could not search every source" in answer
        assert f"`{root / 'zeek-old'}: does not exist`" in answer

    shown = cli.run("runs", "show", run["id"], "--config", str(config)).stdout
    assert f"\nwarning: {SIEM_STEPS}: {root / 'zeek-old'}: does not exist\n" in shown

    complete = cli.json(
        "run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]), "--config", str(cli.lab.config)
    )
    assert complete["warnings"] == [] and "Incomplete" not in summary(complete)


def test_a_failed_siem_search_is_a_warning_of_the_run_not_silence(cli: Cli) -> None:
    config = config_with_siem_paths(cli, "gone")
    run = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["mimicry"]), "--config", str(config))
    [warning] = run["warnings"]
    assert warning.startswith(f"{SIEM_STEPS}: failed, so what it answers is unknown: ")
    assert "none of the configured log paths exist" in warning and f"{cli.lab.root / 'gone'}: does not exist" in warning
    assert "Unknown: the SIEM search failed" in summary(run)


def test_connectors_check_fails_naming_a_source_it_cannot_search(cli: Cli) -> None:
    config = config_with_siem_paths(cli, "logs, zeek-old")
    done = cli.run("connectors", "check", "--config", str(config))
    assert done.returncode == 1
    [failed] = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
    assert (
        failed.split()[1] == "siem"
        and f"1 source(s) not searched: {cli.lab.root / 'zeek-old'}: does not exist" in failed
    )
    assert cli.run("connectors", "check", "--config", str(cli.lab.config)).returncode == 0


def test_connectors_check_shows_control_characters_in_what_it_names(cli: Cli) -> None:
    config = config_with_siem_paths(cli, 'logs, "gone\\e]0;owned\\a\\e[2J"')
    done = cli.run("connectors", "check", "--config", str(config))
    assert done.returncode == 1
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert "gone␛]0;owned␇␛[2J: the pattern matches no file" in done.stdout, done.stdout  # [ makes it a glob
