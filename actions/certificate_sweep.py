"""sweep.certificates: triage every certificate the SIEM saw since the last sweep, each as its own run of
``certificate-alert``, concurrently with a bound, in this process.

A certificate is deduplicated by every identity it shows (SHA-256, SHA-1, serial and issuer); one that a run
of the playbook is already about is skipped. Each new one becomes the alert its first record would have been
had a SOAR sent it (certsoar.intake.records), so escalations are ordinary runs (ticket, approval) and a later
alert for the same record finds that run.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from certsoar.alert import CertificateAlert
from certsoar.certs.dn import comparison_key, parse_dn, rfc4514
from certsoar.connectors.siem import CertificateRecord, CertificateStream
from certsoar.context import ActionContext
from certsoar.errors import ActionError, AlertError, CertsoarError
from certsoar.fanout import failure_text
from certsoar.intake.records import alert_from_record
from certsoar.playbook import Playbook
from certsoar.registry import action
from certsoar.store import RunStatus, RunStore
from certsoar.sweeps import SweepSummary, report_progress

TRIGGER = "sweep"
"""The trigger the runs a sweep starts record (an alert's run records ``alert``)."""


MAX_ERRORS_LISTED = 50


class CertificateSweepInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    playbook: str = Field(default="certificate-alert", description="Shipped playbook each certificate is triaged by.")
    watermarks: dict[str, str] = Field(default_factory=dict, description="Per source: where the last sweep stopped.")
    full: bool = Field(default=False, description="Read every certificate record, ignoring the watermark.")


def certificate_keys(sha256: str | None, sha1: str | None, serial: str | None, issuer: str | None) -> set[str]:
    """The identities a record or run shows of its certificate: ``sha256:``, ``sha1:``, ``serial:<S>|<issuer>``
    (the issuer compared as a name, so Zeek's and Suricata's spellings of one DN meet)."""
    keys = {f"sha256:{sha256}"} if sha256 else set()
    if sha1:
        keys.add(f"sha1:{sha1}")
    if serial and issuer:
        keys.add(f"serial:{serial}|{rfc4514(comparison_key(parse_dn(issuer)))}")
    return keys


def record_keys(record: CertificateRecord) -> set[str]:
    event = record.event
    return certificate_keys(event.sha256, event.sha1, event.serial, event.issuer)


def triaged(store: RunStore, playbook: str) -> set[str]:
    """The identity keys (and ``alert:<id>``) of every certificate a run of ``playbook`` is about."""
    keys: set[str] = set()
    for alert_id, sha256, sha1, serial, issuer in store.triaged_certificates(playbook):
        keys |= certificate_keys(sha256, sha1, serial, issuer)
        if alert_id:
            keys.add(f"alert:{alert_id}")
    return keys


class _Triage:
    """The runs of one sweep and what they came to."""

    def __init__(self, ctx: ActionContext, store: RunStore, playbook: Playbook, definition: str) -> None:
        self.ctx = ctx
        self.store = store
        self.playbook = playbook
        self.definition = definition
        self.summary = SweepSummary(sweep="certificates")
        self.failures = 0

    def problem(self, text: str) -> None:
        self.failures += 1
        if len(self.summary.errors) < MAX_ERRORS_LISTED:
            self.summary.errors.append(text)

    async def run(self, alert: CertificateAlert) -> None:
        from certsoar.runner import Runner  # the runner imports the action registry

        ctx = self.ctx
        runner = Runner(
            ctx.config,
            self.store,
            dry_run=ctx.dry_run,
            connections=ctx.connectors,
            templates=ctx.templates,
            journal=ctx.ledger.journal,  # a dry run's runs share the sweep's scratch journal
        )
        try:
            run_id = await runner.start(self.playbook, alert, trigger=TRIGGER, definition=self.definition)
        except CertsoarError as exc:
            self.problem(f"{alert.id}: {exc}")
            return
        self._count(runner.journal, run_id, alert)
        if ctx.dry_run:  # counted: what a dry run planned is thrown away, so memory stays flat
            runner.journal.discard_run(run_id)

    def _count(self, journal: RunStore, run_id: str, alert: CertificateAlert) -> None:
        run = journal.get_run(run_id)
        steps = {s.step_id: s.output for s in journal.steps(run_id)}
        if (steps.get("verdict") or {}).get("escalate"):
            self.summary.violations += 1
        if run.status == RunStatus.WAITING_APPROVAL:
            self.summary.awaiting_approval += 1
        elif run.status == RunStatus.FAILED:
            self.problem(f"{alert.id}: run {run_id} failed: {run.error}")
        effect = (steps.get("revoke") or {}).get("effect") or {}
        if effect.get("changed") and (effect.get("verified") or effect.get("planned")):
            self.summary.revoked += 1


class _Held:
    """Session records (ssl, tls) not yet matched to a certificate record, merged by shared identity. They are
    triaged after the stream, and only those no x509/known_certs record linked to a certificate already seen:
    a Zeek ssl line names the certificate by SHA-256 and a Suricata event by SHA-1 and serial, and only the x509
    record shows both, so one certificate is not triaged once per sensor."""

    def __init__(self) -> None:
        self.entries: list[tuple[set[str], CertificateRecord]] = []
        self._at: dict[str, int] = {}

    def add(self, keys: set[str], record: CertificateRecord) -> None:
        found = next((self._at[k] for k in keys if k in self._at), None)
        if found is None:
            found = len(self.entries)
            self.entries.append((set(), record))
        self.entries[found][0].update(keys)
        for key in keys:
            self._at.setdefault(key, found)


def _streams(ctx: ActionContext) -> tuple[dict[str, tuple[str, CertificateStream]], list[str]]:
    """The SIEMs that can stream their certificate records, by watermark source (``siem:<instance>``), and a
    warning for each that cannot (an ActionError when none can)."""
    streams: dict[str, tuple[str, CertificateStream]] = {}
    unable: list[str] = []
    for name, siem in ctx.connectors.each("siem"):
        if isinstance(siem, CertificateStream):
            streams[f"siem:{name}"] = (name, siem)
        else:
            unable.append(f"siem {name} ({type(siem).__name__})")
    if not streams:
        raise ActionError(f"no configured SIEM can stream certificates for a sweep: {', '.join(unable) or 'none'}")
    return streams, [f"{what} cannot stream certificates: not swept" for what in unable]


LINKING_FORMATS = ("zeek-x509", "zeek-known_certs")
"""Certificate records proper, triaged as they come; the others are session records (see _Held)."""


@action("sweep.certificates")
async def certificates(inp: CertificateSweepInput, ctx: ActionContext) -> SweepSummary:
    """Triage every certificate the SIEM logged since the last sweep that no run is about yet, through the playbook."""
    from certsoar.api import load_shipped_playbook  # the api imports the runner, which imports the registry

    streams, warnings = _streams(ctx)
    store = ctx.ledger.effects
    playbook, definition = load_shipped_playbook(inp.playbook)
    done = triaged(store, playbook.id)
    triage = _Triage(ctx, store, playbook, definition)
    summary = triage.summary
    seen: set[str] = set()
    held = _Held()
    latest: dict[str, datetime | None] = {}
    slots = asyncio.Semaphore(ctx.config.sweeps.certificates.concurrency)

    async def one(alert: CertificateAlert) -> None:
        try:
            await triage.run(alert)
        finally:
            slots.release()
            report_progress(summary.examined, summary.violations)

    async with asyncio.TaskGroup() as group:

        async def consider(keys: set[str], record: CertificateRecord) -> None:
            seen.update(keys)
            summary.examined += 1
            try:
                alert = alert_from_record(record)
            except AlertError as exc:
                triage.problem(f"{record.event.source}: {exc}")
                return
            if (keys | {f"alert:{alert.id}"}) & done:
                summary.skipped += 1
                report_progress(summary.examined, summary.violations)
                return
            await slots.acquire()  # the stream waits for a free slot: memory stays bounded
            group.create_task(one(alert))

        for source, (name, siem) in streams.items():  # one SIEM after the other, each from its own watermark
            mark = None if inp.full else inp.watermarks.get(source)
            since = None if mark is None else datetime.fromisoformat(mark)
            newest = since
            unread: list[str] = []
            try:
                async for record in siem.iter_certificates(since, unread):
                    newest = record.event.time if newest is None else max(newest, record.event.time)
                    keys = record_keys(record)
                    if keys & seen:
                        continue
                    if record.format in LINKING_FORMATS:
                        await consider(keys, record)
                    else:
                        held.add(keys, record)
            except CertsoarError as exc:
                if len(streams) == 1:
                    raise
                unread.append(f"the certificate records could not all be read: {failure_text(name, exc)}")
            warnings += [f"siem {name}: {w}" if len(streams) > 1 else w for w in unread]
            if not unread:  # else its watermark stays: the next sweep reads these records again
                latest[source] = newest
        for keys, record in held.entries:
            if not keys & seen:
                await consider(keys, record)
    runs_failed = triage.failures
    for warning in warnings:
        triage.problem(warning)
    if triage.failures > len(summary.errors):
        summary.notes.append(f"{triage.failures} errors in all; the first {len(summary.errors)} are listed")
    if not runs_failed:
        summary.watermarks.update({source: at.isoformat() for source, at in latest.items() if at is not None})
    held_back = list(streams) if runs_failed else [source for source in streams if source not in latest]
    if held_back:
        summary.notes.append(
            f"the watermark stays where it was ({', '.join(held_back)}): the next sweep reads these records again"
        )
    report_progress(summary.examined, summary.violations, final=True)
    return summary
