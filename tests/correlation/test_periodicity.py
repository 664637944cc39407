"""Beaconing from a series alone (certsoar.correlation.periodicity) and in E3 (measure): a short C2 beacon right
after first-seen fires without a baseline, from seconds to hours of period and with jitter; random traffic and
long-lived polling that predates the certificate stay quiet.

The series follow what C2 implants do on the wire (a sleep with uniform jitter, two sessions per check-in, a
staging burst at first contact, a missed check-in); they are seeded, so every run sees the same timings."""

from __future__ import annotations

import random
import statistics
from datetime import datetime, timedelta, timezone

import pytest

from certsoar.config import TrafficChange
from certsoar.connectors.siem import SiemEvent
from certsoar.correlation.periodicity import find_beacon, periodicity
from certsoar.correlation.traffic import measure

T0 = datetime(2026, 5, 30, 10, 0, tzinfo=timezone.utc)
LIMITS = TrafficChange()
CLIENT, SERVER = "10.0.0.5", "203.0.113.66:443"


def sleeps(period: float, jitter: float, count: int, seed: int) -> list[datetime]:
    """Check-ins of an implant sleeping period · (1 - jitter · U[0, 1]) between them, from T0."""
    rng = random.Random(seed)
    times = [T0 + timedelta(seconds=rng.uniform(0, 2))]
    for _ in range(count - 1):
        times.append(times[-1] + timedelta(seconds=period * (1 - jitter * rng.random())))
    return times


def short_c2_beacon() -> list[datetime]:
    """Dozens of sessions over a few minutes right after first-seen: a 5 s sleep with 20 % jitter, a staging
    burst of four sessions at first contact, a second session 0.3 s after every third check-in, one missed
    check-in."""
    rng = random.Random(7)
    checkins = sleeps(5.0, 0.2, 30, seed=7)
    del checkins[17]  # missed
    times = [T0 + timedelta(seconds=0.1 * i) for i in range(4)] + checkins
    times += [t + timedelta(seconds=0.3 + rng.uniform(0, 0.2)) for t in checkins[::3]]
    return sorted(times)


def classic_cv(times: list[datetime]) -> float:
    gaps = [(b - a).total_seconds() for a, b in zip(sorted(times), sorted(times)[1:], strict=False)]
    return statistics.pstdev(gaps) / statistics.fmean(gaps)


def test_a_short_c2_beacon_right_after_first_seen_is_found() -> None:
    times = short_c2_beacon()
    assert 30 <= len(times) <= 50 and (times[-1] - times[0]) < timedelta(minutes=3)
    # the plain coefficient of variation the rule used before (fire below 0.2) is dominated by the bursts and the
    # missed check-in
    assert classic_cv(times) > 0.5
    found = find_beacon(CLIENT, SERVER, after_t0=times, before_t0=[], min_connections=20, max_cv=LIMITS.beacon_max_cv)
    assert found is not None and found.new
    assert found.connections == len(times) and found.checkins == 30  # 29 check-ins + the staging burst
    assert 4.0 < found.period_s < 5.0 and found.cv < 0.2 and found.regular_share >= 0.8
    assert found.describe().startswith(f"{CLIENT} -> {SERVER} beacons: {len(times)} connections (30 check-ins)")


@pytest.mark.parametrize(
    ("period", "jitter", "count"),
    [
        (2.0, 0.0, 20),  # seconds
        (5.0, 0.3, 20),
        (60.0, 0.2, 24),
        (600.0, 0.5, 22),  # minutes, Cobalt Strike-like 50 % jitter
        (3600.0, 0.1, 24),  # an hourly check-in over one day (the default `after`)
    ],
)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_beacons_from_seconds_to_hours_with_jitter(period: float, jitter: float, count: int, seed: int) -> None:
    times = sleeps(period, jitter, count, seed)
    found = periodicity(times, min_connections=LIMITS.beacon_min_connections, max_cv=LIMITS.beacon_max_cv)
    assert found is not None, (period, jitter, seed)
    assert period * (1 - jitter) * 0.95 <= found.period_s <= period * 1.05


@pytest.mark.parametrize("seed", range(10))
def test_random_connections_are_not_a_beacon(seed: int) -> None:
    rng = random.Random(seed)
    times = [T0]
    for _ in range(60):  # Poisson arrivals, a connection every 90 s on average
        times.append(times[-1] + timedelta(seconds=rng.expovariate(1 / 90)))
    assert periodicity(times, min_connections=20, max_cv=LIMITS.beacon_max_cv) is None


