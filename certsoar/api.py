"""The Python API: what the CLI, the service (certsoar.service) and a SOAR that embeds Python call.

The one way in: nothing outside this module drives the runner or the store. Refusals are errors of
certsoar.errors raised here or deeper; the CLI turns them into exit codes, the service into HTTP statuses.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from certsoar import audit, checkcache, yamlsafe
from certsoar.alert import CertificateAlert
from certsoar.config import Config
from certsoar.connections import Connections
from certsoar.errors import (
    ApprovalError,
    PlaybookError,
    PlaybookNotFound,
    RunBusy,
    RunError,
    RunNotFound,
    TicketNotFound,
)
from certsoar.playbook import Playbook, find_playbook, parse_playbook, shipped_playbooks, shipped_playbooks_dir
from certsoar.runner import Runner
from certsoar.runview import run_view
from certsoar.store import GateStatus, RunStatus, RunStore, utcnow
from certsoar.sweeps import (
    SOURCES,
    SUMMARY_STEP,
    SWEEPS,
    Progress,
    SweepSummary,
    playbook_for,
    progress_callback,
    summary_of,
    sweep_alert,
    sweep_of,
)
from certsoar.templating import Templates
from certsoar.validate import check_gates, check_playbook

if TYPE_CHECKING:
    from certsoar.feeds import Feed


def load_checked_playbook(name_or_path: str, template_dirs: tuple[Path, ...] = ()) -> tuple[Playbook, str]:
    """Find, parse and statically check a playbook (its templates looked up in ``template_dirs`` first);
    returns it with its YAML text."""
    path = find_playbook(name_or_path)
    text = path.read_text(encoding="utf-8")
    return _checked(text, str(path), template_dirs), text


def _checked(text: str, file: str, template_dirs: tuple[Path, ...] = ()) -> Playbook:
    """Parse and check a playbook text; its problems name ``file``. A text that passed is kept for the
    process whatever name it is read under (a run's stored definition is named after its run), so resuming
    or deciding a run does not parse and check the same playbook again."""
    playbook = _passing(text, template_dirs)
    if playbook is not None:
        return playbook
    playbook, problems = _check(text, file, template_dirs)
    if problems:
        raise problems[0]
    return playbook


@lru_cache(maxsize=32)
def _passing(text: str, template_dirs: tuple[Path, ...]) -> Playbook | None:
    """The playbook when the text passes every check, else None (the result is immutable: frozen models)."""
    try:
        playbook, problems = _check(text, "<playbook>", template_dirs)
    except PlaybookError:
        return None
    return None if problems else playbook


def _check(text: str, file: str, template_dirs: tuple[Path, ...]) -> tuple[Playbook, list[PlaybookError]]:
    """A text that passed the full check before with the shipped templates (certsoar.checkcache: a CLI
    process runs one alert) gets only the approval check again; templates from the config's folders are
    checked every time."""
    cacheable = not template_dirs
    if cacheable and checkcache.passed(text):
        # the text parsed and passed before: read without the (slower) line-numbering loader, which only an
        # error report needs
        fast = _parsed_without_lines(text)
        if fast is not None and not check_gates(fast, {}, file):
            return fast, []
    playbook, raw = parse_playbook(text, file)
    if cacheable and checkcache.passed(text):
        problems = check_gates(playbook, raw, file)
    else:
        problems = check_playbook(playbook, raw, file, Templates(list(template_dirs)))
        if cacheable and not problems:
            checkcache.remember(text)
    return playbook, problems


def _parsed_without_lines(text: str) -> Playbook | None:
    try:
        return Playbook.model_validate(yamlsafe.safe_load(text))
    except (yaml.YAMLError, ValidationError):
        return None


SHIPPED_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
"""The form of a shipped playbook's id (no path separators, no dots)."""


@lru_cache(maxsize=32)
def load_shipped_playbook(playbook_id: str) -> tuple[Playbook, str]:
    """A shipped playbook by its id, never a file the caller names; read and checked once a process (the
    service's submissions: a request must not pick a file on the server, and a file system call per alert
    is what limited accepting)."""
    path = shipped_playbooks_dir() / f"{playbook_id}.yaml"
    if not SHIPPED_ID.fullmatch(playbook_id) or not path.is_file():
        names = ", ".join(p.stem for p in shipped_playbooks())
        raise PlaybookNotFound(f"no shipped playbook {playbook_id!r} (shipped: {names})")
    text = path.read_text(encoding="utf-8")
    return _checked(text, str(path)), text


def open_store(config: Config, *, read_only: bool = False) -> RunStore:
    return RunStore.in_state_dir(config.state_dir, read_only=read_only, audit_key=audit.key_for(config))


async def run_playbook(
    config: Config,
    playbook: str,
    alert: CertificateAlert,
    *,
    dry_run: bool = False,
    requester: str | None = None,
    trigger: str = "alert",
    connections: Connections | None = None,
) -> dict[str, Any]:
    """Run a playbook for an alert and return the run object. A dry run writes nothing anywhere."""
    book, text = load_checked_playbook(playbook, tuple(config.templates))
    with open_store(config, read_only=dry_run) as store:
        runner = Runner(config, store, dry_run=dry_run, connections=connections or Connections(config, store))
        runner.connections.validate()
        run_id = await runner.start(book, alert, trigger=trigger, requester=requester, definition=text)
        return run_view(runner.journal, run_id)


async def release(
    config: Config,
    run_id: str,
    *,
    analyst: str,
    comment: str,
    connections: Connections | None = None,
) -> dict[str, Any]:
    """Start (or find) the release of run ``run_id``'s containment: the shipped certificate-release playbook,
    whose approval gate the release waits at like containment does. Asking again, or from two processes at
    once, gives the one release run of ``run_id`` while it waits or once it completed; asked again after it was
    denied, expired or failed, a new release run starts (the earlier one kept, superseded). RunNotFound for an unknown run; RunError for a run that
    cannot be released (a release) or a comment that is empty or too long."""
    from certsoar.actions.release import MAX_COMMENT_CHARS, RELEASE_PLAYBOOK, release_alert

    comment = comment.strip()
    if not comment or len(comment) > MAX_COMMENT_CHARS:
        raise RunError(f"a release needs a comment saying why (1 to {MAX_COMMENT_CHARS} characters)")
    book, text = load_shipped_playbook(RELEASE_PLAYBOOK)
    with open_store(config) as store:
        target = store.get_run(run_id)
        if target.playbook == RELEASE_PLAYBOOK:
            raise RunError(f"run {run_id} is a release itself; release the run it took back instead")
        runner = Runner(config, store, connections=connections or Connections(config, store))
        runner.connections.validate()
        alert = release_alert(run_id, analyst, comment, utcnow())
        release_id = await runner.start(book, alert, trigger="release", requester=analyst, definition=text)
        return run_view(store, release_id)


def release_of(config: Config, run_id: str) -> dict[str, Any] | None:
    """The run object of run ``run_id``'s current release run (waiting, done, or the latest asked), or None."""
    from certsoar.actions.release import RELEASE_PLAYBOOK, release_alert_id

    with open_store(config, read_only=True) as store:
        release_id = store.run_for_alert(RELEASE_PLAYBOOK, release_alert_id(run_id))
        return run_view(store, release_id) if release_id is not None else None


def _playbook_of(store: RunStore, run_id: str, config: Config) -> Playbook:
    run = store.get_run(run_id)
    if not run.definition:
        raise RunError(f"run {run_id} has no playbook definition to resume from")
    return _checked(run.definition, f"<{run.playbook} as of run {run_id}>", tuple(config.templates))


async def decide(
    config: Config,
    run_id: str,
    *,
    analyst: str,
    decision: str,
    comment: str | None = None,
    via: str = "cli",
    credential: str | None = None,
    connections: Connections | None = None,
) -> dict[str, Any]:
    """Approve or deny a waiting run; the run resumes in this process when the gate is decided.

    ``via`` is the entry point (cli, api, page, slack) and ``credential`` what the decider proved
    themselves with (a token's name, a page login, a Slack user, the OS user): both go into the
    decision's audit record. A refused decision (ApprovalError, or no such run) is audited here, once, as
    ``decision.refused`` with the reason, before it is raised: entry points audit only the refusals that
    never reach this function (``audit_refused_decision``).
    """
    if decision not in (GateStatus.APPROVED, GateStatus.DENIED):
        raise ApprovalError(f"unknown decision {decision!r}")
    with open_store(config) as store:
        runner = Runner(config, store, connections=connections or Connections(config, store))
        try:
            playbook = _playbook_of(store, run_id, config)
            await runner.decide(
                playbook,
                run_id,
                analyst=analyst,
                decision=GateStatus(decision),
                comment=comment,
                via=via,
                credential=credential,
            )
        except (ApprovalError, RunNotFound) as exc:
            _audit_refused_decision(
                store,
                run_id,
                {"analyst": analyst, "decision": decision, "via": via, "credential": credential, "reason": str(exc)},
            )
            raise
        return run_view(store, run_id)


@dataclass(frozen=True)
class Submission:
    """An alert to queue a run of the shipped playbook ``playbook`` (its id) for (see ``submit``)."""

    playbook: str
    alert: CertificateAlert
    requester: str | None = None
    trigger: str = "alert"
    submitted_by: str | None = None


def submit(
    config: Config, submissions: list[Submission], *, store: RunStore | None = None
) -> list[tuple[dict[str, Any], bool]]:
    """Persist runs as queued, without executing them (the service's workers call ``resume`` for each), all
    in one transaction. Returns (``{"id", "status"}``, created) per submission: an alert whose id already
    has a run of the playbook gets that run and False. ``submitted_by`` (a credential's name) is audited.
    ``store`` is an open store to use (the service keeps one), else one is opened for the call."""
    runs = []
    for sub in submissions:
        book, text = load_shipped_playbook(sub.playbook)
        runs.append(
            {
                "playbook": book.id,
                "alert_id": sub.alert.id,
                "trigger": sub.trigger,
                "alert": sub.alert.model_dump(mode="json"),
                "requester": sub.requester,
                "definition": text,
                "status": RunStatus.QUEUED,
                "audit_data": {"submitted_by": sub.submitted_by} if sub.submitted_by else None,
            }
        )
    if store is None:
        with open_store(config) as own:
            return _created(own, own.create_runs(runs))
    return _created(store, store.create_runs(runs))


def _created(store: RunStore, results: list[tuple[str, bool]]) -> list[tuple[dict[str, Any], bool]]:
    return [
        ({"id": run_id, "status": str(RunStatus.QUEUED) if created else str(store.get_run(run_id).status)}, created)
        for run_id, created in results
    ]


def runs_to_resume(config: Config) -> list[str]:
    """Runs queued and never started, and runs cut short by a crash: what a (re)starting service runs."""
    with open_store(config) as store:
        return store.runs_to_resume()


def run_counts(config: Config) -> dict[str, int]:
    """How many runs are in each status."""
    with open_store(config, read_only=True) as store:
        return store.run_counts()


def record_refusal(config: Config, event: str, data: dict[str, Any], run_id: str | None = None) -> None:
    """Audit a refused request (a failed login, a bad token, a refused page decision): ``event`` names it,
    ``data`` says who and why, ``run_id`` the run it was about. Never pass a secret in ``data``."""
    with open_store(config) as store:
        store.audit(run_id, event, data)


def check_ready(config: Config) -> None:
    """Raise unless the run store can be written and every configured connector can be built."""
    with open_store(config) as store:
        with store.transaction():
            pass
        Connections(config, store).validate()


def audit_refused_decision(
    config: Config,
    run_id: str,
    *,
    via: str,
    credential: str | None,
    analyst: str | None,
    reason: str,
    address: str | None = None,
) -> None:
    """Audit a decision an entry point refused before it reached ``decide`` (an unknown Slack user, a page
    request without its CSRF token or login), as ``decide`` audits its own refusals: ``decision.refused``."""
    with open_store(config) as store:
        data = {"via": via, "credential": credential, "analyst": analyst, "reason": reason}
        _audit_refused_decision(store, run_id, data if address is None else {**data, "address": address})


def _audit_refused_decision(store: RunStore, run_id: str, data: dict[str, Any]) -> None:
    # A run id that names no run is kept in the record's data, never as the record's run.
    try:
        store.get_run(run_id)
        known: str | None = run_id
    except RunNotFound:
        known = None
    store.audit(known, "decision.refused", {"run": run_id, **data})


async def resume(config: Config, run_id: str, *, connections: Connections | None = None) -> dict[str, Any]:
    """Start a queued run, carry on a run that was cut short (a crash), retry one that failed (from the
    failed step), or end one whose approval expired. RunBusy while another live executor has the run."""
    with open_store(config) as store:
        runner = Runner(config, store, connections=connections or Connections(config, store))
        playbook = _playbook_of(store, run_id, config)
        status = store.get_run(run_id).status
        if status in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.FAILED):
            sweep = sweep_of(playbook.id)
            if sweep is None:
                await runner.resume(playbook, run_id)
            else:  # a sweep run carried on (a service restarted after a crash) is that sweep running again
                async with _sweep_lease(store, sweep, runner.owner):
                    await runner.resume(playbook, run_id)
                    _record_watermarks(store, run_view(store, run_id))
        elif status == RunStatus.WAITING_APPROVAL:
            await runner.expire_due(playbook, run_id)
        return run_view(store, run_id)


