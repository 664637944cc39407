"""Every command's help says what it prints (an operator reads `--help` before running anything)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from certsoar.cli import main

PRINTING = [
    ["run"],
    ["approve"],
    ["deny"],
    ["runs", "list"],
    ["runs", "show"],
    ["runs", "resume"],
    ["runs", "audit"],
    ["runs", "expire"],
    ["tickets", "list"],
    ["tickets", "show"],
    ["templates", "list"],
    ["templates", "render"],
    ["validate"],
    ["connectors", "list"],
    ["connectors", "check"],
    ["release"],
    ["sweep"],
    ["manifest"],
    ["init"],
    ["demo"],
    ["doctor"],
    ["intel", "update"],
    ["feeds", "write"],
]


@pytest.mark.parametrize("command", PRINTING, ids=" ".join)
def test_help_says_what_the_command_prints(command: list[str]) -> None:
    done = CliRunner().invoke(main, [*command, "--help"])
    assert done.exit_code == 0, done.output
    summary = done.output.split("Options:")[0].lower()
    assert "print" in summary, done.output


def test_top_level_help_names_quiet_and_the_json_log() -> None:
    done = CliRunner().invoke(main, ["--help"])
    assert "--quiet" in done.output and "--log-format [json]" in done.output and "CERTSOAR_LOG" in done.output


@pytest.mark.parametrize("command", [["runs", "list"], ["runs", "audit"], ["runs", "expire"], ["connectors", "check"]])
def test_json_help_does_not_promise_one_run_where_a_command_prints_several(command: list[str]) -> None:
    done = CliRunner().invoke(main, [*command, "--help"])
    assert "--json" in done.output and "the run as one JSON object" not in " ".join(done.output.split())


def test_tickets_list_filters_on_every_ticket_status() -> None:
    from typing import get_args

    import click

    from certsoar.connectors.ticket import TicketStatus

    listing = main.commands["tickets"].commands["list"]  # type: ignore[attr-defined]
    [status] = [p for p in listing.params if p.name == "status"]
    assert isinstance(status.type, click.Choice) and set(status.type.choices) == set(get_args(TicketStatus))
