"""``certsoar demo``: both stories on the bundled lab, each approved, contained and proven."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from cryptography import x509

from certsoar.api import decide, run_playbook
from certsoar.config import default_state_dir, load_config
from certsoar.intake import load_alert
from certsoar.lab import LabPaths, ensure_lab
from certsoar.report import describe_run
from certsoar.store import GateStatus, RunStatus

PLAYBOOK = "certificate-alert"
STORIES = (
    ("mimicry", "Story 1: a self-signed certificate whose issuer imitates DigiCert"),
    ("mimicry-suricata", "Story 1, again: Suricata reports the same certificate; nothing is done twice"),
    ("internal", "Story 2: our internal CA issued a certificate for login.microsoftonline.com"),
)


def _say(text: str = "") -> None:
    print(text, flush=True)


def _banner(title: str) -> None:
    _say()
    _say("=" * 78)
    _say(title)
    _say("=" * 78)


def _openssl(*args: str, cwd: Path) -> str:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    return (done.stdout + done.stderr).strip()


def _proofs(lab: LabPaths, runs: list[dict[str, Any]]) -> None:
    _banner("Independent proof, read from the targets themselves")
    rogue = lab.certificates["rogue"]
    serial = format(x509.load_pem_x509_certificate(rogue.read_bytes()).serial_number, "X")
    if len(serial) % 2:
        serial = "0" + serial
    _say(f"$ openssl ca -config {lab.ca_config.name} -status {serial}")
    _say(_openssl("ca", "-config", str(lab.ca_config), "-status", serial, cwd=lab.ca_dir))
    _say(f"$ openssl verify -crl_check -CAfile ca.pem -CRLfile crl.pem {rogue.name}")
    _say(
        _openssl(
            "verify", "-crl_check", "-CAfile", str(lab.ca_cert), "-CRLfile", str(lab.crl), str(rogue), cwd=lab.ca_dir
        )
    )
    for label, path in (
        ("firewall (nftables ruleset)", lab.root / "firewall" / "certsoar.nft"),
        ("proxy (Squid server_cert_fingerprint list)", lab.root / "proxy" / "rogue-certs.txt"),
    ):
        _say(f"--- {label}: {path}")
        _say(path.read_text(encoding="utf-8").rstrip() if path.exists() else "(not written)")
    outbox = sorted((lab.root / "outbox").glob("*"))
    _say(f"--- outbox: {len(outbox)} notification(s) in {lab.root / 'outbox'}")
    for f in outbox:
        _say(f"    {f.name}")
    for run in runs:
        ticket = run.get("ticket")
        _say(f"--- run {run['id']}: status {run['status']}, ticket {ticket['id'] if ticket else '-'}")


async def run_demo(state_dir: Path | None) -> int:
    state = Path(state_dir) if state_dir else default_state_dir()
    lab = ensure_lab(state)
    config = load_config(lab.config)
    _say(f"certsoar demo: lab in {lab.root} (config {lab.config})")
    _say("Notifications go to the console (below, on stderr) and to the outbox folder.")
    runs = []
    for key, title in STORIES:
        _banner(title)
        alert = load_alert(lab.alerts[key].read_bytes())
        _say(f"$ certsoar run {PLAYBOOK} --alert {lab.alerts[key]}    # detected: {alert.source_format}")
        run = await run_playbook(config, PLAYBOOK, alert, requester="carol")
        _say(describe_run(run))
        if run["status"] == RunStatus.WAITING_APPROVAL:
            _say()
            _say(f"$ certsoar approve {run['id']} --as alice --comment 'confirmed rogue'")
            run = await decide(
                config, run["id"], analyst="alice", decision=GateStatus.APPROVED, comment="confirmed rogue"
            )
            _say(describe_run(run))
        runs.append(run)
    _proofs(lab, runs)
    ok = all(r["status"] == RunStatus.COMPLETED for r in runs)
    _say()
    _say("Both stories completed." if ok else "A story did not complete: see above.")
    return 0 if ok else 1
