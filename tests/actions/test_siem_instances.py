"""Several SIEMs: a search fans out over all of them concurrently, each under its own timeout; the events come
back merged by time, each naming its SIEM; a SIEM that fails or is too slow is a warning of the step, never a
silent gap, and fails the step only when no SIEM answered."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from test_siem_action import SEEN, inputs, write_logs

from certsoar.actions.siem import related
from certsoar.config import Config
from certsoar.connections import Connections, build_connector
from certsoar.connectors.siem import SiemEvent, SiemQuery
from certsoar.context import ActionContext
from certsoar.errors import ConnectorUnavailable
from certsoar.fanout import SiemFanOut


def split_logs(tmp_path: Path) -> None:
    """The lab's Suricata records in one SIEM's folder, the Zeek x509 record in another's."""
    logs = tmp_path / "all"
    logs.mkdir()
    write_logs(logs)
    for name, file in (("east", "eve.json"), ("west", "x509.ndjson")):
        (tmp_path / name).mkdir()
        (logs / file).rename(tmp_path / name / file)


def context(tmp_path: Path, siems: list[dict[str, Any]], overrides: dict[str, Any] | None = None) -> ActionContext:
    config = Config.model_validate(
        {"state_dir": str(tmp_path / "state"), "config_dir": tmp_path, "connectors": {"siem": siems}}
    )
    built = None
    if overrides is not None:
        built = {"siem": {s["name"]: overrides.get(s["name"]) or _build(s, config) for s in siems}}
    return ActionContext(
        run_id="r1",
        step_id="related",
        dry_run=True,
        now=SEEN,
        config=config,
        connectors=Connections(config, overrides=built),
        ledger=None,  # type: ignore[arg-type]
        templates=None,  # type: ignore[arg-type]
    )


def _build(section: dict[str, Any], config: Config) -> Any:
    return build_connector("siem", config.connectors.section("siem", section["name"]), config, None)


def files(name: str, folder: str, **extra: Any) -> dict[str, Any]:
    return {"type": "files", "name": name, "paths": [folder], **extra}


async def test_events_of_every_siem_merged_by_time_and_the_broken_one_a_warning(tmp_path: Path) -> None:
    split_logs(tmp_path)
    siems = [files("east", "east"), files("broken", "no-such-logs"), files("west", "west")]
    out = await related(inputs(), context(tmp_path, siems))
    assert out.count == 6  # what one SIEM holding every log finds (test_siem_action)
    assert [e.time for e in out.events] == sorted(e.time for e in out.events)
    assert out.events[0].siem == "west" and out.events[0].time == SEEN - timedelta(days=3)  # the x509 record
    assert {e.siem for e in out.events[1:]} == {"east"}
    assert out.first_seen == SEEN - timedelta(days=3)
    [warning] = out.warnings
    assert warning.startswith("siem broken was not searched: ") and "none of the configured log paths exist" in warning


async def test_a_siem_past_its_timeout_is_a_warning_not_a_hang(tmp_path: Path) -> None:
    split_logs(tmp_path)
    siems = [files("east", "east"), files("slow", "west", search_timeout="1s")]
    started = asyncio.get_running_loop().time()
    out = await related(inputs(), context(tmp_path, siems, overrides={"slow": Stuck()}))
    assert asyncio.get_running_loop().time() - started < 10
    assert out.count == 5 and {e.siem for e in out.events} == {"east"}
    assert out.warnings == ["siem slow was not searched: no answer within 1s"]


async def test_the_step_fails_only_when_no_siem_answered(tmp_path: Path) -> None:
    siems = [files("one", "no-such-logs"), files("two", "nor-these")]
    with pytest.raises(ConnectorUnavailable, match="no SIEM answered: siem one was not searched: .*; siem two"):
        await related(inputs(), context(tmp_path, siems))


async def test_one_siem_answers_as_it_did_alone(tmp_path: Path) -> None:
    """A single SIEM: its own error unchanged (the step's retry sees what it said), its warnings unprefixed."""
    with pytest.raises(ConnectorUnavailable, match=r"^siem:only: none of the configured log paths exist \("):
        await related(inputs(), context(tmp_path, [files("only", "no-such-logs")]))
    fanout = SiemFanOut([("only", Answers([event("x")], ["a source was skipped"]), 5.0)])
    found = await fanout.search_report(QUERY)
    assert found.warnings == ["a source was skipped"] and [e.siem for e in found.events] == ["only"]


async def test_the_merge_keeps_the_limit_earliest_first() -> None:
    early, late = event("early", hours=-2), event("late", hours=2)
    fanout = SiemFanOut([("a", Answers([late]), 5.0), ("b", Answers([early]), 5.0)])
    merged = await fanout.search_report(QUERY.model_copy(update={"limit": 1}))
    assert [(e.summary, e.siem) for e in merged.events] == [("early", "b")]


QUERY = SiemQuery(kinds=["tls"], start=SEEN - timedelta(days=1), end=SEEN + timedelta(days=1))


def event(summary: str, hours: int = 0) -> SiemEvent:
    return SiemEvent(time=SEEN + timedelta(hours=hours), source="test", kind="tls", matched=[], summary=summary)


class Answers:
    def __init__(self, events: list[SiemEvent], warnings: list[str] | None = None) -> None:
        self.events, self.warnings = events, warnings or []

    async def search(self, query: SiemQuery) -> list[SiemEvent]:
        return self.events

    async def search_report(self, query: SiemQuery) -> Any:
        from certsoar.connectors.siem import SiemSearch

        return SiemSearch(events=self.events, warnings=self.warnings)


class Stuck:
    """A SIEM that never answers."""

    async def search(self, query: SiemQuery) -> list[SiemEvent]:
        await asyncio.sleep(3600)
        return []
