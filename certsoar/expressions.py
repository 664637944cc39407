"""Playbook expressions: Jinja2 in an immutable sandbox with StrictUndefined.

A value that is exactly one ``{{ expr }}`` evaluates to the expression's native value (a list
stays a list); any other string with ``{{`` is rendered as text; everything else is literal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from types import CodeType
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, Undefined, meta, nodes
from jinja2.environment import TemplateExpression
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

from certsoar.checkcache import compiled_jinja
from certsoar.errors import ExpressionError

_WHOLE = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.DOTALL)


ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def whole_expression(text: str) -> str | None:
    """The expression inside ``{{ … }}`` when ``text`` is nothing but one expression."""
    m = _WHOLE.match(text)
    if m and "{{" not in m.group("expr") and "}}" not in m.group("expr"):
        return m.group("expr").strip()
    return None


# the compiled code depends on the environment's options as well as on the source: they name every entry
_CODE_KIND = f"certsoar-expression-v1:{type(ENV).__name__}:{ENV.undefined.__name__}:{ENV.autoescape}:"


@lru_cache(maxsize=1024)
def _compiled_expression(expr: str) -> Any:
    """``ENV.compile_expression(expr, undefined_to_none=False)``, its compiled code kept in the cache folder."""
    code = _code("expression:" + expr, lambda: ENV.compile(_expression_template(expr)))
    return TemplateExpression(_template(code), undefined_to_none=False)


@lru_cache(maxsize=1024)
def _compiled_template(text: str) -> Any:
    """``ENV.from_string(text)``, its compiled code kept in the cache folder."""
    return _template(_code("template:" + text, lambda: ENV.compile(text)))


def _template(code: CodeType) -> Template:
    return ENV.template_class.from_code(ENV, code, ENV.make_globals(None), None)


def _code(source: str, compile_source: Callable[[], CodeType]) -> CodeType:
    """The compiled code of ``source``: from the cache folder (checkcache.compiled_jinja) when an entry for this
    exact source is there, else compiled (and kept): a process started for one alert would otherwise compile every
    expression of its playbook again (60 in certificate-alert, 35-45 ms). Code that does not compile raises as
    Jinja raises it and is never kept."""
    cache = compiled_jinja("expressions")
    try:
        bucket = cache.get_bucket(ENV, _CODE_KIND + source, None, _CODE_KIND + source) if cache else None
    except OSError:
        bucket = None
    if bucket is not None and bucket.code is not None:
        return bucket.code
    code = compile_source()
    if cache is not None and bucket is not None:
        bucket.code = code
        try:
            cache.set_bucket(bucket)
        except OSError:
            pass  # a cache that cannot be written only saves no time
    return code


def _expression_template(expr: str) -> nodes.Template:
    """The template ``Environment.compile_expression`` compiles: ``result = <expr>``."""
    parser = Parser(ENV, expr, state="variable")
    try:
        body = parser.parse_expression()
        if not parser.stream.eos:
            raise TemplateSyntaxError("chunk after expression", parser.stream.current.lineno, None, None)
        body.set_environment(ENV)
    except TemplateSyntaxError:
        ENV.handle_exception(source=expr)
    return nodes.Template([nodes.Assign(nodes.Name("result", "store"), body, lineno=1)], lineno=1)


@lru_cache(maxsize=1024)
def _parsed(source: str) -> nodes.Template:
    """The syntax tree of ``source``, parsed once per process (the runner reads each guard at every step it
    guards); callers only read it."""
    return ENV.parse(source)


def check(text: str) -> None:
    """Raise ExpressionError when ``text`` does not compile."""
    try:
        expr = whole_expression(text)
        if expr is not None:
            _compiled_expression(expr)
        else:
            _compiled_template(text)
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"expression {text!r} does not compile: {exc.message}") from exc


def evaluate(value: Any, context: dict[str, Any]) -> Any:
    """Evaluate a playbook value (strings, lists and mappings, recursively) against ``context``."""
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        try:
            expr = whole_expression(value)
            if expr is not None:
                return _defined(_compiled_expression(expr)(**context), value)
            return _compiled_template(value).render(**context)
        except (UndefinedError, SecurityError, TypeError, ValueError, AttributeError, KeyError) as exc:
            raise ExpressionError(f"{value!r}: {exc}") from exc
        except TemplateSyntaxError as exc:
            raise ExpressionError(f"{value!r} does not compile: {exc.message}") from exc
    if isinstance(value, list):
        return [evaluate(v, context) for v in value]
    if isinstance(value, dict):
        return {k: evaluate(v, context) for k, v in value.items()}
    return value


def _defined(result: Any, source: str) -> Any:
    """StrictUndefined only raises when used; a bare undefined value must fail here too."""
    if isinstance(result, Undefined):
        try:
            str(result)
        except UndefinedError as exc:
            raise ExpressionError(f"{source!r}: {exc}") from exc
    if isinstance(result, (list, tuple)):
        for v in result:
            _defined(v, source)
    elif isinstance(result, dict):
        for v in result.values():
            _defined(v, source)
    return result


def truthy(value: Any, context: dict[str, Any]) -> bool:
    """A ``when:`` condition; plain booleans pass through."""
    return bool(evaluate(value, context))


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from strings_in(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings_in(v)


def unknown_names(text: str, known: tuple[str, ...]) -> set[str]:
    """Top-level names an expression reads that are neither in ``known`` nor Jinja globals."""
    expr = whole_expression(text)
    source = f"{{{{ {expr} }}}}" if expr is not None else text
    try:
        names = meta.find_undeclared_variables(_parsed(source))
    except TemplateSyntaxError:
        return set()
    return {n for n in names if n not in known and n not in ENV.globals}


def _key(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        return node.arg.value
    return None


def step_fields(text: str) -> set[tuple[str, str | None]]:
    """(step id, first field) pairs an expression reads as ``steps.<id>.<field>``; field None when not read."""
    expr = whole_expression(text)
    source = f"{{{{ {expr} }}}}" if expr is not None else text
    try:
        ast = _parsed(source)
    except TemplateSyntaxError:
        return set()
    found: set[tuple[str, str | None]] = set()
    lookups: list[nodes.Getattr | nodes.Getitem] = list(ast.find_all((nodes.Getattr, nodes.Getitem)))  # type: ignore[arg-type]
    parents = {id(node.node): node for node in lookups}
    for node in lookups:
        target = node.node
        step = _key(node)
        if isinstance(target, nodes.Name) and target.name == "steps" and step is not None:
            outer = parents.get(id(node))
            found.add((step, _key(outer) if outer is not None else None))
    return found


def step_references(text: str) -> set[str]:
    """Step ids an expression reads as ``steps.<id>`` (or ``steps['id']``)."""
    return {step for step, _ in step_fields(text)}


def _conjuncts(node: nodes.Node) -> list[nodes.Node]:
    if isinstance(node, nodes.And):
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node]


def required_approvals(condition: str | bool | None) -> set[str]:
    """Gate ids whose ``steps.<gate>.approved`` the condition requires: the condition is one expression,
    a conjunction (``a and b and …``) with that lookup itself as one of its terms. Under ``not``, ``or``,
    a comparison, a test or a filter the lookup guarantees nothing, so it does not count."""
    if not isinstance(condition, str):
        return set()
    expr = whole_expression(condition)
    if expr is None:
        return set()
    try:
        body = _parsed(f"{{{{ {expr} }}}}").body
    except TemplateSyntaxError:
        return set()
    if len(body) != 1 or not isinstance(body[0], nodes.Output) or len(body[0].nodes) != 1:
        return set()
    gates: set[str] = set()
    for term in _conjuncts(body[0].nodes[0]):
        if isinstance(term, (nodes.Getattr, nodes.Getitem)) and _key(term) == "approved":
            inner = term.node
            if (
                isinstance(inner, (nodes.Getattr, nodes.Getitem))
                and isinstance(inner.node, nodes.Name)
                and inner.node.name == "steps"
                and _key(inner) is not None
            ):
                gates.add(str(_key(inner)))
    return gates
