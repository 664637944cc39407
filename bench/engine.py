"""The engine's own cost (`make bench`): what running a playbook adds on top of the actions it calls.

- engine overhead: the shipped certificate-alert playbook, escalated, approved and contained, with
  instant in-memory connectors (every Protocol method returns at once), against a direct replay that
  awaits the same action functions with the same inputs in the same order (a parallel block's steps
  concurrently), on the same kind of store.
- fan-out: the same run with SIEM look-ups that each take 100 ms: the wall time against its critical
  path (the steps that must follow one another), showing whether `parallel` overlaps them.
- journal cost: runs per second with the SQLite store in a file and in memory.
- a profile of the engine run, the top functions by cumulative time.

Writes bench/results/engine.json. Nothing here asserts a speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import inspect
import io
import json
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from certsoar import api, runner
from certsoar.alert import CertificateAlert
from certsoar.config import Config, load_config
from certsoar.connections import Connections
from certsoar.connectors.ca import IssuedCertificate, RevocationReason, RevocationStatus
from certsoar.connectors.notify import Message
from certsoar.connectors.siem import SiemQuery
from certsoar.connectors.ticket import Ticket, TicketStatus
from certsoar.context import ActionContext
from certsoar.intake import load_alert
from certsoar.lab import ensure_lab, lab_paths
from certsoar.ledger import EffectLedger
from certsoar.registry import ActionSpec
from certsoar.store import RunStore, utcnow
from certsoar.templating import Templates

SIEM_DELAY = 0.1
RESULTS: dict[str, Any] = {}


# instant connectors -------------------------------------------------------------------------------


class InstantCa:
    def __init__(self, roots: list[str], issued: dict[str, IssuedCertificate]) -> None:
        self.roots, self.issued, self.revoked = roots, issued, set[str]()

    async def ca_certificates(self) -> list[str]:
        return self.roots

    async def list_issued(self, since: Any = None) -> list[IssuedCertificate]:
        return list(self.issued.values())

    async def certificate(self, serial: str) -> IssuedCertificate | None:
        return self.issued.get(serial)

    async def status(self, serial: str) -> RevocationStatus:
        revoked = serial in self.revoked
        return RevocationStatus(
            serial=serial,
            known=serial in self.issued,
            revoked=revoked,
            reason="keyCompromise" if revoked else None,
            in_crl=revoked,
        )

    async def revoke(self, serial: str, reason: RevocationReason) -> RevocationStatus:
        self.revoked.add(serial)
        return await self.status(serial)


class InstantFirewall:
    def __init__(self) -> None:
        self.addresses: set[str] = set()

    async def blocked(self) -> set[str]:
        return set(self.addresses)

    async def block(self, addresses: list[str], comment: str) -> None:
        self.addresses.update(addresses)


class InstantProxy:
    def __init__(self) -> None:
        self.fingerprints: set[str] = set()

    async def blocked_fingerprints(self) -> set[str]:
        return set(self.fingerprints)

    async def block_fingerprint(self, sha1: str, comment: str) -> None:
        self.fingerprints.add(sha1)


class InstantTickets:
    def __init__(self) -> None:
        self.tickets: dict[str, Ticket] = {}

    async def find(self, key: str) -> Ticket | None:
        return self.tickets.get(key)

    async def open(self, key: str, title: str, body: str, severity: str) -> Ticket:
        if key not in self.tickets:
            self.tickets[key] = Ticket(
                id=f"T-{len(self.tickets) + 1}",
                key=key,
                title=title,
                severity=severity,
                status="open",
                created=utcnow(),
            )
        return self.tickets[key]

    async def comment(self, ticket_id: str, text: str, status: TicketStatus | None = None) -> Ticket:
        [ticket] = [t for t in self.tickets.values() if t.id == ticket_id]
        update: dict[str, Any] = {"comments": [*ticket.comments, text]}
        if status is not None:
            update["status"] = status
        self.tickets[ticket.key] = ticket.model_copy(update=update)
        return self.tickets[ticket.key]


class Notifier:
    async def send(self, message: Message) -> str:
        return "sent"


class Siem:
    """Finds nothing, after ``delay`` seconds; ``started`` keeps when each search began."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.started: list[float] = []

    async def search(self, query: SiemQuery) -> list[Any]:
        self.started.append(time.perf_counter())
        if self.delay:
            await asyncio.sleep(self.delay)
        return []


