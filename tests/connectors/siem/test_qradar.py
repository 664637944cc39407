"""The ``qradar`` connector against a fake QRadar console (fake_qradar.py): what Ariel adds to what every SIEM
connector must do (test_siem_conformance.py runs it too): the search lifecycle, ERROR and CANCELED, Range
paging, custom properties it lacks, the AQL it writes."""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fake_qradar import SECRETS, URL, FakeQradar, build_qradar
from pytest_httpx import HTTPXMock
from remote_lab import (
    JA3,
    SERVER_IP,
    SHA1_COLONS,
    SHA256,
    SNI,
    T0,
    at,
)

from certsoar.connectors.siem import CertificateStream, ReportingSiem, SiemQuery
from certsoar.connectors.siem.qradar import PRESETS, QradarSettings, aql_query
from certsoar.connectors.siem.remote import Plan, prefilter
from certsoar.errors import ConnectorRejected, ConnectorUnavailable
from certsoar.registry import connector_class

LOCAL = pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "127.0.0.1")


@pytest.fixture
def fake(httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch) -> FakeQradar:
    monkeypatch.setenv("CERTSOAR_TEST_QRADAR_TOKEN", SECRETS[0])
    vendor = FakeQradar()
    for url in vendor.urls:
        httpx_mock.add_callback(vendor, url=re.compile(re.escape(url) + "/.*"), is_reusable=True, is_optional=True)
    return vendor


def window(**indicators: list[str]) -> SiemQuery:
    return SiemQuery(indicators=indicators, start=T0 - timedelta(days=1), end=T0 + timedelta(days=1))


def found(events: list) -> list[tuple[str, str, float]]:  # type: ignore[type-arg]
    return sorted((e.source.split(":")[-1], e.kind, (e.time - T0).total_seconds()) for e in events)


ZEEK_TLS = ("tls (suricata-tls)", "tls", 0.0)
SURICATA_TLS = ("tls (suricata-tls)", "tls", 5.0)
FLOW = ("flows (qradar-flow)", "conn", 1.0)
FLOW_LATER = ("flows (qradar-flow)", "conn", 10.0)


async def test_the_aql_has_an_explicit_time_range(fake: FakeQradar, tmp_path: Path) -> None:
    siem = build_qradar(fake, tmp_path)
    narrow = SiemQuery(indicators={"ip": [SERVER_IP]}, start=at(-1), end=at(2))
    assert found(await siem.search(narrow)) == sorted([ZEEK_TLS, FLOW])
    start_ms, end_ms = int(at(-1).timestamp() * 1000), int(at(2).timestamp() * 1000)
    for aql in fake.aql:
        assert f"starttime >= {start_ms} AND starttime <= {end_ms}" in aql
        assert aql.endswith(f"START '{at(-1 - 86400):%Y-%m-%d %H:%M}' STOP '{at(2 + 86400):%Y-%m-%d %H:%M}'")


async def test_a_serial_logged_with_its_der_sign_byte_is_asked_for_and_found(fake: FakeQradar, tmp_path: Path) -> None:
    """A serial whose first byte has the high bit set is encoded with a leading 00 (DER); a sensor may log it so.
    The vendor query asks for that spelling too (the spellings every API SIEM shares), so the row comes back."""
    fake.event(
        starttime=int(at(7).timestamp() * 1000),
        sourceip="10.0.0.7",
        destinationip=SERVER_IP,
        destinationport=443,
        **{'"TLS Server Name"': "signed.example", '"TLS Serial"': "00:8F:12:34:56", "LOGSOURCENAME(logsourceid)": "s1"},
    )
    siem = build_qradar(fake, tmp_path, sources=[{"preset": "tls"}])
    [event] = await siem.search(window(serial=["8f123456"]))
    assert (event.serial, event.sni, event.matched) == ("8F123456", "signed.example", ["serial"])
    assert "'00:8f:12:34:56'" in fake.aql[-1].lower()


async def test_a_search_is_polled_until_completed(fake: FakeQradar, tmp_path: Path) -> None:
    fake.polls_before_complete = 4
    siem = build_qradar(fake, tmp_path, sources=[{"preset": "tls"}])
    assert found(await siem.search(window(sni=[SNI]))) == sorted([ZEEK_TLS, SURICATA_TLS])
    polls = [r for r in fake.requests if re.fullmatch(r"/api/ariel/searches/[^/]+", r.url.path)]
    assert len(polls) == 5
    assert all(r.headers["Version"] == "12.0" and r.headers["Accept"] == "application/json" for r in fake.requests)


