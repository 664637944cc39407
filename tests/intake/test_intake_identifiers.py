"""A serial or fingerprint that is not one is refused at intake (exit 2 at the CLI), naming the field,
whatever the format; good ones come out in the one canonical form of certs/fingerprints."""

from __future__ import annotations

import json
from typing import Any

import pytest

from certsoar.errors import AlertError
from certsoar.intake import load_alert

LOG_ONLY = {
    "id": "siem-1",
    "time": "2026-11-27T08:00:00Z",
    "dst_ip": "203.0.113.45",
    "logged_certificate": {
        "serial": "1002",
        "subject": "CN=login.microsoftonline.com",
        "issuer": "CN=Example Corp Internal Issuing CA,O=Example Corp",
    },
}


def generic(logged: dict[str, Any] | None = None, **top: Any) -> bytes:
    alert = {**LOG_ONLY, **top, "logged_certificate": {**LOG_ONLY["logged_certificate"], **(logged or {})}}
    return json.dumps(alert).encode()


@pytest.mark.parametrize("serial", ["10;02", "10 02 zz", "0x", "--1002", "1002\nrm", "G1", "-", ":10:02"])
def test_malformed_logged_serial_is_refused_naming_the_field(serial: str) -> None:
    with pytest.raises(AlertError, match=r"logged_certificate\.serial: .*not a hexadecimal serial"):
        load_alert(generic({"serial": serial}), format="generic")


@pytest.mark.parametrize(
    ("field", "value"), [("sha1", "ab" * 19), ("sha1", "zz" * 20), ("sha256", "ab" * 20), ("sha256", "ab" * 31 + "a;")]
)
def test_malformed_fingerprint_is_refused_naming_the_field(field: str, value: str) -> None:
    with pytest.raises(AlertError, match=rf"{field}: .*hex digits"):
        load_alert(generic(**{field: value}), format="generic")


@pytest.mark.parametrize(
    ("written", "canonical"),
    [("00:10:02", "1002"), ("0x1002", "1002"), ("10 02", "1002"), ("10-02", "1002"), ("-4316693ed", "-4316693ED")],
)
def test_logged_serial_comes_out_canonical(written: str, canonical: str) -> None:
    alert = load_alert(generic({"serial": written}), format="generic")
    assert alert.logged_certificate is not None and alert.logged_certificate.serial == canonical
