"""Whom a certificate names besides its requester: the account forms AD CS writes (DOMAIN\\user, UPN,
computer accounts), compared case-insensitively, and the names the CA's SAN rendering and the SAN: request
attribute carry."""

from __future__ import annotations

import pytest

from certsoar.certs.requester import others_named, parse_account
from certsoar.windows_events import alt_names


@pytest.mark.parametrize(
    ("requester", "upns", "dns", "others"),
    [
        # the same account in its two spellings never fires
        ("CORP\\alice", ["alice@corp.example.com"], [], []),
        ("CORP\\Alice", ["ALICE@Corp.Example.COM"], [], []),
        ("alice@corp.example.com", ["Alice@corp.example.com"], [], []),
        ("alice", ["alice@corp.example.com"], [], []),
        ("CORP\\alice", ["alice@eu.corp.example.com"], [], []),  # NetBIOS name is one label of the suffix
        # another account's UPN fires (ESC1/ESC6/ESC9-15)
        ("CORP\\mallory", ["administrator@corp.example.com"], [], ["administrator@corp.example.com"]),
        ("ESSOS\\missandei", ["administrator@essos.local"], [], ["administrator@essos.local"]),
        (
            "CORP\\mallory",
            ["mallory@corp.example.com", "Administrator@corp.example.com"],
            [],
            ["Administrator@corp.example.com"],
        ),
        # the same name in another domain is another account
        ("CHILD\\administrator", ["administrator@corp.example.com"], [], ["administrator@corp.example.com"]),
        (
            "administrator@child.corp.example.com",
            ["administrator@corp.example.com"],
            [],
            ["administrator@corp.example.com"],
        ),
        # a person's DNS names are not judged (web server templates)
        ("CORP\\svc-webdeploy", [], ["intranet.corp.example.com"], []),
        # a computer account: its own host only
        ("CORP\\WS-0142$", [], ["ws-0142.corp.example.com", "WS-0142"], []),
        ("CORP\\WS-0142$", [], ["dc01.corp.example.com"], ["dc01.corp.example.com"]),
        ("CORP\\WS-0142$", ["administrator@corp.example.com"], [], ["administrator@corp.example.com"]),
        ("CORP\\WS-0142$", ["ws-0142$@corp.example.com"], [], []),
        # nothing to judge without a requester
        (None, ["administrator@corp.example.com"], [], []),
        ("-", ["administrator@corp.example.com"], [], []),
        ("", ["administrator@corp.example.com"], ["dc01.corp.example.com"], []),
    ],
)
def test_others_named(requester: str | None, upns: list[str], dns: list[str], others: list[str]) -> None:
    assert others_named(requester, upns, dns) == others


def test_account_forms() -> None:
    assert parse_account("CORP\\WS-0142$") is not None and parse_account("CORP\\WS-0142$").machine == "ws-0142"  # type: ignore[union-attr]
    assert parse_account("alice@corp.example.com").dns_domain == "corp.example.com"  # type: ignore[union-attr]
    assert parse_account("CORP\\") is None


@pytest.mark.parametrize(
    ("san", "attributes", "dns", "ip", "upn"),
    [
        # Windows' multi-line rendering and the same value with whitespace collapsed by an XML export
        ("Other Name:\n     Principal Name=administrator@essos.local\n", None, [], [], ["administrator@essos.local"]),
        ("Other Name: Principal Name=administrator@essos.local", None, [], [], ["administrator@essos.local"]),
        ("DNS Name=a.corp.example\nIP Address=192.0.2.7", None, ["a.corp.example"], ["192.0.2.7"], []),
        # the request attribute (certreq -attrib, certipy -upn), version 0 events have only this
        (
            None,
            "CertificateTemplate:User\nSAN:upn=svc-backup@corp.example&dns=ws-1.corp.example\nccm:ws-1.corp.example",
            ["ws-1.corp.example"],
            [],
            ["svc-backup@corp.example"],
        ),
        (
            "Other Name: Principal Name=administrator@essos.local",
            "CertificateTemplate:WebServer SAN:upn=administrator@essos.local ApplicationPolicies:1.3.6.1.5.5.7.3.2",
            [],
            [],
            ["administrator@essos.local"],
        ),
        (None, "CertificateTemplate:Machine", [], [], []),
    ],
)
def test_alt_names_of_an_adcs_event(
    san: str | None, attributes: str | None, dns: list[str], ip: list[str], upn: list[str]
) -> None:
    names = alt_names(san, attributes)
    assert (names.dns, names.ip, names.upn) == (dns, ip, upn)
