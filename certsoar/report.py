"""A run, told for a person at a terminal: what `run`, `approve`, `deny` and `runs show` print.

Short by default: the status, the verdict with its reasons, what was done and read back, the ticket and
the command to type next. ``verbose`` adds every step (in the playbook's order) and every notification.
Every value comes out through ``escaping.visible`` (one line, control characters shown) and the rendered
notifications through ``escaping.for_terminal``: nothing in a run can move the cursor, clear the screen,
retitle the window or forge a line of this report. Look-alike characters in the certificate's names are
listed with their code points (certsoar.certs.lookalikes).
"""

from __future__ import annotations

from typing import Any

from certsoar.certs.lookalikes import lookalikes
from certsoar.escaping import for_terminal, visible
from certsoar.ledger import CONTAINMENT_ACTIONS, RELEASE_ACTIONS

STATUS_TEXT = {
    "queued": "queued (not started yet)",
    "running": "running",
    "waiting_approval": "waiting for approval",
    "completed": "completed",
    "failed": "FAILED",
    "denied": "denied: nothing was contained",
    "expired": "expired: the approval ran out, nothing was contained",
}
CONTAINMENT = CONTAINMENT_ACTIONS


def _v(value: object) -> str:
    return visible(str(value))


def _when(stamp: object) -> str:
    """``2026-12-02T10:07:39.609287+00:00`` as ``2026-12-02 10:07 UTC``."""
    text = str(stamp)
    if len(text) >= 16 and text[10] == "T" and text.endswith(("+00:00", "Z")):
        return f"{text[:10]} {text[11:16]} UTC"
    return _v(text)


VERBS = {"ca.revoke": ("revoke", "revoked"), "firewall.block": ("block", "blocked")}
VERBS["proxy.block_certificate"] = VERBS["proxy.block_name"] = VERBS["firewall.block"]


def _effect_line(effect: dict[str, Any], instance: str) -> str:
    target = _v(effect["target"])
    action = effect["action"]
    what = {
        "ca.revoke": f"serial {target} at CA {instance}",
        "firewall.block": f"{target} at firewall {instance}",
        "proxy.block_certificate": f"certificate SHA-1 {target} at proxy {instance}",
        "proxy.block_name": f"name {target} at proxy {instance}",
    }.get(action, target)
    plan, done = VERBS.get(action, (_v(action), _v(action)))
    if effect.get("planned"):
        return f"would {plan} {what}"
    already = "" if effect["changed"] else ", already before this run"
    return f"{done} {what} ({'verified' if effect['verified'] else 'NOT verified'}{already})"


def _certificate(facts: dict[str, Any] | None) -> list[str]:
    if not facts:
        return []
    name = facts.get("subject_cn") or facts.get("subject") or facts.get("sha256") or facts.get("sha1")
    issuer = facts.get("issuer")
    line = f"certificate: {_v(name) if name else '(no subject or fingerprint known)'}"
    line += f", issued by {_v(issuer)}" if issuer else ", issuer not known"
    if facts.get("self_signed"):
        line += " (self-signed)"
    names = " ".join(facts.get("names") or [])
    return [line, *lookalike_lines(facts.get("subject"), issuer, names, facts.get("subject_cn"))]


def lookalike_lines(*texts: object) -> list[str]:
    """One line for each look-alike character in ``texts``, so that no name an analyst reads hides one."""
    return [f"  look-alike character {_v(c)}" for c in lookalikes(*texts)]


def _verdict(verdict: dict[str, Any] | None) -> list[str]:
    if not verdict:
        return []
    if not verdict.get("escalate") and not verdict.get("reasons"):
        return ["verdict: no escalation rule fired"]
    what = ["escalate" if verdict.get("escalate") else "no escalation"]
    what.append("containment recommended" if verdict.get("contain") else "no containment recommended")
    lines = [f"verdict: {', '.join(what)}, severity {_v(verdict['severity'])}"]
    lines.extend(f"  - {_v(r['rule'])} ({_v(r['severity'])}): {_v(r['reason'])}" for r in verdict.get("reasons", []))
    return lines


