"""Addresses at intake: normalized and rebuilt from the parsed value, so no text of the input
(an IPv6 zone id can hold anything, newlines included) travels on towards a block list."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from intake_data import INTAKE

from certsoar.errors import AlertError
from certsoar.intake import load_alert

SHA1 = "973ceba25ef865f9d802b0e727555b9c4fc65188"


def generic(dst_ip: str) -> str:
    return json.dumps(
        {
            "id": "a1",
            "time": "2026-11-27T08:00:00Z",
            "host": "ws-1",
            "src_ip": "10.20.0.37",
            "dst_ip": dst_ip,
            "dst_port": 443,
            "sha1": SHA1,
        }
    )


def suricata(dest_ip: str) -> str:
    return json.dumps(
        {
            "timestamp": "2026-11-27T08:00:00.000000+0000",
            "flow_id": 7,
            "event_type": "tls",
            "src_ip": "10.20.0.37",
            "src_port": 50000,
            "dest_ip": dest_ip,
            "dest_port": 443,
            "proto": "TCP",
            "tls": {"fingerprint": ":".join(SHA1[i : i + 2] for i in range(0, 40, 2))},
        }
    )


def splunk(dest: str) -> str:
    document = json.loads((INTAKE / "splunk" / "notable-export.json").read_text())
    document["result"]["dest"] = dest  # Splunk's dest is a host name or an address: an address is normalized
    return json.dumps(document)


@pytest.mark.parametrize("alert", [generic, suricata, splunk])
@pytest.mark.parametrize(
    ("given_ip", "kept"),
    [
        ("fe80::1%x\n}\nflush ruleset", "fe80::1"),
        ("2001:DB8::0001%eth0", "2001:db8::1"),
        (" 203.0.113.45 ", "203.0.113.45"),
        ("2001:0db8:0000:0000:0000:0000:0000:0009", "2001:db8::9"),
    ],
)
def test_server_address_is_rebuilt_from_its_value(alert: Callable[[str], str], given_ip: str, kept: str) -> None:
    assert load_alert(alert(given_ip)).dst_ip == kept


@pytest.mark.parametrize("bad", ["203.0.113.45; flush ruleset", "203.0.113.45/24", "evil.example", "1.2.3.4\n}"])
def test_what_is_not_an_address_is_refused_at_intake(bad: str) -> None:
    with pytest.raises(AlertError):
        load_alert(generic(bad))


@given(address=st.ip_addresses(v=6), zone=st.text(min_size=1, max_size=40))
def test_no_zone_id_survives_intake(address: object, zone: str) -> None:
    try:
        alert = load_alert(generic(f"{address}%{zone}"))
    except AlertError:
        return  # refused whole is fine too: nothing of it travels on
    assert alert.dst_ip == str(address)


def test_splunk_src_and_dest_may_name_hosts() -> None:
    """CIM ``src``/``dest`` hold an address or a host name: a name is never taken for an address, and a
    client's name is the alert's host when no host field says otherwise."""
    document = json.loads((INTAKE / "splunk" / "notable-export.json").read_text())
    del document["result"]["orig_host"]
    document["result"].update(src="ws-0137.corp.example", dest="cdn-update.net")
    alert = load_alert(json.dumps(document))
    assert (alert.host, alert.src_ip, alert.dst_ip) == ("ws-0137.corp.example", None, None)
    document["result"].update(src_ip="10.20.0.37", src="ws-0137.corp.example")
    assert load_alert(json.dumps(document)).src_ip == "10.20.0.37"
