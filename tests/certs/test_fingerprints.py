"""The one normalization of serials and fingerprints (certs/fingerprints.py) that intake, analysis,
the SIEM, the CA and the proxy all use."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certsoar.certs.fingerprints import normalize_digest, normalize_serial, serial_hex, serial_number


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("00:C7:D4:3A", "C7D43A"),  # colons, a leading zero byte
        (" c7 d4 3a ", "C7D43A"),  # spaces, lower case
        ("c7-d4-3a", "C7D43A"),  # dashes between bytes
        ("0xC7D43A", "C7D43A"),
        ("0Xc7d43a", "C7D43A"),
        ("000000", "0"),
        ("00", "0"),
        ("-4316693ED", "-4316693ED"),  # a negative serial as Zeek prints it keeps its sign
        ("-00:43:16", "-4316"),
        ("-0x10", "-10"),
        ("-0", "0"),
    ],
)
def test_serial_spellings(written: str, canonical: str) -> None:
    assert normalize_serial(written) == canonical


@pytest.mark.parametrize("bad", ["", " ", "xyz", "0x", "10;02", "--10", "0x-10", "1" * 201, "10\x00", "١٢"])
def test_not_serials(bad: str) -> None:
    assert normalize_serial(bad) is None and serial_number(bad) is None


def test_serial_numbers_round_trip_through_the_canonical_form() -> None:
    assert serial_number("00:10:02") == 0x1002 and serial_number("-10") == -16 and serial_number(0x1002) == 0x1002
    assert serial_number(True) is None  # type: ignore[arg-type]
    assert serial_hex(-0x4316693ED) == "-4316693ED"


@given(st.integers(min_value=-(2**160), max_value=2**160), st.sampled_from(["", ":", " ", "-"]), st.booleans())
def test_any_spelling_of_a_number_is_that_number(number: int, separator: str, upper: bool) -> None:
    digits = format(abs(number), "x").zfill(2)
    digits = "0" * (len(digits) % 2) + digits
    pairs = separator.join(digits[i : i + 2] for i in range(0, len(digits), 2))
    written = ("-" if number < 0 else "") + (pairs.upper() if upper else pairs)
    assert serial_number(written) == number
    assert normalize_serial(written) == serial_hex(number)


@pytest.mark.parametrize(
    ("written", "length", "canonical"),
    [
        ("6E:CE:5E", None, "6ece5e"),
        ("6e ce 5e", None, "6ece5e"),
        ("6E-CE-5E", None, "6ece5e"),
        ("AB" * 20, 40, "ab" * 20),
        (":".join(["AB"] * 20), 40, "ab" * 20),
        ("ab" * 32, 64, "ab" * 32),
        ("ab" * 32, (40, 64), "ab" * 32),
    ],
)
def test_digest_spellings(written: str, length: int | tuple[int, ...] | None, canonical: str) -> None:
    assert normalize_digest(written, length) == canonical


@pytest.mark.parametrize(
    ("bad", "length"),
    [("zz", None), ("", None), ("0x" + "ab" * 20, 40), ("ab" * 19, 40), ("ab" * 32, 40), ("ab" * 20 + "\nx", 40)],
)
def test_not_digests(bad: str, length: int | None) -> None:
    assert normalize_digest(bad, length) is None