def test_browsing_in_bursts_is_not_a_beacon() -> None:
    rng = random.Random(11)
    times: list[datetime] = []
    when = T0
    for _ in range(12):  # a page every few minutes, each opening several parallel sessions
        when += timedelta(seconds=rng.uniform(20, 600))
        times += [when + timedelta(seconds=rng.uniform(0, 3)) for _ in range(rng.randint(2, 6))]
    assert len(times) >= 20
    assert periodicity(times, min_connections=20, max_cv=LIMITS.beacon_max_cv) is None


def test_too_few_sessions_or_check_ins() -> None:
    assert periodicity(sleeps(5, 0.0, 19, 1), min_connections=20, max_cv=0.3) is None
    # 20 sessions, but in pairs: 10 check-ins is the floor at min_connections 20
    pairs = sorted(t + timedelta(seconds=s) for t in sleeps(30, 0.0, 10, 1) for s in (0, 0.4))
    assert periodicity(pairs, min_connections=20, max_cv=0.3) is not None
    triples = sorted(t + timedelta(seconds=s) for t in sleeps(30, 0.0, 9, 1) for s in (0, 0.4, 0.8))[:20]
    assert periodicity(triples, min_connections=20, max_cv=0.3) is None  # 20 sessions in only 7 check-ins


def test_mostly_irregular_series_with_a_periodic_half_is_not_a_beacon() -> None:
    rng = random.Random(5)
    regular = sleeps(60, 0.0, 15, 5)
    noise = [T0 + timedelta(seconds=rng.uniform(0, 900)) for _ in range(15)]
    assert periodicity(regular + noise, min_connections=20, max_cv=LIMITS.beacon_max_cv) is None


def test_polling_that_predates_the_certificate_is_not_new() -> None:
    before = [T0 - timedelta(days=7) + timedelta(seconds=300 * i + (i % 3)) for i in range(7 * 288)]
    after = [T0 + timedelta(seconds=300 * i + 1 + (i % 2)) for i in range(288)]
    found = find_beacon(CLIENT, SERVER, after_t0=after, before_t0=before, min_connections=20, max_cv=0.3)
    assert found is not None and not found.new and found.established_since == before[0]
    assert "polls as before first-seen" in found.describe()


def test_a_new_beacon_to_a_server_visited_before_is_new() -> None:
    visits = [T0 - timedelta(days=d, hours=3) for d in (1, 3, 6)]  # a few visits, no polling
    found = find_beacon(
        CLIENT, SERVER, after_t0=sleeps(60, 0.2, 30, 4), before_t0=visits, min_connections=20, max_cv=0.3
    )
    assert found is not None and found.new
    hourly_before = [T0 - timedelta(hours=h) for h in range(1, 60)]  # polled hourly, beacons every 5 s now
    found = find_beacon(
        CLIENT, SERVER, after_t0=sleeps(5, 0.2, 30, 4), before_t0=hourly_before, min_connections=20, max_cv=0.3
    )
    assert found is not None and found.new


def conn(when: datetime, client: str = CLIENT, server: str = "203.0.113.66", port: int = 443) -> SiemEvent:
    return SiemEvent(
        time=when,
        source="conn.log (zeek-conn)",
        kind="conn",
        matched=["server"],
        src_ip=client,
        dst_ip=server,
        dst_port=port,
        summary="conn",
        raw={},
        bytes_out=900,
        bytes_in=300,
        service="ssl",
    )


def test_measure_fires_on_the_short_beacon_without_a_baseline() -> None:
    result = measure([conn(t) for t in short_c2_beacon()], T0, [SERVER], [CLIENT], LIMITS)
    assert result.changed and [b.new for b in result.beacons] == [True]
    assert all(stat.baseline_hours == 0 and not stat.fired for stat in result.servers + result.clients)
    assert f"{CLIENT} -> {SERVER} beacons" in result.reason


def test_measure_stays_quiet_for_weeks_old_polling_to_the_same_server() -> None:
    """An agent that has polled its server every 5 minutes for weeks; the server's certificate is renewed and
    first seen at T0. The polling goes on as before: no change."""
    polling = [T0 + timedelta(seconds=300 * i + (i * 7) % 5) for i in range(-7 * 288, 288)]
    result = measure([conn(t) for t in polling], T0, [SERVER], [CLIENT], LIMITS)
    assert not result.changed, result.reason
    assert [b.new for b in result.beacons] == [False]
    assert result.reason.startswith("no traffic change") and "not new:" in result.reason
