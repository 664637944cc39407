"""The ``certsoar`` command. Errors become exit codes here and nowhere else.

Exit codes: 0 ok (a run that completed, waits for approval, was denied or expired);
1 a run failed, a playbook does not validate, or a decision was refused;
2 usage, configuration or input error (bad config, bad alert, unknown run or playbook).
The code is the one the error's class carries (certsoar.errors).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from certsoar.errors import EXIT_FAILED, AlertError, CertsoarError
from certsoar.export import EXPORTERS

EXIT_OK = 0


def run_async(work: Any) -> Any:
    """``asyncio.run``, imported only by the commands that run something (``--help`` stays light)."""
    import asyncio

    return asyncio.run(work)


def fail(message: str, code: int) -> NoReturn:
    from certsoar.escaping import for_terminal

    click.echo(f"certsoar: {for_terminal(message)}", err=True)
    sys.exit(code)


def exit_code_for(exc: CertsoarError) -> int:
    """The exit code the error's type carries (see certsoar.errors)."""
    return exc.exit_code


def guarded(fn: Any) -> Any:
    """Turn certsoar's errors into a message and an exit code."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CertsoarError as exc:
            fail(str(exc), exit_code_for(exc))

    return wrapper


def _config(path: str | None) -> Any:
    from certsoar.config import load_config

    return load_config(path)


def _print_run(run: dict[str, Any], as_json: bool, verbose: bool = False) -> None:
    if as_json:
        click.echo(json.dumps(run, indent=2, sort_keys=False, default=str))
        return
    from certsoar.report import describe_run

    click.echo(describe_run(run, verbose=verbose))


def _exit_for_run(run: dict[str, Any]) -> None:
    from certsoar.store import RunStatus

    if run["status"] == RunStatus.FAILED:
        sys.exit(EXIT_FAILED)


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file (default: $CERTSOAR_CONFIG; `certsoar init` writes one).",
)
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print what the command prints as JSON (a list where it prints several)."
)
verbose_option = click.option(
    "--verbose", "-v", is_flag=True, help="Also print every step (in the playbook's order) and every notification."
)


@click.group()
@click.version_option(package_name="certsoar")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines on standard error (shown only on a terminal).")
@click.option(
    "--log-format",
    type=click.Choice(["json"]),
    envvar="CERTSOAR_LOG",
    default=None,
    help="json: one JSON line per event (run, step, connector call) on standard error, for a SIEM "
    "(also $CERTSOAR_LOG=json).",
)
def main(quiet: bool, log_format: str | None) -> None:
    """Triage, escalate and contain adversary-built certificates (MITRE ATT&CK T1587.003)."""
    if quiet:
        from certsoar.progress import set_quiet

        set_quiet(True)
    if log_format == "json":
        from certsoar.eventlog import enable_json_log

        enable_json_log(sys.stderr)


@main.command()
@click.argument("playbook")
@click.option("--alert", "alert_file", required=True, help="Alert file, or - for standard input.")
@click.option(
    "--format",
    "alert_format",
    default=None,
    metavar="FORMAT",
    help="Input format (default: detected): generic, pem, der, zeek-x509, zeek-ssl, suricata-tls, adcs, "
    "splunk-notable, ecs.",
)
@config_option
@click.option("--dry-run", is_flag=True, help="Read everything, change nothing; show the plan and the notifications.")
@click.option("--as", "requester", default=None, help="Analyst starting the run (for requester != approver gates).")
@json_option
@verbose_option
@guarded
def run(
    playbook: str,
    alert_file: str,
    alert_format: str | None,
    config_path: str | None,
    dry_run: bool,
    requester: str | None,
    as_json: bool,
    verbose: bool,
) -> None:
    """Run PLAYBOOK (a shipped playbook's id or a YAML file) for an alert in any supported format.

    Prints the run: its status, the verdict with the reasons of every rule that fired, what containment
    did and read back, the approval, the ticket and the command to type next (--verbose: every step;
    --json: the whole run object)."""
    from certsoar.api import run_playbook
    from certsoar.intake import load_alert

    alert = load_alert(_read_alert(alert_file), format=alert_format)
    config = _config(config_path)
    result = run_async(run_playbook(config, playbook, alert, dry_run=dry_run, requester=requester))
    _print_run(result, as_json, verbose)
    _exit_for_run(result)


def _read_alert(source: str) -> bytes:
    """The alert from a file or ``-`` (standard input), never more than the intake limit held in memory."""
    from certsoar.alert import MAX_ALERT_BYTES

    try:
        if source == "-":
            data = sys.stdin.buffer.read(MAX_ALERT_BYTES + 1)
        else:
            with open(source, "rb") as stream:
                data = stream.read(MAX_ALERT_BYTES + 1)
    except OSError as exc:
        raise AlertError(f"cannot read alert {source}: {exc.strerror or exc}") from exc
    if len(data) > MAX_ALERT_BYTES:
        raise AlertError(f"alert {source} is larger than the limit of {MAX_ALERT_BYTES} bytes")
    return data


def _decide(
    decision: str,
    run_id: str,
    analyst: str,
    comment: str | None,
    config_path: str | None,
    as_json: bool,
    verbose: bool,
) -> None:
    import getpass

    from certsoar.api import decide

    result = run_async(
        decide(
            _config(config_path),
            run_id,
            analyst=analyst,
            decision=decision,
            comment=comment,
            via="cli",
            credential=getpass.getuser(),
        )
    )
    _print_run(result, as_json, verbose)
    _exit_for_run(result)


def _decision_command(name: str, decision: str, doc: str) -> None:
    @main.command(name, help=doc)
    @click.argument("run_id")
    @click.option("--as", "analyst", required=True, help="Analyst name (config analysts.<name>).")
    @click.option("--comment", default=None, help="Why; kept in the run record and the audit log.")
    @config_option
    @json_option
    @verbose_option
    @guarded
    def command(
        run_id: str, analyst: str, comment: str | None, config_path: str | None, as_json: bool, verbose: bool
    ) -> None:
        _decide(decision, run_id, analyst, comment, config_path, as_json, verbose)


_decision_command(
    "approve",
    "approved",
    "Approve the waiting gate of RUN_ID; the run resumes here once the gate has its approvals. Prints the run "
    "as `run` does: what containment did and read back, the ticket, what to do next.",
)
_decision_command(
    "deny",
    "denied",
    "Deny the waiting gate of RUN_ID; the run ends denied without containment and its ticket is closed with "
    "the comment as the reason. Prints the run as `run` does.",
)


@main.command()
@click.argument("run_id")
@click.option("--as", "analyst", required=True, help="Analyst asking for the release (may not approve it).")
@click.option(
    "--comment", required=True, help="Why (a false positive, ...); kept in the run, the ticket and the audit."
)
@config_option
@json_option
@verbose_option
@guarded
def release(run_id: str, analyst: str, comment: str, config_path: str | None, as_json: bool, verbose: bool) -> None:
    """Take back what run RUN_ID contained: starts the certificate-release playbook, which waits for an approval
    (another analyst), then unblocks at the firewall and the proxy what that run blocked, verified, and closes
    its ticket as released. Asking again shows the same release run. Prints the release run as `run` does,
    with what could not be undone (a revocation)."""
    from certsoar.api import release as release_run

    result = run_async(release_run(_config(config_path), run_id, analyst=analyst, comment=comment))
    _print_run(result, as_json, verbose)
    _exit_for_run(result)


@main.group()
def runs() -> None:
    """List, show, resume, expire and audit runs (each prints what it says; --json for programs)."""


RUN_STATUSES = ("queued", "running", "waiting_approval", "completed", "failed", "denied", "expired")


def _since(value: str | None) -> Any:
    """``--since``: a duration back from now (``24h``, ``7d``) or an ISO 8601 time (naive = UTC)."""
    if value is None:
        return None
    from datetime import datetime, timezone

    from certsoar.timeparse import as_utc, parse_duration

    try:
        return datetime.now(timezone.utc) - parse_duration(value)
    except ValueError:
        pass
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither a duration (24h, 7d) nor an ISO 8601 time", param_hint="'--since'"
        ) from None


@runs.command("list")
@click.option("--status", type=click.Choice(RUN_STATUSES), default=None, help="Only runs in this status.")
@click.option("--since", default=None, metavar="WHEN", help="Only runs created since: a duration back (24h) or a time.")
@click.option("--limit", type=click.IntRange(1, 10000), default=100, show_default=True, help="At most this many.")
@config_option
@json_option
@guarded
def runs_list(config_path: str | None, status: str | None, since: str | None, limit: int, as_json: bool) -> None:
    """Print the latest runs, newest first, one a line: id, status, playbook, alert id, created
    (--json: a list of objects)."""
    from certsoar.api import list_runs

    rows = list_runs(_config(config_path), limit, status=status, since=_since(since))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from certsoar.escaping import visible

    for r in rows:
        click.echo(
            visible(f"{r['id']}  {r['status']:<16} {r['playbook']:<20} {r['alert_id'] or '-':<24} {r['created']}")
        )


@runs.command("show")
@click.argument("run_id")
@config_option
@json_option
@verbose_option
@guarded
def runs_show(run_id: str, config_path: str | None, as_json: bool, verbose: bool) -> None:
    """Print one run as `run` does: status, verdict and reasons, containment, approval, ticket (with its
    comments in --json), next command; --verbose adds every step and notification."""
    from certsoar.api import show_run

    _print_run(show_run(_config(config_path), run_id), as_json, verbose)


@runs.command("resume")
@click.argument("run_id")
@config_option
@json_option
@guarded
def runs_resume(run_id: str, config_path: str | None, as_json: bool) -> None:
    """Carry on a run cut short by a crash, retry a failed run from its failed step, or end one whose
    approval expired; prints the run as `run` does."""
    from certsoar.api import resume

    result = run_async(resume(_config(config_path), run_id))
    _print_run(result, as_json)
    _exit_for_run(result)


@runs.command("audit")
@click.argument("run_id", required=False)
@config_option
@json_option
@guarded
def runs_audit(run_id: str | None, config_path: str | None, as_json: bool) -> None:
    """Verify the audit log (MACs, linkage, numbering, the anchored head) and print the records of RUN_ID
    (or all), one a line, then what the check proves; exit 1 when it does not verify (--json: one object
    with the records, each record's data as an object)."""
    from certsoar.api import audit_trail

    trail = audit_trail(_config(config_path), run_id)
    chain = trail.chain
    if as_json:
        click.echo(
            json.dumps(
                {
                    "verified_records": chain.records,
                    "anchored_seq": chain.anchored_seq,
                    "anchor": str(trail.anchor) if trail.anchor else None,
                    "key": trail.key_source,
                    "records": [{**r, "data": _as_object(r["data"])} for r in trail.records],
                },
                indent=2,
            )
        )
        return
    for r in trail.records:
        click.echo(f"{r['seq']:>6} {r['time']} {r['run_id'] or '-':<16} {r['event']:<20} {r['data']}")
    click.echo(
        f"audit chain intact: {chain.records} record(s), each MAC verified with the audit key ({trail.key_source}), "
        f"head anchored at record {chain.anchored_seq} in {trail.anchor}."
    )
    click.echo(
        "This proves that nobody without that key changed, inserted, removed, reordered or cut off a record; "
        "whoever holds the key and can write the run store could have rewritten it."
    )
    if chain.anchored_seq < chain.records:
        click.echo(
            f"Records {chain.anchored_seq + 1}-{chain.records} are not anchored yet (a writer stopped between "
            "commit and anchoring): cutting them off would not show until the next write anchors them."
        )


def _as_object(data: Any) -> Any:
    """An audit record's data, stored as JSON text, as the object it holds."""
    if isinstance(data, str):
        try:
            return json.loads(data)
        except ValueError:
            return data
    return data


@runs.command("expire")
@config_option
@json_option
@guarded
def runs_expire(config_path: str | None, as_json: bool) -> None:
    """End every run whose approval has expired (run it from a scheduler); prints each run ended, then how
    many."""
    from certsoar.api import expire_due_runs

    ended = run_async(expire_due_runs(_config(config_path)))
    if as_json:
        click.echo(json.dumps(ended, indent=2, default=str))
        return
    for run in ended:
        click.echo(f"{run['id']}  expired")
    click.echo(f"{len(ended)} run(s) ended expired")


@main.group()
def connectors() -> None:
    """Installed connector types, and a check of the configured ones."""


@connectors.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a list of {kind, type, class} objects.")
@guarded
def connectors_list(as_json: bool) -> None:
    """Print the connector types installed (built-in and third-party), one a line: kind, type, class."""
    from certsoar.connectors import KINDS
    from certsoar.registry import connector_types

    found = [
        {"kind": kind, "type": name, "class": f"{cls.__module__}.{cls.__qualname__}"}
        for kind in KINDS
        for name, cls in connector_types(kind).items()
    ]
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    for c in found:
        click.echo(f"{c['kind']:<9} {c['type']:<12} {c['class']}")


@connectors.command("check")
@config_option
@json_option
@guarded
def connectors_check(config_path: str | None, as_json: bool) -> None:
    """Build every configured connector instance and make its cheapest read; prints ok or FAIL for each with
    reachability, authentication and (CAs) whether it can list what it issued; exit 1 when one fails."""
    from certsoar.health import check_connectors, facets

    results = run_async(check_connectors(_config(config_path)))
    if as_json:
        click.echo(json.dumps([r.model_dump() for r in results], indent=2))
    else:
        from certsoar.escaping import visible

        for r in results:  # a detail may name a file or carry a connector's error text
            line = f"{'ok  ' if r.ok else 'FAIL'} {r.kind:<9} {r.instance:<12} ({r.type}) [{facets(r)}]: {r.detail}"
            click.echo(visible(line))
    if not all(r.ok for r in results):
        sys.exit(EXIT_FAILED)


@main.group()
def intel() -> None:
    """Threat intelligence files: the SSLBL blacklist and the tool catalogue."""


@intel.command("update")
@config_option
@json_option
@guarded
def intel_update(config_path: str | None, as_json: bool) -> None:
    """Fetch SSLBL and the tool catalogue into <state_dir>/intel/; a bad download keeps the old file (exit 1).
    Prints one line a file: updated, kept or skipped, its name, path and what happened."""
    from certsoar.certs.intel_update import update_intel

    results = run_async(update_intel(_config(config_path)))
    if as_json:
        click.echo(json.dumps([r.model_dump() for r in results], indent=2))
    else:
        from certsoar.escaping import visible

        for r in results:  # the detail may quote a server's error text
            click.echo(visible(f"{r.outcome:<8} {r.name:<9} {r.path}: {r.detail}"))
    if any(r.outcome == "kept" for r in results):
        sys.exit(EXIT_FAILED)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print {ok, errors: [{file, line, message}]}.")
@guarded
def validate(paths: tuple[Path, ...], config_path: str | None, as_json: bool) -> None:
    """Check playbooks statically (default: the shipped ones); prints file:line: message for each problem,
    or ok. Templates are looked up in the config's `templates:` folders first when a config is given."""
    import os

    from certsoar.playbook import shipped_playbooks_dir
    from certsoar.validate import validate_paths

    extra = _config(config_path).templates if config_path or os.environ.get("CERTSOAR_CONFIG") else []
    errors = validate_paths(list(paths) or [shipped_playbooks_dir()], template_dirs=extra)
    if as_json:
        found = [{"file": e.file, "line": e.line, "message": e.message} for e in errors]
        click.echo(json.dumps({"ok": not errors, "errors": found}, indent=2))
    else:
        from certsoar.escaping import visible

        for e in errors:  # messages quote the playbook's text
            click.echo(visible(str(e)))
        if not errors:
            click.echo("ok")
    if errors:
        sys.exit(EXIT_FAILED)


@main.command()
@click.option("--check", is_flag=True, help="Fail when manifest.json differs from what the code declares.")
@click.option("--path", "target", type=click.Path(path_type=Path), default=Path("manifest.json"), show_default=True)
def manifest(check: bool, target: Path) -> None:
    """Write manifest.json from the code (or --check that it has not drifted); prints what it wrote or found."""
    from certsoar.manifest import build_manifest, render_manifest

    text = render_manifest(build_manifest())
    if check:
        if not target.exists():
            fail(f"{target} is missing: run `certsoar manifest` to write it", EXIT_FAILED)
        if target.read_text(encoding="utf-8") != text:
            fail(f"{target} has drifted from the code: run `certsoar manifest`", EXIT_FAILED)
        click.echo(f"{target} is up to date")
        return
    target.write_text(text, encoding="utf-8")
    click.echo(f"wrote {target}")


@main.command("export")
@click.argument("platform", type=click.Choice(sorted(EXPORTERS)))
@click.argument("target", type=click.Path(path_type=Path))
@guarded
def export_command(platform: str, target: Path) -> None:
    """Write the content PLATFORM's SOAR installs (pack, app) into the new or empty folder TARGET, and print
    each file written. It talks to `certsoar serve` with a token; nothing here runs in the SOAR."""
    from certsoar.export import export
    from certsoar.manifest import build_manifest

    for path in export(platform, build_manifest(), target):
        click.echo(str(path))


@main.command()
@click.argument("folder", required=False, default=".", type=click.Path(file_okay=False, path_type=Path))
@guarded
def init(folder: Path) -> None:
    """Write a commented starter config to FOLDER/config.yaml (default: here); never overwrites. Prints the file
    written and the command to check it."""
    from certsoar.starter import write_starter_config

    target = write_starter_config(folder)
    click.echo(f"wrote {target}: fill in the lines marked FILL IN, then `certsoar connectors check --config {target}`")


@main.command()
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the lab and the runs live (default: $CERTSOAR_HOME or ./.certsoar).",
)
@guarded
def demo(state_dir: Path | None) -> None:
    """Both stories on the bundled lab: a self-signed certificate imitating a real CA, and one our own
    CA issued for an outside domain; each approved, contained and verified. Prints each command it stands for
    and its run as `run` does."""
    from certsoar.demo import run_demo

    sys.exit(run_async(run_demo(state_dir)))


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the findings as a JSON list.")
def doctor(config_path: str | None, as_json: bool) -> None:
    """Check the install end to end (config, openssl, nft/squid when configured, state dir, audit key,
    playbooks, connectors); prints one line a check and what to fix; exit 1 when one fails."""
    from certsoar.doctor import diagnose
    from certsoar.escaping import visible

    findings = run_async(diagnose(config_path))
    if as_json:
        click.echo(json.dumps([f.model_dump() for f in findings], indent=2))
    else:
        for f in findings:  # a detail may quote a file name or a tool's output
            click.echo(visible(f"{'ok  ' if f.ok else 'FAIL'} {f.check:<14} {f.detail}"))
            if f.fix:
                click.echo(visible(f"     {'':<14} fix: {f.fix}"))
        failed = sum(not f.ok for f in findings)
        click.echo(f"{failed} problem(s) found" if failed else "everything checks")
    if not all(f.ok for f in findings):
        sys.exit(EXIT_FAILED)


@main.command()
@config_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@guarded
def serve(config_path: str | None, host: str, port: int) -> None:
    """The HTTP service: alerts from a SOAR, runs, decisions by token (OpenAPI at /openapi.json)."""
    import uvicorn

    from certsoar.service.app import create_app

    app = create_app(_config(config_path))
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False, server_header=False)


