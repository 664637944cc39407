"""Several runs approved at the same instant, each by its own `certsoar approve` process: every
server address ends in the ruleset and every fingerprint in the Squid list, as each run claims."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
from multiprocessing.synchronize import Barrier as BarrierType
from pathlib import Path

from clidriver import Cli

RUNS = 6
PLAYBOOK = """\
id: block-on-approval
trigger: {alert: certificate}
steps:
  - id: approval
    approval: {roles: [soc-tier2], required: 1, expires: 1h}
  - id: contain
    when: "{{ steps.approval.approved }}"
    parallel:
      - id: block_servers
        action: firewall.block
        with: {addresses: ["{{ alert.dst_ip }}"], comment: "run {{ run.id }}"}
      - id: block_cert
        action: proxy.block_certificate
        with: {sha1: "{{ alert.sha1 }}", comment: "run {{ run.id }}"}
"""


def _approve(
    cli: Cli, config: str, run_id: str, start: BarrierType, results: "multiprocessing.Queue[tuple[str, int, str]]"
) -> None:
    start.wait()  # every approval is released at the same instant
    done = cli.run("approve", run_id, "--as", "alice", "--config", config, "--json")
    results.put((run_id, done.returncode, done.stdout or done.stderr))


def test_runs_approved_at_the_same_instant_lose_no_block(cli: Cli, tmp_path: Path) -> None:
    config = str(cli.lab.config)
    playbook = tmp_path / "block.yaml"
    playbook.write_text(PLAYBOOK)
    wanted: dict[str, tuple[str, str]] = {}
    for n in range(RUNS):
        sha1 = hashlib.sha1(f"rogue-{n}".encode()).hexdigest()
        address = f"203.0.113.{100 + n}"
        alert = tmp_path / f"alert{n}.json"
        alert.write_text(
            json.dumps(
                {
                    "id": f"concurrent-{n}",
                    "time": "2026-11-27T08:00:00Z",
                    "host": "ws-1",
                    "src_ip": "10.20.0.37",
                    "dst_ip": address,
                    "dst_port": 443,
                    "sha1": sha1,
                }
            )
        )
        started = cli.json("run", str(playbook), "--alert", str(alert), "--config", config)
        assert started["status"] == "waiting_approval", started
        wanted[started["id"]] = (address, sha1)

    context = multiprocessing.get_context("fork")
    start = context.Barrier(RUNS)
    results: multiprocessing.Queue[tuple[str, int, str]] = context.Queue()
    processes = [context.Process(target=_approve, args=(cli, config, run_id, start, results)) for run_id in wanted]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=240) for _ in processes]
    for process in processes:
        process.join(timeout=60)

    for run_id, code, output in outcomes:
        assert code == 0, output
        run = json.loads(output)
        assert run["status"] == "completed", output
        assert {e["target"] for e in run["effects"] if e["verified"]} == set(wanted[run_id]), output
    ruleset = cli.lab.root / "firewall" / "certsoar.nft"
    fingerprints = cli.lab.root / "proxy" / "rogue-certs.txt"
    rules = ruleset.read_text()
    assert [address for address, _ in wanted.values() if f"\t{address} comment" not in rules] == [], rules
    listed = fingerprints.read_text()
    colon = {sha1: ":".join(sha1[i : i + 2] for i in range(0, 40, 2)).upper() for _, sha1 in wanted.values()}
    assert [sha1 for sha1, line in colon.items() if f"\n{line}\n" not in listed] == [], listed
