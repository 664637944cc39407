"""Time as certsoar reads it: durations as playbooks and configs write them (``90s``, ``15m``, ``24h``,
``7d``, ``2w``), and the one rule for times without a zone: a naive time is UTC."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Annotated

from pydantic import AfterValidator

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """Parse a duration; a bare number is seconds. Raises ValueError with the accepted forms."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return timedelta(seconds=float(text))
    match = _PATTERN.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration (write e.g. 90s, 15m, 24h, 7d, 2w)")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def as_utc(value: datetime) -> datetime:
    """The same instant as an aware UTC datetime; a naive time is taken as UTC.

    Raises ValueError (not OverflowError) when the instant falls outside datetime's range in UTC,
    so that validators and parsers treat it as any other bad value.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    try:
        return value.astimezone(timezone.utc)
    except OverflowError as exc:
        raise ValueError(f"{value.isoformat()} is outside the representable range in UTC") from exc


def shown_utc(moment: datetime) -> str:
    """A time as an analyst reads it: ``2026-12-01 11:22:52 UTC``."""
    return as_utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC")


def _positive_duration(value: str) -> str:
    if parse_duration(value).total_seconds() <= 0:
        raise ValueError(f"{value!r} is not a positive duration")
    return value


Duration = Annotated[str, AfterValidator(_positive_duration)]
"""A duration field of a model (``90s``, ``15m``, ``24h``, ``7d``, ``2w``), checked when the model is built."""