@main.command()
@click.argument("name", default="all", type=click.Choice(["revocation", "certificates", "containment", "all"]))
@config_option
@click.option("--dry-run", is_flag=True, help="Read everything, change nothing (no revocation, no watermark).")
@click.option("--full", is_flag=True, help="Read every source from the start, ignoring the watermarks.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@guarded
def sweep(name: str, config_path: str | None, dry_run: bool, full: bool, as_json: bool) -> None:
    """Run a scheduled sweep now (the revocation sweep judges what our CA issued against the policy).

    Prints, for each sweep: its run, status and counts (examined, violations, revoked, awaiting approval,
    skipped, drift), its errors and notes, the approve command for a batch and the new watermarks.

    Never two of one sweep at once: a second start while one runs exits 2 (run busy). Exit 1 when a
    sweep run failed."""
    from certsoar.api import available_sweeps, run_sweep

    config = _config(config_path)
    names = available_sweeps(config) if name == "all" else [name]
    for left in sorted(set(available_sweeps()) - set(names)):
        click.echo(f"skipped the {left} sweep: the connector it reads is not configured", err=True)
    from certsoar.progress import progress

    results = {}
    for n in names:
        with progress(f"{n} sweep", unit="certificates" if n != "containment" else "effects") as bar:
            results[n] = run_async(run_sweep(config, n, dry_run=dry_run, full=full, progress=bar.report))
    if as_json:
        shown: Any = results[name] if name != "all" else results
        click.echo(json.dumps(shown, indent=2, default=str))
    else:
        for result in results.values():
            click.echo(_describe_sweep(result))
    if any(r["status"] == "failed" for r in results.values()):
        sys.exit(EXIT_FAILED)


def _describe_sweep(result: dict[str, Any]) -> str:
    from certsoar.escaping import for_terminal

    plan = " (dry run: nothing was changed)" if result["dry_run"] else ""
    lines = [
        f"{result['sweep']} sweep, run {result['run']}: {result['status']}{plan}",
        f"  examined {result['examined']}, violations {result['violations']}, revoked {result['revoked']}, "
        f"awaiting approval {result['awaiting_approval']}, skipped {result['skipped']}, drift {result['drift']}",
    ]
    lines += [f"  error: {e}" for e in result["errors"]]
    lines += [f"  note: {n}" for n in result["notes"]]
    if result["awaiting_approval"] and not result["dry_run"]:
        lines.append(f"  approve the batch: certsoar approve {result['run']} --as ANALYST")
    lines += [f"  watermark {source}: {mark}" for source, mark in result["watermarks"].items()]
    return for_terminal("\n".join(lines))


@main.group()
def tickets() -> None:
    """The tickets of the configured ticket store (the embedded one: the run store's)."""


@tickets.command("list")
@click.option(
    "--status",
    type=click.Choice(["open", "contained", "partially-contained", "released", "closed"]),  # connectors.ticket
    default=None,
    help="Only these.",
)
@click.option("--limit", type=click.IntRange(1, 10000), default=100, show_default=True, help="At most this many.")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print a list of ticket objects.")
@guarded
def tickets_list(status: str | None, limit: int, config_path: str | None, as_json: bool) -> None:
    """Print the latest tickets, newest first, one a line: id, status, severity, comments, title."""
    from certsoar.api import list_tickets

    found = list_tickets(_config(config_path), limit, status=status)
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    from certsoar.escaping import visible
    from certsoar.report import lookalike_lines

    for t in found:
        click.echo(
            visible(f"{t['id']}  {t['status']:<9} {t['severity']:<8} {len(t['comments'])} comment(s)  {t['title']}")
        )
        for line in lookalike_lines(t["title"]):
            click.echo(line)


@tickets.command("show")
@click.argument("ticket_id")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the ticket as one JSON object.")
@guarded
def tickets_show(ticket_id: str, config_path: str | None, as_json: bool) -> None:
    """Print one ticket: id, status, severity, title, the runs that worked on it, its description and every comment."""
    from certsoar.api import show_ticket

    ticket = run_async(show_ticket(_config(config_path), ticket_id))
    if as_json:
        click.echo(json.dumps(ticket, indent=2))
        return
    from certsoar.escaping import for_terminal, visible
    from certsoar.report import lookalike_lines

    click.echo(visible(f"ticket {ticket['id']} ({ticket['status']}, {ticket['severity']}): {ticket['title']}"))
    for line in lookalike_lines(ticket["title"]):
        click.echo(line)
    click.echo(visible(f"opened {ticket['created']}; certificate {ticket['key']}"))
    click.echo(visible(f"runs: {', '.join(ticket['runs']) or 'none recorded'}"))
    if ticket["body"]:
        click.echo("--- description ---")
        click.echo(for_terminal(ticket["body"]).rstrip())
    for number, comment in enumerate(ticket["comments"], 1):
        click.echo(f"--- comment {number} ---")
        click.echo(for_terminal(comment).rstrip())


@main.group()
def templates() -> None:
    """Notification and ticket templates: the config's `templates:` folders first, then the shipped ones."""


@templates.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print a list of {name, folder} objects.")
@guarded
def templates_list(config_path: str | None, as_json: bool) -> None:
    """Print every template name, one a line, with the folder it is taken from."""
    from certsoar.api import template_names

    found = template_names(_config(config_path))
    if as_json:
        click.echo(json.dumps([{"name": n, "folder": f} for n, f in found], indent=2))
        return
    from certsoar.escaping import visible

    for name, folder in found:
        click.echo(visible(f"{name:<32} {folder}"))


@templates.command("render")
@click.argument("name")
@click.option("--run", "run_id", required=True, help="The run whose alert and step outputs fill the template.")
@config_option
@guarded
def templates_render(name: str, run_id: str, config_path: str | None) -> None:
    """Print template NAME rendered for run RUN_ID (escaped for its channel, as a run would send it);
    sends nothing."""
    from certsoar.api import render_template
    from certsoar.escaping import for_terminal

    click.echo(for_terminal(render_template(_config(config_path), name, run_id)).rstrip())


@main.group()
def token() -> None:
    """API tokens for `certsoar serve`."""


@token.command("new")
@click.argument("name")
@click.option("--analyst", default=None, help="The analyst the token decides as (needed for scope decide).")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(["alerts", "read", "decide", "feeds"]),
    help="alerts (submit), read, decide, feeds (pull the block lists); repeat for several (default: alerts and read).",
)
@guarded
def token_new(name: str, analyst: str | None, scopes: tuple[str, ...]) -> None:
    """Print a fresh random token once, and the line for service.tokens with its SHA-256."""
    from certsoar.service.identity import new_token

    chosen = list(scopes) or ["alerts", "read"]
    if "decide" in chosen and analyst is None:
        fail("--scope decide needs --analyst: a decision is always some analyst's", 2)
    secret, entry = new_token(name, analyst=analyst, scopes=chosen)
    click.echo(f"token (shown once, give it to {name}): {secret}")
    click.echo("add under service.tokens in the config:")
    click.echo(f"  - {entry}")