def _containment(run: dict[str, Any]) -> list[str]:
    """What containment did (or plans), each effect as its target, refusals and skips said plainly."""
    effects = sorted(
        (e for e in run.get("effects", []) if e.get("action") in CONTAINMENT),
        key=lambda e: (CONTAINMENT.index(e["action"]), str(e["target"])),
    )
    steps = {s["id"]: s for s in run.get("steps", [])}
    lines = [f"  - {_effect_line(e, _v(str(e['key']).split(':')[1]))}" for e in effects]
    for s in run.get("steps", []):
        out = s.get("output") if isinstance(s.get("output"), dict) else {}
        for refused in out.get("refused") or []:
            lines.append(f"  - NOT blocked: {_v(refused.get('address'))} ({_v(refused.get('reason'))})")
    revoke = next((s for s in steps.values() if s.get("action") == "ca.revoke"), None)
    gate = run.get("approval") or {}
    if revoke and revoke.get("status") == "skipped" and gate.get("status") in ("approved", "planned", None):
        facts = run.get("facts") or {}
        why = "not issued by a CA we manage" if not facts.get("issued_by_managed_ca") else "its condition was false"
        lines.append(f"  - no revocation: {why}")
    if not lines:
        return []
    head = "planned containment (dry run, nothing changed):" if run.get("dry_run") else "containment:"
    return [head, *lines]


RELEASE = RELEASE_ACTIONS
RELEASE_TEXT = {
    "ca.release_hold": ("release the hold on", "released the hold on", "serial {} at CA {}"),
    "firewall.unblock": ("unblock", "unblocked", "{} at firewall {}"),
    "proxy.unblock_certificate": ("unblock", "unblocked", "certificate SHA-1 {} at proxy {}"),
    "proxy.unblock_name": ("unblock", "unblocked", "name {} at proxy {}"),
}


def _release(run: dict[str, Any]) -> list[str]:
    """What a release run takes back (planned while it waits for approval, done afterwards), what stays
    because another run needs it, and what no release can undo (a revocation)."""
    plan = next((s.get("output") for s in run.get("steps", []) if s.get("action") == "release.plan"), None)
    if not isinstance(plan, dict):
        return []
    lines = []
    done = sorted(
        (e for e in run.get("effects", []) if e.get("action") in RELEASE),
        key=lambda e: (RELEASE.index(e["action"]), str(e["target"])),
    )
    for e in done:
        plan_verb, done_verb, what = RELEASE_TEXT[e["action"]]
        where = what.format(_v(e["target"]), _v(str(e["key"]).split(":")[1]))
        if e.get("planned"):
            lines.append(f"  - would {plan_verb} {where}")
        else:
            already = "" if e["changed"] else ", already before this run"
            lines.append(f"  - {done_verb} {where} ({'verified' if e['verified'] else 'NOT verified'}{already})")
    if not done and run["status"] in ("waiting_approval", "running", "queued"):
        lines += [f"  - would release the hold on serial {_v(serial)} at the CA" for serial in plan.get("holds") or []]
        lines += [f"  - would unblock {_v(address)} at the firewall" for address in plan.get("addresses") or []]
        if plan.get("sha1"):
            lines.append(f"  - would unblock certificate SHA-1 {_v(plan['sha1'])} at the proxy")
        lines += [f"  - would unblock name {_v(name)} at the proxy" for name in plan.get("names") or []]
    lines += [f"  - stays: {_v(k['target'])} ({_v(k['reason'])})" for k in plan.get("kept") or []]
    lines += [f"  - not undone: {_v(i['why'])}" for i in plan.get("irreversible") or []]
    if not lines:
        return []
    return [f"release of run {_v(plan.get('run'))}:", *lines]


