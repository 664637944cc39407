from __future__ import annotations

import pytest

from certsoar.correlation.identity import (
    account_name,
    canonical_account,
    canonical_dn,
    machine_of_account,
    parse_server,
    same_dn,
    short_host,
)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("CN=SampleRoot,O=Acme,C=HU", "C=HU, O=Acme, CN=SampleRoot", True),  # RFC 4514 vs Suricata/OpenSSL order
        ("/C=HU/O=Acme/CN=SampleRoot", "CN=sampleroot,O=ACME,C=hu", True),  # -subj form, case
        ("CN=a,S=Berlin,E=x@example.com", "emailAddress=x@example.com, ST=Berlin, CN=a", True),
        ("CN=VeriSign\\, Inc.,C=US", "C=US, CN=VeriSign\\, Inc.", True),
        ("CN=a,O=Acme", "CN=a,O=Acme,OU=x", False),
        ("CN=a", "CN=b", False),
        ("not a dn", "not a dn", False),
        (None, None, False),
    ],
)
def test_dn_comparison(a, b, same):
    assert same_dn(a, b) is same


def test_windows_unescaped_comma_stays_in_the_value():
    assert canonical_dn("O=Acme, Inc., CN=x") == "CN=x;O=acme, inc."


@pytest.mark.parametrize(
    ("value", "canonical", "name", "machine"),
    [
        ("CORP\\Alice", "corp\\alice", "alice", None),
        ("alice@corp.example", "alice@corp.example", "alice", None),
        ("CORP\\WS-077$", "corp\\ws-077$", "ws-077$", "ws-077"),
        ("-", None, None, None),
        ("", None, None, None),
    ],
)
def test_accounts(value, canonical, name, machine):
    assert canonical_account(value) == canonical
    assert account_name(value) == name
    assert machine_of_account(value) == machine


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("203.0.113.5:443", ("203.0.113.5", 443)),
        ("[2001:db8::1]:8443", ("2001:db8::1", 8443)),
        ("203.0.113.5", None),
        ("host.example:443", None),
        ("203.0.113.5:70000", None),
        ("203.0.113.5:443; rm -rf /", None),
    ],
)
def test_parse_server(text, parsed):
    assert parse_server(text) == parsed


def test_short_host():
    assert short_host("WS-042.corp.example.") == "ws-042"
    assert short_host("192.0.2.7") == "192.0.2.7"
    assert short_host(" ") is None
