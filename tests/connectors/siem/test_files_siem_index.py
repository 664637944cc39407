"""The files SIEM's log index (logindex, indexcache): every search through it answers exactly what a scan of the
same files answers (events, warnings, counts), over the lab's logs and over logs that grow, rotate, shrink, are
gzipped or cut mid-line; a grown log indexes only its new bytes; another process loads the index instead of
parsing; a forged, corrupt or misplaced cache entry is a miss."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certsoar import checkcache
from certsoar.connectors import ConnectorEnv
from certsoar.connectors.siem import EVENT_KINDS, INDICATOR_KINDS, SiemQuery, files, indexcache, logindex
from certsoar.connectors.siem.events import record_time
from certsoar.connectors.siem.files import FilesSiem, FilesSiemSettings
from certsoar.connectors.siem.indicators import raw_values, values
from certsoar.connectors.siem.readers import ScanStats, read_records
from certsoar.lab import ensure_lab
from certsoar.lab.zeek import write_zeek_log

WHEN = datetime(2026, 11, 27, 8, tzinfo=timezone.utc)
SSL_FIELDS = tuple(
    (name, "string")
    for name in "ts uid id.orig_h id.orig_p id.resp_h id.resp_p version cipher curve server_name resumed".split()
    + "last_alert next_protocol established ssl_history cert_chain_fps".split()
)


def siem(*paths: Path, **options: Any) -> FilesSiem:
    return FilesSiem(FilesSiemSettings(paths=list(paths), **options), ConnectorEnv(name="files", state_dir=paths[0]))


@contextmanager
def scanning() -> Iterator[None]:
    """Searches in the block scan every file, as the files SIEM did before it had an index."""
    with mock.patch.object(files, "index_of", lambda path, max_bytes, bar=None: None):
        yield


def answer(connector: FilesSiem, query: SiemQuery) -> tuple[Any, ScanStats]:
    report = asyncio.run(connector.search_report(query))
    return report, connector.last_stats


def assert_same_as_scan(
    paths: list[Path], query: SiemQuery, *, pair: Any = None, unindexed: tuple[Path, ...] = (), **options: Any
) -> Any:
    """The answer through the index, checked against the scan's (``pair``: connectors to reuse, indexed first);
    only the ``unindexed`` files may be scanned by the first."""
    through_index, scanner = pair or (siem(*paths, **options), siem(*paths, **options))
    scanned_files: list[Path] = []
    original = FilesSiem._timed_records

    def scan(self: FilesSiem, path: Path, *args: Any) -> Any:
        scanned_files.append(path)
        return original(self, path, *args)

    with mock.patch.object(FilesSiem, "_timed_records", scan):
        indexed = answer(through_index, query)
    assert set(scanned_files) <= set(unindexed)
    with scanning():
        scanned = answer(scanner, query)
    assert indexed == scanned
    return indexed[0]


@contextmanager
def counting_parsed_records() -> Iterator[list[int]]:
    """How many records the index parses (a load from the cache parses none)."""
    count = [0]
    original = logindex._Builder._add

    def add(self: Any, record: Any) -> None:
        count[0] += 1
        original(self, record)

    with mock.patch.object(logindex._Builder, "_add", add):
        yield count


def window(hours: float = 1) -> dict[str, datetime]:
    return {"start": WHEN - timedelta(hours=hours), "end": WHEN + timedelta(hours=hours)}


def jsonl(minute: int, sni: str = "a.example", **extra: Any) -> str:
    return json.dumps({"time": (WHEN + timedelta(minutes=minute)).isoformat(), "sni": sni, **extra}) + "\n"


# --- the lab's logs: random queries built from the values they hold --------------------------------------------


@pytest.fixture(scope="module")
def lab_logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, list[str]], list[datetime]]:
    logs = ensure_lab(tmp_path_factory.mktemp("state")).root / "logs"
    pool: dict[str, set[str]] = {kind: set() for kind in INDICATOR_KINDS}
    times: list[datetime] = []
    for path in sorted(p for p in logs.rglob("*") if p.is_file()):
        for record in read_records(path, ScanStats(), 1 << 30):
            when = record_time(record.data)
            if when is not None:
                times.append(when)
            for kind in INDICATOR_KINDS:
                pool[kind] |= values(record.data, kind)
                if kind in ("sha256", "sni", "subject", "issuer", "serial"):
                    pool[kind] |= {str(v) for v in raw_values(record.data, kind)}  # as written in the log
    pool["uid"] = {"CsslMimicry1", "nothing"}  # a kind the index does not hold: the whole window is judged
    pair = (siem(logs), siem(logs))  # reused by every query: the scanner keeps the parsed logs in memory
    return pair, {kind: sorted(found)[:40] for kind, found in pool.items() if found}, sorted(times)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_lab_searches_through_the_index_equal_the_scan(
    lab_logs: tuple[Any, dict[str, list[str]], list[datetime]], data: st.DataObject
) -> None:
    pair, pool, times = lab_logs
    kinds = data.draw(st.sampled_from(sorted(pool)).flatmap(lambda k: st.just(k)).map(lambda k: [k]) | st.just([]))
    indicators = {kind: data.draw(st.lists(st.sampled_from(pool[kind]), min_size=1, max_size=3)) for kind in kinds}
    if data.draw(st.booleans()):
        extra = data.draw(st.sampled_from(sorted(pool)))
        indicators[extra] = data.draw(st.lists(st.sampled_from(pool[extra]), min_size=1, max_size=2))
    event_kinds = data.draw(st.none() | st.lists(st.sampled_from([*EVENT_KINDS, "script", "jsonl"]), max_size=3))
    first, last = sorted(data.draw(st.lists(st.sampled_from(times), min_size=2, max_size=2)))
    query = SiemQuery(
        indicators=indicators,
        kinds=event_kinds,
        start=first - timedelta(seconds=data.draw(st.sampled_from([0, 1, 86_400 * 30]))),
        end=last,
        limit=data.draw(st.sampled_from([1, 3, 1000])),
    )
    assert_same_as_scan([], query, pair=pair)


def test_lab_searches_that_find_something_find_it_through_the_index(
    lab_logs: tuple[Any, dict[str, list[str]], list[datetime]],
) -> None:
    pair, pool, times = lab_logs
    span = {"start": times[0], "end": times[-1]}
    found = 0
    for kind in sorted(pool):
        for value in pool[kind][:2]:
            found += len(assert_same_as_scan([], SiemQuery(indicators={kind: [value]}, **span), pair=pair).events)
    for kinds in (["x509"], ["adcs", "process", "script"]):
        found += len(assert_same_as_scan([], SiemQuery(kinds=kinds, **span), pair=pair).events)
    assert found > 50


# --- logs that change --------------------------------------------------------------------------------------------


def test_a_grown_log_indexes_only_its_new_lines_and_answers_as_the_scan(tmp_path: Path) -> None:
    log = tmp_path / "tls.jsonl"
    log.write_text("".join(jsonl(m) for m in range(50)) + "not json\n")
    query = SiemQuery(indicators={"sni": ["a.example"]}, **window())
    assert len(assert_same_as_scan([log], query).events) == 50
    with log.open("a") as handle:
        handle.write("".join(jsonl(m) for m in range(50, 53)) + jsonl(54, sni="b.example"))
    with counting_parsed_records() as parsed:
        assert len(assert_same_as_scan([log], query).events) == 53
    assert parsed[0] == 4


def test_an_unterminated_last_line_is_read_again_once_the_log_grows(tmp_path: Path) -> None:
    log = tmp_path / "tls.jsonl"
    whole = jsonl(1)
    log.write_text(jsonl(0) + whole[:20])  # the writer is midway through a line
    query = SiemQuery(indicators={"sni": ["a.example"]}, **window())
    scanned = assert_same_as_scan([log], query)
    assert len(scanned.events) == 1
    with log.open("a") as handle:
        handle.write(whole[20:])
    assert len(assert_same_as_scan([log], query).events) == 2
    log.write_text(jsonl(0) + whole.rstrip("\n"))  # complete JSON without its newline: a record for the scan too
    assert len(assert_same_as_scan([log], query).events) == 2


def test_a_rotated_replaced_or_truncated_log_is_indexed_again(tmp_path: Path) -> None:
    log = tmp_path / "tls.jsonl"
    query = SiemQuery(indicators={"sni": ["a.example", "b.example"]}, **window())
    log.write_text("".join(jsonl(m) for m in range(10)))
    assert len(assert_same_as_scan([log], query).events) == 10
    rotated = tmp_path / "next.jsonl"
    rotated.write_text("".join(jsonl(m, sni="b.example") for m in range(12)))
    os.replace(rotated, log)  # a new file under the old name
    assert [e.sni for e in assert_same_as_scan([log], query).events] == ["b.example"] * 12
    with log.open("r+") as handle:  # the same file cut short, then written again, longer
        handle.truncate(0)
        handle.write("".join(jsonl(m, sni="a.example") for m in range(13)))
    assert [e.sni for e in assert_same_as_scan([log], query).events] == ["a.example"] * 13
    text = log.read_text()
    log.write_text(text.replace("a.example", "b.example", 1))  # same size, same first and last line... rewritten
    assert [e.sni for e in assert_same_as_scan([log], query).events] == ["b.example"] + ["a.example"] * 12


def test_zeek_tsv_with_headers_midway_gzip_and_odd_bytes_answer_as_the_scan(tmp_path: Path) -> None:
    rows = [
        [f"{(WHEN + timedelta(minutes=m)).timestamp():.6f}", f"C{m}", "10.0.0.1", "5000", "203.0.113.9", "443"]
        + ["TLSv13", "-", "-", f"h{m % 3}.example", "F", "-", "-", "T", "-", f"{m:064x}"]
        for m in range(30)
    ]
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    write_zeek_log(first, "ssl", SSL_FIELDS, rows[:15], WHEN, WHEN + timedelta(hours=1))
    write_zeek_log(second, "ssl", SSL_FIELDS, rows[15:], WHEN, WHEN + timedelta(hours=1))
    concatenated = tmp_path / "ssl.log"  # two logs one after the other: the header changes midway
    concatenated.write_bytes(first.read_bytes() + second.read_bytes() + "\xff\xfebroken\tline\n".encode("latin-1"))
    archived = tmp_path / "ssl.log.gz"
    archived.write_bytes(gzip.compress(concatenated.read_bytes()))
    crlf = tmp_path / "crlf.jsonl"
    crlf.write_bytes(b"".join(jsonl(m, sni="h1.example").encode().replace(b"\n", b"\r\n") for m in range(3)))
    lone_cr = tmp_path / "cr.jsonl"  # a break a text reader sees and a byte reader does not: scanned, not indexed
    lone_cr.write_bytes(jsonl(0, sni="h1.example").encode().replace(b"\n", b"\r") + jsonl(1, sni="h1.example").encode())
    document = tmp_path / "doc.json"
    document.write_text(json.dumps([json.loads(jsonl(2, sni="h1.example"))]))
    paths = [concatenated, archived, crlf, lone_cr, document]
    for query in (
        SiemQuery(indicators={"sni": ["h1.example"]}, **window()),
        SiemQuery(indicators={"sni": ["H1.example."], "ip": ["203.0.113.9"]}, kinds=["tls"], **window()),
        SiemQuery(kinds=["tls"], limit=7, **window(0.25)),
        SiemQuery(indicators={"server": ["203.0.113.9:443"]}, **window()),
    ):
        assert assert_same_as_scan(paths, query, unindexed=(lone_cr, document)).events
    assert concatenated in logindex._REGISTRY.indexes and archived in logindex._REGISTRY.indexes
    assert lone_cr not in logindex._REGISTRY.indexes and document not in logindex._REGISTRY.indexes
    small = assert_same_as_scan(
        [archived], SiemQuery(kinds=["tls"], **window()), max_file_bytes=100, unindexed=(archived,)
    )
    assert small.events == [] and small.warnings


def test_random_edits_of_a_log_keep_the_index_equal_to_the_scan(tmp_path: Path) -> None:
    rng = random.Random(7)
    log = tmp_path / "mixed.jsonl"
    lines: list[str] = []
    query = SiemQuery(indicators={"sni": ["a.example"], "ip": ["10.0.0.2"]}, **window(3))
    for step in range(25):
        action = rng.choice(["append", "append", "append", "partial", "rewrite", "truncate"])
        if action == "append":
            lines += [jsonl(rng.randrange(120), sni=rng.choice(["a.example", "b.example"])) for _ in range(3)]
            with log.open("a") as handle:
                handle.write("".join(lines[-3:]))
        elif action == "partial":
            with log.open("a") as handle:
                handle.write(jsonl(rng.randrange(120), src_ip="10.0.0.2")[: rng.randrange(1, 40)])
        elif action == "rewrite":
            lines = [jsonl(rng.randrange(120), src_ip="10.0.0.2") for _ in range(rng.randrange(1, 8))]
            log.write_text("".join(lines))
        else:
            lines = lines[: len(lines) // 2]
            log.write_text("".join(lines))
        assert_same_as_scan([log], query), step


# --- across processes ---------------------------------------------------------------------------------------------


def test_another_process_loads_the_index_instead_of_parsing(tmp_path: Path) -> None:
    log = tmp_path / "tls.jsonl"
    log.write_text("".join(jsonl(m) for m in range(20)))
    query = SiemQuery(indicators={"sni": ["a.example"]}, **window())
    assert_same_as_scan([log], query)
    logindex.forget()  # as a new process starts
    with counting_parsed_records() as parsed:
        assert len(assert_same_as_scan([log], query).events) == 20
    assert parsed[0] == 0
    logindex.forget()
    with log.open("a") as handle:
        handle.write(jsonl(30))
    with counting_parsed_records() as parsed:
        assert len(assert_same_as_scan([log], query).events) == 21
    assert parsed[0] == 1  # only the new line


def entry_of(log: Path) -> Path:
    return checkcache.cache_dir() / indexcache._entry_name(log)


def test_a_forged_corrupt_or_misplaced_cache_entry_is_a_miss(tmp_path: Path) -> None:
    log, other = tmp_path / "tls.jsonl", tmp_path / "other.jsonl"
    log.write_text("".join(jsonl(m) for m in range(20)))
    other.write_text("".join(jsonl(m, sni="b.example") for m in range(5)))
    query = SiemQuery(indicators={"sni": ["a.example", "b.example"]}, **window())
    for path in (log, other):
        assert_same_as_scan([path], query)
    entry = entry_of(log)
    genuine = entry.read_bytes()
    assert indexcache.load(log) is not None

    mac, _, payload = genuine.partition(b"\n")
    header, _, blob = payload.partition(b"\n")
    forged = json.loads(header)
    forged["counts"][1] += 5  # claims malformed lines the log does not have, under the old signature
    tampered = {
        "forged": mac + b"\n" + json.dumps(forged).encode() + b"\n" + blob,
        "flipped": genuine[:-3] + bytes([genuine[-3] ^ 1]) + genuine[-2:],
        "cut short": genuine[: len(genuine) // 2],
        "unsigned": b"\n" + payload,
        "another log's": entry_of(other).read_bytes(),
    }
    for name, content in tampered.items():
        entry.write_bytes(content)
        assert indexcache.load(log) is None, name
        logindex.forget()
        with counting_parsed_records() as parsed:
            assert len(assert_same_as_scan([log], query).events) == 20, name
        assert parsed[0] == 20, name


def test_no_index_is_kept_in_a_cache_folder_others_may_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "cache"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("CERTSOAR_CACHE", str(shared))
    log = tmp_path / "tls.jsonl"
    log.write_text(jsonl(0))
    assert len(assert_same_as_scan([log], SiemQuery(indicators={"sni": ["a.example"]}, **window())).events) == 1
    assert not list(shared.glob("siemindex-*"))
