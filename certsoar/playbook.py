"""Playbooks: YAML validated into frozen pydantic models; errors name the file and line."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from certsoar.errors import PlaybookError, PlaybookNotFound
from certsoar.timeparse import parse_duration

SLUG = r"^[a-z][a-z0-9_]{0,63}$"
MAX_PLAYBOOK_BYTES = 1024 * 1024
SEVERITIES = ("low", "medium", "high", "critical")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _duration(v: Any) -> Any:
    parse_duration(v)
    return v


class Retry(_Strict):
    attempts: int = Field(default=3, ge=1, le=20, description="Tries in all, the first included.")
    delay: str = Field(default="1s", description="Wait before the second try; doubles after each.")
    max_delay: str = Field(default="30s")

    _check_delay = field_validator("delay", "max_delay")(_duration)


class Approval(_Strict):
    roles: list[str] = Field(min_length=1, description="Roles (config analysts.<name>.roles) whose members may decide.")
    required: int = Field(default=1, ge=1, le=10, description="Approvals needed (M of N).")
    expires: str = Field(default="24h", description="After this the run is not approved and ends expired.")
    distinct_from_requester: bool = Field(
        default=True,
        description="The analyst who started the run (run --as) may not decide it: four eyes. A run "
        "started without --as (by a SOAR) has no requester to exclude.",
    )
    template: str | None = Field(default=None, description="Template of the approval request sent to the notifiers.")

    _check_expires = field_validator("expires")(_duration)


class Rule(_Strict):
    id: str = Field(pattern=SLUG)
    when: str = Field(description="Jinja condition over the run context.")
    severity: str = Field(description="low, medium, high or critical, or a Jinja expression that gives one.")
    contain: bool = Field(default=False, description="Firing recommends containment.")
    reason: str = Field(description="Jinja text telling the analyst why it fired.")

    @field_validator("severity")
    @classmethod
    def _severity(cls, v: str) -> str:
        if v not in SEVERITIES and "{{" not in v:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)} or a {{{{ expression }}}}")
        return v


class Step(_Strict):
    id: str = Field(pattern=SLUG)
    action: str | None = None
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    when: str | bool | None = None
    parallel: list["Step"] | None = None
    for_each: str | None = None
    retry: Retry | None = None
    timeout: str | None = None
    on_error: Literal["fail", "continue"] = "fail"
    approval: Approval | None = None

    _check_timeout = field_validator("timeout")(lambda v: v if v is None else _duration(v))

    @model_validator(mode="after")
    def _one_kind(self) -> "Step":
        kinds = [k for k in ("action", "parallel", "approval") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a step has exactly one of action, parallel, approval")
        if self.parallel is not None and (self.for_each or self.with_):
            raise ValueError("a parallel step takes no with or for_each (put them on its children)")
        if self.approval is not None and (self.for_each or self.with_ or self.retry):
            raise ValueError("an approval step takes no with, for_each or retry")
        return self

    def walk(self) -> list["Step"]:
        return [self] + [s for child in self.parallel or [] for s in child.walk()]


class Trigger(_Strict):
    alert: str | None = Field(default=None, description="Kind of alert that starts this playbook.")
    schedule: str | None = None


class Playbook(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9-]{0,63}$")
    description: str = ""
    trigger: Trigger
    vars: dict[str, Any] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list, description="Escalation rules, evaluated by escalation.evaluate.")
    steps: list[Step] = Field(min_length=1)
    on_failure: list[Step] = Field(
        default_factory=list,
        description="Steps run when a step's error ends the run (it stays failed): run.failure holds the error, "
        "each step that failed or was cancelled with its error, and the effects the run made (action, target, "
        "step, verified). No approval gates among them.",
    )

    @model_validator(mode="after")
    def _unique_ids(self) -> "Playbook":
        ids = [step.id for step in self.all_steps()]
        if len(ids) != len(set(ids)):
            raise ValueError("step ids must be unique")
        rule_ids = [r.id for r in self.rules]
        if len(rule_ids) != len(set(rule_ids)):
            raise ValueError("rule ids must be unique")
        if any(s.approval is not None for top in self.on_failure for s in top.walk()):
            raise ValueError("on_failure steps take no approval (nothing waits once the run has failed)")
        return self

    def all_steps(self) -> list[Step]:
        return [s for top in (*self.steps, *self.on_failure) for s in top.walk()]


# loading --------------------------------------------------------------------


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping key and sequence item, and refuses
    aliases (a few nested aliases expand into billions of nodes once something walks them)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise PlaybookError("YAML aliases (*name) are not allowed in playbooks", line=event.start_mark.line + 1)
        return super().compose_node(parent, index)


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping = LineDict()
    mapping.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise PlaybookError(f"duplicate key {key!r}", line=key_node.start_mark.line + 1)
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.lines[key] = key_node.start_mark.line + 1
    return mapping


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> list[Any]:
    seq = LineList(loader.construct_object(v, deep=True) for v in node.value)
    seq.lines = [v.start_mark.line + 1 for v in node.value]
    seq.line = node.start_mark.line + 1
    return seq


class LineDict(dict):  # type: ignore[type-arg]
    line: int = 0

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.lines: dict[Any, int] = {}


class LineList(list):  # type: ignore[type-arg]
    line: int = 0
    lines: list[int] = []


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def line_of(data: Any, loc: tuple[Any, ...]) -> int | None:
    """The line of the deepest node of ``loc`` found in the loaded YAML."""
    line = getattr(data, "line", None)
    node = data
    for part in loc:
        if isinstance(node, LineDict) and part in node:
            line = node.lines.get(part, line)
            node = node[part]
        elif isinstance(node, LineList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lines[part]
            node = node[part]
        else:
            break
    return line


def load_yaml(text: str, file: str) -> Any:
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except PlaybookError as exc:
        raise PlaybookError(exc.message, file=file, line=exc.line) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise PlaybookError(
            f"not valid YAML: {exc.problem or exc}", file=file, line=mark.line + 1 if mark else None
        ) from None
    except yaml.YAMLError as exc:
        raise PlaybookError(f"not valid YAML: {exc}", file=file) from None


def step_locations(data: Any, path: tuple[Any, ...] = ("steps",)) -> dict[str, tuple[Any, ...]]:
    """Step id → location of that step in the raw YAML (for line numbers); a repeated id is an error."""
    found: dict[str, tuple[Any, ...]] = {}
    node = data
    for part in path:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    for i, raw in enumerate(node if isinstance(node, list) else []):
        if not (isinstance(raw, dict) and "id" in raw):
            continue
        nested = step_locations(data, (*path, i, "parallel")) if isinstance(raw.get("parallel"), list) else {}
        for step_id, loc in [(str(raw["id"]), (*path, i)), *nested.items()]:
            if step_id in found:
                raise PlaybookError(f"step id {step_id!r} is used twice", line=line_of(data, (*loc, "id")))
            found[step_id] = loc
    return found


def parse_playbook(text: str, file: str = "<playbook>") -> tuple[Playbook, Any]:
    """Validate YAML text into a Playbook; returns it with the line-annotated raw data."""
    if len(text) > MAX_PLAYBOOK_BYTES:
        raise PlaybookError(f"larger than {MAX_PLAYBOOK_BYTES} bytes", file=file)
    data = load_yaml(text, file)
    if not isinstance(data, dict):
        raise PlaybookError("a playbook is a mapping with id, trigger and steps", file=file, line=1)
    try:
        step_locations(data)
    except PlaybookError as exc:
        raise PlaybookError(exc.message, file=file, line=exc.line) from None
    try:
        return Playbook.model_validate(data), data
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        path = ".".join(str(p) for p in loc) or "(top)"
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise PlaybookError(f"{path}: {err['msg']}{more}", file=file, line=line_of(data, loc)) from None


def load_playbook(path: Path | str) -> Playbook:
    return parse_playbook_file(Path(path))[0]


def parse_playbook_file(path: Path) -> tuple[Playbook, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlaybookError(f"cannot read: {exc}", file=path) from None
    return parse_playbook(text, str(path))


def shipped_playbooks_dir() -> Path:
    return Path(str(files("certsoar.playbooks")))


def shipped_playbooks() -> list[Path]:
    return sorted(shipped_playbooks_dir().glob("*.yaml"))


def find_playbook(name_or_path: str) -> Path:
    """A path to a playbook file, or the id of a shipped playbook."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise PlaybookNotFound("no such playbook file", file=path)
        return path
    shipped = shipped_playbooks_dir() / f"{name_or_path}.yaml"
    if not shipped.is_file():
        names = ", ".join(p.stem for p in shipped_playbooks())
        raise PlaybookNotFound(f"no playbook {name_or_path!r} (shipped: {names})")
    return shipped
