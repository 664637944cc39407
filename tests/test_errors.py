"""Every error raised on purpose is in certsoar.errors and carries its exit code by type."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

import certsoar.errors as errors
from certsoar.cli import exit_code_for, guarded
from certsoar.errors import CertsoarError, PlaybookError, PlaybookNotFound, RegistryError
from certsoar.playbook import find_playbook
from certsoar.registry import action, get_action

ROOT = Path(__file__).resolve().parents[1]
# Not errors of the tree, on purpose: CrlError belongs to the CA work (certs/revocation.py) and
# WaitingForApproval is the runner's control flow (it never reaches a user).
OUTSIDE_THE_TREE = {"WaitingForApproval"}  # control flow inside the runner, never raised out of it
BUILTIN_RAISES_REFUSED = {"Exception", "RuntimeError", "KeyError", "LookupError", "IndexError", "AssertionError"}


class Io(BaseModel):
    pass


def _tree() -> list[type[CertsoarError]]:
    return [cls for _, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, CertsoarError)]


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("CertsoarError", 1),
        ("ConfigError", 2),
        ("SslblError", 2),
        ("RegistryError", 2),
        ("PlaybookError", 1),
        ("PlaybookNotFound", 2),
        ("ExpressionError", 1),
        ("AlertError", 2),
        ("ApprovalError", 1),
        ("RunError", 2),
        ("AuditError", 1),
        ("ActionError", 1),
        ("ConnectorError", 1),
        ("ConnectorUnavailable", 1),
        ("ConnectorRejected", 1),
    ],
)
def test_exit_code_by_type(name: str, code: int) -> None:
    cls = getattr(errors, name)
    exc = cls("x", connector="c") if issubclass(cls, errors.ConnectorError) else cls("x")
    assert exit_code_for(exc) == code


def test_the_docstring_tree_names_every_class_with_its_exit_code() -> None:
    documented = dict(re.findall(r"(?:^    |── )(\w+)\s+(?:\((\d)\))?", errors.__doc__ or "", re.M))
    for cls in _tree():
        assert cls.__name__ in documented, f"{cls.__name__} is missing from the tree in errors.py's docstring"
        if documented[cls.__name__]:
            assert int(documented[cls.__name__]) == cls.exit_code, cls.__name__


def _exit_of(exc: CertsoarError) -> int:
    @guarded
    def command() -> None:
        raise exc

    with pytest.raises(SystemExit) as stopped:
        command()
    return int(stopped.value.code or 0)


def test_the_cli_does_not_read_the_message() -> None:
    assert _exit_of(PlaybookError("step s: no playbook-level timeout is allowed here", file="p.yaml")) == 1
    assert _exit_of(PlaybookNotFound("no such playbook file", file="gone.yaml")) == 2


@pytest.mark.parametrize("name", ["no-such-playbook", "missing-file.yaml"])
def test_a_missing_playbook_is_its_own_error(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PlaybookNotFound):
        find_playbook(name)


def test_an_unknown_action_is_a_registry_error() -> None:
    with pytest.raises(RegistryError, match="unknown action 'no.such.action'"):
        get_action("no.such.action")


def test_an_action_registered_twice_is_a_registry_error() -> None:
    async def first(inp: Io, ctx: object) -> Io:
        return inp

    async def second(inp: Io, ctx: object) -> Io:
        return inp

    action("test.registered-twice")(first)
    try:
        with pytest.raises(RegistryError, match="registered twice"):
            action("test.registered-twice")(second)
    finally:
        from certsoar import registry

        registry._ACTIONS.pop("test.registered-twice", None)


SOAR_SIDE = ROOT / "certsoar" / "export" / "templates"
"""Code that certsoar writes for a SOAR to run (a StackStorm pack's client, say): it never runs in certsoar and
cannot import certsoar's errors."""


def _sources() -> list[Path]:
    return [
        p
        for top in ("certsoar", "connectors", "actions")
        for p in sorted((ROOT / top).rglob("*.py"))
        if not p.is_relative_to(SOAR_SIDE)
    ]


TREE = {name for name, obj in vars(errors).items() if isinstance(obj, type) and issubclass(obj, errors.CertsoarError)}


def test_no_exception_class_outside_the_tree() -> None:
    found = []
    for path in _sources():
        if path == ROOT / "certsoar" / "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and node.name not in OUTSIDE_THE_TREE:
                bases = {
                    b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else ""
                    for b in node.bases
                }
                exceptional = any(
                    b.endswith(("Error", "Exception", "Unavailable", "Rejected", "NotFound")) for b in bases
                )
                # A connector may narrow a tree class for its own use (it stays in the tree by inheritance).
                if exceptional and not bases & TREE:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} class {node.name}")
    assert not found, "exception classes outside the tree of certsoar/errors.py: " + "; ".join(found)


def test_nothing_raises_a_bare_builtin_on_purpose() -> None:
    found = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Raise) and node.exc is not None:
                target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(target, ast.Name) and target.id in BUILTIN_RAISES_REFUSED:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} raise {target.id}")
    assert not found, "raise the tree's errors instead: " + "; ".join(found)


def test_a_connector_type_declared_by_two_targets_is_refused_and_one_seen_twice_is_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from importlib.metadata import EntryPoint

    from certsoar import registry

    console = "certsoar.connectors.notify.console:ConsoleNotifier"
    seen = [EntryPoint("console", console, "certsoar.connectors.notify")]
    monkeypatch.setattr(registry, "in_group", lambda group: list(seen))
    try:
        registry.forget_connectors()
        seen.append(EntryPoint("console", console, "certsoar.connectors.notify"))  # editable metadata beside installed
        assert list(registry.connector_types("notify")) == ["console"]
        registry.forget_connectors()
        seen.append(EntryPoint("console", "acme.notify:Console", "certsoar.connectors.notify"))
        with pytest.raises(
            RegistryError, match=f"notify/console is declared twice \\({console} and acme.notify:Console\\)"
        ):
            registry.connector_types("notify")
    finally:
        registry.forget_connectors()
