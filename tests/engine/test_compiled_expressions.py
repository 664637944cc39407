"""Playbook expressions compiled once, not in every process (issue 12, start-up): their code is kept in the cache
folder (certsoar.checkcache.compiled_jinja) and a later process reads it instead of compiling. The cache changes no
result, keeps nothing that does not compile, and is not used where others could write code into it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from certsoar import checkcache, expressions
from certsoar.expressions import ExpressionError, evaluate

CASES: list[tuple[str, Any]] = [
    ("{{ steps.a.servers }}", ["192.0.2.1"]),
    ("{{ steps.a.n * 2 }}", 6),
    ("{{ steps.a.servers | length > 0 and steps.a.n == 3 }}", True),
    ("n={{ steps.a.n }} of {{ steps.a.servers | join(',') }}", "n=3 of 192.0.2.1"),
]
CONTEXT = {"steps": {"a": {"servers": ["192.0.2.1"], "n": 3}}}


def new_process() -> None:
    """What a process started for the next alert has: none of this one's compiled expressions."""
    expressions._compiled_expression.cache_clear()
    expressions._compiled_template.cache_clear()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "cache"
    monkeypatch.setenv(checkcache.CACHE_ENV, str(folder))
    new_process()
    yield folder
    new_process()


def compiles(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every compilation of an expression or template from here on."""
    seen: list[object] = []
    real = expressions.ENV.compile

    def counting(source: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(source)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(expressions.ENV, "compile", counting)
    return seen


def test_a_later_process_reads_the_compiled_expressions_instead_of_compiling_them(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = compiles(monkeypatch)
    assert [evaluate(text, CONTEXT) for text, _ in CASES] == [value for _, value in CASES]
    assert len(seen) == len(CASES)
    new_process()
    assert [evaluate(text, CONTEXT) for text, _ in CASES] == [value for _, value in CASES]
    assert len(seen) == len(CASES)  # nothing compiled again
    assert len(list((cache / "expressions").iterdir())) == len(CASES)


def test_a_damaged_entry_is_compiled_again_and_gives_the_same_value(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    evaluate("{{ steps.a.n * 2 }}", CONTEXT)
    (entry,) = (cache / "expressions").iterdir()
    entry.write_bytes(entry.read_bytes()[:40])
    new_process()
    seen = compiles(monkeypatch)
    assert evaluate("{{ steps.a.n * 2 }}", CONTEXT) == 6
    assert len(seen) == 1


def test_what_does_not_compile_still_fails_and_is_never_kept(cache: Path) -> None:
    for _ in range(2):
        with pytest.raises(ExpressionError, match="does not compile"):
            evaluate("{{ steps.a.n * }}", CONTEXT)
        with pytest.raises(ExpressionError, match="does not compile"):
            evaluate("{{ steps.a.n }} {{ 1 2 }}", CONTEXT)
        new_process()
    assert not (cache / "expressions").exists() or list((cache / "expressions").iterdir()) == []


def test_the_sandbox_and_strict_undefined_hold_for_code_read_from_the_cache(cache: Path) -> None:
    for _ in range(2):  # compiled, then read from the cache
        with pytest.raises(ExpressionError):
            evaluate("{{ ''.__class__.__mro__ }}", CONTEXT)
        with pytest.raises(ExpressionError):
            evaluate("{{ steps.a.nope }}", CONTEXT)
        with pytest.raises(ExpressionError):
            evaluate("{{ steps.a.servers.append('198.51.100.1') }}", CONTEXT)
        new_process()
    assert CONTEXT["steps"]["a"]["servers"] == ["192.0.2.1"]


def test_a_cache_others_can_write_is_not_used(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache.mkdir()
    os.chmod(cache, 0o777)  # anyone could put code there
    seen = compiles(monkeypatch)
    for _ in range(2):
        assert evaluate("{{ steps.a.n * 2 }}", CONTEXT) == 6
        new_process()
    assert len(seen) == 2 and not (cache / "expressions").exists()