async def test_results_are_read_a_range_page_at_a_time(fake: FakeQradar, tmp_path: Path) -> None:
    base = fake.flows[0]
    fake.flows += [{**base, "starttime": base["starttime"] + 1000 * i, "sourceport": 52000 + i} for i in range(1, 6)]
    siem = build_qradar(fake, tmp_path, page_size=2, sources=[{"preset": "flows"}])
    events = await siem.search(window(server=[f"{SERVER_IP}:443"]))
    assert len(events) == 7 and len({e.src_port for e in events}) == 7
    assert fake.ranges() == ["items=0-1", "items=2-3", "items=4-5", "items=6-6"]


async def test_the_limit_bounds_the_pages_read(fake: FakeQradar, tmp_path: Path) -> None:
    base = fake.flows[0]
    fake.flows += [{**base, "starttime": base["starttime"] + 1000 * i} for i in range(1, 6)]
    siem = build_qradar(fake, tmp_path, page_size=2, sources=[{"preset": "flows"}])
    report = await siem.search_report(window(server=[f"{SERVER_IP}:443"]).model_copy(update={"limit": 3}))
    assert [e.time for e in report.events] == [at(1), at(2), at(3)]
    assert fake.ranges() == ["items=0-1", "items=2-2"]
    assert any("limit of 3" in w for w in report.warnings)


async def test_a_search_that_ends_in_error_is_a_clear_refusal(fake: FakeQradar, tmp_path: Path) -> None:
    fake.next_outcome = (
        "ERROR",
        [{"code": "1020", "contexts": [], "message": "AQL execution failed: out of memory", "severity": "ERROR"}],
    )
    siem = build_qradar(fake, tmp_path, sources=[{"preset": "tls"}])
    with pytest.raises(ConnectorRejected, match="qradar: tls: QRadar search .* failed: AQL execution failed"):
        await siem.search(window(sni=[SNI]))


async def test_a_canceled_search_is_unavailable(fake: FakeQradar, tmp_path: Path) -> None:
    fake.next_outcome = ("CANCELED", [])
    siem = build_qradar(fake, tmp_path, sources=[{"preset": "tls"}])
    with pytest.raises(ConnectorUnavailable, match="was canceled"):
        await siem.search(window(sni=[SNI]))


async def test_a_search_that_never_completes_times_out(fake: FakeQradar, tmp_path: Path) -> None:
    fake.polls_before_complete = 10_000
    siem = build_qradar(fake, tmp_path, search_timeout=0.2, sources=[{"preset": "tls"}])
    started = time.monotonic()
    with pytest.raises(ConnectorUnavailable, match=r"did not complete within 0.2s \(status WAIT, 40%\)"):
        await siem.search(window(sni=[SNI]))
    assert time.monotonic() - started < 2


async def test_a_custom_property_qradar_lacks_is_a_warning(fake: FakeQradar, tmp_path: Path) -> None:
    sources = [{"preset": "tls", "fields": {"tls.sni": '"SNI Hostname"'}}, {"preset": "flows"}]
    siem = build_qradar(fake, tmp_path, sources=sources)
    report = await siem.search_report(window(ip=[SERVER_IP]))
    assert found(report.events) == sorted([FLOW, FLOW_LATER])
    [warning] = report.warnings
    assert "qradar: tls: QRadar refused the search" in warning and '"SNI Hostname"' in warning


async def test_a_property_renamed_in_config_is_read_from_there(fake: FakeQradar, tmp_path: Path) -> None:
    for row in fake.events:
        if '"JA3"' in row:
            row['"JA3 Client Hash"'] = row.pop('"JA3"')
    fields = {"tls.ja3.hash": '"JA3 Client Hash"'}
    sources = [{"preset": "tls", "fields": fields}]
    fake_known = {'"JA3 Client Hash"'}
    import fake_qradar

    fake_qradar.CUSTOM_PROPERTIES |= fake_known
    try:
        siem = build_qradar(fake, tmp_path, sources=sources)
        assert found(await siem.search(window(ja3=[JA3]))) == sorted([ZEEK_TLS, SURICATA_TLS])
    finally:
        fake_qradar.CUSTOM_PROPERTIES -= fake_known


async def test_a_hostile_value_stays_inside_its_literal(fake: FakeQradar, tmp_path: Path) -> None:
    siem = build_qradar(fake, tmp_path)
    hostile = "x' OR sourceip ILIKE '%"
    report = await siem.search_report(window(sni=[hostile], requester=[hostile]))
    assert report.events == [] and report.warnings == []  # QRadar (the fake) parsed every AQL: no literal broke out
    assert fake.aql and all("x_ or sourceip ilike _%" in aql.lower() for aql in fake.aql)


