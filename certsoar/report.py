"""A run, told for a person at a terminal.

Every value comes out through ``escaping.visible`` (one line, control characters shown) and the
rendered notifications through ``escaping.for_terminal``: nothing in a run can move the cursor,
clear the screen, retitle the window or forge a line of this report.
"""

from __future__ import annotations

from typing import Any

from certsoar.escaping import for_terminal, visible


def _v(value: object) -> str:
    return visible(str(value))


def describe_run(run: dict[str, Any], *, notifications: bool | None = None) -> str:
    lines = [
        f"run {_v(run['id'])}  playbook {_v(run['playbook'])}  trigger {_v(run['trigger'])}  "
        f"status {_v(run['status'])}" + ("  (dry run)" if run.get("dry_run") else "")
    ]
    if run.get("error"):
        lines.append(f"  error: {_v(run['error'])}")
    for warning in run.get("warnings", []):
        lines.append(f"  warning: {_v(warning)}")
    verdict = run.get("verdict")
    if verdict:
        lines.append(
            f"  verdict: escalate={verdict['escalate']} contain={verdict['contain']} severity={_v(verdict['severity'])}"
        )
        for r in verdict["reasons"]:
            lines.append(f"    - {_v(r['rule'])} ({_v(r['severity'])}): {_v(r['reason'])}")
    for s in run.get("steps", []):
        extra = f"  ({_v(s['error'])})" if s.get("error") else ""
        lines.append(f"  step {_v(s['id']):<16} {_v(s['status'])}{extra}")
    if run.get("effects"):
        lines.append("  effects:")
        for e in run["effects"]:
            what = "planned" if e.get("planned") else ("changed" if e["changed"] else "already done")
            check = ", verified" if e["verified"] else ""
            lines.append(f"    - {_v(e['key'])}: {what}{check}")
    gate = run.get("approval")
    if gate:
        who = ", ".join(f"{_v(d['analyst'])} {_v(d['decision'])}" for d in gate["decisions"]) or "no decision yet"
        lines.append(
            f"  approval ({_v(gate['status'])}): {gate['required']} of roles "
            f"{_v(gate['roles'])}, expires {_v(gate['expires'])}; {who}"
        )
    if run.get("ticket"):
        lines.append(f"  ticket: {_v(run['ticket']['id'])} ({_v(run['ticket']['status'])})")
    show = run.get("dry_run") if notifications is None else notifications
    if show:
        for n in run.get("notifications", []):
            lines.append(f"  --- notification from step {_v(n['step'])} ({_v(n['template'])}) ---")
            lines.extend("  " + line for line in for_terminal(n.get("body") or "").rstrip().splitlines())
    return "\n".join(lines)
