from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.siem import Siem, SiemQuery
from certsoar.connectors.siem.files import FilesSiem, FilesSiemSettings
from certsoar.errors import ConnectorUnavailable
from certsoar.logformats import parse_time
from certsoar.registry import connector_class

DATA = Path(__file__).resolve().parents[2] / "data"
ZEEK = DATA / "zeek"
EVE = DATA / "suricata" / "eve.json"
GSTATIC_SHA256 = "a580247a25324adf4add5af648de4ac5798030dfd622f26a5f2280d7528ae244"
EVE_SHA1 = "6ece5ece4192683d2d84e25b0ba7e04f9cb7eb7c"
EPOCH = 1780000000.5  # 2026-05-28T20:26:40.5Z


def siem(tmp_path: Path, *paths: Path | str, **settings) -> FilesSiem:
    env = ConnectorEnv(name="lab", state_dir=tmp_path / "state", config_dir=tmp_path)
    return FilesSiem(FilesSiemSettings(paths=list(paths), **settings), env)


def query(
    start: datetime | None = None, end: datetime | None = None, limit: int = 1000, **indicators: list[str]
) -> SiemQuery:
    return SiemQuery(
        indicators=indicators,
        start=start or datetime(2000, 1, 1, tzinfo=timezone.utc),
        end=end or datetime(2100, 1, 1, tzinfo=timezone.utc),
        limit=limit,
    )


def unmasked_zeek(tmp_path: Path) -> Path:
    """The btest baselines with the masked timestamps replaced by a real epoch time."""
    folder = tmp_path / "zeek"
    folder.mkdir(exist_ok=True)
    for log in ZEEK.glob("*.log"):
        (folder / log.name).write_text(log.read_text().replace("XXXXXXXXXX.XXXXXX", f"{EPOCH:.6f}"))
    return folder


def test_registered_under_the_entry_point_and_satisfies_the_protocol(tmp_path):
    assert connector_class("siem", "files") is FilesSiem
    assert isinstance(siem(tmp_path, ZEEK), Siem)


async def test_masked_zeek_times_are_skipped_and_counted(tmp_path):
    s = siem(tmp_path, ZEEK)
    assert await s.search(query(sha256=[GSTATIC_SHA256])) == []
    stats = s.last_stats
    assert stats.files_read == 4
    assert stats.records == 1 + 2 + 3 + 2  # basic ssl, basic x509, validate-certs ssl, rdp x509
    assert stats.no_time == stats.records
    assert any("without a usable time" in n for n in stats.notes)


async def test_zeek_ssl_and_x509_match_by_sha256(tmp_path):
    events = await siem(tmp_path, unmasked_zeek(tmp_path)).search(query(sha256=[GSTATIC_SHA256.upper()]))
    by_kind = {e.kind: e for e in events}
    assert set(by_kind) == {"tls", "x509"}
    tls = by_kind["tls"]
    assert tls.matched == ["sha256"]
    assert (tls.src_ip, tls.dst_ip, tls.dst_port, tls.sni) == ("192.168.1.105", "74.125.224.79", 443, "ssl.gstatic.com")
    assert tls.time == datetime.fromtimestamp(EPOCH, tz=timezone.utc)
    assert tls.raw["cert_chain_fps"][0] == GSTATIC_SHA256
    assert tls.source == "scripts.base.protocols.ssl.basic.ssl.log (zeek-ssl)"
    x509 = by_kind["x509"]
    assert x509.dst_ip is None and x509.raw["certificate.key_length"] == 1024
    assert x509.raw["san.dns"] == ["*.gstatic.com", "gstatic.com", "*.metric.gstatic.com"]


async def test_zeek_serial_in_colon_form_and_unset_fields(tmp_path):
    events = await siem(tmp_path, unmasked_zeek(tmp_path)).search(query(serial=["36:F5:DA:53:00:00:00:00:50:5E"]))
    assert len(events) == 1 and events[0].kind == "x509" and events[0].matched == ["serial"]
    assert events[0].raw["san.uri"] is None  # "-" is unset
    rdp = await siem(tmp_path, unmasked_zeek(tmp_path)).search(query(serial=["0100000001"]))
    assert rdp[0].raw["certificate.subject"].startswith("serialNumber=1BcKefYSF97EvkaiCqahPY8uPd0=")