def test_aql_selects_aliases_and_orders_by_time() -> None:
    plan = Plan.of(window(sni=[SNI]))
    source = PRESETS["tls"]
    conditions = prefilter(plan, source)
    assert conditions is not None
    aql, aliases = aql_query(plan, source, conditions)
    assert aql.startswith('SELECT starttime AS "f0", sourceip AS "f1"')
    assert "STR(\"TLS Server Name\") ILIKE 'evil.example'" in aql
    assert "ORDER BY starttime ASC LIMIT 1000 START" in aql
    assert aliases["f0"] == "starttime"


async def test_it_is_a_reporting_siem_registered_by_entry_point(fake: FakeQradar, tmp_path: Path) -> None:
    assert connector_class("siem", "qradar").__name__ == "QradarSiem"
    assert isinstance(build_qradar(fake, tmp_path), ReportingSiem)
    assert QradarSettings.model_json_schema()["properties"]["token"]["secret"] is True


def test_an_inline_token_and_a_bad_field_are_refused() -> None:
    with pytest.raises(ValueError, match="env:NAME or file:PATH"):
        QradarSettings.model_validate({"url": URL, "token": "5f3c2a1b-0000"})
    with pytest.raises(ValueError, match="an AQL field is"):
        QradarSettings.model_validate(
            {"url": URL, "token": "env:X", "sources": [{"preset": "tls", "fields": {"tls.sni": "x'; DROP"}}]}
        )


# ------------------------------------------------------------------------------------ conformance


async def test_secrets_are_absent_from_logs_errors_warnings_and_reprs(
    fake: FakeQradar, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    siem = build_qradar(fake, tmp_path, attempts=2, sources=[{"preset": "tls"}])
    captured = [str((await siem.search_report(window(sni=[SNI]))).model_dump()), repr(siem), repr(vars(siem))]
    for status in (422, 500):
        fake.inject(status, times=4, body={"message": f"token {SECRETS[0]} echoed"})
        try:
            captured.append(str((await siem.search_report(window(sni=[SNI]))).model_dump()))
        except ConnectorUnavailable as exc:
            captured.append(str(exc))
        fake.faults.clear()
    fake.next_outcome = ("ERROR", [{"code": "1", "message": f"bad {SECRETS[0]}", "severity": "ERROR"}])
    with pytest.raises(ConnectorRejected) as refused:
        await siem.search(window(sni=[SNI]))
    captured.append(str(refused.value))
    logged = [r.getMessage() for r in caplog.records]
    assert any("/api/ariel/searches" in line and "'sec': '***'" in line for line in logged), "logged, redacted"
    for text in captured + logged:
        assert SECRETS[0] not in text
    assert sum("***" in text for text in captured) >= 3  # the echoes were blanked, not dropped


# ------------------------------------------------------------------------------------ certificate sweep


async def test_the_sweep_streams_the_tls_events_since_the_watermark(fake: FakeQradar, tmp_path: Path) -> None:
    siem = build_qradar(fake, tmp_path, sweep_page=2)
    assert isinstance(siem, CertificateStream)
    warnings: list[str] = []
    records = [r async for r in siem.iter_certificates(None, warnings)]
    # good.example's event names no certificate; the Windows events and flows are no certificate format
    assert {(r.format, r.event.sha256 or r.event.sha1, r.event.time) for r in records} == {
        ("suricata-tls", SHA256, T0),
        ("suricata-tls", SHA1_COLONS.replace(":", ""), at(5)),
    }  # the row where a full page ended starts the next one too: the sweep drops repeats by certificate
    assert warnings == [] and all(" FROM events " in aql and '"TLS Server Name"' in aql for aql in fake.aql)
    # the tls source in pages of two rows (0s, 5s), (5s, 30s), (30s), each from where the last ended; x509's one
    assert len(fake.aql) == 4
    later = [r async for r in siem.iter_certificates(at(1), warnings)]
    assert {r.event.time for r in later} == {at(5)}


def test_the_readme_example_is_valid_settings() -> None:
    import yaml
    from markdown_it import MarkdownIt

    readme = (Path(__file__).parents[3] / "README.md").read_text(encoding="utf-8")
    [example] = [t.content for t in MarkdownIt().parse(readme) if t.type == "fence" and "type: qradar" in t.content]
    section = yaml.safe_load(example)["connectors"]["siem"]
    settings = QradarSettings.model_validate({k: v for k, v in section.items() if k not in ("type", "name")})
    tls, windows, flows = [s.source() for s in settings.sources]
    assert tls.fields["tls.sni"] == '"Server Name Indication"' and "cert_sha256" not in tls.fields
    assert windows.text_column == "UTF8(payload)" and flows.kind == "conn"
