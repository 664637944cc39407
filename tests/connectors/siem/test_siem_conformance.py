"""What every SIEM connector must do, holding the same story (``siem_vendor``, see siem_vendors.py): the files
SIEM, Splunk (export and job), Elasticsearch, OpenSearch, Sentinel and QRadar answer every search with the same
events."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

import pytest
from siem_records import BY_TIME, CLIENT, SEARCHES, SERVER, T0, UID
from siem_vendors import SiemVendor

from certsoar.connectors.siem import (
    CertificateRecord,
    CertificateStream,
    ReportingSiem,
    Siem,
    SiemEvent,
    SiemQuery,
    search_with_warnings,
)
from certsoar.errors import ConnectorRejected, ConnectorUnavailable

LOCAL = pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "127.0.0.1")


def query(indicators: dict[str, list[str]] | None = None, **fields: object) -> SiemQuery:
    values: dict[str, object] = {
        "indicators": indicators or {},
        "start": T0 - timedelta(hours=1),
        "end": T0 + timedelta(hours=1),
        **fields,
    }
    return SiemQuery.model_validate(values)


ONE_SOURCE = query(kinds=["adcs"])
"""A search every SIEM answers with one request (a SIEM of several sources asks only the one of AD CS events)."""


def names(events: list[SiemEvent]) -> list[str]:
    return [BY_TIME[e.time] for e in events]


async def test_the_connector_is_a_reporting_siem(siem_vendor: SiemVendor) -> None:
    siem = siem_vendor.build()
    assert isinstance(siem, Siem) and isinstance(siem, ReportingSiem)


@pytest.mark.parametrize("kind", sorted(SEARCHES))
async def test_search_by_each_indicator_kind_finds_the_expected_events(siem_vendor: SiemVendor, kind: str) -> None:
    values, expected = SEARCHES[kind]
    report = await search_with_warnings(siem_vendor.build(), query({kind: values}))
    assert sorted(names(report.events)) == sorted(expected)
    assert all(e.matched == [kind] for e in report.events)
    assert [e.time for e in report.events] == sorted(e.time for e in report.events)
    assert report.warnings == []


async def test_the_events_carry_what_the_siem_actions_read(siem_vendor: SiemVendor) -> None:
    events = {BY_TIME[e.time]: e for e in await siem_vendor.build().search(query({"server": [f"{SERVER}:443"]}))}
    ssl, suricata, conn = events["ssl"], events["suricata"], events["conn"]
    assert (ssl.kind, suricata.kind, conn.kind) == ("tls", "tls", "conn")
    assert (ssl.src_ip, ssl.dst_ip, ssl.dst_port, ssl.sni, ssl.uid) == (CLIENT, SERVER, 443, "evil.example", UID)
    assert ssl.sha256 is not None and suricata.sha1 is not None and suricata.serial == "A1B2C3D4E5F60718293"
    assert (conn.bytes_out, conn.bytes_in, conn.duration, conn.conn_state) == (1200, 5400, 1.5, "SF")
    [adcs] = await siem_vendor.build().search(query({"requester": ["CORP\\Mallory"]}))
    assert (adcs.kind, adcs.event_code, adcs.request_id, adcs.requester) == ("adcs", "4887", "2051", "CORP\\mallory")
    assert adcs.serial == "A1B2C3D4E5F60718293" and adcs.host and adcs.host.lower() == "ca01.corp.example"


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [(["conn"], ["conn"]), (["adcs"], ["adcs"]), (["x509", "adcs"], ["x509", "adcs"])],
    ids=["conn", "adcs", "x509+adcs"],
)
async def test_search_by_kind_alone(siem_vendor: SiemVendor, kinds: list[str], expected: list[str]) -> None:
    events = await siem_vendor.build().search(query(kinds=kinds))
    assert names(events) == expected and all(e.matched == [] for e in events)


async def test_indicators_and_kinds_together(siem_vendor: SiemVendor) -> None:
    events = await siem_vendor.build().search(query({"ip": [CLIENT]}, kinds=["conn"]))
    assert names(events) == ["conn"]


async def test_the_window_and_the_limit_keep_the_earliest(siem_vendor: SiemVendor) -> None:
    siem = siem_vendor.build()
    wanted = {"server": [f"{SERVER}:443"]}
    assert names(await siem.search(query(wanted, limit=2))) == ["ssl", "suricata"]
    later = query(wanted, start=T0 + timedelta(seconds=2), end=T0 + timedelta(hours=1))
    assert names(await siem.search(later)) == ["suricata", "conn"]


async def test_a_search_for_nothing_finds_nothing(siem_vendor: SiemVendor) -> None:
    siem = siem_vendor.build()
    assert await siem.search(query({"sha256": ["not a hash"]})) == []
    assert await siem.search(query({"sha256": ["ab" * 32]})) == []


async def test_certificate_stream_where_supported(siem_vendor: SiemVendor) -> None:
    siem = siem_vendor.build()
    assert isinstance(siem, CertificateStream)
    warnings: list[str] = []
    records: list[CertificateRecord] = [r async for r in siem.iter_certificates(None, warnings)]
    assert {BY_TIME[r.event.time] for r in records} == siem_vendor.sweepable
    formats = {BY_TIME[r.event.time]: r.format for r in records}
    assert formats.get("x509") == "zeek-x509" and formats.get("suricata") == "suricata-tls"
    skipped = {"x509", "ssl", "suricata", "benign"} - siem_vendor.sweepable
    assert bool(skipped) == any(f"{len(skipped)} certificate" in w for w in warnings), warnings
    since = T0 + timedelta(seconds=1)
    later = [BY_TIME[r.event.time] async for r in siem.iter_certificates(since, [])]
    assert sorted(later) == sorted(n for n in siem_vendor.sweepable if n in ("suricata", "benign"))


# ------------------------------------------------------------------------------------- over HTTP


async def test_401_is_rejected_naming_the_credentials(http_siem_vendor: SiemVendor) -> None:
    vendor = http_siem_vendor
    assert vendor.fake is not None
    vendor.fake.inject(401, message="missing authentication credentials for REST request")
    with pytest.raises(ConnectorRejected, match="authentication failed.*HTTP 401.*missing authentication credentials"):
        await vendor.build().search(ONE_SOURCE)
    assert len(vendor.fake.requests) == 1  # a refusal is never tried again


async def test_wrong_credentials_are_rejected(http_siem_vendor: SiemVendor, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "CERTSOAR_TEST_SPLUNK_TOKEN",
        "CERTSOAR_TEST_ELASTIC_API_KEY",
        "CERTSOAR_TEST_OPENSEARCH_PASSWORD",
        "CERTSOAR_TEST_SENTINEL_SECRET",
        "CERTSOAR_TEST_QRADAR_TOKEN",
    ):
        monkeypatch.setenv(name, "a-stale-credential")
    with pytest.raises(ConnectorRejected, match="authentication failed"):
        await http_siem_vendor.build().search(query({"sni": ["evil.example"]}))


async def test_429_then_200_succeeds_after_the_retry_after(http_siem_vendor: SiemVendor) -> None:
    vendor = http_siem_vendor
    assert vendor.fake is not None
    vendor.fake.inject(429, headers={"Retry-After": "1"}, message="rejected execution")
    started = time.monotonic()
    events = await vendor.build().search(query({"sni": ["evil.example"]}))
    assert names(events) == ["ssl", "suricata"]
    assert time.monotonic() - started >= 1.0


async def test_500_forever_is_unavailable_after_the_configured_attempts(http_siem_vendor: SiemVendor) -> None:
    vendor = http_siem_vendor
    assert vendor.fake is not None
    vendor.fake.inject(500, times=10, message="internal error")
    with pytest.raises(ConnectorUnavailable, match="HTTP 500.*internal error.*after 3 attempts"):
        await vendor.build(attempts=3).search(ONE_SOURCE)
    assert len(vendor.fake.requests) == 3


@LOCAL
async def test_a_silent_server_times_out_instead_of_hanging(http_siem_vendor: SiemVendor, silent_server: str) -> None:
    siem = http_siem_vendor.build(url=silent_server, read_timeout=0.3, attempts=2)
    started = time.monotonic()
    with pytest.raises(ConnectorUnavailable, match="ReadTimeout.*after 2 attempts"):
        await asyncio.wait_for(siem.search(query({"sni": ["evil.example"]})), timeout=10)
    assert time.monotonic() - started < 3


async def test_secrets_are_absent_from_logs_errors_and_reprs(
    http_siem_vendor: SiemVendor, caplog: pytest.LogCaptureFixture
) -> None:
    vendor = http_siem_vendor
    assert vendor.fake is not None
    caplog.set_level(logging.DEBUG)
    siem = vendor.build(attempts=2)
    assert names(await siem.search(query({"sni": ["evil.example"]}))) == ["ssl", "suricata"]
    errors: list[str] = []
    for status in (401, 400, 500):
        vendor.fake.inject(status, times=2, message=f"credential {vendor.secrets[0]} refused")
        before = len(errors)
        try:  # a SIEM of several sources may report a refused query (400) as a warning naming the source
            errors += (await search_with_warnings(siem, ONE_SOURCE)).warnings
        except (ConnectorRejected, ConnectorUnavailable) as caught:
            errors.append(str(caught))
        assert len(errors) > before, f"HTTP {status} was neither an error nor a warning"
    logged = [r.getMessage() for r in caplog.records]
    assert any("***" in line for line in logged), "requests are logged at debug, redacted"
    for secret in vendor.secrets:
        assert not any(secret in line for line in logged)
        assert not any(secret in e for e in errors)
        assert secret not in repr(siem) and secret not in repr(vars(siem))
    assert all("***" in e for e in errors)  # the vendor echoed the credential; the error blanks it