@main.command()
@click.argument("analyst")
@guarded
def passwd(analyst: str) -> None:
    """Print an argon2id hash of ANALYST's page password (read twice without echo, or once from stdin)."""
    from certsoar.service.identity import hash_password

    if sys.stdin.isatty():
        first = click.prompt(f"password for {analyst}", hide_input=True, err=True)
        second = click.prompt("again", hide_input=True, err=True)
        if first != second:
            fail("the two passwords differ", 2)
    else:
        first = sys.stdin.readline().rstrip("\r\n")
    if len(first) < 12:
        fail("a page password needs at least 12 characters", 2)
    click.echo(f"analysts.{analyst}.password_hash: {json.dumps(hash_password(first))}")


@main.group()
def feeds() -> None:
    """The block lists of the edl connectors, for firewalls and proxies that pull them (served at /v1/feeds/)."""


@feeds.command("write")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print {feed: entries} as one JSON object.")
@guarded
def feeds_write(folder: Path, config_path: str | None, as_json: bool) -> None:
    """Write addresses.txt, sha1.txt and sni.txt into FOLDER (each replaced whole), as certsoar serve answers them.
    Prints each file written with its number of entries."""
    from certsoar.api import write_feeds

    counts = write_feeds(_config(config_path), folder)
    if as_json:
        click.echo(json.dumps(counts))
        return
    for feed, count in counts.items():
        click.echo(f"{folder / (feed + '.txt')}: {count} entries")
