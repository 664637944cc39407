"""The ``sentinel`` connector against a fake Log Analytics workspace (fake_sentinel.py): what the query API adds
to what every SIEM connector must do (test_siem_conformance.py runs it too): client credentials, PartialError,
tables it lacks, its presets (CEF, 4688) and the KQL it writes."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from fake_sentinel import API_URL, LOGIN_URL, SECRETS, FakeSentinel, build_sentinel
from pytest_httpx import HTTPXMock
from remote_lab import (
    CLIENT_IP,
    JA3,
    JA3S,
    OTHER_SHA256,
    REQUESTER,
    SERVER_IP,
    SHA1_COLONS,
    SHA256,
    SNI,
    T0,
)

from certsoar.connectors.siem import CertificateStream, ReportingSiem, SiemQuery
from certsoar.connectors.siem.remote import Plan, prefilter
from certsoar.connectors.siem.sentinel import PRESETS, SentinelSettings, SentinelSiem, kql_query
from certsoar.errors import ConnectorRejected
from certsoar.registry import connector_class

LOCAL = pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "127.0.0.1")


@pytest.fixture
def fake(httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch) -> FakeSentinel:
    monkeypatch.setenv("CERTSOAR_TEST_SENTINEL_SECRET", SECRETS[0])
    vendor = FakeSentinel()
    for url in vendor.urls:
        httpx_mock.add_callback(vendor, url=re.compile(re.escape(url) + "/.*"), is_reusable=True, is_optional=True)
    return vendor


def window(**indicators: list[str]) -> SiemQuery:
    return SiemQuery(indicators=indicators, start=T0 - timedelta(days=1), end=T0 + timedelta(days=1))


def found(events: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return sorted((e.source.split(":")[-1], e.kind) for e in events)


SSL = ("Corelight_ssl_CL (zeek-ssl)", "tls")
CONN = ("Corelight_conn_CL (zeek-conn)", "conn")
SURICATA = ("Suricata_CL (suricata-tls)", "tls")
CEF = ("CommonSecurityLog (cef)", "conn")
ISSUED = ("SecurityEvent (windows-adcs-4887)", "adcs")
PROCESS = ("SecurityEvent (windows-security-4688)", "process")


async def test_events_carry_what_the_actions_read(fake: FakeSentinel, tmp_path: Path) -> None:
    siem = build_sentinel(fake, tmp_path)
    events = await siem.search(window(sha256=[SHA256], requester=[REQUESTER], ip=[SERVER_IP]))
    by_source = {e.source.split(":")[-1]: e for e in events}
    ssl = by_source["Corelight_ssl_CL (zeek-ssl)"]
    assert (ssl.src_ip, ssl.dst_ip, ssl.dst_port, ssl.sni, ssl.sha256) == (CLIENT_IP, SERVER_IP, 443, SNI, SHA256)
    assert ssl.time == T0 and ssl.ja3 == JA3 and ssl.validation_status == "self signed certificate"
    conn = by_source["Corelight_conn_CL (zeek-conn)"]
    assert (conn.bytes_out, conn.bytes_in, conn.uid, conn.conn_state) == (1200, 5400, "CHhAvVGS1DHFjwGM9", "SF")
    cef = by_source["CommonSecurityLog (cef)"]
    assert (cef.bytes_out, cef.bytes_in, cef.dst_port) == (1800, 64000, 443)
    issued = by_source["SecurityEvent (windows-adcs-4887)"]
    assert (issued.event_code, issued.request_id, issued.requester, issued.template, issued.host) == (
        "4887",
        "77",
        REQUESTER,
        "WebServer",
        "CA01.corp.example",
    )
    assert issued.subject_key_id == "5a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d"
    assert events[0].source.startswith("sentinel:sentinel:")


async def test_kinds_alone_select_every_event_of_those_kinds(fake: FakeSentinel, tmp_path: Path) -> None:
    siem = build_sentinel(fake, tmp_path)
    query = SiemQuery(kinds=["adcs", "process"], start=T0 - timedelta(days=1), end=T0 + timedelta(days=1))
    assert found(await siem.search(query)) == sorted([ISSUED, PROCESS])  # the 4624 logon is no event


async def test_the_window_and_the_limit_bound_the_search(fake: FakeSentinel, tmp_path: Path) -> None:
    siem = build_sentinel(fake, tmp_path)
    narrow = SiemQuery(indicators={"ip": [SERVER_IP]}, start=T0 - timedelta(seconds=1), end=T0 + timedelta(seconds=2))
    assert found(await siem.search(narrow)) == sorted([SSL, CONN])
    span = f"{(T0 - timedelta(seconds=1)):%Y-%m-%dT%H:%M:%S}.000000Z/{(T0 + timedelta(seconds=2)):%Y-%m-%dT%H:%M:%S}.000000Z"
    assert fake.queries and all(q["timespan"] == span for q in fake.queries)
    limited = await siem.search_report(window(ip=[SERVER_IP]).model_copy(update={"limit": 1}))
    assert len(limited.events) == 1 and limited.events[0].time == T0
    assert any("limit of 1" in w for w in limited.warnings)


async def test_a_partial_error_keeps_the_rows_and_is_a_warning(fake: FakeSentinel, tmp_path: Path) -> None:
    fake.partial_error = True
    siem = build_sentinel(fake, tmp_path, sources=[{"preset": "zeek-ssl", "table": "Corelight_ssl_CL"}])
    report = await siem.search_report(window(sha256=[SHA256]))
    assert found(report.events) == [SSL]
    [warning] = report.warnings
    assert "Corelight_ssl_CL: partial result" in warning and "PartialError" in warning
    assert "exceeded the internal data size limit" in warning


async def test_a_table_the_workspace_lacks_is_a_warning_and_the_others_are_searched(
    fake: FakeSentinel, tmp_path: Path
) -> None:
    sources = [{"preset": "zeek-ssl", "table": "Zeek_ssl_CL"}, {"preset": "suricata-tls", "table": "Suricata_CL"}]
    siem = build_sentinel(fake, tmp_path, sources=sources)
    report = await siem.search_report(window(sni=[SNI]))
    assert found(report.events) == [SURICATA]
    [warning] = report.warnings
    assert "table Zeek_ssl_CL: the query was refused" in warning and "Failed to resolve table" in warning


async def test_a_column_renamed_in_config_is_read_from_there(fake: FakeSentinel, tmp_path: Path) -> None:
    types, rows = fake.tables["Corelight_ssl_CL"]
    fake.table("Corelight_ssl_CL", {**types, "sni_s": "string"}, [{**r, "sni_s": r.get("server_name")} for r in rows])
    fields = {"server_name": "sni_s"}
    siem = build_sentinel(
        fake, tmp_path, sources=[{"preset": "zeek-ssl", "table": "Corelight_ssl_CL", "fields": fields}]
    )
    assert found(await siem.search(window(sni=[SNI]))) == [SSL]
    assert "sni_s" in fake.queries[-1]["query"] and "server_name" not in fake.queries[-1]["query"]


async def test_only_tables_that_hold_a_wanted_indicator_are_queried(fake: FakeSentinel, tmp_path: Path) -> None:
    siem = build_sentinel(fake, tmp_path)
    await siem.search(window(ja3s=[JA3S]))
    assert sorted(q["query"].split("\n")[0] for q in fake.queries) == ["Corelight_ssl_CL", "Suricata_CL"]


async def test_a_hostile_value_stays_inside_its_string_literal(fake: FakeSentinel, tmp_path: Path) -> None:
    siem = build_sentinel(fake, tmp_path)
    hostile = 'x" or true or "\\'
    assert await siem.search(window(sni=[hostile], ja3=[hostile])) == []
    assert fake.queries and all('\\"' in q["query"] for q in fake.queries)


def test_kql_bounds_time_filters_and_takes_the_earliest() -> None:
    plan = Plan.of(window(sni=[SNI]))
    source = PRESETS["zeek-ssl"]
    conditions = prefilter(plan, source)
    assert conditions is not None
    kql = kql_query(plan, source, conditions)
    day_before = T0 - timedelta(days=1)
    assert kql.startswith(
        f"Zeek_ssl_CL\n| where TimeGenerated between (datetime({day_before:%Y-%m-%dT%H}:00:00.000000Z) .."
    )
    assert 'tostring(server_name) in~ ("evil.example")' in kql
    assert kql.endswith("| sort by TimeGenerated asc\n| take 1000")


async def test_it_is_a_reporting_siem_registered_by_entry_point(fake: FakeSentinel, tmp_path: Path) -> None:
    assert connector_class("siem", "sentinel").__name__ == "SentinelSiem"
    assert isinstance(build_sentinel(fake, tmp_path), ReportingSiem)
    schema = SentinelSettings.model_json_schema()
    assert schema["properties"]["client_secret"]["secret"] is True


def test_an_inline_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="env:NAME or file:PATH"):
        SentinelSettings.model_validate(
            {
                "workspace_id": "63613592-b6f7-4c3d-a390-22ba13102111",
                "tenant_id": "t",
                "client_id": "c",
                "client_secret": "s3cr3t",
            }
        )


# ------------------------------------------------------------------------------------ conformance


async def test_the_token_is_fetched_once_and_reused(fake: FakeSentinel, tmp_path: Path) -> None:
    siem = build_sentinel(fake, tmp_path)
    await siem.search(window(ip=[SERVER_IP]))
    await siem.search(window(sni=[SNI]))
    assert len(fake.issued) == 1 and len(fake.queries) >= 6


async def test_a_refused_client_secret_is_rejected_naming_the_credentials(fake: FakeSentinel, tmp_path: Path) -> None:
    fake.accepted_secret = "another secret"
    siem = build_sentinel(fake, tmp_path)
    with pytest.raises(ConnectorRejected, match="token request: authentication failed.*HTTP 401.*AADSTS7000215"):
        await siem.search(window(sni=[SNI]))
    assert fake.queries == []


async def test_401_from_the_api_is_rejected_naming_the_credentials(fake: FakeSentinel, tmp_path: Path) -> None:
    siem = build_sentinel(fake, tmp_path, sources=[{"preset": "suricata-tls", "table": "Suricata_CL"}])
    await siem.search(window(sni=[SNI]))
    fake.revoke_tokens()
    fake.accepted_secret = "rotated"  # the app's secret was rotated: the fresh token request fails too
    with pytest.raises(ConnectorRejected, match="authentication failed, the credentials were refused \\(HTTP 401\\)"):
        await siem.search(window(sni=[SNI]))


async def test_an_expired_token_is_replaced_once(fake: FakeSentinel, tmp_path: Path) -> None:
    siem = build_sentinel(fake, tmp_path, sources=[{"preset": "suricata-tls", "table": "Suricata_CL"}])
    await siem.search(window(sni=[SNI]))
    fake.revoke_tokens()
    assert found(await siem.search(window(sni=[SNI]))) == [SURICATA]
    assert len(fake.issued) == 1


def test_both_documented_hosts_are_accepted() -> None:
    for url in (API_URL, "https://api.loganalytics.azure.com"):
        settings = SentinelSettings.model_validate(
            {
                "url": url,
                "workspace_id": "63613592-b6f7-4c3d-a390-22ba13102111",
                "tenant_id": "contoso.onmicrosoft.com",
                "client_id": "c",
                "client_secret": "env:X",
            }
        )
        assert settings.url == url and settings.login_url == LOGIN_URL


# ------------------------------------------------------------------------------------ certificate sweep


async def sweep(siem: object, since: object) -> tuple[list, list[str]]:  # type: ignore[type-arg]
    warnings: list[str] = []
    assert isinstance(siem, CertificateStream)
    return [r async for r in siem.iter_certificates(since, warnings)], warnings  # type: ignore[arg-type]


async def test_the_sweep_streams_every_certificate_record_since_the_watermark(
    fake: FakeSentinel, tmp_path: Path
) -> None:
    siem = build_sentinel(fake, tmp_path)
    records, warnings = await sweep(siem, None)  # the first sweep: sweep_history back
    assert warnings == []
    assert sorted((r.format, r.event.sha256 or r.event.sha1) for r in records) == sorted(
        [
            ("zeek-ssl", SHA256),
            ("zeek-ssl", OTHER_SHA256),
            ("zeek-x509", SHA256),
            ("suricata-tls", SHA1_COLONS.replace(":", "")),
        ]
    )
    asked = {q["query"].split("\n")[0] for q in fake.queries}
    assert asked == {"Corelight_ssl_CL", "Corelight_x509_CL", "Suricata_CL"}  # only certificate formats
    later, _ = await sweep(siem, T0 + timedelta(seconds=10))
    assert [(r.format, r.event.sha256) for r in later] == [("zeek-ssl", OTHER_SHA256)]


async def test_the_sweep_reads_page_after_page(fake: FakeSentinel, tmp_path: Path) -> None:
    siem = build_sentinel(fake, tmp_path, sweep_page=2, sources=[{"preset": "zeek-ssl", "table": "Corelight_ssl_CL"}])
    records, warnings = await sweep(siem, T0 - timedelta(hours=1))
    assert {r.event.sha256 for r in records} == {SHA256, OTHER_SHA256} and warnings == []
    assert len(fake.queries) == 2  # a full page, then the rest from where it ended


async def test_a_table_the_sweep_cannot_read_is_a_warning(fake: FakeSentinel, tmp_path: Path) -> None:
    sources = [{"preset": "zeek-x509", "table": "Zeek_x509_CL"}, {"preset": "suricata-tls", "table": "Suricata_CL"}]
    records, warnings = await sweep(build_sentinel(fake, tmp_path, sources=sources), T0 - timedelta(hours=1))
    assert [r.format for r in records] == ["suricata-tls"]
    assert len(warnings) == 1 and "table Zeek_x509_CL: the query was refused" in warnings[0]


async def test_only_tables_of_a_wanted_kind_are_queried(fake: FakeSentinel, tmp_path: Path) -> None:
    siem = build_sentinel(fake, tmp_path)
    query = SiemQuery(
        indicators={"server": [f"{SERVER_IP}:443"]}, kinds=["conn"], start=T0 - timedelta(1), end=T0 + timedelta(1)
    )
    assert found(await siem.search(query)) == sorted([CEF, CONN])
    assert sorted(q["query"].split("\n")[0] for q in fake.queries) == ["CommonSecurityLog", "Corelight_conn_CL"]


def readme_example(marker: str) -> dict:  # type: ignore[type-arg]
    import yaml
    from markdown_it import MarkdownIt

    readme = (Path(__file__).parents[3] / "README.md").read_text(encoding="utf-8")
    [example] = [t.content for t in MarkdownIt().parse(readme) if t.type == "fence" and marker in t.content]
    return yaml.safe_load(example)["connectors"]["siem"]  # type: ignore[no-any-return]


def test_the_readme_example_builds_through_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from certsoar.config import Config
    from certsoar.connections import build_connector

    monkeypatch.setenv("SENTINEL_CLIENT_SECRET", SECRETS[0])
    section = readme_example("type: sentinel")
    config = Config.model_validate(
        {"state_dir": str(tmp_path), "config_dir": tmp_path, "connectors": {"siem": section}}
    )
    assert config.connectors.siem is not None
    siem = build_connector("siem", config.connectors.siem, config, None)
    assert isinstance(siem, SentinelSiem) and siem.instance == "sentinel-prod"
    assert [s.name for s in siem.sources][-1] == "Suricata_CL" and siem.sources[-1].fields["tls.sni"] == "tls_sni_s"


async def test_indicators_that_are_not_valid_select_nothing(fake: FakeSentinel, tmp_path: Path) -> None:
    siem = build_sentinel(fake, tmp_path)
    query = SiemQuery(
        indicators={"sha256": ["not-a-hash"], "ip": ["999.1.1.1"]},
        kinds=["tls", "adcs"],
        start=T0 - timedelta(days=1),
        end=T0 + timedelta(days=1),
    )
    assert await siem.search(query) == [] and fake.queries == []  # as the files SIEM: no match, not every event