def waves(started: list[float], delay: float) -> int:
    """How many searches had to wait for another: searches that began within half a delay of the first of
    their wave ran side by side; the next wave began only when an earlier search had answered."""
    count, first = 0, None
    for moment in sorted(started):
        if first is None or moment - first > delay / 2:
            count, first = count + 1, moment
    return count


# the run --------------------------------------------------------------------------------------------


class Lab:
    def __init__(self, root: Path) -> None:
        ensure_lab(root)
        paths = lab_paths(root / "lab")
        self.config: Config = load_config(paths.config)
        self.alert: CertificateAlert = load_alert(paths.alerts["internal"].read_bytes(), format="generic")
        real = Connections(self.config).ca
        self.roots: list[str] = asyncio.run(real.ca_certificates())
        self.issued = {c.serial: c for c in asyncio.run(real.list_issued())}

    def connections(self, store: RunStore | None, siem_delay: float = 0.0) -> Connections:
        return Connections(
            self.config,
            store,
            overrides={
                "ca": InstantCa(self.roots, self.issued),
                "firewall": InstantFirewall(),
                "proxy": InstantProxy(),
                "ticket": InstantTickets(),
                "siem": Siem(siem_delay),
                "notify": [("bench", Notifier())],
            },
        )

    def fresh(self, state: Path) -> Config:
        """The config with a state dir of its own whose store exists already (created, keyed, its audit anchored),
        as on any machine after its first run: making a store is no run's cost."""
        with RunStore.in_state_dir(state) as store:
            store.audit(None, "bench.prepared", {})
        return self.config.model_copy(update={"state_dir": state})

    def fresh_ones(self, tmp: Path, prefix: str, count: int) -> list[Config]:
        return [self.fresh(tmp / f"{prefix}-{i}") for i in range(count)]


Call = tuple[ActionSpec, BaseModel, ActionContext]


async def engine_run(config: Config, lab: Lab, siem_delay: float = 0.0, alert_id: str | None = None) -> list[Call]:
    """One escalated run, approved and contained, through certsoar.api; returns the action calls it made."""
    alert = lab.alert if alert_id is None else lab.alert.model_copy(update={"id": alert_id})
    calls: list[Call] = []
    original = ActionSpec.__call__

    async def recording(spec: ActionSpec, inp: BaseModel, ctx: ActionContext) -> BaseModel:
        calls.append((spec, inp, ctx))
        return await original(spec, inp, ctx)

    ActionSpec.__call__ = recording  # type: ignore[method-assign, assignment]
    try:
        connections = lab.connections(None, siem_delay)  # every connector is an override: none reads the store
        run = await api.run_playbook(config, "certificate-alert", alert, connections=connections)
        assert run["status"] == "waiting_approval", run["status"]
        done = await api.decide(config, run["id"], analyst="alice", decision="approved", connections=connections)
        assert done["status"] == "completed", (done["status"], done.get("error"))
    finally:
        ActionSpec.__call__ = original  # type: ignore[method-assign]
    return calls


def groups_of(calls: list[Call]) -> list[list[Call]]:
    """The calls in their order, those of one parallel block of the playbook together."""
    book, _ = api.load_checked_playbook("certificate-alert")
    block_of = {child.id: step.id for step in book.steps if step.parallel for child in step.walk() if child is not step}
    groups: list[list[Call]] = []
    for call in calls:
        block = block_of.get(call[2].step_id)
        if groups and block is not None and block_of.get(groups[-1][0][2].step_id) == block:
            groups[-1].append(call)
        else:
            groups.append([call])
    return groups


