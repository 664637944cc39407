"""certsoar benchmarks, run on demand (`make bench`): where the time of a run goes.

Prints one line per measurement (median of the repeats) and writes bench/results/latest.json.
Nothing here asserts a speed; compare the numbers across changes.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from certsoar.api import decide, run_playbook
from certsoar.certs import analyze_certificate
from certsoar.config import load_config
from certsoar.connectors import ConnectorEnv
from certsoar.connectors.siem import SiemQuery
from certsoar.connectors.siem.files import FilesSiem, FilesSiemSettings
from certsoar.intake import load_alert
from certsoar.lab import ensure_lab, lab_paths

RESULTS: dict[str, dict[str, float]] = {}


def measure(name: str, fn: Callable[[], Any], *, repeats: int = 5, per: int = 1, unit: str = "op") -> None:
    fn()  # warm caches (certifi store, templates, imports)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    RESULTS[name] = {"median_s": median, "per_op_ms": median / per * 1000, "ops": per}
    print(f"{name:<48} {median / per * 1000:10.3f} ms/{unit}   ({per} {unit}s, median of {repeats})", flush=True)


def bench_analysis(lab: Any) -> None:
    pems = [p.read_bytes() for p in lab.certificates.values()]
    roots = []
    from cryptography import x509

    roots = [x509.load_pem_x509_certificate(lab.ca_cert.read_bytes())]
    at = datetime.now(timezone.utc)

    def analyze_all() -> None:
        for _ in range(25):
            for pem in pems:
                analyze_certificate(pem, at=at, internal_roots=roots, managed_cas=roots, org_domains=["corp.example"])

    measure("certificate.analyze (lab certificates)", analyze_all, per=25 * len(pems), unit="cert")


def hostile_certificate(ip_sans: int) -> bytes:
    """A self-signed certificate with ``ip_sans`` IP SANs (issue 8.13: 120 000 of them, 720 KB of DER)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "many-sans")])
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    first = int(ipaddress.ip_address("10.0.0.0"))
    sans = [x509.IPAddress(ipaddress.ip_address(first + i)) for i in range(ip_sans)]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.DER)


def bench_hostile_certificate() -> None:
    der = hostile_certificate(120_000)
    at = datetime(2026, 2, 1, tzinfo=timezone.utc)

    def analyze() -> None:
        analyze_certificate(der, at=at, internal_roots=[], managed_cas=[], org_domains=["corp.example"])

    measure(f"certificate.analyze, 120 000 IP SANs ({len(der) // 1000} KB)", analyze, repeats=3, unit="cert")


def synthetic_zeek_ssl(path: Path, lines: int) -> str:
    now = datetime.now(timezone.utc).timestamp()
    fields = [
        "ts",
        "uid",
        "id.orig_h",
        "id.orig_p",
        "id.resp_h",
        "id.resp_p",
        "version",
        "server_name",
        "established",
        "cert_chain_fps",
        "validation_status",
    ]
    target = "ab" * 32
    with path.open("w", encoding="utf-8") as fh:
        fh.write("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tssl\n")
        fh.write("#fields\t" + "\t".join(fields) + "\n")
        fh.write("#types\ttime\tstring\taddr\tport\taddr\tport\tstring\tstring\tbool\tvector[string]\tstring\n")
        for i in range(lines):
            fp = target if i % 1000 == 0 else f"{i:064x}"
            fh.write(
                f"{now - i:.6f}\tC{i:x}\t10.20.{i % 250}.{i % 200}\t{40000 + i % 20000}\t198.51.100.{i % 250}\t443"
                f"\tTLSv13\thost{i % 5000}.example\tT\t{fp}\tok\n"
            )
    return target


def bench_siem(tmp: Path) -> None:
    log = tmp / "ssl.log"
    lines = 200_000
    target = synthetic_zeek_ssl(log, lines)
    now = datetime.now(timezone.utc)
    query = SiemQuery(indicators={"sha256": [target]}, start=now - timedelta(days=7), end=now + timedelta(hours=1))
    warm = FilesSiem(FilesSiemSettings(paths=[log]), ConnectorEnv(name="files", state_dir=tmp))

    def search(siem: FilesSiem) -> None:
        found = asyncio.run(siem.search(query))
        assert len(found) == lines // 1000, len(found)

    def cold() -> None:  # a new connector: the file is parsed again
        search(FilesSiem(FilesSiemSettings(paths=[log]), ConnectorEnv(name="files", state_dir=tmp)))

    for name, fn in (
        (f"siem files search, cold, Zeek ssl.log {lines} lines", cold),
        (f"siem files search, parsed file reused, {lines} lines", lambda: search(warm)),
    ):
        measure(name, fn, repeats=3, per=lines, unit="line")
        RESULTS[name]["lines_per_s"] = lines / RESULTS[name]["median_s"]


def bench_runs(pristine: Path, tmp: Path) -> None:
    lab = lab_paths(pristine / "lab")
    config = load_config(lab.config)
    alert = load_alert(lab.alerts["internal"].read_bytes(), format="generic")

    def dry() -> None:
        for _ in range(10):
            run = asyncio.run(run_playbook(config, "certificate-alert", alert, dry_run=True))
            assert run["status"] == "completed"

    measure("certificate-alert dry run (lab, internal story)", dry, repeats=3, per=10, unit="run")

    counter = iter(range(10_000))

    def contain() -> None:
        state = tmp / f"state-{next(counter)}"
        shutil.copytree(pristine, state)
        cfg = load_config(lab_paths(state / "lab").config)
        run = asyncio.run(run_playbook(cfg, "certificate-alert", alert))
        done = asyncio.run(decide(cfg, run["id"], analyst="alice", decision="approved"))
        assert done["status"] == "completed"

    measure("full run + approval + verified containment", contain, repeats=3, per=1, unit="run")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="certsoar-bench-") as name:
        tmp = Path(name)
        pristine = tmp / "pristine"
        lab = ensure_lab(pristine)
        bench_analysis(lab)
        bench_hostile_certificate()
        bench_siem(tmp)
        bench_runs(pristine, tmp)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps({"python": sys.version.split()[0], "results": RESULTS}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
