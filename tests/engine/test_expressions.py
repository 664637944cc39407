"""The expression sandbox: native values, strict undefined, no escape."""

from __future__ import annotations

from typing import Any

import pytest

from certsoar import expressions
from certsoar.expressions import ExpressionError, evaluate, step_references, truthy


def test_whole_expression_keeps_native_types() -> None:
    ctx = {"steps": {"a": {"servers": ["192.0.2.1"], "n": 3}}}
    assert evaluate("{{ steps.a.servers }}", ctx) == ["192.0.2.1"]
    assert evaluate("{{ steps.a.n * 2 }}", ctx) == 6
    assert evaluate("n={{ steps.a.n }}", ctx) == "n=3"
    assert evaluate({"x": ["{{ steps.a.n }}", 4]}, ctx) == {"x": [3, 4]}


@pytest.mark.parametrize("expr", ["{{ missing }}", "{{ steps.a.nope }}", "{{ [steps.a.nope] }}", "x {{ missing }}"])
def test_undefined_names_fail_loudly(expr: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(expr, {"steps": {"a": {}}})


@pytest.mark.parametrize(
    "expr",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ steps.a.append(1) }}",
        "{{ steps.update({'x': 1}) }}",
    ],
)
def test_sandbox_refuses_escapes_and_mutation(expr: str) -> None:
    ctx = {"steps": {"a": []}}
    with pytest.raises(ExpressionError):
        evaluate(expr, ctx)
    assert ctx == {"steps": {"a": []}}


def test_data_is_never_evaluated_twice() -> None:
    assert evaluate("{{ alert.subject }}", {"alert": {"subject": "{{ 7*7 }}"}}) == "{{ 7*7 }}"
    assert evaluate("s={{ alert.subject }}", {"alert": {"subject": "{{ 7*7 }}"}}) == "s={{ 7*7 }}"


def test_truthy_and_step_references() -> None:
    assert truthy("{{ steps.a.x and not steps.b.y }}", {"steps": {"a": {"x": 1}, "b": {"y": 0}}})
    assert truthy(True, {}) and not truthy(False, {})
    assert step_references("{{ steps.cert.sha1 }} {{ steps['verdict'].x }} {{ alert.id }}") == {"cert", "verdict"}


def test_a_guard_is_parsed_once_per_process_however_often_it_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner reads each approval guard at every step it guards, in every run: the parse is kept."""
    parsed: list[str] = []
    real = expressions.ENV.parse

    def parse(source: str, *args: Any, **kwargs: Any) -> Any:
        parsed.append(source)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(expressions.ENV, "parse", parse)
    guard = "{{ steps.verdict.contain and steps.parse_once_gate.approved }}"
    for _ in range(3):
        assert expressions.required_approvals(guard) == {"parse_once_gate"}
        assert expressions.step_references(guard) == {"verdict", "parse_once_gate"}
    assert len(parsed) == 1
