"""Loading and static validation: every broken playbook names its file and line."""

from __future__ import annotations

from pathlib import Path

import engine_fakes  # noqa: F401  (registers the test.* actions)
import pytest

from certsoar.errors import PlaybookError
from certsoar.playbook import parse_playbook
from certsoar.validate import check_playbook, validate_paths

HEAD = "id: t\ntrigger: {alert: certificate}\nsteps:\n"


def problems(text: str) -> list[str]:
    playbook, raw = parse_playbook(text, "pb.yaml")
    return [str(e) for e in check_playbook(playbook, raw, "pb.yaml")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id: t\ntrigger: {alert: x}\nsteps:\n  - id: a\n    action: [unclosed\n", "pb.yaml:6: not valid YAML"),
        ("id: t\nid: u\n", "pb.yaml:2: duplicate key 'id'"),
        (
            HEAD + "  - id: a\n    action: test.echo\n    colour: red\n",
            "pb.yaml:6: steps.0.colour: Extra inputs are not permitted",
        ),
        (
            HEAD + "  - id: a\n    action: test.echo\n  - id: B-bad\n    action: test.echo\n",
            "pb.yaml:6: steps.1.id: String should match pattern",
        ),
        (
            HEAD + "  - id: a\n    action: test.echo\n    approval: {roles: [x]}\n",
            "pb.yaml:4: steps.0: Value error, a step has exactly one of",
        ),
        (
            HEAD + "  - id: a\n    action: test.echo\n  - id: a\n    action: test.echo\n",
            "pb.yaml:6: step id 'a' is used twice",
        ),
        (
            HEAD + "  - id: a\n    timeout: soon\n    action: test.echo\n",
            "pb.yaml:5: steps.0.timeout: Value error, 'soon' is not a duration",
        ),
        ("- just\n- a list\n", "pb.yaml:1: a playbook is a mapping"),
        (
            HEAD + "  - id: g\n    approval: {roles: [], required: 1}\n",
            "pb.yaml:5: steps.0.approval.roles: List should have at least 1 item",
        ),
    ],
)
def test_schema_errors_name_file_and_line(text: str, expected: str) -> None:
    with pytest.raises(PlaybookError) as info:
        parse_playbook(text, "pb.yaml")
    assert str(info.value).startswith(expected), str(info.value)


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ("  - id: a\n    action: no.such\n", "pb.yaml:5: step a: unknown action 'no.such'"),
        (
            "  - id: a\n    action: test.echo\n    with:\n      valu: 1\n",
            "pb.yaml:7: step a: test.echo takes no input 'valu'",
        ),
        ("  - id: a\n    action: ca.revoke\n    with: {}\n", "pb.yaml:6: step a: ca.revoke needs input 'serial'"),
        (
            "  - id: a\n    action: test.echo\n    with: {value: '{{ steps.b.value }}'}\n  - id: b\n    action: test.echo\n",
            "pb.yaml:4: step a: refers to step 'b', which does not run before it",
        ),
        (
            "  - id: a\n    action: test.echo\n    when: '{{ steps.a.value }}'\n",
            "pb.yaml:4: step a: refers to step 'a'",
        ),
        (
            "  - id: a\n    action: test.echo\n    with: {value: '{{ 1 + }}'}\n",
            "pb.yaml:4: step a: expression '{{ 1 + }}' does not compile",
        ),
        (
            "  - id: a\n    action: notify.send\n    with: {template: nope/none.md.j2}\n",
            "pb.yaml:6: step a: template 'nope/none.md.j2' does not exist",
        ),
        (
            "  - id: a\n    action: test.echo\n    with: {value: '{{ alrt.id }}'}\n",
            "pb.yaml:4: step a: unknown name 'alrt'",
        ),
        (
            "  - {id: a, action: test.echo}\n  - {id: b, action: test.echo, with: {value: '{{ steps.a.valu }}'}}\n",
            "pb.yaml:5: step b: step 'a' has no output 'valu' (it has: error, failed, skipped, value)",
        ),
        (
            "  - {id: g, approval: {roles: [x]}}\n  - {id: b, action: test.echo, when: '{{ steps.g.aproved }}'}\n",
            "pb.yaml:5: step b: step 'g' has no output 'aproved'",
        ),
        (
            "  - {id: r, action: ca.revoke, with: {serial: '01'}}\n",
            "pb.yaml:4: step r: ca.revoke needs an approval: its when: (or its parallel block's) must require it",
        ),
        (
            "  - {id: g, approval: {roles: [x]}}\n  - {id: r, action: ca.revoke, when: '{{ steps.g.status }}', with: {serial: '01'}}\n",
            "pb.yaml:5: step r: ca.revoke needs an approval",
        ),
        (
            "  - id: p\n    parallel:\n      - {id: x, action: test.echo}\n      - {id: y, action: test.echo, with: {value: '{{ steps.x.value }}'}}\n",
            "pb.yaml:7: step y: refers to step 'x', which does not run before it",
        ),
    ],
)
def test_static_checks_name_file_and_line(steps: str, expected: str) -> None:
    found = problems(HEAD + steps)
    assert any(p.startswith(expected) for p in found), found


