"""Zeek of every deployed version, in both spellings, read by intake and by the files SIEM: x509 records from
before the ``fingerprint`` field (file ``id``, no hash), ssl records that name their chain only by
``cert_chain_fuids`` (joined to x509 ``id``), and the underscore keys of pipelines that dedot (``id_orig_h``).

Data: tests/data/zeek-legacy (real Zeek 3.x logs, see its SOURCE.txt); the TSV and dedotted forms are derived
from those records here, the way Zeek's TSV writer and Elastic's dedot processor write them."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from certsoar.connectors import ConnectorEnv
from certsoar.connectors.siem import SiemEvent, SiemQuery
from certsoar.connectors.siem.files import FilesSiem, FilesSiemSettings
from certsoar.errors import AlertError
from certsoar.intake import load_alert

DATA = Path(__file__).resolve().parent / "data"
LEGACY = DATA / "zeek-legacy"
WWW_LINKEDIN = "0AD29BD9762566A7C81C21FBC76A30BF|CN=DigiCert SHA2 Secure Server CA,O=DigiCert Inc,C=US"

# Zeek 3.x x509.log and ssl.log columns (the headers of the Brim cookbook's Zeek v3.2.3 logs)
X509_FIELDS = (
    "ts id certificate.version certificate.serial certificate.subject certificate.issuer "
    "certificate.not_valid_before certificate.not_valid_after certificate.key_alg certificate.sig_alg "
    "certificate.key_type certificate.key_length certificate.exponent certificate.curve san.dns san.uri san.email "
    "san.ip basic_constraints.ca basic_constraints.path_len"
).split()
X509_TYPES = (
    "time string count string string string time time string string string count string string vector[string] "
    "vector[string] vector[string] vector[addr] bool count"
).split()
SSL_FIELDS = (
    "ts uid id.orig_h id.orig_p id.resp_h id.resp_p version cipher curve server_name resumed last_alert "
    "next_protocol established cert_chain_fuids client_cert_chain_fuids subject issuer client_subject client_issuer "
    "validation_status"
).split()
SSL_TYPES = (
    "time string addr port addr port string string string string bool string string bool vector[string] "
    "vector[string] string string string string string"
).split()


CAPTURE_START = 1_500_000_000  # the dataset's ts count from the capture's start; a live sensor writes epoch times


def records(name: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (LEGACY / name).read_text().splitlines() if line.strip()]
    return [{**row, "ts": row["ts"] + CAPTURE_START} for row in rows]


def dedot(record: dict[str, Any]) -> dict[str, Any]:
    """Elastic's dedot processor: every "." in a key becomes "_"."""
    return {key.replace(".", "_"): value for key, value in record.items()}