def _notified(run: dict[str, Any]) -> list[str]:
    sent: dict[str, list[str]] = {}
    for e in run.get("effects", []):
        if e.get("action") == "notify.send" and not e.get("planned"):
            instance = _v(str(e["key"]).split(":")[1])
            sent.setdefault(instance, []).append(_v(str(e["key"]).rsplit(":", 1)[-1]))
    if not sent:
        return []
    return ["notified: " + "; ".join(f"{who} ({', '.join(what)})" for who, what in sent.items())]


def _approval(gate: dict[str, Any] | None) -> list[str]:
    if not gate:
        return []
    said = ", ".join(
        f"{_v(d['decision'])} by {_v(d['analyst'])}" + (f' ("{_v(d["comment"])}")' if d.get("comment") else "")
        for d in gate.get("decisions") or []
    )
    if gate["status"] == "pending":
        roles = ", ".join(_v(r) for r in gate["roles"])
        need = f"{gate['required']} approval(s) from {roles} needed by {_when(gate['expires'])}"
        return [f"approval: waiting, {need}" + (f"; so far {said}" if said else "")]
    return [f"approval: {said or _v(gate['status'])}"]


def _ticket(ticket: dict[str, Any] | None) -> list[str]:
    if not ticket:
        return []
    comments = len(ticket.get("comments") or [])
    return [f"ticket: {_v(ticket['id'])} ({_v(ticket['status'])}){f', {comments} comment(s)' if comments else ''}"]


def _next(run: dict[str, Any]) -> str:
    run_id, status = _v(run["id"]), run["status"]
    if run.get("dry_run"):
        return "next: nothing was stored; run it again without --dry-run to act on it"
    if status == "waiting_approval":
        return f"next: certsoar approve {run_id} --as ANALYST  (or: certsoar deny {run_id} --as ANALYST --comment WHY)"
    if status in ("failed", "running", "queued"):
        return f"next: certsoar runs resume {run_id}  (carries on from the step that did not finish)"
    return f"next: certsoar runs show {run_id} --verbose  (every step and notification)"


def _steps(run: dict[str, Any]) -> list[str]:
    lines = ["steps:"]
    for s in run.get("steps", []):
        extra = f"  ({_v(s['error'])})" if s.get("error") else ""
        lines.append(f"  {_v(s['id']):<16} {_v(s['status'])}{extra}")
    return lines


def describe_run(run: dict[str, Any], *, verbose: bool = False, notifications: bool | None = None) -> str:
    """The run for a terminal; ``notifications`` (default: a dry run's) appends the rendered messages."""
    status = STATUS_TEXT.get(run["status"], _v(run["status"]))
    lines = [
        f"run {_v(run['id'])} ({_v(run['playbook'])}): {status}"
        + ("  [dry run: nothing was stored or changed]" if run.get("dry_run") else "")
    ]
    if run.get("error"):
        lines.append(f"error: {_v(run['error'])}")
    lines.extend(f"warning: {_v(w)}" for w in run.get("warnings", []))
    lines.extend(_certificate(run.get("facts")))
    lines.extend(_verdict(run.get("verdict")))
    lines.extend(_containment(run))
    lines.extend(_release(run))
    lines.extend(_approval(run.get("approval")))
    lines.extend(_ticket(run.get("ticket")))
    lines.extend(_notified(run))
    failed = [s for s in run.get("steps", []) if s.get("error")]
    if failed and not verbose:
        lines.extend(f"step {_v(s['id'])} {_v(s['status'])}: {_v(s['error'])}" for s in failed)
    if verbose:
        lines.extend(_steps(run))
    show = run.get("dry_run") or verbose if notifications is None else notifications
    if show:
        for n in run.get("notifications", []):
            lines.append(f"--- notification from step {_v(n['step'])} ({_v(n['template'])}) ---")
            lines.extend("  " + line for line in for_terminal(n.get("body") or "").rstrip().splitlines())
    lines.append(_next(run))
    return "\n".join(lines)
