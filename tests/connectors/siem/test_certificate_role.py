"""Whether a logged certificate was an endpoint's own or an element of its chain, and whether it is a CA, as the
SIEM connectors read it (Zeek x509.log host_cert and basic_constraints.ca); a record that does not say gives None."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from certsoar.connectors.siem import SiemEvent
from certsoar.connectors.siem.events import to_event
from certsoar.connectors.siem.readers import json_record
from certsoar.connectors.siem.remote import mapped_record

AT = datetime(2026, 5, 30, 10, 0, tzinfo=timezone.utc)
ZEEK_X509 = {"ts": AT.timestamp(), "fingerprint": "01" * 32, "certificate.serial": "01"}


def event_of(obj: dict[str, Any]) -> SiemEvent:
    return to_event(json_record(obj), AT, [], "t")


@pytest.mark.parametrize(
    ("fields", "host_cert", "ca"),
    [
        ({"host_cert": False, "basic_constraints.ca": True}, False, True),  # Zeek JSON: a root sent in a chain
        ({"host_cert": True, "basic_constraints.ca": True}, True, True),  # openssl req -x509, served as the host's
        ({"host_cert": "F", "basic_constraints_ca": "T"}, False, True),  # dedotted keys, Zeek's T/F as text
        ({"host_cert": "maybe", "basic_constraints.ca": 1}, None, None),  # not a boolean: says nothing
        ({}, None, None),  # Zeek 3.x: no host_cert; no basicConstraints
    ],
)
def test_zeek_x509_role_and_ca(fields, host_cert, ca):
    event = event_of({**ZEEK_X509, **fields})
    assert event.kind == "x509" and (event.host_cert, event.ca) == (host_cert, ca)


def test_a_suricata_tls_record_does_not_say():
    event = event_of({"timestamp": "2026-05-30T10:00:00+0000", "event_type": "tls", "tls": {"fingerprint": "aa:bb"}})
    assert event.kind == "tls" and event.host_cert is None and event.ca is None


def test_a_field_map_can_name_them():
    fields = {"dataset": ("sourcetype",), "sha256": ("hash",), "host_cert": ("cert_role",), "ca": ("is_ca",)}
    hit = {"sourcetype": "zeek:x509", "hash": "02" * 32, "cert_role": "false", "is_ca": "true"}
    event = to_event(mapped_record(hit, fields, "splunk-cim"), AT, [], "t")
    assert event.kind == "x509" and event.host_cert is False and event.ca is True