def test_rule_expressions_are_checked_against_earlier_steps() -> None:
    text = (
        "id: t\ntrigger: {alert: certificate}\nrules:\n"
        "  - {id: r, when: '{{ steps.late.value }}', severity: high, reason: x}\n"
        "steps:\n  - {id: v, action: escalation.evaluate, with: {rules: '{{ playbook.rules }}'}}\n"
        "  - {id: late, action: test.echo}\n"
    )
    assert any("pb.yaml:4: rule r: refers to step 'late'" in p for p in problems(text))


def test_an_approved_revocation_is_accepted() -> None:
    text = HEAD + (
        "  - {id: g, approval: {roles: [x]}}\n"
        "  - id: c\n    when: '{{ steps.g.approved }}'\n    parallel:\n"
        "      - {id: r, action: ca.revoke, with: {serial: '01', expect: {sha1: '{{ alert.sha1 }}'}}}\n"
    )
    assert problems(text) == []


GATED = HEAD + (
    "  - {id: g, approval: {roles: [x]}}\n"
    "  - {id: v, action: test.echo}\n"
    "  - id: c\n    when: %s\n    parallel:\n"
    "      - {id: r, action: ca.revoke, when: %s, with: {serial: '01', expect: {sha1: '00'}}}\n"
)


@pytest.mark.parametrize(
    "condition",
    [
        "'{{ not steps.g.approved }}'",
        "'{{ steps.g.approved or true }}'",
        "'{{ true or steps.g.approved }}'",
        "'{{ steps.g.approved == false }}'",
        "'{{ steps.g.approved != true }}'",
        "'{{ steps.g.approved is false }}'",
        "'{{ steps.g.approved | default(true) }}'",
        "'{{ (steps.g.approved | string) }}'",
        "'{{ steps.g.approved if steps.v.value else true }}'",
        "'{{ not (steps.g.approved and steps.v.value) }}'",
        "'{{ steps.v.value and (steps.g.approved or steps.v.value) }}'",
        "'{{ steps.g.status }}'",
        "'{{ steps.g.approved }} and more'",
        "'approved: {{ steps.g.approved }}'",
        "true",
    ],
)
def test_an_approval_guard_that_does_not_require_the_approval_is_refused(condition: str) -> None:
    for text in (GATED % (condition, "true"), GATED % ("true", condition)):
        assert any("step r: ca.revoke needs an approval" in p for p in problems(text)), (condition, problems(text))


@pytest.mark.parametrize(
    ("block", "step"),
    [
        ("'{{ steps.g.approved }}'", "true"),
        ("true", "'{{ steps.g.approved }}'"),
        ("'{{ steps.v.value and steps.g.approved }}'", "true"),
        ("'{{ steps.g.approved and not steps.v.value }}'", "true"),
        ("true", "'{{ (steps.v.value or true) and (steps.g.approved and steps.v.value) }}'"),
        ("true", "\"{{ steps['g']['approved'] }}\""),
    ],
)
def test_an_approval_guard_that_requires_the_approval_is_accepted(block: str, step: str) -> None:
    assert problems(GATED % (block, step)) == []