async def test_zeek_by_server_ip(tmp_path):
    events = await siem(tmp_path, unmasked_zeek(tmp_path)).search(query(ip=["128.32.169.140"]))
    assert len(events) == 2
    assert {e.raw["validation_status"] for e in events} == {"unable to get local issuer certificate"}
    assert all(e.raw["client_cert_chain_fps"] == [] for e in events)  # (empty)


async def test_zeek_tsv_escaped_separator(tmp_path):
    log = tmp_path / "x509.log"
    log.write_text(
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tx509\n"
        "#fields\tts\tfingerprint\tcertificate.serial\tcertificate.subject\n"
        "#types\ttime\tstring\tstring\tstring\n"
        f"{EPOCH}\t{'ab' * 32}\t8BB00EE\tCN=a\\x09b,O=VeriSign\\, Inc.\n"
        "1780000001.0\tonly-two-columns\n"
    )
    s = siem(tmp_path, log)
    events = await s.search(query(serial=["08bb00ee"]))
    assert events[0].raw["certificate.subject"] == "CN=a\tb,O=VeriSign\\, Inc."
    assert s.last_stats.malformed == 1


async def test_suricata_sha1_colon_form_matches_plain_hex(tmp_path):
    s = siem(tmp_path, EVE)
    events = await s.search(query(sha1=[EVE_SHA1]))
    assert [e.kind for e in events] == ["tls", "alert", "tls", "tls"]
    first = events[0]
    assert first.src_ip == "10.20.30.41" and first.dst_ip == "203.0.113.66" and first.dst_port == 8443
    assert first.sni == "update.micr0soft-cdn.com"
    assert first.time == datetime(2026, 5, 30, 10, 15, 2, 123456, tzinfo=timezone.utc)
    assert "LOCAL TLS certificate issuer impersonates Microsoft" in events[1].summary
    assert s.last_stats.malformed == 2  # truncated line and the non-JSON line


async def test_suricata_serial_sni_window_and_limit(tmp_path):
    s = siem(tmp_path, EVE)
    window = dict(start=datetime(2026, 5, 30, tzinfo=timezone.utc), end=datetime(2026, 6, 1, tzinfo=timezone.utc))
    by_serial = await s.search(query(serial=["c7d43a9e115b02"], **window))
    assert len(by_serial) == 3  # the June 20 event is outside the window
    by_sni = await s.search(query(sni=["UPDATE.micr0soft-cdn.com."], **window))
    assert len(by_sni) == 3 and all(e.matched == ["sni"] for e in by_sni)
    limited = await s.search(query(limit=1, sha1=[EVE_SHA1]))
    assert len(limited) == 1 and limited[0].time.day == 30
    both = await s.search(query(sha1=[EVE_SHA1], ip=["198.51.100.20"], **window))
    assert sorted(tuple(e.matched) for e in both) == [("ip",), ("sha1",), ("sha1",), ("sha1",)]


async def test_no_indicator_no_match(tmp_path):
    assert await siem(tmp_path, EVE).search(query(sha256=["00" * 32], sha1=["not-hex"])) == []


async def test_generic_json_lines_array_and_zeek_json(tmp_path):
    folder = tmp_path / "logs"
    (folder / "sub").mkdir(parents=True)
    (folder / "alerts.jsonl").write_text(
        json.dumps(
            {"@timestamp": "2026-05-30T01:02:03Z", "kind": "process", "host": {"name": "WS-042"}, "sha256": "CD" * 32}
        )
        + "\n"
        + json.dumps({"time": 1780000000, "rule": "cert installed", "hostname": "ws-042"})
        + "\n"
    )
    (folder / "sub" / "array.json").write_text(
        json.dumps([{"ts": "2026-05-30T05:00:00+02:00", "sha1": "EF" * 20, "title": "generic"}])
    )
    (folder / "sub" / "x509.ndjson").write_text(
        json.dumps(
            {"_path": "x509", "ts": "2018-03-24T17:15:20.624556Z", "fingerprint": "ab" * 32, "certificate.serial": "01"}
        )
        + "\n"
        + json.dumps({"ts": 1521911720.6, "fingerprint": "ab" * 32, "certificate.serial": "02"})
        + "\n"
    )
    (folder / "ignored.txt").write_text(json.dumps({"ts": 1780000000, "sha1": "EF" * 20}))
    s = siem(tmp_path, "logs")  # relative to the config folder
    host = await s.search(query(host=["ws-042"]))
    assert [e.kind for e in host] == ["alert", "process"]  # sorted by time; generic kind defaults to alert
    assert {e.host for e in host} == {"WS-042", "ws-042"}
    array = await s.search(query(sha1=["efefefefefefefefefefefefefefefefefefefef"]))
    assert len(array) == 1 and array[0].time == datetime(2026, 5, 30, 3, tzinfo=timezone.utc)
    zeek = await s.search(query(sha256=["ab" * 32]))
    assert [e.kind for e in zeek] == ["x509", "x509"]
    assert zeek[0].source.endswith("(zeek-x509)")
    assert s.last_stats.files_read == 3