async def expire_due_runs(config: Config, *, connections: Connections | None = None) -> list[dict[str, Any]]:
    """End every run whose approval gate has expired (for a scheduler); returns those runs."""
    with open_store(config) as store:
        runner = Runner(config, store, connections=connections or Connections(config, store))
        ended = []
        for run_id in store.expired_gates(utcnow()):
            if await runner.expire_due(_playbook_of(store, run_id, config), run_id):
                ended.append(run_view(store, run_id))
        return ended


@dataclass(frozen=True)
class AuditTrail:
    """A verified audit log: what was checked, against which key and anchor, and the records asked for."""

    chain: audit.ChainStatus
    key_source: str
    anchor: Path | None
    records: list[dict[str, Any]]


def audit_trail(config: Config, run_id: str | None = None) -> AuditTrail:
    """Verify the whole chain (AuditError at the first break) and return it with the records of one run
    (or all)."""
    with open_store(config, read_only=True) as store:
        chain = store.check_audit()
        if run_id is not None:
            store.get_run(run_id)
        return AuditTrail(
            chain=chain,
            key_source=store.audit_key_source,
            anchor=store.audit_anchor,
            records=store.audit_records(run_id),
        )


def show_run(config: Config, run_id: str) -> dict[str, Any]:
    with open_store(config, read_only=True) as store:
        return run_view(store, run_id)


