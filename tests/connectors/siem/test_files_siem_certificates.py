"""The files SIEM's certificate stream (``iter_certificates``), what a certificate sweep reads: certificate
records only, from globbed and gzipped logs, after ``since``, streamed (never the parse cache), with every
source it could not read named."""

from __future__ import annotations

import gzip
from datetime import datetime, timezone
from pathlib import Path

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.siem import CertificateRecord, CertificateStream
from certsoar.connectors.siem.files import FilesSiem, FilesSiemSettings

DATA = Path(__file__).resolve().parents[2] / "data"
X509 = DATA / "zeek" / "scripts.base.protocols.ssl.basic.x509.log"  # Zeek's baseline, times masked
SSL = DATA / "zeek" / "scripts.base.protocols.ssl.basic.ssl.log"
KNOWN_CERTS = DATA / "siem" / "known_certs.log"
DAY1 = 1793527951.0  # 2026-11-01
DAY2 = DAY1 + 86400


def dated(path: Path, epoch: float) -> str:
    """The Zeek baseline with its masked times set to ``epoch``."""
    return path.read_text().replace("XXXXXXXXXX.XXXXXX", f"{epoch:.6f}")


def siem(tmp_path: Path, *paths: Path | str) -> FilesSiem:
    env = ConnectorEnv(name="lab", state_dir=tmp_path / "state", config_dir=tmp_path)
    return FilesSiem(FilesSiemSettings(paths=[Path(p) for p in paths]), env)


async def stream(s: FilesSiem, since: datetime | None = None) -> tuple[list[CertificateRecord], list[str]]:
    warnings: list[str] = []
    return [record async for record in s.iter_certificates(since, warnings)], warnings


def layout(tmp_path: Path) -> Path:
    logs = tmp_path / "logs"
    (logs / "2026-11-01").mkdir(parents=True)
    (logs / "2026-11-02").mkdir()
    (logs / "2026-11-01" / "x509.log.gz").write_bytes(gzip.compress(dated(X509, DAY1).encode()))
    (logs / "2026-11-01" / "ssl.log.gz").write_bytes(gzip.compress(dated(SSL, DAY1).encode()))
    (logs / "2026-11-02" / "x509.log").write_text(dated(X509, DAY2))
    return logs


async def test_certificate_records_of_globbed_and_gzipped_logs(tmp_path: Path) -> None:
    logs = layout(tmp_path)
    s = siem(tmp_path, "logs/*/x509.log*", logs / "2026-11-01" / "ssl.log.gz", KNOWN_CERTS)
    assert isinstance(s, CertificateStream)
    records, warnings = await stream(s)
    assert warnings == []
    formats = [r.format for r in records]
    assert formats == ["zeek-x509"] * 4 + ["zeek-ssl"] + ["zeek-known_certs"] * 2, formats
    first = records[0].event
    assert first.sha256 == "a580247a25324adf4add5af648de4ac5798030dfd622f26a5f2280d7528ae244"
    assert first.serial == "36F5DA5300000000505E" and first.time == datetime.fromtimestamp(DAY1, timezone.utc)
    assert first.source == "x509.log.gz (zeek-x509)" and first.raw["certificate.serial"] == "36F5DA5300000000505E"
    known = records[-1].event
    assert known.serial and known.issuer and known.dst_ip  # named by serial and issuer, on a server
    assert s._parsed == {}  # streamed: nothing kept in the search cache


async def test_only_records_after_since(tmp_path: Path) -> None:
    layout(tmp_path)
    s = siem(tmp_path, "logs/**/x509.log*")
    records, _ = await stream(s, since=datetime.fromtimestamp(DAY1, timezone.utc))
    assert len(records) == 2 and {r.event.time.timestamp() for r in records} == {DAY2}
    assert await stream(s, since=datetime.fromtimestamp(DAY2, timezone.utc)) == ([], [])


async def test_sources_not_read_are_named(tmp_path: Path) -> None:
    logs = layout(tmp_path)
    broken = logs / "2026-11-02" / "x509.log.1.gz"
    broken.write_bytes(gzip.compress(dated(X509, DAY2).encode())[:-30])  # cut short: the CRC is missing
    s = siem(tmp_path, "logs/*/x509.log*", "archive/*.log")
    records, warnings = await stream(s)
    assert len(records) >= 4
    assert any(str(broken) in w for w in warnings), warnings
    assert any("archive/*.log: the pattern matches no file" in w for w in warnings), warnings
