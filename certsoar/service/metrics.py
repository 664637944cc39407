"""The service's Prometheus metrics (prometheus-client), one registry per app.

Alerts accepted and refused (by reason), runs by status and queue depth (read when scraped), step
latency by action and connector errors by connector kind (from each run a worker executed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONNECTOR_KINDS = ("siem", "ca", "firewall", "proxy", "ticket", "notify")
"""Action prefixes that name the connector kind the action calls."""


class _Live(Collector):
    """Gauges read at scrape time: runs by status (from the store) and the queue depth."""

    def __init__(self, run_counts: Callable[[], dict[str, int]], queue_depth: Callable[[], int]) -> None:
        self._run_counts = run_counts
        self._queue_depth = queue_depth

    def collect(self) -> Iterator[GaugeMetricFamily]:
        runs = GaugeMetricFamily("certsoar_runs", "Runs in the store by status.", labels=["status"])
        for status, count in sorted(self._run_counts().items()):
            runs.add_metric([status], count)
        yield runs
        yield GaugeMetricFamily(
            "certsoar_queue_depth", "Accepted runs waiting for a worker.", value=self._queue_depth()
        )


class Metrics:
    def __init__(self, run_counts: Callable[[], dict[str, int]], queue_depth: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        self.alerts_accepted = Counter(
            "certsoar_alerts_accepted", "Alerts accepted (a run queued).", registry=self.registry
        )
        self.alerts_refused = Counter(
            "certsoar_alerts_refused", "Alerts refused, by reason.", ["reason"], registry=self.registry
        )
        self.step_seconds = Histogram(
            "certsoar_step_seconds", "Step latency by action.", ["action"], registry=self.registry
        )
        self.connector_errors = Counter(
            "certsoar_connector_errors",
            "Failed steps of connector actions, by connector kind.",
            ["connector"],
            registry=self.registry,
        )
        self.registry.register(_Live(run_counts, queue_depth))

    def observe_run(self, run: dict[str, Any], since: datetime) -> None:
        """Record the steps of ``run`` that finished at or after ``since`` (this execution's)."""
        for step in run.get("steps", []):
            action, started, finished = step.get("action"), step.get("started"), step.get("finished")
            if not action or not started or not finished:
                continue
            end = datetime.fromisoformat(finished)
            if end < since:
                continue
            self.step_seconds.labels(action=action).observe(
                max(0.0, (end - datetime.fromisoformat(started)).total_seconds())
            )
            kind = action.partition(".")[0]
            if step.get("status") in ("error", "failed") and kind in CONNECTOR_KINDS:
                self.connector_errors.labels(connector=kind).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