def list_runs(
    config: Config, limit: int = 100, *, status: str | None = None, since: datetime | None = None
) -> list[dict[str, Any]]:
    """The latest runs, newest first, optionally only those in ``status`` and created since ``since``."""
    with open_store(config, read_only=True) as store:
        return store.list_runs(limit, status=RunStatus(status) if status is not None else None, since=since)


async def plan_run(config: Config, run_id: str, *, connections: Connections | None = None) -> dict[str, Any]:
    """What the run would do if its gate were approved: the same playbook (as the run recorded it) run as a
    dry run for the run's alert. Reads the targets, writes nothing; returns the dry run's run object."""
    with open_store(config, read_only=True) as store:
        run = store.get_run(run_id)
        playbook = _playbook_of(store, run_id, config)
        runner = Runner(config, store, dry_run=True, connections=connections or Connections(config, store))
        runner.connections.validate()
        plan_id = await runner.start(
            playbook,
            CertificateAlert.model_validate(run.alert),
            trigger=run.trigger,
            requester=run.requester,
            definition=run.definition,
        )
        return run_view(runner.journal, plan_id)


def _ticket_listing(config: Config, store: RunStore) -> Any:
    from certsoar.connectors.ticket import TicketListing

    sections = config.connectors.sections("ticket")
    if not sections:
        raise TicketNotFound("no ticket connector is configured (connectors.ticket)")
    tickets = Connections(config, store).ticket
    if not isinstance(tickets, TicketListing):
        raise TicketNotFound(f"the ticket connector {sections[0].type} cannot list its tickets: look them up in it")
    return tickets


