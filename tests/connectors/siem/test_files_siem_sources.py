"""The files SIEM on conn.log, known_certs.log, Windows process and AD CS events, and the query contract
(kinds, the new indicator kinds, the limit)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.siem import SiemQuery
from certsoar.connectors.siem.files import FilesSiem, FilesSiemSettings

DATA = Path(__file__).resolve().parents[2] / "data" / "siem"
START = datetime(2026, 5, 30, tzinfo=timezone.utc)
END = datetime(2026, 5, 31, tzinfo=timezone.utc)


def siem(tmp_path: Path, *paths: Path) -> FilesSiem:
    env = ConnectorEnv(name="lab", state_dir=tmp_path / "state", config_dir=tmp_path)
    return FilesSiem(FilesSiemSettings(paths=list(paths) or [DATA]), env)


def q(kinds: list[str] | None = None, limit: int = 1000, **indicators: list[str]) -> SiemQuery:
    return SiemQuery(indicators=indicators, kinds=kinds, start=START, end=END, limit=limit)


async def test_zeek_conn_tsv_and_json(tmp_path):
    s = siem(tmp_path)
    conns = await s.search(q(kinds=["conn"]))
    assert [e.uid for e in conns] == [
        "CHhAvVGS1DHFjwGM9",
        "C4J4Th3PJpwUYZZ6gc",
        "CUM0KZ3MLUfNB0cl11",
        "CmES5u32sYpV7JYN",
        "CjsonConn1",
    ]
    big = conns[0]
    assert big.matched == [] and big.source == "conn.log (zeek-conn)"
    assert (big.src_ip, big.src_port, big.dst_ip, big.dst_port) == ("10.20.30.41", 51544, "203.0.113.66", 8443)
    assert (big.bytes_out, big.bytes_in, big.duration, big.conn_state, big.service) == (
        48213557,
        10322,
        pytest.approx(62.034118),
        "SF",
        "ssl",
    )
    assert big.time == datetime(2026, 5, 30, 10, 0, 1, 500000, tzinfo=timezone.utc)
    refused = conns[2]
    assert refused.bytes_out is None and refused.bytes_in is None and refused.service is None  # "-" is unset
    assert conns[4].source == "conn.ndjson (zeek-conn)" and conns[4].bytes_out == 2048
    assert s.last_stats.malformed == 2  # the short conn.log row and the truncated process.jsonl line


async def test_kinds_combine_with_indicators(tmp_path):
    s = siem(tmp_path)
    to_server = await s.search(q(kinds=["conn"], server=["203.0.113.66:8443"]))
    assert [e.src_ip for e in to_server] == ["10.20.30.41", "10.20.30.42", "10.20.30.45"]
    assert all(e.matched == ["server"] for e in to_server)
    everything_about_ip = await s.search(q(ip=["203.0.113.66"]))
    assert {e.kind for e in everything_about_ip} == {"conn", "x509"}  # known_certs names the server too
    wrong_port = await s.search(q(server=["203.0.113.66:443"]))
    assert wrong_port == []


async def test_no_indicators_and_no_kinds_match_nothing_and_bad_indicators_do_not_widen(tmp_path):
    s = siem(tmp_path)
    assert await s.search(q()) == []
    # indicators were given but none is valid: not "everything of the kind"
    assert await s.search(q(kinds=["conn"], server=["not-a-server"], sha1=["xyz"])) == []


async def test_known_certs_serial_issuer_and_subject_in_other_spellings(tmp_path):
    s = siem(tmp_path)
    # Suricata/OpenSSL order and spacing, colon serial with a leading zero byte
    hits = await s.search(
        q(
            serial_issuer=[
                "00:C7:D4:3A:9E:11:5B:02|C=US, O=Micr0soft Corporation, CN=Micr0soft Update Secure Server CA 2.1"
            ]
        )
    )
    assert len(hits) == 1
    known = hits[0]
    assert (
        known.kind == "x509"
        and known.matched == ["serial_issuer"]
        and known.source == "known_certs.log (zeek-known_certs)"
    )
    assert (known.dst_ip, known.dst_port, known.host, known.serial) == ("203.0.113.66", 8443, None, "C7D43A9E115B02")
    assert await s.search(q(serial_issuer=["C7D43A9E115B02|CN=Some Other CA"])) == []  # same serial, other issuer
    by_subject = await s.search(q(subject=["O=Micr0soft Corporation, CN=update.micr0soft-cdn.com"]))
    assert [e.matched for e in by_subject] == [["subject"]]


async def test_sysmon_4688_and_4104_renderings(tmp_path):
    events = await siem(tmp_path).search(q(kinds=["process", "script"]))
    assert [(e.source.split(" ")[1], e.host) for e in events] == [
        ("(windows-sysmon-1)", "WS-042.corp.example"),
        ("(windows-sysmon-1)", "SRV-DEV-07.corp.example"),
        ("(windows-powershell-4104)", "WS-051.corp.example"),
        ("(windows-security-4688)", "BUILD-01.corp.example"),
        ("(windows-security-4688)", "WS-050.corp.example"),
    ]
    flat, xml, script, winlogbeat, _ = events
    assert flat.time == datetime(2026, 5, 30, 10, 1, 12, 345000, tzinfo=timezone.utc)  # Sysmon UtcTime
    assert (
        flat.requester == "CORP\\alice"
        and flat.image.endswith("openssl.exe")
        and flat.command.startswith('"C:\\Program Files')
    )
    assert flat.event_code == "1"
    assert xml.requester == "CORP\\bob" and "New-SelfSignedCertificate" in xml.command
    assert xml.time == datetime(2026, 5, 30, 10, 20, 44, 123456, tzinfo=timezone.utc)  # 7-digit SystemTime
    assert script.kind == "script" and script.time == datetime(2026, 5, 30, 10, 30, tzinfo=timezone.utc)  # /Date(ms)/
    assert (
        winlogbeat.requester == "CORP\\svc-build"
        and winlogbeat.event_code == "4688"
        and winlogbeat.command.startswith("keytool -genkeypair")
    )


async def test_adcs_events(tmp_path):
    events = await siem(tmp_path).search(q(kinds=["adcs"]))
    assert [e.event_code for e in events] == ["4887", "4886", "4887", "4888", "4870"]
    issued = events[0]
    assert (issued.requester, issued.request_id, issued.disposition, issued.template) == (
        "CORP\\alice",
        "1042",
        "3",
        "User",
    )
    assert issued.subject == "CN=Alice Example, OU=Users, DC=corp, DC=example"
    assert issued.serial == "1A000004120F3C5A9B2E7D4C11000000000412"
    assert issued.subject_key_id == "9d45e20b114c7a3f21aa0e2d6359178e4f01c277" and issued.host == "CA01.corp.example"
    xml = events[2]
    assert (xml.requester, xml.template, xml.request_id) == ("CORP\\WS-077$", "Machine", "1043")
    denied = events[3]
    assert denied.disposition == "-2146875392" and denied.subject_key_id is None
    revoked = events[4]
    assert revoked.serial == events[0].serial and revoked.requester == "CORP\\pki-admin"


@pytest.mark.parametrize(
    ("indicators", "expected"),
    [
        ({"requester": ["alice"]}, ["1", "4887"]),  # bare account matches CORP\alice in Sysmon and AD CS
        ({"requester": ["CORP\\ALICE"]}, ["1", "4887"]),
        ({"requester": ["OTHER\\alice"]}, []),
        ({"host": ["ws-042"]}, ["1"]),  # short name matches the FQDN Computer
        ({"host": ["build-01.corp.example"]}, ["4688"]),
        ({"serial": ["1a000004120f3c5a9b2e7d4c11000000000412"]}, ["4887", "4870"]),
    ],
)
async def test_identity_indicators(tmp_path, indicators, expected):
    events = await siem(tmp_path).search(q(**indicators))
    assert [e.event_code for e in events] == expected


async def test_spki_ja3_ja3s_on_generic_and_suricata_records(tmp_path):
    log = tmp_path / "tls.jsonl"
    log.write_text(
        json.dumps(
            {
                "timestamp": "2026-05-30T10:00:00.000000+0000",
                "event_type": "tls",
                "src_ip": "10.1.1.1",
                "src_port": 50000,
                "dest_ip": "192.0.2.10",
                "dest_port": 443,
                "tls": {"sni": "a.example", "ja3": {"hash": "E7D705A3286E19EA42F587B344EE6865"}, "ja3s": {}},
            }
        )
        + "\n"
        + json.dumps(
            {
                "timestamp": "2026-05-30T10:01:00+00:00",
                "event_type": "tls",
                "src_ip": "10.1.1.2",
                "dest_ip": "192.0.2.11",
                "dest_port": 443,
                "tls": {"ja3s": {"hash": "15af977ce25de452b96affa2addb1036"}},
            }
        )
        + "\n"
        + json.dumps({"time": "2026-05-30T10:02:00Z", "kind": "x509", "spki_sha256": "AB" * 32, "sha256": "cd" * 32})
        + "\n"
    )
    s = siem(tmp_path, log)
    ja3 = await s.search(q(ja3=["e7d705a3286e19ea42f587b344ee6865"]))
    assert len(ja3) == 1 and ja3[0].ja3 == "E7D705A3286E19EA42F587B344EE6865" and ja3[0].src_port == 50000
    assert (await s.search(q(ja3s=["15AF977CE25DE452B96AFFA2ADDB1036"])))[0].ja3s == "15af977ce25de452b96affa2addb1036"
    spki = await s.search(q(spki=["ab" * 32]))
    assert len(spki) == 1 and spki[0].spki == "ab" * 32 and spki[0].sha256 == "cd" * 32 and spki[0].kind == "x509"


async def test_limit_keeps_the_earliest_and_says_so(tmp_path):
    s = siem(tmp_path)
    first_two = await s.search(q(kinds=["conn"], limit=2))
    assert [e.uid for e in first_two] == ["CHhAvVGS1DHFjwGM9", "C4J4Th3PJpwUYZZ6gc"]
    assert s.last_stats.over_limit == 3 and any("more events matched than the limit" in n for n in s.last_stats.notes)


async def test_ssl_log_leaf_and_validation_status(tmp_path):
    log = tmp_path / "ssl.log"
    log.write_text(
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tssl\n"
        "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tserver_name\tcert_chain_fps\tvalidation_status\tja3\tja3s\n"
        "#types\ttime\tstring\taddr\tport\taddr\tport\tstring\tvector[string]\tstring\tstring\tstring\n"
        f"1780135200.000000\tCssl1\t10.1.1.1\t50000\t203.0.113.66\t8443\tc2.example\t{'aa' * 32},{'bb' * 32}\tself signed certificate\t{'1' * 32}\t{'2' * 32}\n"
    )
    events = await siem(tmp_path, log).search(q(sha256=["bb" * 32]))  # the chain matches; the event names the leaf
    assert len(events) == 1
    tls = events[0]
    assert tls.sha256 == "aa" * 32 and tls.validation_status == "self signed certificate" and tls.uid == "Cssl1"
    assert (tls.ja3, tls.ja3s) == ("1" * 32, "2" * 32)


async def test_parsed_files_are_reused_until_they_change(tmp_path: Path) -> None:
    from datetime import datetime, timedelta, timezone

    from certsoar.connectors import ConnectorEnv
    from certsoar.connectors.siem import SiemQuery, logindex
    from certsoar.connectors.siem.files import FilesSiem, FilesSiemSettings

    log = tmp_path / "alerts.jsonl"
    now = datetime(2026, 11, 27, 8, tzinfo=timezone.utc)
    log.write_text('{"time": "2026-11-27T08:00:00Z", "sni": "a.example"}\nnot json\n')
    siem = FilesSiem(FilesSiemSettings(paths=[log]), ConnectorEnv(name="files", state_dir=tmp_path))
    query = SiemQuery(indicators={"sni": ["a.example"]}, start=now - timedelta(hours=1), end=now + timedelta(hours=1))
    assert len(await siem.search(query)) == 1
    first = siem.last_stats
    assert len(await siem.search(query)) == 1
    assert (siem.last_stats.records, siem.last_stats.malformed) == (first.records, first.malformed) == (1, 1)
    cached = logindex._REGISTRY.indexes[log]
    log.write_text(log.read_text() + '{"time": "2026-11-27T08:05:00Z", "sni": "a.example"}\n')
    assert len(await siem.search(query)) == 2  # the changed file is read again
    assert logindex._REGISTRY.indexes[log] is not cached

    document = tmp_path / "alerts.json"  # one JSON document is not indexed: parsed and kept in memory
    document.write_text('[{"time": "2026-11-27T08:00:00Z", "sni": "a.example"}]')
    siem = FilesSiem(FilesSiemSettings(paths=[document]), ConnectorEnv(name="files", state_dir=tmp_path))
    assert len(await siem.search(query)) == 1 and document in siem._parsed
    streaming = FilesSiem(
        FilesSiemSettings(paths=[document], cache_bytes=0), ConnectorEnv(name="files", state_dir=tmp_path)
    )
    assert len(await streaming.search(query)) == 1 and streaming._parsed == {}