async def direct_run(config: Config, lab: Lab, groups: list[list[Call]], siem_delay: float = 0.0) -> None:
    """The same action calls, awaited by hand: a parallel block's concurrently, the rest one by one."""
    with RunStore.in_state_dir(config.state_dir) as store, store.one_anchor():  # anchored once, as a run is
        connections = lab.connections(store, siem_delay)
        templates = Templates()
        run_id = "direct"
        for group in groups:

            def call(spec: ActionSpec, inp: BaseModel, recorded: ActionContext) -> Awaitable[BaseModel]:
                ctx = ActionContext(
                    run_id=run_id,
                    step_id=recorded.step_id,
                    dry_run=False,
                    now=utcnow(),
                    config=config,
                    connectors=connections,
                    ledger=EffectLedger(store, store, run_id, dry_run=False),
                    templates=templates,
                    variables=recorded.variables,
                )
                return spec.fn(inp, ctx)

            await asyncio.gather(*(call(*c) for c in group))


def timed(repeats: int, *fns: Callable[[int], Awaitable[object]]) -> list[float]:
    """The median wall time of each ``fn(i)`` over ``repeats``, taken in turns (a load that comes and goes on
    the machine falls on each alike) and all in one event loop (starting one is nobody's cost)."""

    async def measure() -> list[float]:
        times: list[list[float]] = [[] for _ in fns]
        for i in range(repeats):
            for fn, kept in zip(fns, times, strict=True):
                start = time.perf_counter()
                await fn(i)
                kept.append(time.perf_counter() - start)
        return [statistics.median(kept) for kept in times]

    return asyncio.run(measure())


def engine_and_direct(lab: Lab, tmp: Path, groups: list[list[Call]], repeats: int) -> list[float]:
    engines, directs = lab.fresh_ones(tmp, "engine", repeats), lab.fresh_ones(tmp, "direct", repeats)
    return timed(repeats, lambda i: engine_run(engines[i], lab), lambda i: direct_run(directs[i], lab, groups))


def bench_overhead(lab: Lab, tmp: Path, repeats: int = 15) -> list[Call]:
    calls = asyncio.run(engine_run(lab.fresh(tmp / "warm-engine"), lab))
    groups = groups_of(calls)
    asyncio.run(direct_run(lab.fresh(tmp / "warm-direct"), lab, groups))
    for where in ("file", "memory"):
        with in_memory_stores() if where == "memory" else contextlib.nullcontext():
            engine, direct = engine_and_direct(lab, tmp / where, groups, repeats)
        steps = len(calls)
        per_step_us = (engine - direct) / steps * 1e6
        RESULTS["engine_overhead" if where == "file" else "engine_overhead_in_memory"] = {
            "engine_ms": engine * 1000,
            "direct_ms": direct * 1000,
            "ratio": engine / direct,
            "overhead_ms_per_run": (engine - direct) * 1000,
            "steps": steps,
            "overhead_us_per_step": per_step_us,
        }
        label = "engine overhead" if where == "file" else "engine overhead, run store in memory"
        print(f"{label}: engine run {engine * 1000:.1f} ms, direct {direct * 1000:.1f} ms, {steps} action calls")
        print(f"{label}: {engine / direct:.2f}x direct ({per_step_us:.0f} µs per step)", flush=True)
    return calls


