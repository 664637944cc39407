"""Where everything lives in a lab folder (only relative to its root, so the folder can be moved)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from certsoar.lab.story import MIMICRY_HOST, ROGUE_HOST

ALERT_FILES = {
    "mimicry": "mimicry.json",
    "internal": "internal.json",
    "mimicry-suricata": "mimicry.suricata.json",
    "mimicry-zeek": "mimicry.zeek-x509.log",
    "internal-adcs": "internal.adcs-4887.xml",
}
"""Alert key → file in ``alerts/``: generic JSON for both stories, and the same stories as a Suricata eve
``tls`` event, a Zeek x509.log line and the AD CS 4887 as Windows Event XML."""


@dataclass(frozen=True)
class LabPaths:
    root: Path
    config: Path
    ca_dir: Path
    ca_config: Path
    ca_cert: Path
    crl: Path
    certs_dir: Path
    keys_dir: Path
    logs_dir: Path
    alerts: dict[str, Path] = field(default_factory=dict)
    """See ``ALERT_FILES``: ``mimicry``, ``internal``, ``mimicry-suricata``, ``mimicry-zeek``, ``internal-adcs``."""
    certificates: dict[str, Path] = field(default_factory=dict)
    """``intranet``, ``wiki``, ``rogue`` (internal CA, foreign name) and ``mimicry`` (self-signed)."""


def lab_paths(root: Path) -> LabPaths:
    certs = root / "certs"
    return LabPaths(
        root=root,
        config=root / "config.yaml",
        ca_dir=root / "ca",
        ca_config=root / "ca" / "openssl.cnf",
        ca_cert=root / "ca" / "ca.pem",
        crl=root / "ca" / "crl.pem",
        certs_dir=certs,
        keys_dir=root / "keys",
        logs_dir=root / "logs",
        alerts={key: root / "alerts" / name for key, name in ALERT_FILES.items()},
        certificates={
            "intranet": certs / "intranet.corp.example.pem",
            "wiki": certs / "wiki.corp.example.pem",
            "rogue": certs / f"{ROGUE_HOST}.pem",
            "mimicry": certs / f"{MIMICRY_HOST}.pem",
        },
    )
