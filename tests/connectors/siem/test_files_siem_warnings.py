"""The files SIEM never covers less than configured in silence: globs are expanded, gzipped logs are read
(bounded, so a gzip bomb stops), and every source it cannot read is a warning of the search."""

from __future__ import annotations

import gzip
import json
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.siem import SiemEvent, SiemQuery, logindex, search_with_warnings
from certsoar.connectors.siem.files import FilesSiem, FilesSiemSettings
from certsoar.connectors.siem.readers import ScanStats
from certsoar.errors import ConnectorUnavailable

WHEN = datetime(2026, 5, 30, 10, 0, tzinfo=timezone.utc)
QUERY = SiemQuery(
    indicators={"sni": ["c2.example.net"]},
    start=datetime(2026, 1, 1, tzinfo=timezone.utc),
    end=datetime(2027, 1, 1, tzinfo=timezone.utc),
)


def ssl_line(minute: int, client: str = "10.0.0.5") -> str:
    record = {
        "_path": "ssl",
        "ts": WHEN.timestamp() + 60 * minute,
        "id.orig_h": client,
        "id.orig_p": 50000 + minute,
        "id.resp_h": "203.0.113.66",
        "id.resp_p": 443,
        "server_name": "c2.example.net",
    }
    return json.dumps(record) + "\n"


def files_siem(tmp_path: Path, *paths: Path | str, **settings: int) -> FilesSiem:
    env = ConnectorEnv(name="logs", state_dir=tmp_path / "state", config_dir=tmp_path)
    return FilesSiem(FilesSiemSettings(paths=[Path(p) for p in paths], **settings), env)


