"""The schedule runner of ``certsoar serve``: runs the sweeps of config ``schedules:`` at their cron times.

A schedule whose last fire time (kept in the run store as the watermark ``schedule:<sweep>``) is older
than its latest due time when the service starts was missed while the service was down: it runs once at
start, however many times it was missed. A sweep already running (from cron, or another service) is left
to it: ``certsoar.api.run_sweep`` holds the sweep's lease, and RunBusy here only means "not this time".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from croniter import croniter  # type: ignore[import-untyped]

from certsoar import api
from certsoar.config import Config, Schedule
from certsoar.errors import CertsoarError, RunBusy
from certsoar.service.runs import off_loop

log = logging.getLogger("certsoar.service.schedules")

Clock = Callable[[], datetime]
SweepFn = Callable[[Config, str], Awaitable[dict[str, Any]]]


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def latest_due(schedule: Schedule, now: datetime) -> datetime:
    """The latest cron time at or before ``now``."""
    return croniter(schedule.cron, now).get_prev(datetime)  # type: ignore[no-any-return]


def next_due(schedule: Schedule, now: datetime) -> datetime:
    return croniter(schedule.cron, now).get_next(datetime)  # type: ignore[no-any-return]


async def _sweep(config: Config, name: str) -> dict[str, Any]:
    return await off_loop(lambda: api.run_sweep(config, name))


class ScheduleRunner:
    """Runs each schedule's sweep when it is due, one at a time, until cancelled."""

    def __init__(
        self,
        config: Config,
        *,
        sweep: SweepFn = _sweep,
        clock: Clock = _utcnow,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.schedules = list(config.schedules)
        self.sweep = sweep
        self.clock = clock
        self.sleep = sleep

    async def run(self) -> None:
        if not self.schedules:
            return
        marks = await asyncio.to_thread(api.schedule_marks, self.config)
        now = self.clock()
        for schedule in self.schedules:
            last = marks.get(schedule.sweep)
            due = latest_due(schedule, now)
            if last is None or last < due:
                log.info("schedule %s (%s): missed at %s; running once now", schedule.sweep, schedule.cron, due)
                await self._fire(schedule, due)
        while True:
            now = self.clock()
            upcoming = sorted((next_due(s, now), i) for i, s in enumerate(self.schedules))
            when = upcoming[0][0]
            await self.sleep(max(0.0, (when - now).total_seconds()))
            for due, i in upcoming:
                if due == when:
                    await self._fire(self.schedules[i], due)

    async def _fire(self, schedule: Schedule, due: datetime) -> None:
        names = api.available_sweeps(self.config) if schedule.sweep == "all" else [schedule.sweep]
        for name in names:
            try:
                result = await self.sweep(self.config, name)
            except RunBusy as exc:
                log.info("schedule %s: another %s sweep is running; skipped (%s)", schedule.sweep, name, exc)
                continue
            except CertsoarError as exc:
                log.warning("schedule %s: %s sweep failed: %s", schedule.sweep, name, exc)
                continue
            except Exception:  # a bug must not end the schedule runner: the next schedule still runs
                log.exception("schedule %s: %s sweep: unexpected error", schedule.sweep, name)
                continue
            log.info(
                "schedule %s: %s sweep run %s %s: examined %s, violations %s, revoked %s, awaiting approval %s",
                schedule.sweep,
                name,
                result["run"],
                result["status"],
                result["examined"],
                result["violations"],
                result["revoked"],
                result["awaiting_approval"],
            )
        await asyncio.to_thread(api.record_schedule, self.config, schedule.sweep, due)
