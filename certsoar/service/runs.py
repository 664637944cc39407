"""The service's runs in the background: a bounded queue of accepted runs and a pool of workers.

``app.state.runs`` is a ``RunPool``. ``submit(playbook, alert, principal)`` persists the run as
queued (certsoar.api.submit) before anything is promised to the caller, then hands it to a worker;
QueueFull when ``service.queue_size`` runs already wait. ``service.workers`` workers execute runs
(certsoar.api.resume) one at a time each, each run in a thread with an event loop of its own
(``off_loop``), so a run's synchronous work (analysis, SIEM searches, store writes) never holds up the
loop that accepts alerts; connectors' file locks hold across threads (flock per open file). On start the pool takes every run the store holds queued or
cut short (certsoar.api.runs_to_resume), so an accepted alert survives a crash or a restart; a run
another live executor holds (the CLI) is left to it (the store's lease). Every ``EXPIRE_EVERY`` seconds
the pool ends runs whose approval expired (certsoar.api.expire_due_runs).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from certsoar import api
from certsoar.alert import CertificateAlert
from certsoar.config import Config
from certsoar.errors import CertsoarError, QueueFull, RunBusy
from certsoar.service.identity import Principal
from certsoar.service.metrics import Metrics
from certsoar.store import RunStore, utcnow

log = logging.getLogger("certsoar.service")

T = TypeVar("T")


async def off_loop(work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work()`` to completion in a worker thread on an event loop of its own."""

    def run() -> T:
        async def main() -> T:
            return await work()

        return asyncio.run(main())

    return await asyncio.to_thread(run)


COMMIT_BATCH = 500
"""Most submissions written in one transaction."""

EXPIRE_EVERY = 30.0
"""Seconds between sweeps for expired approvals."""


class RunPool:
    def __init__(self, config: Config, metrics: Metrics | None = None) -> None:
        self.config = config
        self.metrics = metrics
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: list[tuple[api.Submission, asyncio.Future[tuple[dict[str, Any], bool]]]] = []
        self._wake = asyncio.Event()
        self._store: RunStore | None = None

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    async def submit(self, playbook: str, alert: CertificateAlert, principal: Principal) -> tuple[dict[str, Any], bool]:
        """Persist and queue a run for ``alert``; (``{"id", "status"}``, created) once it is committed. The
        same alert id again returns its run (created False). QueueFull when ``service.queue_size`` runs
        wait; PlaybookError for a playbook that does not exist or validate (nothing stored).

        Commits are grouped: submissions that arrive while one commit is in progress are written together
        in the next (one transaction, one audit anchor), and each caller is answered only after the commit
        that holds its run.

        The requester of a run submitted through the API is the token's analyst (four eyes then forbids
        that analyst to approve it); a SOAR's token has no analyst, so its runs have no requester."""
        api.load_shipped_playbook(playbook)
        waiting = self._queue.qsize() + len(self._pending)
        if waiting >= self.config.service.queue_size:
            raise QueueFull(
                f"{waiting} accepted runs are waiting for a worker (service.queue_size); try again",
                retry_after=max(1, waiting // (self.config.service.workers * 10)),
            )
        answer: asyncio.Future[tuple[dict[str, Any], bool]] = asyncio.get_running_loop().create_future()
        submission = api.Submission(
            playbook=playbook,
            alert=alert,
            requester=principal.analyst,
            trigger=f"{principal.via}:{principal.name}",
            submitted_by=principal.name,
        )
        self._pending.append((submission, answer))
        self._wake.set()
        return await answer

    async def _committer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending[:COMMIT_BATCH], self._pending[COMMIT_BATCH:]
            if self._pending:
                self._wake.set()
            if not batch:
                continue
            try:
                results = await asyncio.to_thread(api.submit, self.config, [s for s, _ in batch], store=self._store)
            except Exception as exc:  # the whole transaction failed: every caller of the batch hears why
                for _, answer in batch:
                    if not answer.done():
                        answer.set_exception(exc)
                continue
            for (_, answer), (ref, created) in zip(batch, results, strict=True):
                if created:
                    self._enqueue(ref["id"])  # committed: queued even if its caller has gone
                if not answer.done():
                    answer.set_result((ref, created))

    def _enqueue(self, run_id: str) -> None:
        if run_id not in self._queued:
            self._queued.add(run_id)
            self._queue.put_nowait(run_id)

    async def start(self) -> None:
        self._store = api.open_store(self.config)
        for run_id in api.runs_to_resume(self.config):
            self._enqueue(run_id)
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(self.config.service.workers)]
        self._tasks.append(asyncio.create_task(self._expiry()))
        self._tasks.append(asyncio.create_task(self._committer()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._store is not None:
            self._store.close()
            self._store = None

    async def _worker(self) -> None:
        while True:
            run_id = await self._queue.get()
            self._queued.discard(run_id)
            began = utcnow()
            try:
                run = await off_loop(functools.partial(api.resume, self.config, run_id))
            except RunBusy:
                log.info("run %s is executed by another process; left to it", run_id)
                continue
            except CertsoarError as exc:
                log.warning("run %s: %s", run_id, exc)
                continue
            except Exception:  # a bug must not take the worker down: the run stays resumable
                log.exception("run %s: unexpected error", run_id)
                continue
            finally:
                self._queue.task_done()
            if self.metrics is not None:
                self.metrics.observe_run(run, began)

    async def _expiry(self) -> None:
        while True:
            try:
                for run in await off_loop(lambda: api.expire_due_runs(self.config)):
                    log.info("run %s: approval expired, ended", run["id"])
            except CertsoarError as exc:
                log.warning("expiring approvals: %s", exc)
            await asyncio.sleep(EXPIRE_EVERY)
