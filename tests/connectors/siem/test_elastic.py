"""What only the ``elastic`` connector does: paging past 10 000 hits through a point in time, closing it, shard
failures as warnings, the field map from config, the settings it refuses and wildcards an indicator cannot widen."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from pytest_httpx import HTTPXMock
from siem_records import BY_TIME, T0
from siem_vendors import ELASTIC_API_KEY, ELASTIC_URL, FakeElastic

from certsoar.config import Config
from certsoar.connections import Connections
from certsoar.connectors import ConnectorEnv
from certsoar.connectors.siem import SiemQuery, search_with_warnings
from certsoar.connectors.siem.elastic import ElasticSettings, ElasticSiem
from certsoar.connectors.siem.remote import Plan
from certsoar.health import _probe
from certsoar.registry import connector_class


@pytest.fixture
def fake(httpx_mock: HTTPXMock) -> FakeElastic:
    elastic = FakeElastic(ELASTIC_URL, f"ApiKey {ELASTIC_API_KEY}")
    httpx_mock.add_callback(elastic, url=re.compile(re.escape(ELASTIC_URL) + "/.*"), is_reusable=True, is_optional=True)
    return elastic


def build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **settings: object) -> ElasticSiem:
    monkeypatch.setenv("T_ELASTIC_API_KEY", ELASTIC_API_KEY)
    values = {"url": ELASTIC_URL, "api_key": "env:T_ELASTIC_API_KEY", "backoff": 0.01, **settings}
    return ElasticSiem(ElasticSettings.model_validate(values), ConnectorEnv(name="elastic", state_dir=tmp_path))


def window(**fields: object) -> SiemQuery:
    values: dict[str, object] = {"start": T0 - timedelta(hours=1), "end": T0 + timedelta(days=1), **fields}
    return SiemQuery.model_validate(values)


def searches(fake: FakeElastic) -> list[dict[str, object]]:
    return [json.loads(r.content) for r in fake.requests if r.url.path == "/_search"]


def test_registered_under_the_entry_point() -> None:
    assert connector_class("siem", "elastic") is ElasticSiem


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({}, "exactly one of api_key, token, or username with password"),
        ({"api_key": "env:A", "token": "env:B"}, "exactly one"),
        ({"api_key": "c2VjcmV0"}, "env:NAME or file:PATH"),
        ({"username": "certsoar"}, "needs both username and password"),
        ({"api_key": "env:A", "flavor": "opensearch"}, "OpenSearch takes no Elasticsearch API key"),
        ({"api_key": "env:A", "index": "logs-*/_delete_by_query"}, "index names"),
        ({"api_key": "env:A", "keep_alive": "forever"}, "time unit"),
        ({"api_key": "env:A", "page_size": 10_001}, "less than or equal to 10000"),
        ({"api_key": "env:A", "kind_filters": {"conn": {}}}, "at least one field"),
    ],
)
def test_settings_refuse_what_cannot_work(settings: dict[str, object], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        ElasticSettings.model_validate({"url": ELASTIC_URL, **settings})


async def test_more_than_10000_hits_are_paged_through_one_point_in_time(
    fake: FakeElastic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(12_000):
        when = T0 + timedelta(minutes=1, milliseconds=i * 10)
        doc = {"@timestamp": when.isoformat(), "event": {"dataset": "zeek.connection"}}
        doc |= {"source": {"ip": "10.0.1.1", "bytes": i}, "destination": {"ip": "198.51.100.9", "port": 443}}
        fake.add("logs-zeek.connection-default", doc)
    events = await build(tmp_path, monkeypatch, page_size=5000).search(window(kinds=["conn"], limit=20_000))
    assert len(events) == 12_001 and events[0].bytes_out == 1200 and events[-1].bytes_out == 11_999
    assert [e.time for e in events] == sorted(e.time for e in events)
    pages = searches(fake)
    assert len(pages) == 3 and "search_after" not in pages[0]
    assert all(p["size"] == 5000 and "from" not in p for p in pages)
    assert pages[1]["search_after"] == [int((T0 + timedelta(minutes=1, milliseconds=49_980)).timestamp() * 1000), 5004]
    assert fake.opened == 1 and fake.pits == {}  # one point in time, closed after
    assert [r.url.path for r in fake.requests][0] == "/logs-*,filebeat-*/_pit"


async def test_a_search_that_reaches_its_limit_stops_paging_and_closes_the_point_in_time(
    fake: FakeElastic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = await build(tmp_path, monkeypatch, page_size=2).search(window(kinds=["x509", "adcs", "conn"], limit=2))
    assert [BY_TIME[e.time] for e in events] == ["x509", "conn"]
    assert len(searches(fake)) == 1 and fake.pits == {}


async def test_failed_shards_are_a_warning(fake: FakeElastic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.shard_failure = "Trying to query 1 shards, which is over the limit"
    report = await search_with_warnings(build(tmp_path, monkeypatch), window(indicators={"sni": ["evil.example"]}))
    assert len(report.events) == 2
    assert report.warnings == ["elastic: 1 of 3 shards failed: Trying to query 1 shards, which is over the limit"]


async def test_the_field_map_is_overridable(fake: FakeElastic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.add(
        "logs-custom-default",
        {"@timestamp": (T0 + timedelta(minutes=5)).isoformat(), "labels": {"tls_sni": "evil.example"}},
    )
    default = await build(tmp_path, monkeypatch).search(window(indicators={"sni": ["evil.example"]}))
    assert len(default) == 2
    custom = build(tmp_path, monkeypatch, fields={"sni": ["labels.tls_sni", "tls.client.server_name"]})
    events = await custom.search(window(indicators={"sni": ["evil.example"]}))
    assert len(events) == 3 and events[-1].sni == "evil.example" and events[-1].raw["labels"]["tls_sni"]


def test_an_indicator_cannot_widen_a_wildcard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dsl = build(tmp_path, monkeypatch).dsl(Plan.of(window(indicators={"host": ["*"], "requester": ["a?b"]})))
    assert dsl is not None
    wildcards = [c["wildcard"] for c in dsl["bool"]["filter"][1]["bool"]["should"]]
    assert {list(w.values())[0]["value"] for w in wildcards} == {"\\*", "*a\\?b*"}
    assert all(list(w.values())[0]["case_insensitive"] for w in wildcards)


async def test_a_config_section_builds_it_and_connectors_check_reads_through_it(
    fake: FakeElastic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_ELASTIC_API_KEY", ELASTIC_API_KEY)
    section = {"type": "elastic", "name": "soc-elastic", "url": ELASTIC_URL, "api_key": "env:T_ELASTIC_API_KEY"}
    config = Config.model_validate(
        {"state_dir": str(tmp_path / "state"), "config_dir": tmp_path, "connectors": {"siem": section}}
    )
    [(name, siem)] = Connections(config).each("siem")
    assert isinstance(siem, ElasticSiem) and siem.instance == name == "soc-elastic"
    assert await _probe("siem", siem) == "searched the last hour: 0 TLS event(s)"
    assert fake.pits == {} and searches(fake)[0]["query"]["bool"]["filter"][1]["bool"]["should"][0] == {
        "terms": {"event.dataset": ["zeek.ssl"]}
    }
