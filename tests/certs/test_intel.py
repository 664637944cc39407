"""SSLBL blacklist: parsing the real CSV format, lookup in every alert shape, reload when the file changes."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from certfactory import NOW, custom, name, pem_of

from certsoar.alert import CertificateAlert, LoggedCertificate
from certsoar.certs import AnalysisContext, analyze_alert, load_sslbl
from certsoar.certs.fingerprints import sha1_hex
from certsoar.certs.intel import clear_sslbl_cache, parse_sslbl

SNAPSHOT = Path(__file__).resolve().parent.parent / "data" / "sslbl" / "sslblacklist-excerpt.csv"
DCRAT = "2e3519b7cb61a3cd6167f727df993f68311085ea"
COBALT = "36bd8b8d49ae51262b0a8748d9ac63240c642b60"


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_sslbl_cache()
    yield
    clear_sslbl_cache()


def test_snapshot_excerpt_parses_every_row():
    index = load_sslbl(SNAPSHOT)
    rows = [line for line in SNAPSHOT.read_text().splitlines() if line and not line.startswith("#")]
    assert len(index.entries) == len(rows) and index.skipped_rows == 0
    footer = SNAPSHOT.read_text().strip().splitlines()[-1]
    assert footer == f"# END ({len(rows)}) entries"
    hit = index.lookup(DCRAT.upper())
    assert hit is not None and hit.reason == "DCRat C&C"
    assert hit.listed == datetime(2023, 11, 14, 6, 52, 51, tzinfo=timezone.utc)
    assert index.lookup(":".join(COBALT[i : i + 2] for i in range(0, 40, 2))).reason == "CobaltStrike C&C"
    assert index.lookup("00" * 20) is None


@pytest.mark.parametrize(
    ("row", "listed"),
    [
        ("2023-01-01 00:00:00,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,Reason, with a comma", True),
        ("not a date,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,Reason", False),
    ],
)
def test_rows_split_on_the_first_two_commas(row, listed):
    index = parse_sslbl(row)
    hit = index.lookup("a" * 40)
    assert hit is not None and hit.reason.startswith("Reason")
    assert (hit.listed is not None) is listed


@pytest.mark.parametrize("row", ["2023-01-01 00:00:00,zz,bad", "just text", "2023-01-01,abc,short hash"])
def test_malformed_rows_are_skipped_and_counted(row):
    index = parse_sslbl(f"# header\n{row}\n")
    assert index.entries == {} and index.skipped_rows == 1


def _alerts(sha1: str, pem: str | None) -> list[CertificateAlert]:
    return [
        CertificateAlert(id="fp", time=NOW, sha1=sha1),
        CertificateAlert(
            id="log",
            time=NOW,
            sha1=sha1,
            logged_certificate=LoggedCertificate(subject="CN=x", issuer="CN=x", serial="01"),
        ),
    ] + ([CertificateAlert(id="pem", time=NOW, certificate_pem=pem)] if pem else [])


def test_sslbl_applies_to_certificate_log_and_fingerprint_alerts(tmp_path):
    cert = custom(name(("CN", "c2.example.net")), sans=["c2.example.net"])
    from cryptography.hazmat.primitives.serialization import Encoding

    sha1 = sha1_hex(cert.public_bytes(Encoding.DER))
    feed = tmp_path / "sslbl.csv"
    feed.write_text(f"# Listingdate,SHA1,Listingreason\n2026-05-01 10:00:00,{sha1},Sliver C&C\n")
    ctx = AnalysisContext(at=NOW, sslbl=feed)
    for alert in _alerts(sha1, pem_of(cert).decode()):
        facts = analyze_alert(alert, ctx)
        assert facts.sslbl is not None and facts.sslbl.reason == "Sliver C&C", alert.id
        assert any("abuse.ch SSL blacklist" in r and "Sliver C&C" in r for r in facts.ioc_reasons)


def test_changed_file_is_read_again(tmp_path):
    feed = tmp_path / "sslbl.csv"
    shutil.copy(SNAPSHOT, feed)
    alert = CertificateAlert(id="a", time=NOW, sha1="ab" * 20)
    ctx = AnalysisContext(at=NOW, sslbl=feed)
    assert analyze_alert(alert, ctx).sslbl is None
    first = load_sslbl(feed)
    assert load_sslbl(feed) is first  # unchanged file: cached
    with feed.open("a") as fh:
        fh.write(f"2026-05-02 00:00:00,{'ab' * 20},Fresh listing\n")
    stat = feed.stat()
    os.utime(feed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert load_sslbl(feed) is not first
    assert analyze_alert(alert, ctx).sslbl.reason == "Fresh listing"


def test_same_size_rewrite_with_new_mtime_is_read_again(tmp_path):
    feed = tmp_path / "sslbl.csv"
    feed.write_text(f"2026-05-02 00:00:00,{'ab' * 20},Reason A\n")
    assert load_sslbl(feed).lookup("ab" * 20).reason == "Reason A"
    mtime = feed.stat().st_mtime_ns
    feed.write_text(f"2026-05-02 00:00:00,{'ab' * 20},Reason B\n")
    os.utime(feed, ns=(mtime + 2_000_000, mtime + 2_000_000))
    assert load_sslbl(feed).lookup("ab" * 20).reason == "Reason B"


def test_missing_feed_is_a_note_not_a_crash(tmp_path):
    facts = analyze_alert(
        CertificateAlert(id="a", time=NOW, sha1="ab" * 20), AnalysisContext(at=NOW, sslbl=tmp_path / "gone.csv")
    )
    assert facts.sslbl is None
    assert any("SSLBL" in n and "skipped" in n for n in facts.notes)


def test_the_usual_rows_are_read_without_normalizing_and_read_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    """A triage parses the whole shipped list for one certificate (issue 12, start-up): its rows, already in the
    normal form, are taken as they are; any other spelling is normalized as before."""
    from certsoar.certs import intel
    from certsoar.certs.fingerprints import normalize_digest
    from certsoar.certs.intelfiles import SSLBL_FILE, shipped

    text = shipped(SSLBL_FILE).read_text(encoding="utf-8")
    spelled = "2023-11-14 06:52:51," + ":".join(DCRAT[i : i + 2].upper() for i in range(0, 40, 2)) + ",DCRat C&C\n"
    calls: list[str] = []

    def counted(value: str, length: int | tuple[int, ...] | None = None) -> str | None:
        calls.append(value)
        return normalize_digest(value, length)

    monkeypatch.setattr(intel, "normalize_digest", counted)
    index = parse_sslbl(text + spelled + "2023-11-14 06:52:51,not-a-digest,x\n")
    assert len(calls) == 2  # the two rows not in the normal form
    assert index.entries[DCRAT] == ("DCRat C&C", "2023-11-14 06:52:51") and index.skipped_rows == 1
    rows = [r.split(",", 2) for r in text.splitlines() if r.strip() and not r.startswith("#")]
    assert set(index.entries) == {normalize_digest(sha1, 40) for _, sha1, _ in rows}