def minutes(events: list[SiemEvent]) -> list[int]:
    return [int((e.time - WHEN).total_seconds() // 60) for e in events]


async def test_globs_are_expanded_sorted_and_one_that_matches_nothing_is_a_warning(tmp_path: Path) -> None:
    zeek = tmp_path / "zeek"
    for day, minute in (("2026-05-30", 2), ("2026-05-29", 1)):
        (zeek / day).mkdir(parents=True)
        (zeek / day / "ssl.log").write_text(ssl_line(minute))
    (zeek / "2026-05-30" / "conn.log").write_text(ssl_line(3))  # not matched by the pattern
    siem = files_siem(tmp_path, "zeek/*/ssl.log", "suricata/eve-*.json")
    report = await search_with_warnings(siem, QUERY)
    assert minutes(report.events) == [1, 2]
    assert siem.files(ScanStats()) == [zeek / "2026-05-29" / "ssl.log", zeek / "2026-05-30" / "ssl.log"]
    assert report.warnings == [f"{tmp_path / 'suricata/eve-*.json'}: the pattern matches no file"]
    assert siem.last_stats.warnings == report.warnings


async def test_recursive_glob_and_a_literal_path_with_glob_characters(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "ssl.log").write_text(ssl_line(1))
    odd = tmp_path / "logs[1]"  # exists as written: read as the file, not as a pattern
    odd.write_text(ssl_line(2))
    report = await search_with_warnings(files_siem(tmp_path, "a/**/*.log", odd), QUERY)
    assert minutes(report.events) == [1, 2] and report.warnings == []


async def test_gzipped_logs_are_read_named_or_walked_cached_or_streamed(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "ssl.log").write_text(ssl_line(3))
    with gzip.open(logs / "ssl.09:00:00-10:00:00.log.gz", "wt") as archive:  # how Zeek archives a rotated log
        archive.write(ssl_line(1) + ssl_line(2))
    named = tmp_path / "eve-archive"  # gzip by its bytes, whatever the name
    named.write_bytes(gzip.compress(ssl_line(4).encode()))
    for cache_bytes in (64 * 1024 * 1024, 0):
        siem = files_siem(tmp_path, logs, named, cache_bytes=cache_bytes)
        for _ in range(2):  # the second search comes from the cache when it has room
            report = await search_with_warnings(siem, QUERY)
            assert minutes(report.events) == [1, 2, 3, 4] and report.warnings == []
            assert siem.last_stats.files_read == 3
        assert siem._parsed == {}  # indexed instead (logindex), whatever the memory cache's room
        assert {logs / "ssl.log", logs / "ssl.09:00:00-10:00:00.log.gz", named} <= logindex._REGISTRY.indexes.keys()


async def test_a_gzip_bomb_stops_at_max_file_bytes_and_nothing_of_it_is_kept(tmp_path: Path) -> None:
    bomb = tmp_path / "conn.log.gz"
    with gzip.open(bomb, "wt", compresslevel=9) as archive:
        archive.write(ssl_line(1))  # a match before the bound: the file is not whole, so it is not used
        padding = json.dumps({"_path": "ssl", "ts": WHEN.timestamp(), "pad": "0" * 4000}) + "\n"
        for _ in range(64 * 256):  # 64 MiB decompressed
            archive.write(padding)
    (tmp_path / "ssl.log").write_text(ssl_line(2))
    assert bomb.stat().st_size < 1024 * 1024
    siem = files_siem(tmp_path, bomb, tmp_path / "ssl.log", max_file_bytes=1024 * 1024)
    started = time.monotonic()
    report = await search_with_warnings(siem, QUERY)
    assert time.monotonic() - started < 5
    assert minutes(report.events) == [2]
    assert report.warnings == [f"{bomb}: decompresses to more than max_file_bytes (1048576), not read"]
    assert (siem.last_stats.files_read, siem.last_stats.files_skipped) == (1, 1)
    assert bomb not in logindex._REGISTRY.indexes and bomb not in siem._parsed
    assert tmp_path / "ssl.log" in logindex._REGISTRY.indexes


async def test_a_truncated_gzip_is_a_warning_and_adds_nothing(tmp_path: Path) -> None:
    whole = gzip.compress("".join(ssl_line(m) for m in range(200)).encode())
    cut = tmp_path / "ssl.log.gz"
    cut.write_bytes(whole[: len(whole) // 2])  # an archive still being written
    report = await search_with_warnings(files_siem(tmp_path, cut), QUERY)
    assert report.events == []
    [warning] = report.warnings
    assert warning.startswith(f"{cut}: cannot read: ")


async def test_missing_oversize_and_unread_compressions_are_warnings(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "ssl.log").write_text(ssl_line(1))
    (logs / "big.log").write_text(ssl_line(2) * 50)
    (logs / "conn.log.bz2").write_bytes(b"BZh9")
    (logs / "notes.txt").write_text("not a log")  # not a log name: not a source at all
    siem = files_siem(tmp_path, logs, tmp_path / "gone.log", max_file_bytes=1000)
    report = await search_with_warnings(siem, QUERY)
    assert minutes(report.events) == [1]
    assert report.warnings == [
        f"{logs / 'conn.log.bz2'}: compressed in a format the files SIEM does not read (only gzip); not read",
        f"{tmp_path / 'gone.log'}: does not exist",
        f"{logs / 'big.log'}: {(logs / 'big.log').stat().st_size} bytes is over max_file_bytes (1000), not read",
    ]


async def test_when_no_configured_path_exists_the_siem_is_unavailable_naming_them(tmp_path: Path) -> None:
    with pytest.raises(
        ConnectorUnavailable,
        match=r"none of the configured log paths exist \(.*gone\.log: does not exist; .*x-\*: the pattern",
    ):
        await files_siem(tmp_path, "gone.log", "x-*").search(QUERY)


async def test_a_siem_that_cannot_report_gives_its_events_and_no_warnings() -> None:
    class Plain:
        async def search(self, query: SiemQuery) -> list[SiemEvent]:
            return [SiemEvent(time=WHEN, source="vendor", kind="tls", matched=["sni"])]

    report = await search_with_warnings(Plain(), QUERY)
    assert [e.source for e in report.events] == ["vendor"] and report.warnings == []
