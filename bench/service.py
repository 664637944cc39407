"""Load on the live service (`make bench` runs it after bench/run.py): `certsoar serve` on a loopback port
against a fresh lab, an httpx load generator with a bounded number of alerts.

Reports alerts accepted per second, p50/p99 accept latency, lost alerts (a 202 whose run is not in the
store after the service is killed with SIGKILL: must be 0) and approvals per second end to end (approve
to completed, containment verified). Writes bench/results/service.json. Nothing here asserts a speed.

    python bench/service.py [--alerts 1000] [--concurrency 32] [--approvals 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from certsoar.api import list_runs
from certsoar.config import load_config
from certsoar.lab import ensure_lab, lab_paths
from certsoar.service.identity import new_token


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Live:
    """`certsoar serve` on a fresh lab with one token of every scope."""

    def __init__(self, root: Path, workers: int = 4) -> None:
        ensure_lab(root)
        self.lab = lab_paths(root / "lab")
        self.token, entry = new_token("bench", analyst="alice", scopes=["alerts", "read"])
        self.approver, approver_entry = new_token("bench-bob", analyst="bob", scopes=["read", "decide"])
        with self.lab.config.open("a", encoding="utf-8") as config:
            config.write(
                f"service:\n  workers: {workers}\n  queue_size: 1000000\n  tokens:\n    - {entry}\n    - {approver_entry}\n"
            )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CERTSOAR_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "certsoar", "serve", "--config", str(self.lab.config), "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise SystemExit("certsoar serve did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


async def post_alerts(live: Live, bodies: list[bytes], concurrency: int) -> tuple[list[str], list[float], int, float]:
    """Post every body; (accepted run ids, latencies of the accepted, refusals, wall seconds)."""
    headers = {"Authorization": f"Bearer {live.token}", "Content-Type": "application/json"}
    pending = list(reversed(bodies))
    accepted: list[str] = []
    latencies: list[float] = []
    refused = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal refused
        while pending:
            body = pending.pop()
            began = time.perf_counter()
            r = await client.post("/v1/alerts", content=body, headers=headers)
            if r.status_code == 202:
                latencies.append(time.perf_counter() - began)
                accepted.append(r.json()["id"])
            else:
                refused += 1

    async with httpx.AsyncClient(base_url=live.url, limits=limits, timeout=60) as client:
        began = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - began
    return accepted, latencies, refused, wall


async def framework_rate(live: Live, count: int, concurrency: int) -> float:
    """GET /healthz per second with the same concurrency, workers idle: what HTTP alone costs here."""
    left = [count]

    async def worker(client: httpx.AsyncClient) -> None:
        while left[0] > 0:
            left[0] -= 1
            (await client.get("/healthz")).raise_for_status()

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=live.url, limits=limits, timeout=60) as client:
        began = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return count / (time.perf_counter() - began)


async def wait_for(client: httpx.AsyncClient, run_ids: list[str], status: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    for run_id in run_ids:
        while (await client.get(f"/v1/runs/{run_id}")).json()["status"] != status:
            if time.monotonic() > deadline:
                raise SystemExit(f"run {run_id} did not reach {status}")
            await asyncio.sleep(0.2)


async def approvals(live: Live, bodies: list[bytes]) -> tuple[float, int]:
    """Queue the alerts, wait until every run waits for approval, then approve all at once: approvals/s
    from the first approve to the last run completed (containment read back)."""
    headers = {"Authorization": f"Bearer {live.approver}"}
    accepted, _, _, _ = await post_alerts(live, bodies, 8)
    async with httpx.AsyncClient(base_url=live.url, headers=headers, timeout=300) as client:
        await wait_for(client, accepted, "waiting_approval")
        began = time.perf_counter()
        answers = await asyncio.gather(*(client.post(f"/v1/runs/{r}/approve", json={}) for r in accepted))
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers if a.status_code != 200]
        await wait_for(client, accepted, "completed")
        return time.perf_counter() - began, len(accepted)


def alert_bodies(lab_alert: Path, count: int, prefix: str) -> list[bytes]:
    base = json.loads(lab_alert.read_text())
    return [json.dumps({**base, "id": f"{prefix}-{i}"}).encode() for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--approvals", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4, help="service.workers while alerts are accepted")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0],
        "alerts": args.alerts,
        "concurrency": args.concurrency,
        "workers": args.workers,
    }
    with tempfile.TemporaryDirectory(prefix="certsoar-bench-") as tmp:
        live = Live(Path(tmp) / "accept", workers=args.workers)
        live.start()
        try:
            bodies = alert_bodies(live.lab.alerts["mimicry"], args.alerts, "bench")
            results["healthz_per_second"] = round(asyncio.run(framework_rate(live, args.alerts, args.concurrency)), 1)
            accepted, latencies, refused, wall = asyncio.run(post_alerts(live, bodies, args.concurrency))
        finally:
            live.kill()  # SIGKILL at once: what was accepted must be in the store
        stored = {r["id"] for r in list_runs(load_config(live.lab.config), limit=args.alerts * 2)}
        results.update(
            accepted=len(accepted),
            refused=refused,
            accepted_per_second=round(len(accepted) / wall, 1),
            accept_p50_ms=round(percentile(latencies, 50) * 1000, 2),
            accept_p99_ms=round(percentile(latencies, 99) * 1000, 2),
            lost=len(set(accepted) - stored),
        )
        live = Live(Path(tmp) / "approve")
        live.start()
        try:
            seconds, approved = asyncio.run(
                approvals(live, alert_bodies(live.lab.alerts["mimicry"], args.approvals, "ap"))
            )
        finally:
            live.kill()
        results.update(approved=approved, approvals_per_second=round(approved / seconds, 2))
    results["limits"] = (
        "healthz_per_second is HTTP alone (uvicorn, FastAPI, loopback, this load generator on the same cores): "
        "the ceiling for accepts here. Accepting adds the token check, parsing and a grouped commit (one "
        "SQLite transaction and one audit anchor per batch); the workers' runs (certificate analysis, SIEM "
        "searches) execute in threads of the same process and share its interpreter lock with the accepting "
        "loop. approvals: each approve executes the containment (openssl ca -revoke/-gencrl, ruleset and "
        "list rewrites under their file locks, read-backs) in the deciding request."
    )
    for key, value in results.items():
        print(f"{key:>22}: {value}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "service.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