async def test_large_files_are_skipped_with_a_warning(tmp_path):
    s = siem(tmp_path, EVE, max_file_bytes=100)
    assert await s.search(query(sha1=[EVE_SHA1])) == []
    assert s.last_stats.files_skipped == 1 and s.last_stats.warnings == [
        f"{EVE}: {EVE.stat().st_size} bytes is over max_file_bytes (100), not read"
    ]


async def test_missing_paths(tmp_path):
    with pytest.raises(ConnectorUnavailable, match="none of the configured log paths exist"):
        await siem(tmp_path, tmp_path / "nope").search(query(sha1=[EVE_SHA1]))
    s = siem(tmp_path, tmp_path / "nope", EVE)
    assert len(await s.search(query(sha1=[EVE_SHA1]))) == 4
    assert s.last_stats.warnings == [f"{tmp_path / 'nope'}: does not exist"]


async def test_unreadable_bytes_do_not_crash(tmp_path):
    log = tmp_path / "bin.log"
    log.write_bytes(b"\xff\xfe\x00garbage\n" + json.dumps({"ts": EPOCH, "sni": "a.example"}).encode() + b"\n")
    s = siem(tmp_path, log)
    assert len(await s.search(query(sni=["a.example"]))) == 1
    assert s.last_stats.malformed == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (1780000000, datetime.fromtimestamp(1780000000, tz=timezone.utc)),
        ("1780000000.25", datetime.fromtimestamp(1780000000.25, tz=timezone.utc)),
        ("2018-07-05T15:51:50.666597-0400", datetime(2018, 7, 5, 19, 51, 50, 666597, tzinfo=timezone.utc)),
        ("2018-04-14T20:55:27", datetime(2018, 4, 14, 20, 55, 27, tzinfo=timezone.utc)),
        ("XXXXXXXXXX.XXXXXX", None),
        (True, None),
    ],
)
def test_parse_time(text, expected):
    got = parse_time(text)
    assert got == expected
    if got is not None:
        assert got.utcoffset() == timedelta(0)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["ts", "tls", "sni", "dest_ip", "dest_port", "fingerprint", "host", "x"]), inner, max_size=4
        )
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(
                ["ts", "timestamp", "event_type", "tls", "dest_ip", "dest_port", "sni", "host", "cert_chain_fps"]
            ),
            _json,
            max_size=6,
        ),
        max_size=5,
    )
)
def test_arbitrary_json_records_never_crash(tmp_path, records):
    log = tmp_path / "fuzz.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    s = siem(tmp_path, log)
    naive = datetime(2000, 1, 1)  # a naive window is taken as UTC
    events = asyncio.run(
        s.search(
            SiemQuery(
                indicators={"sni": ["a"], "ip": ["10.0.0.1"], "sha1": ["ab" * 20]},
                start=naive,
                end=datetime(2100, 1, 1),
            )
        )
    )
    assert s.last_stats.records == len(records)
    assert all(e.matched for e in events)


@pytest.mark.parametrize("logged", ["fe80::1%eth0", "FE80:0:0::1", "fe80::1%x\n}"])
async def test_a_logged_address_is_matched_by_its_value_as_intake_keeps_it(tmp_path, logged):
    """Intake keeps an alert's address without its zone id and in compressed form (certsoar.addresses); the
    SIEM reads a record's address the same way, so a related connection is not missed over its spelling."""
    log = tmp_path / "conn.jsonl"
    record = {"ts": EPOCH, "id.orig_h": "10.20.0.37", "id.resp_h": logged, "id.resp_p": 443, "server_name": "x.test"}
    log.write_text(json.dumps(record) + "\n")
    s = siem(tmp_path, log)
    [event] = await s.search(query(ip=["fe80::1"]))
    assert event.dst_ip == "fe80::1"
    [by_server] = await s.search(query(server=["[fe80::1]:443"]))
    assert by_server.dst_ip == "fe80::1"