def bench_fan_out(lab: Lab, tmp: Path, repeats: int = 5) -> None:
    """Slow SIEM searches: the wall time against the critical path, which is the same run with instant
    searches plus one search's delay per wave of searches that had to follow one another (a search whose
    query needs an earlier answer, as the traffic baseline needs the first sighting)."""
    seen: list[int] = []

    async def slow(i: int) -> None:
        calls = await engine_run(slows[i], lab, SIEM_DELAY)
        siem = calls[0][2].connectors.siem
        seen[:] = [len(siem.started), waves(siem.started, SIEM_DELAY)]

    instants, slows = lab.fresh_ones(tmp, "cp", repeats), lab.fresh_ones(tmp, "fan", repeats)
    instant, wall = timed(repeats, lambda i: engine_run(instants[i], lab), slow)
    searches, in_waves = seen
    critical = instant + SIEM_DELAY * in_waves
    serial = instant + SIEM_DELAY * searches
    RESULTS["fan_out"] = {
        "wall_ms": wall * 1000,
        "critical_path_ms": critical * 1000,
        "one_after_another_ms": serial * 1000,
        "ratio": wall / critical,
        "searches": searches,
        "waves": in_waves,
        "siem_delay_ms": SIEM_DELAY * 1000,
    }
    print(
        f"{searches} SIEM searches in {in_waves} waves, {SIEM_DELAY * 1000:.0f} ms each: wall {wall * 1000:.0f} ms, "
        f"critical path {critical * 1000:.0f} ms, one after another {serial * 1000:.0f} ms",
        flush=True,
    )
    print(f"fan-out: {wall / critical:.2f}x critical path", flush=True)


def bench_journal(lab: Lab, tmp: Path, runs: int = 20) -> None:
    """Runs per second with the run store in a file (durable) and in memory (what durability costs)."""

    in_files = lab.fresh_ones(tmp, "j", runs)
    [in_file] = timed(1, lambda _: _runs(in_files, lab))
    with in_memory_stores():
        in_memories = lab.fresh_ones(tmp, "m", runs)
        [in_memory] = timed(1, lambda _: _runs(in_memories, lab))
    RESULTS["journal"] = {"file_runs_per_s": runs / in_file, "memory_runs_per_s": runs / in_memory}
    print(f"journal: {runs / in_file:.1f} runs/s with SQLite in a file, {runs / in_memory:.1f} in memory", flush=True)


@contextlib.contextmanager
def in_memory_stores() -> Iterator[None]:
    """Within the block a state dir's run store is an in-memory one, the same for every ``with`` of it (one per
    state dir, as each file run has its own): what a run costs without durability."""
    original = RunStore.in_state_dir
    stores: dict[Path, RunStore] = {}

    def in_memory_store(cls: type[RunStore], state_dir: Path, **kw: Any) -> Any:
        return _Shared(stores.setdefault(Path(state_dir), RunStore(":memory:")))

    RunStore.in_state_dir = classmethod(in_memory_store)  # type: ignore[method-assign, assignment]
    try:
        yield
    finally:
        RunStore.in_state_dir = original  # type: ignore[method-assign]


class _Shared:
    """One in-memory store that every ``with`` of the run reuses (closing it would drop the database)."""

    def __init__(self, store: RunStore) -> None:
        self.store = store

    def __enter__(self) -> RunStore:
        return self.store

    def __exit__(self, *exc: object) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


PARTS: dict[str, list[tuple[Any, str]]] = {
    "actions (their ledger writes included)": [(ActionSpec, "__call__")],
    "journal writes (one transaction a step)": [
        (RunStore, name) for name in ("create_runs", "record_step", "update_run", "open_approval", "decide")
    ],
    "reading the run back for the caller, audit-checked": [(api, "run_view")],
    "opening and closing the store": [(RunStore, "__init__"), (RunStore, "close")],
    "anchoring the audit head (a WAL sync, a file)": [(RunStore, "_anchor_audit_head")],
    "expressions (with:, when:)": [(runner, "evaluate"), (runner, "truthy")],
}
"""Where an engine run's time goes, by the functions that do each part (none calls another's)."""


