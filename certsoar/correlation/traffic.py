"""E3, traffic change after a certificate is first seen (cert-domain §1.11, §4 E3).

For each key (a server ``ip:port`` that presented the certificate, or one of its clients) and metric (bytes
client→server per hour, connections per hour), the observed value is the busiest hour in [t0, t0 + after];
the baseline is every hour of the trailing baseline before t0 that the logs cover (hours without traffic
count as 0). It fires when the robust z-score (x - median) / (1.4826 · MAD) reaches ``z`` (MAD 0: no z, the
ratio decides) or x / max(median, 1) reaches ``ratio``, and only when x is at least the absolute floor.

Beaconing (certsoar.correlation.periodicity) needs no baseline: a client→server series after t0 that is
periodic. It is not new, and does not fire, when the same pair already polled at a similar period before t0.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from certsoar.config import TrafficChange
from certsoar.connectors.siem import SiemEvent
from certsoar.correlation.identity import format_server
from certsoar.correlation.periodicity import Beacon, find_beacon
from certsoar.timeparse import parse_duration, shown_utc

Metric = Literal["bytes_out_per_hour", "connections_per_hour"]
MAD_SCALE = 1.4826
HOUR = timedelta(hours=1)


class TrafficStat(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(description="Server ip:port or client ip.")
    metric: Metric
    observed: float = Field(description="Busiest hour after first-seen.")
    baseline_median: float
    mad: float = Field(description="Median absolute deviation of the baseline hours (unscaled).")
    z: float | None = Field(description="Robust z-score; None without a baseline or when MAD is 0.")
    ratio: float = Field(description="observed / max(baseline_median, 1).")
    fired: bool
    baseline_hours: int = Field(default=0, description="Hours of baseline the logs cover; 0 = no baseline.")
    upload_ratio: float | None = Field(
        default=None, description="Bytes out / bytes in after first-seen (bytes metric only)."
    )


def median_and_mad(values: Sequence[float]) -> tuple[float, float]:
    median = statistics.median(values)
    return median, statistics.median(abs(v - median) for v in values)


def assess(
    key: str, metric: Metric, observed: float, baseline: Sequence[float] | None, *, z: float, ratio: float, floor: float
) -> TrafficStat:
    """One key and metric against its baseline; ``baseline`` None or empty means the logs hold none."""
    if baseline:
        median, mad = median_and_mad(baseline)
        score = (observed - median) / (MAD_SCALE * mad) if mad > 0 else None
    else:
        median, mad, score = 0.0, 0.0, None
    times = observed / max(median, 1.0)
    spiked = (score is not None and score >= z) or times >= ratio
    return TrafficStat(
        key=key,
        metric=metric,
        observed=float(observed),
        baseline_median=float(median),
        mad=float(mad),
        z=None if score is None else round(score, 3),
        ratio=round(times, 3),
        fired=bool(spiked and observed >= floor),
        baseline_hours=len(baseline or ()),
    )


@dataclass(frozen=True)
class Series:
    """Hourly sums of one key: baseline hours (None when the logs cover none) and the busiest hour after t0."""

    baseline: list[float] | None
    peak: float


def hourly(
    points: Iterable[tuple[datetime, float]],
    t0: datetime,
    coverage_start: datetime | None,
    after: timedelta,
    baseline: timedelta,
) -> Series:
    after_hours = max(1, math.ceil(after / HOUR))
    baseline_hours = max(0, math.floor(baseline / HOUR))
    first_covered = -baseline_hours
    if coverage_start is None or coverage_start >= t0:
        first_covered = 0
    else:
        first_covered = max(first_covered, math.floor((coverage_start - t0) / HOUR))
    buckets: dict[int, float] = {}
    for when, value in points:
        index = math.floor((when - t0) / HOUR)
        if first_covered <= index < after_hours:
            buckets[index] = buckets.get(index, 0.0) + value
    base = [buckets.get(i, 0.0) for i in range(first_covered, 0)]
    peak = max((buckets.get(i, 0.0) for i in range(after_hours)), default=0.0)
    return Series(baseline=base or None, peak=peak)


@dataclass(frozen=True)
class TrafficResult:
    changed: bool
    reason: str
    servers: list[TrafficStat]
    clients: list[TrafficStat]
    beacons: list[Beacon]


def _server_key(event: SiemEvent) -> str | None:
    return format_server(event.dst_ip, event.dst_port) if event.dst_ip and event.dst_port is not None else None


def _is_tls(event: SiemEvent) -> bool:
    return event.service is None or any(s in event.service.casefold() for s in ("ssl", "tls"))


def _stats(
    key: str, events: Sequence[SiemEvent], t0: datetime, coverage: datetime | None, limits: TrafficChange
) -> list[TrafficStat]:
    after, baseline = parse_duration(limits.after), parse_duration(limits.baseline)
    volume = hourly(((e.time, float(e.bytes_out or 0)) for e in events), t0, coverage, after, baseline)
    count = hourly(((e.time, 1.0) for e in events), t0, coverage, after, baseline)
    out_after = sum(e.bytes_out or 0 for e in events if t0 <= e.time < t0 + after)
    in_after = sum(e.bytes_in or 0 for e in events if t0 <= e.time < t0 + after)
    upload = round(out_after / in_after, 3) if in_after else None
    bytes_stat = assess(
        key,
        "bytes_out_per_hour",
        volume.peak,
        volume.baseline,
        z=limits.z,
        ratio=limits.ratio,
        floor=limits.bytes_floor,
    )
    conn_stat = assess(
        key,
        "connections_per_hour",
        count.peak,
        count.baseline,
        z=limits.z,
        ratio=limits.ratio,
        floor=limits.connections_floor,
    )
    return [bytes_stat.model_copy(update={"upload_ratio": upload}), conn_stat]


def measure(
    conns: Sequence[SiemEvent], t0: datetime, servers: Sequence[str], clients: Sequence[str], limits: TrafficChange
) -> TrafficResult:
    """E3 over connection events: per-server and per-client statistics, beacons, and the verdict with its reason."""
    after = parse_duration(limits.after)
    coverage = min((e.time for e in conns), default=None)
    by_server: dict[str, list[SiemEvent]] = defaultdict(list)
    by_client: dict[str, list[SiemEvent]] = defaultdict(list)
    for event in conns:
        key = _server_key(event)
        if key is not None:
            by_server[key].append(event)
        if event.src_ip is not None and _is_tls(event):
            by_client[event.src_ip].append(event)
    server_stats: list[TrafficStat] = []
    upload_heavy: list[str] = []
    for server in servers:
        to_server = by_server.get(server, [])
        server_stats.extend(_stats(server, to_server, t0, coverage, limits))
        out_after = sum(e.bytes_out or 0 for e in to_server if t0 <= e.time < t0 + after)
        in_after = sum(e.bytes_in or 0 for e in to_server if t0 <= e.time < t0 + after)
        if out_after > in_after:
            upload_heavy.append(f"{server} (out {_size(out_after)} / in {_size(in_after)})")
    client_stats: list[TrafficStat] = []
    for client in clients:
        client_stats.extend(_stats(client, by_client.get(client, []), t0, coverage, limits))
    pairs: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    wanted_servers, wanted_clients = set(servers), set(clients)
    for server in wanted_servers:
        for event in by_server.get(server, []):
            if event.src_ip in wanted_clients and event.time < t0 + after:
                pairs[(event.src_ip, server)].append(event.time)
    beacons: list[Beacon] = []
    for (client, server), times in sorted(pairs.items()):
        found = find_beacon(
            client,
            server,
            after_t0=[t for t in times if t >= t0],
            before_t0=[t for t in times if t < t0],
            min_connections=limits.beacon_min_connections,
            max_cv=limits.beacon_max_cv,
        )
        if found:
            beacons.append(found)
    fired = [s for s in server_stats + client_stats if s.fired]
    changed = bool(fired or any(b.new for b in beacons))
    return TrafficResult(
        changed=changed,
        reason=_reason(changed, fired, beacons, upload_heavy, t0, coverage, servers, limits),
        servers=server_stats,
        clients=client_stats,
        beacons=beacons,
    )


def _size(value: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value:.0f} B"


def _amount(metric: str, value: float) -> str:
    if metric.startswith("bytes"):
        return f"{_size(value)}/h"
    return f"{value:.0f} connections/h"


Z_SHOWN_UP_TO = 100.0
"""Above this a robust z-score says no more than "far outside": its digits only reflect how quiet the baseline was."""


def _z(z: float) -> str:
    return (
        f"robust z {z:.1f}"
        if z < Z_SHOWN_UP_TO
        else f"far outside the baseline's spread (robust z over {Z_SHOWN_UP_TO:.0f})"
    )


def _reason(
    changed: bool,
    fired: Sequence[TrafficStat],
    beacons: Sequence[Beacon],
    upload_heavy: Sequence[str],
    t0: datetime,
    coverage: datetime | None,
    servers: Sequence[str],
    limits: TrafficChange,
) -> str:
    if not servers:
        return "no server is known to have presented the certificate; nothing to measure"
    if coverage is None:
        return f"no connection records for {', '.join(servers)} or its clients around {shown_utc(t0)}"
    parts: list[str] = []
    for stat in fired:
        if not stat.baseline_hours:
            against = "no baseline in the logs"
        else:
            against = f"baseline median {_amount(stat.metric, stat.baseline_median)} over {stat.baseline_hours} h"
            if stat.z is not None and stat.z >= limits.z:
                against += f", {_z(stat.z)}"
            elif stat.baseline_median >= 1:
                against += f", {stat.ratio:.1f}x"
        parts.append(f"{stat.key} peaked at {_amount(stat.metric, stat.observed)} ({against})")
    parts.extend(found.describe() for found in beacons if found.new)
    head = "traffic changed after first-seen " if changed else "no traffic change after first-seen "
    text = (
        head
        + shown_utc(t0)
        + (
            ": " + "; ".join(parts)
            if parts
            else f" (thresholds z {limits.z}, ratio {limits.ratio}, floors {_amount('bytes', limits.bytes_floor)} and {limits.connections_floor} connections/h)"
        )
    )
    if upload_heavy:
        text += "; upload-heavy (more bytes out than in): " + ", ".join(upload_heavy)
    established = [found.describe() for found in beacons if not found.new]
    if established:
        text += "; not new: " + "; ".join(established)
    return text
