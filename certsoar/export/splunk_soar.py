"""The Splunk SOAR app: a project of PyPI's splunk-soar-sdk (``soarapps``) whose actions call `certsoar serve`.

The export writes the app's source (pyproject.toml, src/app.py, logos, README); ``uv lock`` then
``soarapps package build`` turn it into the tarball Splunk SOAR installs. Every action returns the run object
as typed output, so its data paths (``action_result.data.*.verdict.severity``) follow RUN_FIELDS."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from jinja2 import FunctionLoader, StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from certsoar.errors import ExportError
from certsoar.export.soar import RUN_FIELDS, Operation, markdown_table, operations
from certsoar.intake import FORMATS
from certsoar.store import RunStatus

SDK_VERSION = "7.0.3"
"""The splunk-soar-sdk release the app is written for and pinned to (its pyproject's dependency)."""

APP_ID = "c3fa79b4-264e-553e-8525-52a648e17c6f"
"""The app's id in Splunk SOAR: fixed, so a newer export upgrades the installed app instead of adding one."""

DATA_ROOT = "action_result.data.*"
"""Where the SDK puts each item an action returns (its ActionOutput), the prefix of every data path."""

_SOAR_TYPES = {"string": "str", "date": "str", "boolean": "bool", "numeric": "float"}

# RUN_FIELDS types a few fields "unknown" (lists of objects): Splunk SOAR data paths need their items' fields.
# path -> (item class, ((field, type, description), ...)), or the item's own type for a list of scalars.
_LIST_ITEMS: dict[str, tuple[str, tuple[tuple[str, str, str], ...]] | str] = {
    "verdict.reasons": (
        "ReasonOutput",
        (
            ("rule", "string", "The rule's id."),
            ("severity", "string", "The rule's severity."),
            ("contain", "boolean", "The rule recommends containment."),
            ("reason", "string", "Why the rule fired."),
        ),
    ),
    "approval.roles": "string",
    "effects": (
        "EffectOutput",
        (
            ("action", "string", "The containment action (ca.revoke, firewall.block, ...)."),
            ("target", "string", "What it acted on: a serial, an address, a fingerprint."),
            ("changed", "boolean", "It changed something (false: it was already so)."),
            ("verified", "boolean", "The change was read back and confirmed."),
        ),
    ),
}

_ACTION_NAMES = {
    "test_connectivity": "test connectivity",
    "submit_alert": "submit alert",
    "get_run": "get run",
    "list_runs": "list runs",
    "approve": "approve run",
    "deny": "deny run",
    "release": "release run",
}


@dataclass(frozen=True)
class OutputField:
    name: str
    annotation: str
    description: str


@dataclass(frozen=True)
class OutputClass:
    name: str
    fields: tuple[OutputField, ...]


@dataclass(frozen=True)
class DataPath:
    path: str
    type: str
    description: str


def export(manifest: dict[str, Any], target: Path) -> list[Path]:
    """Write the app's project under ``target``; return the files written."""
    ops = {op.name: op for op in operations(manifest)}
    classes, data_paths = run_output()
    env = _environment()
    context = {
        "version": manifest["version"],
        "description": manifest["description"],
        "sdk_version": SDK_VERSION,
        "appid": APP_ID,
        "ops": ops,
        "output_classes": classes,
        "data_paths": data_paths,
        "formats": list(FORMATS),
        "statuses": [str(s) for s in RunStatus],
        "playbooks": alert_playbooks(manifest),
        "default_playbook": "certificate-alert",
        "scopes": _scopes(ops.values()),
        "tables": _readme_tables(manifest, ops, data_paths),
    }
    if context["default_playbook"] not in context["playbooks"]:
        raise ExportError("the manifest has no certificate-alert playbook triggered by an alert: regenerate it")
    texts = {
        "pyproject.toml": env.get_template("pyproject.toml.j2").render(context),
        "src/__init__.py": "",
        "src/app.py": env.get_template("app.py.j2").render(context),
        "README.md": env.get_template("README.md.j2").render(context),
        "release_notes/unreleased.md": f"**Unreleased**\n\n* Exported from certsoar {manifest['version']}.\n",
    }
    written = []
    for name, text in texts.items():
        written.append(_write(target / name, text.encode()))
    for logo in ("logo.svg", "logo_dark.svg"):
        written.append(_write(target / logo, _templates().joinpath(logo).read_bytes()))
    return written


def run_output() -> tuple[list[OutputClass], list[DataPath]]:
    """The typed output classes of a run (nested ones first, RunOutput last) and the data paths they give."""
    groups: dict[str, list[OutputField]] = {}
    top: list[OutputField] = []
    classes: list[OutputClass] = []
    paths: list[DataPath] = []
    for field in RUN_FIELDS:
        head, _, rest = field.path.partition(".")
        leaf = rest or head
        annotation = _annotation(field.path, field.type, field.description, classes, paths)
        if rest:
            groups.setdefault(head, []).append(OutputField(leaf, annotation, field.description))
        else:
            top.append(OutputField(leaf, annotation, field.description))
    for head, fields in groups.items():
        name = f"{head.capitalize()}Output"
        classes.append(OutputClass(name, tuple(fields)))
        top.append(OutputField(head, f"{name} | None", f"The run's {head}."))
    classes.append(OutputClass("RunOutput", tuple(top)))
    return classes, paths


def _annotation(path: str, type_: str, description: str, classes: list[OutputClass], paths: list[DataPath]) -> str:
    if type_ != "unknown":
        if type_ not in _SOAR_TYPES:
            raise ExportError(f"run field {path} has type {type_!r}, which Splunk SOAR has no data type for")
        paths.append(DataPath(f"{DATA_ROOT}.{path}", _soar_type(type_), description))
        return f"{_SOAR_TYPES[type_]} | None"
    items = _LIST_ITEMS.get(path)
    if items is None:
        raise ExportError(f"run field {path} is a list the Splunk SOAR export does not know the items of")
    if isinstance(items, str):
        paths.append(DataPath(f"{DATA_ROOT}.{path}.*", _soar_type(items), description))
        return f"list[{_SOAR_TYPES[items]}] | None"
    name, fields = items
    classes.append(
        OutputClass(name, tuple(OutputField(f, f"{_SOAR_TYPES[t]} | None", d) for f, t, d in fields)),
    )
    for f, t, d in fields:
        paths.append(DataPath(f"{DATA_ROOT}.{path}.*.{f}", _soar_type(t), f"{description} {d}"))
    return f"list[{name}] | None"


def _soar_type(type_: str) -> str:
    """Splunk SOAR's data type: string, numeric or boolean (a date is a string)."""
    return {"boolean": "boolean", "numeric": "numeric"}.get(type_, "string")


def alert_playbooks(manifest: dict[str, Any]) -> list[str]:
    """The playbooks an alert can start (the service's ``playbook`` choice)."""
    return [pb["id"] for pb in manifest["playbooks"] if "alert" in (pb.get("trigger") or {})]


def _readme_tables(manifest: dict[str, Any], ops: dict[str, Operation], data_paths: list[DataPath]) -> dict[str, str]:
    """The README's tables, by name, as Markdown (without the last line break)."""

    def yes(value: object) -> str:
        return "yes" if value else "no"

    def trigger(book: dict[str, Any]) -> str:
        return ", ".join(f"{k}: {v}" for k, v in (book.get("trigger") or {}).items())

    tables = {
        "actions": markdown_table(
            ["action", "service call", "token scope", "what it does"],
            [
                [_ACTION_NAMES[op.name], f"`{op.method} {op.path}`", op.scope or "none", op.description]
                for op in ops.values()
            ],
        ),
        "data_paths": markdown_table(
            ["data path", "type", "meaning"], [[f"`{p.path}`", p.type, p.description] for p in data_paths]
        ),
        "playbooks": markdown_table(
            ["playbook", "trigger", "what it does"],
            [[book["id"], trigger(book), book["description"]] for book in manifest["playbooks"]],
        ),
        "manifest_actions": markdown_table(
            ["action", "changes something", "reversible", "needs approval", "what it does"],
            [
                [a["name"], yes(a["mutates"]), yes(a["reversible"]), yes(a["needs_approval"]), a["description"]]
                for a in manifest["actions"]
            ],
        ),
    }
    return {name: "\n".join(lines) for name, lines in tables.items()}


def _scopes(ops: Any) -> list[tuple[str, list[str]]]:
    by_scope: dict[str, list[str]] = {}
    for op in ops:
        by_scope.setdefault(op.scope or "none", []).append(_ACTION_NAMES[op.name])
    return sorted(by_scope.items())


def _templates() -> Any:
    return files("certsoar.export").joinpath("templates", "splunk_soar")


def _environment() -> ImmutableSandboxedEnvironment:
    def load(name: str) -> str:
        text: str = _templates().joinpath(name).read_text(encoding="utf-8")
        return text

    env = ImmutableSandboxedEnvironment(
        loader=FunctionLoader(load),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    # Values land in Python or TOML literals (a JSON string or list of strings is both): each filter makes its value
    # one literal of its language, whatever a description holds. The README's tables come written (soar.markdown_table).
    env.filters["py"] = lambda value: json.dumps(value, ensure_ascii=False)
    env.filters["toml"] = json.dumps
    return env


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
