"""Beaconing: one client's connections to one server that come at a steady period, found from the series
alone (no baseline: a new C2 server has none), from a period of seconds to hours.

Connections less than ``CHECKIN_MERGE_S`` apart are one check-in: C2 clients often open two sessions per
check-in and the sensor logs each. The period is the median gap between check-ins; a gap of about 2 or 3
periods is a missed check-in and is counted per period. The series beacons when

- it has at least ``min_connections`` connections and ``max(MIN_CHECKINS, min_connections // 2)`` check-ins;
- the robust coefficient of variation of its gaps, 1.4826 · MAD / median, is below ``max_cv``. A sleep
  drawn uniformly from [(1 - j) · P, P] gives 0.37 · j / (1 - j / 2): 0.13 for 30 % jitter, 0.25 for 50 %;
  random (Poisson) connections give 1.03;
- at least ``REGULAR_SHARE`` of the gaps lie within max(3 · 1.4826 · MAD, 10 % of the period) of it, so a
  few outliers (the staging burst at first contact, an operator's interactive session) are tolerated and a
  mostly irregular series is not.

A beacon after first-seen is new unless the same pair already beaconed before first-seen at a period within
a factor of 2: long-lived benign polling (an agent, an updater) does not start with the certificate.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from certsoar.timeparse import shown_utc

CHECKIN_MERGE_S = 1.0
MIN_CHECKINS = 8
REGULAR_SHARE = 0.8
MAD_SCALE = 1.4826
_MIN_BAND_SHARE = 0.1
_MISSED_CHECKINS = (2, 3)
_SAME_PERIOD_FACTOR = 2.0


class Beacon(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    client: str
    server: str
    connections: int = Field(description="Connections of the series.")
    checkins: int = Field(description=f"Check-ins: connections less than {CHECKIN_MERGE_S:g} s apart count once.")
    period_s: float = Field(description="Median gap between check-ins, missed check-ins folded.")
    cv: float = Field(description="Robust coefficient of variation of the gaps: 1.4826 · MAD / median.")
    regular_share: float = Field(description="Share of the gaps within the period's tolerance band.")
    first: datetime
    last: datetime
    new: bool = Field(description="False when the pair already beaconed at a similar period before first-seen.")
    established_since: datetime | None = Field(
        default=None, description="When the earlier series began (not new), else None."
    )

    def describe(self) -> str:
        shape = (
            f"{self.connections} connections ({self.checkins} check-ins) every {_duration(self.period_s)} "
            f"(robust CV {self.cv:.2f}, {self.regular_share:.0%} regular)"
        )
        if self.new:
            return f"{self.client} -> {self.server} beacons: {shape} from {shown_utc(self.first)}"
        since = shown_utc(self.established_since) if self.established_since else "an unknown time"
        return f"{self.client} -> {self.server} polls as before first-seen (since {since}): {shape}"


@dataclass(frozen=True)
class Periodicity:
    connections: int
    checkins: int
    period_s: float
    cv: float
    regular_share: float


def checkins(times: Sequence[datetime]) -> list[datetime]:
    merged: list[datetime] = []
    for when in sorted(times):
        if not merged or (when - merged[-1]).total_seconds() >= CHECKIN_MERGE_S:
            merged.append(when)
    return merged


def periodicity(times: Sequence[datetime], *, min_connections: int, max_cv: float) -> Periodicity | None:
    """The series' period when it beacons by the rules above, else None."""
    merged = checkins(times)
    if len(times) < min_connections or len(merged) < max(MIN_CHECKINS, min_connections // 2):
        return None
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(merged)]
    rough = statistics.median(gaps)
    folded = [gap / k if (k := round(gap / rough)) in _MISSED_CHECKINS else gap for gap in gaps]
    period = statistics.median(folded)
    mad = statistics.median(abs(gap - period) for gap in folded)
    cv = MAD_SCALE * mad / period
    band = max(3 * MAD_SCALE * mad, _MIN_BAND_SHARE * period)
    regular = sum(abs(gap - period) <= band for gap in folded) / len(folded)
    if cv >= max_cv or regular < REGULAR_SHARE:
        return None
    return Periodicity(len(times), len(merged), period, cv, regular)


def find_beacon(
    client: str,
    server: str,
    *,
    after_t0: Sequence[datetime],
    before_t0: Sequence[datetime],
    min_connections: int,
    max_cv: float,
) -> Beacon | None:
    """The pair's beacon after first-seen (``new`` False when it already beaconed before), or None."""
    found = periodicity(after_t0, min_connections=min_connections, max_cv=max_cv)
    if found is None:
        return None
    earlier = periodicity(before_t0, min_connections=min_connections, max_cv=max_cv)
    established = (
        earlier is not None and 1 / _SAME_PERIOD_FACTOR <= earlier.period_s / found.period_s <= _SAME_PERIOD_FACTOR
    )
    return Beacon(
        client=client,
        server=server,
        connections=found.connections,
        checkins=found.checkins,
        period_s=round(found.period_s, 3),
        cv=round(found.cv, 4),
        regular_share=round(found.regular_share, 3),
        first=min(after_t0),
        last=max(after_t0),
        new=not established,
        established_since=min(before_t0) if established else None,
    )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
