"""Static checks of a playbook, before anything runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from certsoar.errors import PlaybookError
from certsoar.expressions import (
    ExpressionError,
    check,
    required_approvals,
    step_fields,
    step_references,
    strings_in,
    unknown_names,
)
from certsoar.playbook import Playbook, Step, line_of, parse_playbook_file, step_locations
from certsoar.registry import actions
from certsoar.templating import Templates

CONTEXT_ROOTS = ("alert", "steps", "vars", "run", "config", "item", "playbook")


APPROVAL_OUTPUT = {"approved", "status", "decisions", "required", "roles", "expires", "note"}
ALWAYS = {"skipped", "failed", "error"}


def output_fields(playbook: Playbook, known: dict[str, Any]) -> dict[str, set[str]]:
    """What ``steps.<id>.<field>`` may read for each step whose output has a known shape."""
    fields: dict[str, set[str]] = {}
    for step in playbook.all_steps():
        if step.approval is not None:
            fields[step.id] = APPROVAL_OUTPUT | ALWAYS
        elif step.parallel is not None:
            fields[step.id] = {child.id for child in step.parallel} | ALWAYS
        elif step.action in known and step.for_each is None:
            fields[step.id] = set(known[step.action].output_model.model_fields) | ALWAYS
    return fields


def check_playbook(playbook: Playbook, raw: Any, file: str, templates: Templates | None = None) -> list[PlaybookError]:
    templates = templates or Templates()
    known = actions()
    locations = step_locations(raw) | step_locations(raw, ("on_failure",))
    errors: list[PlaybookError] = []
    outputs = output_fields(playbook, known)

    def err(message: str, loc: tuple[Any, ...]) -> None:
        errors.append(PlaybookError(message, file=file, line=line_of(raw, loc)))

    def check_expressions(values: list[str], earlier: set[str], loc: tuple[Any, ...], what: str) -> None:
        for text in values:
            try:
                check(text)
            except ExpressionError as exc:
                err(f"{what}: {exc}", loc)
                continue
            for name in sorted(unknown_names(text, CONTEXT_ROOTS)):
                err(f"{what}: unknown name {name!r} (known: {', '.join(CONTEXT_ROOTS)})", loc)
            for ref in sorted(step_references(text) - earlier):
                err(f"{what}: refers to step {ref!r}, which does not run before it", loc)
            for ref, output in sorted(step_fields(text), key=str):
                allowed = outputs.get(ref)
                if ref in earlier and output is not None and allowed is not None and output not in allowed:
                    err(f"{what}: step {ref!r} has no output {output!r} (it has: {', '.join(sorted(allowed))})", loc)

    def check_step(step: Step, earlier: set[str]) -> None:
        loc = locations.get(step.id, ("steps",))
        if step.action is not None:
            spec = known.get(step.action)
            if spec is None:
                err(f"step {step.id}: unknown action {step.action!r}", (*loc, "action"))
            else:
                fields = {f.alias or name: f for name, f in spec.input_model.model_fields.items()}
                for key in step.with_:
                    if key not in fields:
                        err(
                            f"step {step.id}: {step.action} takes no input {key!r} (it takes: {', '.join(fields)})",
                            (*loc, "with", key),
                        )
                for key, f in fields.items():
                    if f.is_required() and key not in step.with_:
                        err(f"step {step.id}: {step.action} needs input {key!r}", (*loc, "with"))
            template = step.with_.get("template")
            if isinstance(template, str) and "{{" not in template and (problem := templates.problem(template)):
                err(f"step {step.id}: template {template!r} {problem}", (*loc, "with", "template"))
        if step.approval and step.approval.template and (problem := templates.problem(step.approval.template)):
            err(f"step {step.id}: template {step.approval.template!r} {problem}", (*loc, "approval", "template"))
        exprs = list(strings_in(step.with_))
        if isinstance(step.when, str):
            exprs.append(step.when)
        if step.for_each:
            exprs.append(step.for_each)
        check_expressions(exprs, earlier, loc, f"step {step.id}")

    gates = {s.id for s in playbook.all_steps() if s.approval is not None}

    def check_tree(step: Step, blocks: tuple[Step, ...], earlier: set[str]) -> None:
        """The step and, for a parallel block, every step inside it, at any depth: none of them sees its
        siblings' outputs, and each is guarded by its own condition and those of the blocks around it."""
        check_step(step, earlier)
        ungated = _ungated(step, blocks, known, gates)
        if ungated:
            err(ungated, locations.get(step.id, ("steps",)))
        if step.action == "escalation.evaluate":
            for i, rule in enumerate(playbook.rules):
                check_expressions([rule.when, rule.reason, rule.severity], earlier, ("rules", i), f"rule {rule.id}")
        for child in step.parallel or []:
            check_tree(child, (*blocks, step), earlier)

    earlier: set[str] = set()
    for step in (*playbook.steps, *playbook.on_failure):
        check_tree(step, (), earlier)
        earlier |= {s.id for s in step.walk()}
    if playbook.rules and not any(s.action == "escalation.evaluate" for s in playbook.all_steps()):
        err("rules are declared but no step runs escalation.evaluate", ("rules",))
    return errors


def _ungated(step: Step, blocks: tuple[Step, ...], known: dict[str, Any], gates: set[str]) -> str | None:
    """Why the step may not run as written: its action needs approval and neither its condition nor that of a
    parallel block around it requires an approval gate to have approved."""
    spec = known.get(step.action or "")
    if spec is None or not spec.needs_approval:
        return None
    if any(required_approvals(c) & gates for c in (step.when, *(b.when for b in blocks))):
        return None
    return (
        f"step {step.id}: {step.action} needs an approval: its when: (or its parallel block's) must "
        f'require it, as "{{{{ steps.<approval step>.approved }}}}" or "{{{{ steps.<approval step>.approved '
        f'and … }}}}" (not under not, or, a comparison or a filter)'
    )


def check_gates(playbook: Playbook, raw: Any, file: str) -> list[PlaybookError]:
    """Only the approval check of ``check_playbook`` (``_ungated``): the one a cached pass never skips
    (certsoar.checkcache)."""
    known = actions()
    locations = step_locations(raw) | step_locations(raw, ("on_failure",))
    gates = {s.id for s in playbook.all_steps() if s.approval is not None}
    errors: list[PlaybookError] = []

    def check_tree(step: Step, blocks: tuple[Step, ...]) -> None:
        ungated = _ungated(step, blocks, known, gates)
        if ungated:
            errors.append(PlaybookError(ungated, file=file, line=line_of(raw, locations.get(step.id, ("steps",)))))
        for child in step.parallel or []:
            check_tree(child, (*blocks, step))

    for step in (*playbook.steps, *playbook.on_failure):
        check_tree(step, ())
    return errors


def validate_paths(paths: list[Path], template_dirs: list[Path] | None = None) -> list[PlaybookError]:
    """Every problem in the given playbook files (folders are searched for *.yaml); templates are looked up
    in ``template_dirs`` before the shipped ones."""
    files: list[Path] = []
    for p in paths:
        files.extend(sorted(p.glob("*.y*ml")) if p.is_dir() else [p])
    errors: list[PlaybookError] = []
    templates = Templates(template_dirs)
    for f in files:
        try:
            playbook, raw = parse_playbook_file(f)
        except PlaybookError as exc:
            errors.append(exc)
            continue
        errors.extend(check_playbook(playbook, raw, str(f), templates))
    return errors
