"""A run, told for a person at a terminal."""

from __future__ import annotations

from typing import Any


def describe_run(run: dict[str, Any], *, notifications: bool | None = None) -> str:
    lines = [f"run {run['id']}  playbook {run['playbook']}  trigger {run['trigger']}  status {run['status']}"
             + ("  (dry run)" if run.get("dry_run") else "")]
    if run.get("error"):
        lines.append(f"  error: {run['error']}")
    for warning in run.get("warnings", []):
        lines.append(f"  warning: {warning}")
    verdict = run.get("verdict")
    if verdict:
        lines.append(f"  verdict: escalate={verdict['escalate']} contain={verdict['contain']} severity={verdict['severity']}")
        for r in verdict["reasons"]:
            lines.append(f"    - {r['rule']} ({r['severity']}): {r['reason']}")
    for s in run.get("steps", []):
        extra = f"  ({s['error']})" if s.get("error") else ""
        lines.append(f"  step {s['id']:<16} {s['status']}{extra}")
    if run.get("effects"):
        lines.append("  effects:")
        for e in run["effects"]:
            what = "planned" if e.get("planned") else ("changed" if e["changed"] else "already done")
            check = ", verified" if e["verified"] else ""
            lines.append(f"    - {e['key']}: {what}{check}")
    gate = run.get("approval")
    if gate:
        who = ", ".join(f"{d['analyst']} {d['decision']}" for d in gate["decisions"]) or "no decision yet"
        lines.append(f"  approval ({gate['status']}): {gate['required']} of roles {gate['roles']}, "
                     f"expires {gate['expires']}; {who}")
    if run.get("ticket"):
        lines.append(f"  ticket: {run['ticket']['id']} ({run['ticket']['status']})")
    show = run.get("dry_run") if notifications is None else notifications
    if show:
        for n in run.get("notifications", []):
            lines.append(f"  --- notification from step {n['step']} ({n['template']}) ---")
            lines.extend("  " + line for line in (n.get("body") or "").rstrip().splitlines())
    return "\n".join(lines)
