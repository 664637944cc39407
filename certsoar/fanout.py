"""Every configured SIEM searched as one: the searches run concurrently, each under its own timeout, and the
events come back merged by event time, each naming the SIEM (instance) it came from.

A SIEM that fails or times out is a warning of the search, never a silent gap; the search fails only when no
SIEM answered (with one SIEM configured its own error is raised unchanged, so retries see what it said).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from certsoar.connectors.siem import Siem, SiemEvent, SiemQuery, SiemSearch, search_with_warnings
from certsoar.errors import ConnectorError, ConnectorRejected, ConnectorUnavailable


class SiemFanOut:
    """The SIEMs ``(instance, siem, timeout seconds)`` behind one ``Siem`` (a ReportingSiem)."""

    def __init__(self, members: Sequence[tuple[str, Siem, float]]) -> None:
        self.members = list(members)

    async def search(self, query: SiemQuery) -> list[SiemEvent]:
        return (await self.search_report(query)).events

    async def search_report(self, query: SiemQuery) -> SiemSearch:
        if len(self.members) == 1:
            name, siem, timeout = self.members[0]
            report = await _within(name, siem, query, timeout)
            return SiemSearch(events=_tagged(report.events, name), warnings=report.warnings)
        outcomes = await asyncio.gather(
            *(_within(name, siem, query, timeout) for name, siem, timeout in self.members), return_exceptions=True
        )
        events: list[SiemEvent] = []
        warnings: list[str] = []
        failures: list[BaseException] = []
        for (name, _, _), outcome in zip(self.members, outcomes, strict=True):
            if isinstance(outcome, SiemSearch):
                events += _tagged(outcome.events, name)
                warnings += [f"siem {name}: {w}" for w in outcome.warnings]
            elif isinstance(outcome, Exception):
                failures.append(outcome)
                warnings.append(f"siem {name} was not searched: {failure_text(name, outcome)}")
            else:  # cancellation and the like are not a SIEM's failure
                raise outcome
        if len(failures) == len(self.members):
            kind = (
                ConnectorRejected if all(isinstance(f, ConnectorRejected) for f in failures) else ConnectorUnavailable
            )
            raise kind("no SIEM answered: " + "; ".join(warnings))
        events.sort(key=lambda e: e.time)
        return SiemSearch(events=events[: query.limit], warnings=warnings)


async def _within(name: str, siem: Siem, query: SiemQuery, timeout: float) -> SiemSearch:
    try:
        return await asyncio.wait_for(search_with_warnings(siem, query), timeout)
    except TimeoutError as exc:
        raise ConnectorUnavailable(f"no answer within {timeout:g}s", connector=f"siem:{name}") from exc


def failure_text(name: str, exc: Exception) -> str:
    """What went wrong with SIEM ``name``, without the ``siem:<name>:`` its own error starts with."""
    if isinstance(exc, ConnectorError):
        return str(exc).removeprefix(f"siem:{name}: ")
    return f"{type(exc).__name__}: {exc}"


def _tagged(events: list[SiemEvent], name: str) -> list[SiemEvent]:
    return [e if e.siem == name else e.model_copy(update={"siem": name}) for e in events]
