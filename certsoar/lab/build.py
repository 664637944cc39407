"""Building a lab: once, in a temporary folder renamed into place, so a crash never leaves half a lab."""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509

from certsoar.errors import ConfigError
from certsoar.lab.alerts import write_alerts
from certsoar.lab.config import write_config
from certsoar.lab.mimicry_certificate import build_mimicry_certificate
from certsoar.lab.openssl_ca import build_lab_ca
from certsoar.lab.paths import LabPaths, lab_paths
from certsoar.lab.sessions import dns_lookups, generate_sessions
from certsoar.lab.story import ROGUE_HOST
from certsoar.lab.suricata import write_suricata_eve
from certsoar.lab.windows_events import windows_events
from certsoar.lab.windows_formats import write_windows_logs
from certsoar.lab.zeek import write_zeek_logs
from certsoar.progress import progress

LAB_STAGES = 7


def ensure_lab(state_dir: Path) -> LabPaths:
    """Build ``<state_dir>/lab`` unless it is there already; return its paths."""
    state = Path(state_dir).expanduser().absolute()
    root = state / "lab"
    paths = lab_paths(root)
    if paths.config.is_file():
        return paths
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ConfigError("the bundled lab needs the openssl command (install OpenSSL, or give a config with --config)")
    state.mkdir(parents=True, exist_ok=True)
    if root.exists():
        # A lab without config.yaml is not ours to trust; keep it for inspection, build anew.
        root.rename(state / f"lab.incomplete-{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}")
    build = Path(tempfile.mkdtemp(prefix=".lab-build-", dir=state))
    try:
        _build(build, openssl, datetime.now(timezone.utc).replace(microsecond=0))
        try:
            build.rename(root)
        except OSError:
            if not paths.config.is_file():
                raise
            # Another process finished first: use its lab.
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return paths


def _build(root: Path, openssl: str, now: datetime) -> None:
    paths = lab_paths(root)
    for folder in (
        "ca/private",
        "ca/newcerts",
        "certs",
        "keys",
        "logs/zeek",
        "logs/suricata",
        "logs/windows",
        "alerts",
        "firewall",
        "proxy",
        "outbox",
    ):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "ca" / "private").chmod(0o700)
    with progress("building the lab", total=LAB_STAGES, unit="stages", findings=False) as bar:
        leaves = build_lab_ca(paths, openssl, now)
        ca = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
        bar.advance()
        mimicry = build_mimicry_certificate(paths, now)
        bar.advance()
        sessions = generate_sessions(now, leaves, ca, mimicry)
        lookups = dns_lookups(sessions)
        bar.advance()
        write_zeek_logs(paths.logs_dir / "zeek", sessions, lookups, now)
        bar.advance()
        write_suricata_eve(paths.logs_dir / "suricata" / "eve.json", sessions, lookups)
        bar.advance()
        windows = windows_events(now, leaves[ROGUE_HOST])
        write_windows_logs(paths.logs_dir / "windows", windows)
        bar.advance()
        write_alerts(paths, sessions, windows, leaves[ROGUE_HOST], mimicry, now)
        write_config(paths, leaves["wiki.corp.example"], now)
        (root / "README.txt").write_text(_README, encoding="utf-8")
        bar.advance()


_README = """\
certsoar lab (generated; safe to delete: it is rebuilt on the next run)

ca/        a real `openssl ca` directory (Example Corp Internal Issuing CA)
certs/     the certificates: two legitimate internal ones, login.microsoftonline.com issued by the
           internal CA (a name outside corp.example), and cdn-update.net, self-signed with an issuer
           that imitates DigiCert ("DigiCert lnc")
keys/      their private keys
logs/      nine days before the lab was built:
           zeek/      conn.log, ssl.log, x509.log (TSV; conn and ssl share uids)
           suricata/  eve.json (tls and dns events)
           windows/   sysmon.jsonl (Sysmon 1) and security.jsonl (4688, AD CS 4886/4887), as Winlogbeat ships them
alerts/    the two stories as alerts: mimicry.json and internal.json (generic JSON), mimicry.suricata.json
           (Suricata eve tls), mimicry.zeek-x509.log (Zeek x509.log line), internal.adcs-4887.xml (Windows Event XML)
"""