def test_a_valid_playbook_has_no_problems() -> None:
    text = HEAD + (
        "  - {id: a, action: test.echo, with: {value: 1}}\n"
        "  - {id: b, action: test.echo, when: '{{ steps.a.value == 1 }}', with: {value: '{{ alert.id }}'}}\n"
    )
    assert problems(text) == []


def test_shipped_playbooks_validate() -> None:
    from certsoar.playbook import shipped_playbooks_dir

    assert validate_paths([shipped_playbooks_dir()]) == []


def test_validate_paths_reports_each_broken_file(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(HEAD + "  - id: a\n    action: no.such\n")
    (tmp_path / "two.yaml").write_text("id: [\n")
    found = sorted(str(e) for e in validate_paths([tmp_path]))
    assert found[0].startswith(f"{tmp_path}/one.yaml:5: step a: unknown action")
    assert found[1].startswith(f"{tmp_path}/two.yaml:2: not valid YAML")


REVOKE = "{id: r, action: ca.revoke, with: {serial: '01', expect: {sha1: '00'}}}"


@pytest.mark.parametrize(
    ("outer", "inner", "refused"),
    [
        ("true", "true", True),
        ("'{{ not steps.g.approved }}'", "true", True),
        ("'{{ steps.g.approved }}'", "true", False),
        ("true", "'{{ steps.g.approved }}'", False),
    ],
)
def test_an_action_in_a_nested_parallel_block_is_guarded_like_any_other(outer: str, inner: str, refused: bool) -> None:
    """A parallel block inside a parallel block: its steps are checked too, guarded by any block around them."""
    text = HEAD + (
        "  - {id: g, approval: {roles: [x]}}\n"
        f"  - id: p\n    when: {outer}\n    parallel:\n"
        f"      - id: q\n        when: {inner}\n        parallel:\n"
        f"          - {REVOKE}\n"
    )
    found = problems(text)
    assert any("pb.yaml:11: step r: ca.revoke needs an approval" in p for p in found) is refused, found


def test_steps_nested_in_parallel_blocks_are_checked_against_earlier_steps() -> None:
    text = HEAD + (
        "  - id: p\n    parallel:\n"
        "      - id: q\n        parallel:\n"
        "          - {id: a, action: test.echo, with: {value: '{{ steps.later.value }}'}}\n"
        "          - {id: b, action: no.such}\n"
        "  - {id: later, action: test.echo}\n"
    )
    found = problems(text)
    assert any("step a: refers to step 'later', which does not run before it" in p for p in found), found
    assert any("step b: unknown action 'no.such'" in p for p in found), found


def test_on_failure_steps_are_checked_like_the_others_and_take_no_approval() -> None:
    head = "id: pb\ntrigger: {alert: certificate}\nsteps:\n  - {id: g, approval: {roles: [x]}}\n"
    ungated = head + "on_failure:\n  - {id: r, action: ca.revoke, with: {serial: '01'}}\n"
    assert any(p.startswith("pb.yaml:6: step r: ca.revoke needs an approval") for p in problems(ungated))
    unknown = head + "on_failure:\n  - {id: f, action: test.echo, with: {value: '{{ steps.g.aproved }}'}}\n"
    assert any("pb.yaml:6: step f: step 'g' has no output 'aproved'" in p for p in problems(unknown))
    seeing = head + "on_failure:\n  - {id: f, action: test.echo, with: {value: '{{ run.failure.error }}'}}\n"
    assert problems(seeing) == []
    with pytest.raises(PlaybookError, match="on_failure steps take no approval"):
        parse_playbook(head + "on_failure:\n  - {id: h, approval: {roles: [x]}}\n", "pb.yaml")
