"""Asking for a release again (issue 12): after a denial, an expiry or a failure the request starts a new release
run (the earlier one kept, superseded); a release that waits or completed is returned, never duplicated; two
requests at once after a denial make one new run. Through the CLI and certsoar.api."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

from clidriver import Cli

from certsoar import api
from certsoar.config import load_config


def _contained(cli: Cli) -> dict[str, Any]:
    run = cli.json("run", "certificate-alert", "--alert", str(cli.lab.alerts["internal"]))
    contained = cli.json("approve", run["id"], "--as", "alice")
    assert contained["status"] == "completed"
    return contained


def _release_by_api(cli: Cli, run_id: str, analyst: str, comment: str) -> dict[str, Any]:
    return asyncio.run(api.release(load_config(str(cli.lab.config)), run_id, analyst=analyst, comment=comment))


def test_a_release_asked_again_after_a_denial_starts_anew_and_a_waiting_one_is_not_duplicated(cli: Cli) -> None:
    contained = _contained(cli)
    first = cli.json("release", contained["id"], "--as", "alice", "--comment", "false positive")
    assert cli.json("release", contained["id"], "--as", "carol", "--comment", "again")["id"] == first["id"]
    assert cli.json("deny", first["id"], "--as", "bob", "--comment", "not yet")["status"] == "denied"

    second = cli.json("release", contained["id"], "--as", "alice", "--comment", "pentest host PT-3, confirmed")
    assert second["id"] != first["id"] and second["status"] == "waiting_approval"
    assert second["alert_id"] == f"release:{contained['id']}"
    earlier = cli.json("runs", "show", first["id"])
    assert earlier["status"] == "denied" and f"superseded by run {second['id']}" in earlier["error"]
    assert _release_by_api(cli, contained["id"], "carol", "once more")["id"] == second["id"]  # waiting: the one

    done = cli.json("approve", second["id"], "--as", "bob")
    assert done["status"] == "completed"
    assert _release_by_api(cli, contained["id"], "alice", "and again")["id"] == second["id"]  # completed: the one
    assert cli.json("release", contained["id"], "--as", "alice", "--comment", "x")["id"] == second["id"]


def test_two_requests_at_once_after_a_denial_make_one_new_release(cli: Cli) -> None:
    contained = _contained(cli)
    first = _release_by_api(cli, contained["id"], "alice", "false positive")
    assert cli.json("deny", first["id"], "--as", "bob", "--comment", "not yet")["status"] == "denied"
    asking = [
        subprocess.Popen(
            [sys.executable, "-m", "certsoar", "release", contained["id"], "--as", who, "--comment", "fp", "--json"],
            env=cli.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in ("alice", "carol")
    ]
    outputs = [p.communicate(timeout=120) for p in asking]
    assert all(p.returncode == 0 for p in asking), outputs
    ids = {json.loads(out)["id"] for out, _ in outputs}
    assert len(ids) == 1 and first["id"] not in ids
    releases = [r for r in cli.json("runs", "list") if r["playbook"] == "certificate-release"]
    assert sorted(r["id"] for r in releases) == sorted([first["id"], *ids])