def list_tickets(config: Config, limit: int = 100, *, status: str | None = None) -> list[dict[str, Any]]:
    """The latest tickets of the configured ticket store, newest first, optionally only those in ``status``."""
    with open_store(config, read_only=True) as store:
        return [t.model_dump(mode="json") for t in _ticket_listing(config, store).list(limit, status=status)]


async def show_ticket(config: Config, ticket_id: str) -> dict[str, Any]:
    """One ticket with its comments, and the runs that worked on it (their ids, newest first)."""
    with open_store(config, read_only=True) as store:
        ticket = await _ticket_listing(config, store).get(ticket_id)
        if ticket is None:
            raise TicketNotFound(f"no ticket {ticket_id}")
        runs = store.runs_with_effect_target(ticket.key, ("ticket.open", "ticket.comment", "ticket.close"))
        return {**ticket.model_dump(mode="json"), "runs": runs}


def template_names(config: Config) -> list[tuple[str, str]]:
    """Every template name with the folder it is taken from (a configured folder overrides the shipped one)."""
    from certsoar.templating import shipped_templates_dir

    found: dict[str, str] = {}
    for folder in [*config.templates, shipped_templates_dir()]:
        for path in sorted(folder.rglob("*.j2")):
            found.setdefault(path.relative_to(folder).as_posix(), str(folder))
    return sorted(found.items())


