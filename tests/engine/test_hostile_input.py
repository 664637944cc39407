"""Arbitrary text and structures into the playbook loader: only certsoar's own clear errors come out,
never a traceback (alerts are fuzzed through their real entry point in tests/intake/test_intake_fuzz.py)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certsoar.errors import PlaybookError
from certsoar.playbook import parse_playbook

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
yaml_ish = st.text(alphabet=st.sampled_from(list("abcdefgh_:-[]{}'\"\n #|>&*!%@`0123456789.")), max_size=200)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(yaml_ish)
def test_any_text_gives_a_playbook_or_a_playbook_error_with_a_file(text: str) -> None:
    try:
        parse_playbook(text, "fuzz.yaml")
    except PlaybookError as exc:
        assert str(exc).startswith("fuzz.yaml")


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["id", "trigger", "steps", "rules", "vars", "description"]), json_values))
def test_any_structure_gives_a_playbook_or_a_playbook_error(obj: dict) -> None:
    try:
        parse_playbook(json.dumps(obj), "fuzz.yaml")
    except PlaybookError as exc:
        assert str(exc).startswith("fuzz.yaml")


def test_yaml_bombs_and_oversized_files_are_refused() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    try:
        parse_playbook(bomb, "bomb.yaml")
    except PlaybookError as exc:
        assert str(exc) == "bomb.yaml:2: YAML aliases (*name) are not allowed in playbooks"
    else:
        raise AssertionError("a YAML alias bomb was accepted")
    big = "id: x\n" + "#" * (2 * 1024 * 1024)
    try:
        parse_playbook(big, "big.yaml")
    except PlaybookError as exc:
        assert "larger than" in str(exc)
    else:
        raise AssertionError("an oversized playbook was accepted")