def _tsv_value(value: Any, type_name: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(value) if value else "(empty)"
    if isinstance(value, bool):
        return "T" if value else "F"
    if type_name == "time":
        return f"{float(value):.6f}"
    return str(value)


def to_tsv(path: str, names: list[str], types: list[str], rows: list[dict[str, Any]]) -> str:
    lines = ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-", f"#path\t{path}"]
    lines += ["#fields\t" + "\t".join(names), "#types\t" + "\t".join(types)]
    lines += ["\t".join(_tsv_value(row.get(n), t) for n, t in zip(names, types, strict=True)) for row in rows]
    return "\n".join(lines) + "\n"


def write_logs(folder: Path, spelling: str) -> None:
    folder.mkdir()
    x509, ssl = records("x509.zeek3.json"), records("ssl.zeek3.json")
    if spelling == "tsv":
        (folder / "x509.log").write_text(to_tsv("x509", X509_FIELDS, X509_TYPES, x509))
        (folder / "ssl.log").write_text(to_tsv("ssl", SSL_FIELDS, SSL_TYPES, ssl))
        return
    shape = dedot if spelling == "dedot" else dict
    # ssl.log first: the join must not depend on the order the files are read in
    (folder / "a-ssl.json").write_text("".join(json.dumps(shape(r)) + "\n" for r in ssl))
    (folder / "b-x509.json").write_text("".join(json.dumps(shape(r)) + "\n" for r in x509))


def search(folder: Path, indicators: dict[str, list[str]]) -> list[SiemEvent]:
    siem = FilesSiem(
        FilesSiemSettings(paths=[folder]),
        ConnectorEnv(name="logs", state_dir=folder.parent / "state", config_dir=folder.parent),
    )
    query = SiemQuery(
        indicators=indicators,
        start=datetime(2017, 7, 14, tzinfo=timezone.utc),
        end=datetime(2017, 7, 15, tzinfo=timezone.utc),
    )
    return asyncio.run(siem.search(query))


@pytest.mark.parametrize("spelling", ["json", "tsv", "dedot"])
def test_the_siem_joins_old_ssl_sessions_to_the_certificate_through_file_ids(tmp_path: Path, spelling: str) -> None:
    folder = tmp_path / "logs"
    write_logs(folder, spelling)
    events = search(folder, {"serial_issuer": [WWW_LINKEDIN]})
    x509 = [e for e in events if e.kind == "x509"]
    tls = [e for e in events if e.kind == "tls"]
    assert [e.raw.get("id") for e in x509] == ["FmdCSp2lqPdPDHXtXl", "F0Lmko1pcS5ro0lKzj"]
    assert all(e.serial == "AD29BD9762566A7C81C21FBC76A30BF" and e.sha256 is None for e in x509)
    # both sessions that presented it, with their server and client, carry it through the join
    assert [(e.uid, e.src_ip, e.dst_ip, e.dst_port, e.sni) for e in tls] == [
        ("CtSSiH3BmfDiF5t2A7", "10.0.2.15", "185.63.144.1", 443, "www.linkedin.com"),
        ("Cq0FRB15fMIU0Y9gn2", "10.0.2.15", "185.63.144.1", 443, "www.linkedin.com"),
    ]
    assert all(e.matched == ["serial_issuer"] for e in events)


@pytest.mark.parametrize("spelling", ["json", "dedot"])
def test_the_join_names_only_the_certificate_asked_for(tmp_path: Path, spelling: str) -> None:
    folder = tmp_path / "logs"
    write_logs(folder, spelling)
    events = search(folder, {"serial": ["0861C0B409128EB6DB52F73B182924CB"]})
    assert [(e.kind, e.uid or e.raw.get("id"), e.dst_ip) for e in events] == [
        ("tls", "CofVUoGEO2KmtNRU8", "54.247.162.104"),
        ("x509", "Fz1tYe2XBbvuv8rdv5", None),
    ]
    # a session found by its server, not by the certificate, is not said to carry it
    by_server = search(folder, {"server": ["185.63.144.1:443"]})
    assert {e.uid for e in by_server} == {"CtSSiH3BmfDiF5t2A7", "Cq0FRB15fMIU0Y9gn2"}
    assert all(e.matched == ["server"] for e in by_server)


@pytest.mark.parametrize("spelling", ["json", "tsv", "dedot"])
def test_intake_reads_an_x509_record_without_fingerprint(tmp_path: Path, spelling: str) -> None:
    record = records("x509.zeek3.json")[1]
    if spelling == "tsv":
        data = to_tsv("x509", X509_FIELDS, X509_TYPES, [record]).encode()
    else:
        data = json.dumps(dedot(record) if spelling == "dedot" else record).encode()
    for fmt in (None, "zeek-x509"):
        alert = load_alert(data, format=fmt)
        assert alert.source_format == "zeek-x509"
        # the file id names this sighting; the certificate is identified by issuer DN + serial, no hash
        assert alert.id == "zeek-FmdCSp2lqPdPDHXtXl"
        assert (alert.sha256, alert.sha1) == (None, None)
        logged = alert.logged_certificate
        assert logged is not None
        assert (logged.serial, logged.issuer) == ("AD29BD9762566A7C81C21FBC76A30BF", WWW_LINKEDIN.split("|")[1])
        assert logged.subject == "CN=www.linkedin.com,O=LinkedIn Corporation,L=Mountain View,ST=California,C=US"
        assert logged.san_dns == ["www.linkedin.com", "linkedin.com"]


def test_intake_refuses_an_old_ssl_record_naming_the_x509_record_to_raise() -> None:
    with pytest.raises(AlertError, match="raise the x509.log record whose id is Fz1tYe2XBbvuv8rdv5"):
        load_alert(json.dumps(records("ssl.zeek3.json")[0]).encode())
    lines = (LEGACY / "ssl.zeek-3.2.3.log").read_text().splitlines()
    header = [line for line in lines if line.startswith("#")]
    trickbot = [line for line in lines if "62.108.35.9" in line]
    with pytest.raises(AlertError, match="whose id is Fi8GYS3h2Abx3EGXFd"):
        load_alert(("\n".join(header + trickbot) + "\n").encode(), format="zeek-ssl")


def test_intake_reads_dedotted_current_zeek_as_the_dotted_record() -> None:
    for name in ("ssl.cryptography-io.json", "x509.cryptography-io.json"):
        record = json.loads((DATA / "intake" / "zeek" / name).read_text())
        dotted, underscored = load_alert(json.dumps(record).encode()), load_alert(json.dumps(dedot(record)).encode())
        assert underscored.model_dump(exclude={"raw"}) == dotted.model_dump(exclude={"raw"})


def test_the_siem_reads_dedotted_current_zeek_ssl(tmp_path: Path) -> None:
    record = json.loads((DATA / "intake" / "zeek" / "ssl.cryptography-io.json").read_text())
    alert = load_alert(json.dumps(record).encode())
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "ssl.json").write_text(json.dumps(dedot(record)) + "\n")
    siem = FilesSiem(
        FilesSiemSettings(paths=[folder]), ConnectorEnv(name="logs", state_dir=tmp_path / "s", config_dir=tmp_path)
    )
    query = SiemQuery(
        indicators={"sha256": [alert.sha256 or ""]},
        start=datetime(2000, 1, 1, tzinfo=timezone.utc),
        end=datetime(2100, 1, 1, tzinfo=timezone.utc),
    )
    [event] = asyncio.run(siem.search(query))
    assert event.kind == "tls"
    assert (event.src_ip, event.dst_ip, event.dst_port, event.sni) == (
        alert.src_ip,
        alert.dst_ip,
        alert.dst_port,
        alert.sni,
    )


def test_a_dotted_key_wins_over_its_underscore_spelling() -> None:
    record = records("x509.zeek3.json")[1]
    both = {**record, "certificate_subject": "CN=forged.example"}
    alert = load_alert(json.dumps(both).encode())
    assert alert.logged_certificate is not None
    assert alert.logged_certificate.subject == record["certificate.subject"]


def test_an_id_that_is_no_zeek_file_id_does_not_make_an_x509_record(tmp_path: Path) -> None:
    other = {"id": "alert-7", "time": "2017-07-14T02:41:38Z", "certificate": {"serial": "0A", "subject": "CN=x"}}
    with pytest.raises(AlertError, match="not zeek-x509: no #fields header or _path/fingerprint"):
        load_alert(json.dumps(other).encode(), format="zeek-x509")
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "events.json").write_text(json.dumps({**other, "ts": CAPTURE_START + 98}) + "\n")
    [event] = search(folder, {"serial": ["0A"]})
    assert event.kind != "x509" and event.source.endswith("(jsonl)")