def render_template(config: Config, name: str, run_id: str) -> str:
    """``name`` rendered, in the same sandbox a run uses, with what run ``run_id`` holds now (its alert and
    the outputs of its finished steps; ``approval`` is the playbook's first gate). Sends nothing."""
    from certsoar.runner import run_variables

    with open_store(config, read_only=True) as store:
        run = store.get_run(run_id)
        playbook = _playbook_of(store, run_id, config)
        variables = run_variables(
            config, playbook, run, {s.step_id: s for s in store.steps(run_id)}, dry_run=run.dry_run
        )
    gate = next((s.approval for s in playbook.all_steps() if s.approval is not None), None)
    if gate is not None:
        variables["approval"] = gate.model_dump()
    templates = Templates(config.templates)
    problem = templates.problem(name)
    if problem == "does not exist":
        raise PlaybookNotFound(f"no template {name!r} (see `certsoar templates list`)")
    if problem:
        raise PlaybookError(problem, file=name)
    return templates.render(name, variables)


SWEEP_RENEW_SECONDS = 15.0
SWEEP_SUCCEEDED = (RunStatus.COMPLETED, RunStatus.WAITING_APPROVAL)
"""A sweep run that got this far read its sources to the end: its watermarks are recorded."""


def available_sweeps(config: Config | None = None) -> list[str]:
    """The sweeps whose playbook is shipped, in table order (what ``certsoar sweep all`` runs); with ``config``,
    only those whose source connector it configures (a certificate sweep without a SIEM has nothing to read)."""
    shipped = [name for name, book in SWEEPS.items() if (shipped_playbooks_dir() / f"{book}.yaml").is_file()]
    if config is None:
        return shipped
    return [name for name in shipped if name not in SOURCES or getattr(config.connectors, SOURCES[name]) is not None]


