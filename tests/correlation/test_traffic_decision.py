from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from certsoar.config import TrafficChange
from certsoar.connectors.siem import SiemEvent
from certsoar.correlation.traffic import assess, hourly, measure, median_and_mad

MB = 1024 * 1024
T0 = datetime(2026, 5, 30, 10, 0, tzinfo=timezone.utc)
LIMITS = TrafficChange()
STEADY = [85.0, 92, 100, 108, 115, 95, 105, 90, 110, 100] * 10  # ~Poisson(100) hour to hour


# (case, observed, baseline, floor, fired, z is None)
TABLE = [
    ("z fires above the floor", 60 * MB, [10 * MB, 11 * MB, 9 * MB, 10 * MB, 12 * MB, 8 * MB], 10 * MB, True, False),
    ("ratio fires when MAD is 0", 40 * MB, [10 * MB] * 24, 10 * MB, True, True),
    ("MAD 0 and ratio below: no fire", 20 * MB, [10 * MB] * 24, 10 * MB, False, True),
    ("no baseline: no z, ratio and floor apply", 12 * MB, None, 10 * MB, True, True),
    ("no baseline but under the floor never fires", 9 * MB, None, 10 * MB, False, True),
    ("small absolute numbers never fire (huge ratio)", 900.0, [0.0] * 100 + [10.0], 10 * MB, False, True),
    ("small connection counts never fire", 40.0, [1.0, 2, 1, 0, 1, 2, 1], 50, False, True),
    ("a steady server does not fire", 112.0, STEADY, 50, False, False),
    ("a steady server that triples fires", 320.0, STEADY, 50, True, False),
    ("all-zero baseline (new server) fires above the floor", 80.0, [0.0] * 168, 50, True, True),
    ("empty baseline list is no baseline", 80.0, [], 50, True, True),
]


@pytest.mark.parametrize(
    ("case", "observed", "baseline", "floor", "fired", "z_none"), TABLE, ids=[row[0] for row in TABLE]
)
def test_traffic_decision_table(case, observed, baseline, floor, fired, z_none):
    stat = assess(
        "203.0.113.66:443", "bytes_out_per_hour", observed, baseline, z=LIMITS.z, ratio=LIMITS.ratio, floor=floor
    )
    assert stat.fired is fired
    assert (stat.z is None) is z_none
    assert stat.baseline_hours == len(baseline or [])
    assert stat.ratio == pytest.approx(observed / max(stat.baseline_median, 1), rel=1e-3)


def test_robust_z_formula():
    median, mad = median_and_mad([1.0, 2, 3, 4, 100])
    assert (median, mad) == (3, 1)
    stat = assess("k", "connections_per_hour", 10, [1.0, 2, 3, 4, 100], z=3.5, ratio=100, floor=0)
    assert stat.z == pytest.approx((10 - 3) / 1.4826, abs=1e-3) and stat.fired


def test_hourly_buckets_and_coverage():
    points = [
        (T0 - timedelta(hours=3, minutes=30), 5.0),
        (T0 - timedelta(minutes=1), 7.0),
        (T0 + timedelta(minutes=10), 2.0),
        (T0 + timedelta(minutes=50), 3.0),
        (T0 + timedelta(hours=2), 9.0),
        (T0 + timedelta(hours=30), 99.0),
    ]
    series = hourly(points, T0, T0 - timedelta(hours=4), timedelta(hours=24), timedelta(days=7))
    assert series.baseline == [5.0, 0.0, 0.0, 7.0]  # only the 4 covered hours, empty hours as 0
    assert series.peak == 9.0  # the 30h point is after the measured span
    assert hourly(points, T0, None, timedelta(hours=24), timedelta(days=7)).baseline is None


