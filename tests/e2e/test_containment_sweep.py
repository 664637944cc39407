"""The containment sweep against real targets: the lab's OpenSSL CA, nftables in a network namespace and the
Squid fingerprint list. A block removed by hand and a CRL past its nextUpdate are found; with
``sweeps.containment.repair`` both are made good through the ledger; a dry run writes nothing; an expired
approval is ended."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from realcomponents import require_network_namespaces

from certsoar import api
from certsoar.config import Config, load_config
from certsoar.intake import load_alert
from certsoar.lab import LabPaths, lab_paths

pytestmark = pytest.mark.real

EXPIRING = """\
id: expiring-approval
trigger: {alert: certificate}
steps:
  - id: approval
    approval: {roles: [soc-tier2], required: 1, expires: 1s}
  - id: block
    when: "{{ steps.approval.approved }}"
    action: firewall.block
    with: {addresses: ["{{ alert.dst_ip }}"]}
"""


@pytest.fixture
def namespace() -> Iterator[str]:
    require_network_namespaces()
    name = f"cs-{uuid.uuid4().hex[:10]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def nft(namespace: str, *args: str) -> str:
    done = subprocess.run(["ip", "netns", "exec", namespace, "nft", *args], capture_output=True, text=True, check=True)
    return done.stdout


def live_set(namespace: str) -> str:
    return nft(namespace, "list", "set", "inet", "certsoar", "blocked_servers")


class Lab:
    def __init__(self, pristine: Path, where: Path, namespace: str) -> None:
        shutil.copytree(pristine, where)
        self.paths: LabPaths = lab_paths(where / "lab")
        wrapper = where / "nft-in-namespace"
        wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {namespace} nft "$@"\n')
        wrapper.chmod(0o755)
        raw = yaml.safe_load(self.paths.config.read_text())
        raw["connectors"]["firewall"].update(apply=True, nft=str(wrapper))
        raw["connectors"]["notify"] = [{"type": "file", "outbox": "outbox"}]
        self.raw = raw
        self.write_config(repair=False)

    def write_config(self, *, repair: bool, warn_before: str = "2d") -> Config:
        self.raw["sweeps"] = {"containment": {"repair": repair, "crl_warn_before": warn_before}}
        self.paths.config.write_text(yaml.safe_dump(self.raw))
        return load_config(self.paths.config)

    def contain(self, config: Config, story: str) -> dict[str, Any]:
        run = asyncio.run(
            api.run_playbook(config, "certificate-alert", load_alert(self.paths.alerts[story].read_bytes()))
        )
        return asyncio.run(api.decide(config, run["id"], analyst="alice", decision="approved"))

    def rogue_serial(self) -> int:
        return x509.load_pem_x509_certificate(self.paths.certificates["rogue"].read_bytes()).serial_number

    def write_expired_crl(self) -> bytes:
        """A CRL the CA signed that lists the rogue certificate but is past its nextUpdate."""
        ca = x509.load_pem_x509_certificate(self.paths.ca_cert.read_bytes())
        key = serialization.load_pem_private_key((self.paths.ca_dir / "private" / "ca.key").read_bytes(), None)
        now = datetime.now(timezone.utc)
        revoked = (
            x509.RevokedCertificateBuilder()
            .serial_number(self.rogue_serial())
            .revocation_date(now - timedelta(days=3))
            .build()
        )
        crl = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca.subject)
            .last_update(now - timedelta(days=3))
            .next_update(now - timedelta(hours=1))
            .add_revoked_certificate(revoked)
            .add_extension(x509.CRLNumber(99), critical=False)
            .sign(key, hashes.SHA256())  # type: ignore[arg-type]
        )
        data = crl.public_bytes(serialization.Encoding.PEM)
        self.paths.crl.write_bytes(data)
        return data

    def openssl_verify_rogue(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "openssl",
                "verify",
                "-crl_check",
                "-CAfile",
                str(self.paths.ca_cert),
                "-CRLfile",
                str(self.paths.crl),
                str(self.paths.certificates["rogue"]),
            ],
            capture_output=True,
            text=True,
        )


def sweep(config: Config, *, dry_run: bool = False) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(the sweep's run, unless a dry run; its summary)."""
    summary = asyncio.run(api.run_sweep(config, "containment", dry_run=dry_run))
    assert summary["status"] == "completed" and summary["sweep"] == "containment", summary
    return (None if dry_run else api.show_run(config, summary["run"])), summary


