"""The index.txt parser of the OpenSSL CA connector, on text alone."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from certsoar.certs.dn import to_rfc4514
from certsoar.connectors.ca.openssl_index import parse_asn1_time, parse_index_text
from certsoar.errors import ConnectorRejected

INDEX = (
    "V\t271229071113Z\t\t1000\tunknown\t/C=US/O=Example Corp/CN=intranet.corp.example\n"
    "R\t271229071113Z\t261127080000Z,keyCompromise\t1001\tunknown\t/CN=wiki.corp.example\n"
    "R\t271229071113Z\t261127080000Z,CAkeyTime,20261101000000Z\t00AB\tunknown\t/CN=a+b, c/emailAddress=x@y\n"
    "E\t20501229071113Z\t\t0FFF\tunknown\t/CN=old\n"
    "\n"
)


def test_entries_in_order_with_their_fields() -> None:
    entries = parse_index_text(INDEX, "index.txt")
    assert [(e.lineno, e.status, e.serial, e.serial_text) for e in entries] == [
        (1, "V", 0x1000, "1000"),
        (2, "R", 0x1001, "1001"),
        (3, "R", 0xAB, "00AB"),
        (4, "E", 0xFFF, "0FFF"),
    ]
    assert entries[0].revoked_at is None and entries[0].reason is None
    assert entries[1].revoked_at == datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)
    assert entries[1].reason == "keyCompromise"
    assert entries[2].reason == "CACompromise"  # openssl's CAkeyTime form
    assert entries[3].expires == datetime(2050, 12, 29, 7, 11, 13, tzinfo=timezone.utc)
    assert entries[0].subject_oneline == "/C=US/O=Example Corp/CN=intranet.corp.example"


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("V\t271229071113Z\t\t1000\tunknown", "5 tab-separated fields"),
        ("X\t271229071113Z\t\t2000\tunknown\t/CN=x", "status 'X'"),
        ("V\t27122907Z\t\t2000\tunknown\t/CN=x", "expiry"),
        ("V\t271229071113Z\t\tZZ\tunknown\t/CN=x", "serial 'ZZ'"),
        ("V\t271229071113Z\t\t-10\tunknown\t/CN=x", "serial '-10'"),
        ("R\t271229071113Z\tyesterday\t2000\tunknown\t/CN=x", "revocation date"),
    ],
)
def test_malformed_lines_name_source_line_and_field(line: str, why: str) -> None:
    with pytest.raises(ConnectorRejected, match=rf"ca/index\.txt:2: malformed index\.txt line \({why}"):
        parse_index_text(INDEX.splitlines()[0] + "\n" + line + "\n", "ca/index.txt")


@pytest.mark.parametrize(
    ("text", "when"),
    [
        ("500101000000Z", datetime(1950, 1, 1, tzinfo=timezone.utc)),
        ("491231235959Z", datetime(2049, 12, 31, 23, 59, 59, tzinfo=timezone.utc)),
        ("20510101000000Z", datetime(2051, 1, 1, tzinfo=timezone.utc)),
    ],
)
def test_asn1_times(text: str, when: datetime) -> None:
    assert parse_asn1_time(text) == when


@pytest.mark.parametrize("bad", ["2601010000Z", "260101000000", "26010100000aZ", ""])
def test_not_asn1_times(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_asn1_time(bad)


@pytest.mark.parametrize(
    ("oneline", "rfc4514"),
    [
        ("/C=US/O=Example Corp/CN=host", "CN=host,O=Example Corp,C=US"),
        ("/CN=a+b, c/O=x;y", "O=x\\;y,CN=a\\+b\\, c"),
        ("/CN=#lead/emailAddress=x@y", "1.2.840.113549.1.9.1=x@y,CN=\\#lead"),
        ("/CN=with/slash", "CN=with/slash"),
        ("", ""),
    ],
)
def test_subject_in_rfc4514(oneline: str, rfc4514: str) -> None:
    assert to_rfc4514(oneline) == rfc4514