def conn(
    when: datetime,
    client: str,
    server: str = "203.0.113.66",
    port: int = 443,
    out: int = 1000,
    back: int = 5000,
    service: str | None = "ssl",
) -> SiemEvent:
    return SiemEvent(
        time=when,
        source="conn.log (zeek-conn)",
        kind="conn",
        matched=[],
        src_ip=client,
        dst_ip=server,
        dst_port=port,
        bytes_out=out,
        bytes_in=back,
        service=service,
    )


def test_measure_exfil_upload_heavy_and_beacon():
    rng = random.Random(7)
    events = []
    for hour in range(-72, 0):  # three days of ordinary browsing by the client, elsewhere
        for _ in range(rng.randint(5, 8)):
            events.append(
                conn(
                    T0 + timedelta(hours=hour, minutes=rng.randint(0, 59)),
                    "10.0.0.5",
                    server="198.51.100.20",
                    out=rng.randint(2000, 4000),
                )
            )
    for i in range(30):  # after first-seen: a beacon every 5 min to the new server, one big upload
        events.append(conn(T0 + timedelta(minutes=5 * i, seconds=1), "10.0.0.5", out=2000, back=300))
    events.append(conn(T0 + timedelta(hours=1, minutes=2, seconds=30), "10.0.0.5", out=80 * MB, back=20_000))
    result = measure(events, T0, ["203.0.113.66:443"], ["10.0.0.5"], LIMITS)
    assert result.changed
    server_bytes = next(s for s in result.servers if s.metric == "bytes_out_per_hour")
    assert (
        server_bytes.fired
        and server_bytes.baseline_median == 0
        and server_bytes.z is None
        and server_bytes.upload_ratio > 1
    )
    client_bytes = next(s for s in result.clients if s.metric == "bytes_out_per_hour")
    assert (
        client_bytes.fired and client_bytes.z is not None and client_bytes.z > 3.5 and client_bytes.baseline_hours == 72
    )
    assert not next(s for s in result.clients if s.metric == "connections_per_hour").fired  # 13/h is under the floor
    assert [(b.client, b.server) for b in result.beacons] == [("10.0.0.5", "203.0.113.66:443")]
    assert "upload-heavy (more bytes out than in): 203.0.113.66:443" in result.reason and "beacons" in result.reason
    assert "203.0.113.66:443 peaked at " in result.reason and " MB/h (baseline median 0 B/h over " in result.reason


def test_measure_steady_server_does_not_change():
    rng = random.Random(11)
    events = []
    for hour in range(-168, 24):
        for _ in range(rng.randint(90, 110)):  # ~100 connections an hour from the fleet, same before and after
            client = f"10.0.{rng.randint(0, 3)}.{rng.randint(1, 250)}"
            events.append(
                conn(T0 + timedelta(hours=hour, seconds=rng.randint(0, 3599)), client, out=rng.randint(1000, 3000))
            )
    result = measure(events, T0, ["203.0.113.66:443"], [], LIMITS)
    assert not result.changed, result.reason
    connections = next(s for s in result.servers if s.metric == "connections_per_hour")
    assert (
        connections.baseline_hours == 168
        and 90 <= connections.baseline_median <= 110
        and connections.z is not None
        and connections.z < 3.5
    )
    assert result.reason.startswith("no traffic change")


def test_measure_without_records_or_servers():
    assert "no connection records" in measure([], T0, ["203.0.113.66:443"], ["10.0.0.5"], LIMITS).reason
    assert "no server is known" in measure([], T0, [], [], LIMITS).reason


def test_client_baseline_ignores_non_tls_services():
    events = [
        conn(T0 - timedelta(hours=1), "10.0.0.5", out=50 * MB, service="dns"),
        conn(T0 + timedelta(minutes=1), "10.0.0.5", out=5),
    ]
    client_bytes = next(
        s
        for s in measure(events, T0, ["203.0.113.66:443"], ["10.0.0.5"], LIMITS).clients
        if s.metric == "bytes_out_per_hour"
    )
    assert client_bytes.baseline_median == 0 and client_bytes.observed == 5