def test_the_sweep_finds_drift_and_repairs_it_when_configured(
    pristine_lab: Path, tmp_path: Path, namespace: str
) -> None:
    lab = Lab(pristine_lab, tmp_path / "state", namespace)
    config = load_config(lab.paths.config)
    for story in ("mimicry", "internal"):
        assert lab.contain(config, story)["status"] == "completed"
    rogue = format(lab.rogue_serial(), "X")
    _, clean = sweep(config)
    assert (clean["drift"], clean["errors"]) == (0, [])
    in_force = clean["examined"]
    assert in_force >= 4  # a revocation, two servers, a fingerprint (and the internal story's server)

    # by hand: a block taken out of the live set, and a CRL left to run past its nextUpdate
    assert "203.0.113.45" in live_set(namespace)
    nft(namespace, "delete", "element", "inet", "certsoar", "blocked_servers", "{ 203.0.113.45 }")
    expired_crl = lab.write_expired_crl()
    assert lab.openssl_verify_rogue().returncode != 0  # openssl refuses the expired CRL too
    ruleset = (lab.paths.root / "firewall" / "certsoar.nft").read_bytes()

    _, found = sweep(config)
    problems = {d["key"]: d["problem"] for d in found["findings"]}
    assert set(problems) == {"firewall:nftables:block:203.0.113.45", f"ca:openssl-ca:revoke:{rogue}"}
    assert "past its nextUpdate" in problems[f"ca:openssl-ca:revoke:{rogue}"]
    assert (found["drift"], found["repaired"], found["examined"]) == (2, 0, in_force)
    assert not any(d["repaired"] for d in found["findings"])
    assert "203.0.113.45" not in live_set(namespace) and lab.paths.crl.read_bytes() == expired_crl

    config = lab.write_config(repair=True)
    _, planned = sweep(config, dry_run=True)
    assert [d["planned"] for d in planned["findings"]] == [True, True] and planned["repaired"] == 0
    assert "203.0.113.45" not in live_set(namespace) and lab.paths.crl.read_bytes() == expired_crl

    run, repaired = sweep(config)
    assert (repaired["drift"], repaired["repaired"], repaired["errors"]) == (2, 2, []), repaired
    assert run is not None and run["steps"][-1]["output"]["repaired"] == 2
    assert "203.0.113.45" in live_set(namespace)
    assert (lab.paths.root / "firewall" / "certsoar.nft").read_bytes() == ruleset
    verified = lab.openssl_verify_rogue()
    assert verified.returncode != 0 and "certificate revoked" in verified.stdout + verified.stderr
    fresh = x509.load_pem_x509_crl(lab.paths.crl.read_bytes())
    assert fresh.next_update_utc is not None and fresh.next_update_utc > datetime.now(timezone.utc)
    # the repairs are effects of the sweep's run, in its record and in the audit chain
    assert {e["key"] for e in run["effects"] if e["changed"] and e["verified"]} == set(problems)
    trail = api.audit_trail(config, run["id"])
    assert {json.loads(r["data"])["key"] for r in trail.records if r["event"] == "effect.done"} == set(problems)

    _, after = sweep(config)
    assert (after["drift"], after["examined"]) == (0, in_force)
    assert not [n for n in after["notes"] if "nextUpdate" in n]
    # the new CRL is good for crl_days (7): within a 30-day warning it is reported, not drift
    _, warned = sweep(lab.write_config(repair=True, warn_before="30d"))
    assert warned["drift"] == 0 and [n for n in warned["notes"] if "reaches its nextUpdate" in n]


def test_the_sweep_ends_expired_approvals(pristine_lab: Path, tmp_path: Path, namespace: str) -> None:
    lab = Lab(pristine_lab, tmp_path / "state", namespace)
    config = load_config(lab.paths.config)
    playbook = tmp_path / "expiring.yaml"
    playbook.write_text(EXPIRING)
    alert = load_alert(lab.paths.alerts["mimicry"].read_bytes())
    waiting = asyncio.run(api.run_playbook(config, str(playbook), alert))
    assert waiting["status"] == "waiting_approval"
    time.sleep(1.5)
    _, planned = sweep(config, dry_run=True)
    assert planned["expired_approvals"] == 1
    assert api.show_run(config, waiting["id"])["status"] == "waiting_approval"
    _, ended = sweep(config)
    assert ended["expired_approvals"] == 1
    assert api.show_run(config, waiting["id"])["status"] == "expired"
