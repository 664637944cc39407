"""The one rule for zone-less times (a naive time is UTC), and the readers that now share it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from certsoar.alert import CertificateAlert
from certsoar.certs.allowlist import Identity, match_allowlist
from certsoar.config import AllowlistEntry
from certsoar.logformats import parse_time
from certsoar.timeparse import as_utc

PLUS_TWO = timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2026, 11, 27, 8, 0), datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)),
        (datetime(2026, 11, 27, 8, 0, tzinfo=PLUS_TWO), datetime(2026, 11, 27, 6, 0, tzinfo=timezone.utc)),
        (datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc), datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)),
    ],
)
def test_as_utc_takes_naive_as_utc_and_converts_aware(value: datetime, expected: datetime) -> None:
    got = as_utc(value)
    assert got == expected
    assert got.utcoffset() == timedelta(0)
    assert got.tzinfo is timezone.utc


def test_as_utc_out_of_range_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="outside the representable range"):
        as_utc(datetime(1, 1, 1, 0, 30, tzinfo=PLUS_TWO))


@pytest.mark.parametrize("text", ["2026-11-27T08:00:00", "2026-11-27T10:00:00+02:00", "2026-11-27T08:00:00Z"])
def test_readers_agree_on_the_same_instant(text: str) -> None:
    want = datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)
    assert parse_time(text) == want
    alert = CertificateAlert(id="a", time=datetime.fromisoformat(text.replace("Z", "+00:00")), sha1="a" * 40)
    assert alert.time == want and alert.time.tzinfo is timezone.utc


def test_parse_time_out_of_range_is_none_not_an_exception() -> None:
    assert parse_time("0001-01-01T00:30:00+02:00") is None


def test_naive_allowlist_expiry_is_utc() -> None:
    entry = AllowlistEntry(sha256="a" * 64, owner="pki", reason="test", expires=datetime(2026, 11, 27, 8, 0))
    who = Identity(sha256="a" * 64, spki_sha256=None, subject=None, issuer=None, server=None)
    just_before = datetime(2026, 11, 27, 9, 59, tzinfo=PLUS_TWO)  # 07:59 UTC
    just_after = datetime(2026, 11, 27, 10, 1, tzinfo=PLUS_TWO)  # 08:01 UTC
    assert match_allowlist([entry], who, now=just_before)[0] is not None
    assert match_allowlist([entry], who, now=just_after)[0] is None


@pytest.mark.parametrize("bad", ["24hours", "0s", "-1d", "", "7 days"])
def test_every_duration_field_refuses_what_is_no_positive_duration(bad: str) -> None:
    from pydantic import ValidationError

    from certsoar.actions.siem import CreationsInput, TrafficInput
    from certsoar.config import ContainmentSweep, TrafficChange

    for model, field in ((TrafficChange, "after"), (ContainmentSweep, "crl_warn_before")):
        with pytest.raises(ValidationError, match=field):
            model.model_validate({field: bad})
    for action_model, field in ((CreationsInput, "window"), (TrafficInput, "baseline")):
        with pytest.raises(ValidationError, match=field):
            action_model.model_validate({"alert": {}, "cert": {}, field: bad})
