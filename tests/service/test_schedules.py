"""The schedule runner of `certsoar serve`: due times, a missed schedule once at start, a busy sweep skipped;
and the service running a scheduled revocation sweep on a real openssl CA."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from realcomponents import require_tool
from sweeplab import BAD_COUNT, build_sweep_lab, write_config

from certsoar import api
from certsoar.config import Config, load_config
from certsoar.errors import RunBusy
from certsoar.service.app import create_app
from certsoar.service.schedules import ScheduleRunner

START = datetime(2026, 12, 1, 10, 7, tzinfo=timezone.utc)


class Stop(Exception):
    pass


class FakeTime:
    def __init__(self, now: datetime, *, sleeps: int) -> None:
        self.now = now
        self.sleeps = sleeps

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if self.sleeps == 0:
            raise Stop
        self.sleeps -= 1
        self.now += timedelta(seconds=seconds)


def _config(tmp_path: Path, schedules: list[dict[str, str]]) -> Config:
    path = tmp_path / "config.yaml"
    path.write_text(f"state_dir: state\nschedules: {schedules}\n", encoding="utf-8")
    return load_config(path)


def _runner(config: Config, fake: FakeTime, calls: list[tuple[str, datetime]], busy: bool = False) -> ScheduleRunner:
    async def sweep(config: Config, name: str) -> dict[str, Any]:
        calls.append((name, fake.now))
        if busy:
            raise RunBusy("sweep:revocation is being executed by another process")
        return {"run": "r", "status": "completed", "examined": 0, "violations": 0, "revoked": 0, "awaiting_approval": 0}

    return ScheduleRunner(config, sweep=sweep, clock=fake.clock, sleep=fake.sleep)


async def test_a_missed_schedule_runs_once_at_start_then_on_time(tmp_path: Path) -> None:
    config = _config(tmp_path, [{"sweep": "revocation", "cron": "*/30 * * * *"}])
    api.record_schedule(config, "revocation", START - timedelta(hours=5))  # ten fire times missed
    fake = FakeTime(START, sleeps=2)
    calls: list[tuple[str, datetime]] = []
    with pytest.raises(Stop):
        await _runner(config, fake, calls).run()
    assert calls == [
        ("revocation", START),
        ("revocation", START.replace(minute=30)),
        ("revocation", START.replace(hour=11, minute=0)),
    ]
    assert api.schedule_marks(config) == {"revocation": START.replace(hour=11, minute=0)}


async def test_a_schedule_that_fired_is_not_run_again_at_start(tmp_path: Path) -> None:
    config = _config(tmp_path, [{"sweep": "revocation", "cron": "0 * * * *"}])
    api.record_schedule(config, "revocation", START.replace(minute=0))
    fake = FakeTime(START, sleeps=0)
    calls: list[tuple[str, datetime]] = []
    with pytest.raises(Stop):
        await _runner(config, fake, calls).run()
    assert calls == []


async def test_a_busy_sweep_is_skipped_and_the_schedule_goes_on(tmp_path: Path) -> None:
    config = _config(tmp_path, [{"sweep": "revocation", "cron": "*/30 * * * *"}])
    fake = FakeTime(START, sleeps=1)
    calls: list[tuple[str, datetime]] = []
    with pytest.raises(Stop):
        await _runner(config, fake, calls, busy=True).run()
    assert [c[1] for c in calls] == [START, START.replace(minute=30)]


@pytest.mark.real
async def test_the_service_runs_a_missed_revocation_sweep_at_start(tmp_path: Path) -> None:
    require_tool("openssl")
    build_sweep_lab(tmp_path)
    write_config(tmp_path, schedules=[{"sweep": "revocation", "cron": "0 0 1 1 *"}])
    config = load_config(tmp_path / "config.yaml")
    app = create_app(config)
    async with app.router.lifespan_context(app):  # what `certsoar serve` runs around its requests
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "revocation" not in api.schedule_marks(config):
            await asyncio.sleep(0.2)
    runs = api.list_runs(config)
    assert [r["playbook"] for r in runs] == ["revocation-sweep"]
    shown = api.show_run(config, runs[0]["id"])
    summary = next(s for s in shown["steps"] if s["id"] == "summary")["output"]
    assert (summary["examined"], summary["revoked"]) == (8, BAD_COUNT)
    index = (tmp_path / "ca" / "index.txt").read_text()
    assert sum(line.startswith("R\t") for line in index.splitlines()) == BAD_COUNT