def breakdown(lab: Lab, tmp: Path, runs: int = 15) -> None:
    spent = dict.fromkeys(PARTS, 0.0)
    originals = [(owner, name, getattr(owner, name)) for parts in PARTS.values() for owner, name in parts]

    def timing(part: str, fn: Any) -> Any:
        if inspect.iscoroutinefunction(fn):

            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    return await fn(*args, **kwargs)
                finally:
                    spent[part] += time.perf_counter() - start

            return timed_async

        def timed_sync(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[part] += time.perf_counter() - start

        return timed_sync

    configs = lab.fresh_ones(tmp, "parts", runs)
    for part, functions in PARTS.items():
        for owner, name in functions:
            setattr(owner, name, timing(part, getattr(owner, name)))
    try:
        [total] = timed(1, lambda _: _runs(configs, lab))
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
    rest = total - sum(spent.values())
    RESULTS["engine_run_parts_ms"] = {**{k: v / runs * 1000 for k, v in spent.items()}, "the rest": rest / runs * 1000}
    print(f"where an engine run's {total / runs * 1000:.1f} ms go (store in a file):")
    for part, seconds in [*spent.items(), ("the rest (the runner's own code, the bench's fakes)", rest)]:
        print(f"  {seconds / runs * 1000:7.2f} ms  {part}")


async def _runs(configs: list[Config], lab: Lab) -> None:
    for config in configs:
        await engine_run(config, lab)


def profile(lab: Lab, tmp: Path, runs: int = 10) -> None:
    configs = lab.fresh_ones(tmp, "profiled", runs)
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(_runs(configs, lab))
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("tottime")
    stats.print_stats(10)
    top = [
        {"function": f"{Path(file).name}:{line}({name})", "calls": nc, "tottime_ms": tt / runs * 1000}
        for (file, line, name), (_, nc, tt, _, _) in sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:10]  # type: ignore[attr-defined]
    ]
    RESULTS["profile_top10_per_run"] = top
    print("profile of the engine run, top ten by own time (per run):")
    for row in top:
        print(f"  {row['tottime_ms']:7.2f} ms  {row['calls']:6d} calls  {row['function']}")


HELD_BACK = {
    "journal writes (one transaction a step)": "each step's record commits before the next step starts, so a "
    "resume never runs a finished step again",
    "opening and closing the store": "the approval is a second call that opens the store again, and SQLite "
    "checkpoints the WAL, synced, when the last connection closes",
    "anchoring the audit head (a WAL sync, a file)": "once per call, after syncing the WAL, so that the anchor "
    "never leads the database after a power cut",
    "reading the run back for the caller, audit-checked": "the run a caller gets is checked against the audit log",
}


def verdict() -> None:
    """The goals, met or not; when not, the measured parts that hold them back and what each buys."""
    overhead, fan_out = RESULTS["engine_overhead"], RESULTS["fan_out"]
    met = overhead["ratio"] <= 1.2 and overhead["overhead_ms_per_run"] < 2
    print(
        f"goal engine overhead <= 1.20x and < 2 ms a run: {'met' if met else 'not met'} "
        f"({overhead['ratio']:.2f}x, {overhead['overhead_ms_per_run']:.1f} ms a run)"
    )
    if not met:
        print("  (the direct replay opens and closes the store once and anchors once too; the engine twice)")
        parts = RESULTS["engine_run_parts_ms"]
        for part, why in HELD_BACK.items():
            print(f"  held back by {part}: {parts[part]:.1f} ms a run; {why}")
    print(f"goal fan-out <= 1.20x: {'met' if fan_out['ratio'] <= 1.2 else 'not met'} ({fan_out['ratio']:.2f}x)")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="certsoar-bench-engine-") as name:
        tmp = Path(name)
        lab = Lab(tmp / "pristine")
        bench_overhead(lab, tmp)
        bench_fan_out(lab, tmp)
        bench_journal(lab, tmp)
        breakdown(lab, tmp)
        profile(lab, tmp)
    verdict()
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "engine.json").write_text(json.dumps({"python": sys.version.split()[0], "results": RESULTS}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