async def run_sweep(
    config: Config,
    name: str,
    *,
    dry_run: bool = False,
    full: bool = False,
    progress: Progress | None = None,
    connections: Connections | None = None,
) -> dict[str, Any]:
    """Run the sweep ``name`` (its playbook, see certsoar.sweeps) and return its summary with the run's id and
    status. Never two of one sweep at once: the sweep holds the store lease ``sweep:<name>`` (RunBusy while
    another live process holds it; ``resume`` of a sweep run takes it too). A sweep run of the same kind that
    was cut short (a crash) is carried on first; what a failed one had found passes to the new run. The
    watermarks move only when a run reads its sources to the end. A dry run writes nothing."""
    book, text = load_shipped_playbook(playbook_for(name))
    token = progress_callback.set(progress)
    try:
        with open_store(config, read_only=dry_run) as store:
            runner = Runner(config, store, dry_run=dry_run, connections=connections or Connections(config, store))
            runner.connections.validate()
            if dry_run:
                alert = sweep_alert(name, utcnow(), full=full, watermarks=store.watermarks())
                run_id = await runner.start(book, alert, trigger="schedule", definition=text)
                return _sweep_result(name, run_view(runner.journal, run_id), [])
            async with _sweep_lease(store, name, runner.owner):
                resumed = []
                for earlier in _unfinished_sweeps(store, book.id):
                    try:
                        await runner.resume(_playbook_of(store, earlier, config), earlier)
                    except RunBusy:
                        continue  # another executor carries it on (an analyst's approval resumed it)

                    _record_watermarks(store, run_view(store, earlier))
                    resumed.append(earlier)
                alert = sweep_alert(name, utcnow(), full=full, watermarks=store.watermarks())
                run_id = await runner.start(book, alert, trigger="schedule", definition=text)
                view = run_view(store, run_id)
                _record_watermarks(store, view)
                return _sweep_result(name, view, resumed)
    finally:
        progress_callback.reset(token)


def _unfinished_sweeps(store: RunStore, playbook_id: str) -> list[str]:
    """Runs of the sweep cut short by a crash (no live executor), oldest first."""
    return [r for r in store.runs_to_resume() if store.get_run(r).playbook == playbook_id]


@asynccontextmanager
async def _sweep_lease(store: RunStore, name: str, owner: str) -> AsyncIterator[None]:
    """Be the one executor of the sweep ``name`` for the block (RunBusy while another live one is)."""
    lease = f"sweep:{name}"
    store.take_lease(lease, owner)
    keeper = asyncio.create_task(_renew_sweep_lease(store, lease, owner))
    try:
        yield
    finally:
        keeper.cancel()
        store.release_lease(lease, owner)


async def _renew_sweep_lease(store: RunStore, lease: str, owner: str) -> None:
    while True:
        await asyncio.sleep(SWEEP_RENEW_SECONDS)
        store.renew_lease(lease, owner)


def _record_watermarks(store: RunStore, view: dict[str, Any]) -> None:
    summary = summary_of(view)
    if summary is not None and summary.watermarks and RunStatus(view["status"]) in SWEEP_SUCCEEDED:
        store.set_watermarks(summary.watermarks)


def _sweep_result(name: str, view: dict[str, Any], resumed: list[str]) -> dict[str, Any]:
    summary = summary_of(view) or SweepSummary(sweep=name, errors=[view["error"]] if view.get("error") else [])
    recorded = next((s["output"] for s in view["steps"] if s["id"] == SUMMARY_STEP), None) or {}
    return {
        **summary.model_dump(mode="json"),
        **recorded,  # what a sweep adds to the common summary (the containment sweep's findings)
        "run": view["id"],
        "status": view["status"],
        "dry_run": view["dry_run"],
        "resumed": resumed,
    }


SCHEDULE_MARK = "schedule:"


def schedule_marks(config: Config) -> dict[str, datetime]:
    """Per ``schedules[].sweep``: the due time its schedule last fired for (``certsoar serve``)."""
    with open_store(config) as store:
        return {
            source.removeprefix(SCHEDULE_MARK): datetime.fromisoformat(value)
            for source, value in store.watermarks().items()
            if source.startswith(SCHEDULE_MARK)
        }


def record_schedule(config: Config, sweep: str, due: datetime) -> None:
    with open_store(config) as store:
        store.set_watermarks({f"{SCHEDULE_MARK}{sweep}": due.isoformat()})


def feed_text(config: Config, feed: "Feed") -> str:
    """An external dynamic list as served (``certsoar.feeds``): one entry a line."""
    from certsoar import feeds

    with open_store(config, read_only=True) as store:
        return feeds.text(store, feed)


def write_feeds(config: Config, folder: Path) -> dict[str, int]:
    """Write every external dynamic list into ``folder`` as ``<feed>.txt``; the number of entries of each."""
    from certsoar import feeds

    with open_store(config, read_only=True) as store:
        return feeds.write(store, folder)
