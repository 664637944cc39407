"""The certificate sweep over a generated Zeek x509.log (a thousand new certificates a day; dry run), through certsoar.api as `certsoar sweep` runs it:
certificates per second and the process's peak RSS, for 1 000 and 10 000 certificates (memory should stay flat
as the log grows). Each size runs in its own process, so each peak is its own. Run on demand:

    .venv/bin/python bench/sweep.py [SIZES...] [--per-day N]

Prints one line per size (wall-clock rate, and the rate per CPU second of the process, which a busy machine
distorts less), then how the largest size's peak RSS compares with the smallest's, and writes
bench/results/sweep.json. Each child starts with an empty cache folder, so the log's index is built in the
sweep (the files SIEM's logindex). Nothing here asserts a speed (the goal is 200 certificates/s).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

SIZES = (1_000, 10_000)
PER_DAY = 100
"""New certificates a day in the generated log. Each certificate's triage reads the SIEM around it (E2 reads
every certificate first seen in the 24 h before it), so the rate falls as the network gets busier."""
ISSUERS = (
    "CN=Example Corp Internal Issuing CA,O=Example Corp,C=US",
    "CN=R11,O=Let's Encrypt,C=US",
    "CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1,O=DigiCert Inc,C=US",
)


def x509_log(path: Path, count: int, now: datetime, per_day: int) -> None:
    """``count`` distinct certificates, one x509.log line each, ``per_day`` a day up to now: a larger log is a
    longer stretch of the same network, not a busier one."""
    from certsoar.lab.zeek import X509_FIELDS, write_zeek_log

    rows = []
    for n in range(count):
        seen = now - timedelta(seconds=86_400 / per_day * (count - n))
        issued = seen - timedelta(days=30)
        rows.append(
            [
                f"{seen.timestamp():.6f}",
                hashlib.sha256(f"certificate {n}".encode()).hexdigest(),
                "3",
                f"{0x100000 + n:X}",
                f"CN=host{n}.example.net",
                ISSUERS[n % len(ISSUERS)],
                f"{issued.timestamp():.6f}",
                f"{(issued + timedelta(days=90)).timestamp():.6f}",
                "rsaEncryption",
                "sha256WithRSAEncryption",
                "rsa",
                "2048",
                "65537",
                "-",
                f"host{n}.example.net",
                "-",
                "-",
                "-",
                "F",
                "-",
                "T",
                "F",
            ]
        )
    write_zeek_log(path, "x509", X509_FIELDS, rows, now - timedelta(days=count / per_day), now)


def child(count: int, per_day: int, pristine: Path, work: Path) -> dict[str, float]:
    """One sweep of ``count`` certificates in this process."""
    from certsoar import api
    from certsoar.config import load_config
    from certsoar.lab import lab_paths

    shutil.copytree(pristine, work)
    lab = lab_paths(work / "lab")
    logs = work / "sweep-logs"
    logs.mkdir()
    x509_log(logs / "x509.log", count, datetime.now(timezone.utc), per_day)
    raw = yaml.safe_load(lab.config.read_text())
    raw["connectors"]["siem"] = {"type": "files", "paths": [str(logs)]}
    raw["connectors"]["notify"] = [{"type": "file", "outbox": "outbox"}]
    lab.config.write_text(yaml.safe_dump(raw))
    config = load_config(lab.config)
    asyncio.run(api.run_sweep(config, "containment"))  # the store exists; warms imports
    usage = resource.getrusage(resource.RUSAGE_SELF)
    before, cpu = usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime
    start = time.perf_counter()
    summary = asyncio.run(api.run_sweep(config, "certificates", dry_run=True))
    elapsed = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu
    assert summary["status"] == "completed" and summary["examined"] == count, summary
    return {
        "certificates": count,
        "per_day": per_day,
        "seconds": elapsed,
        "per_second": count / elapsed,
        "cpu_seconds": cpu,
        "per_cpu_second": count / cpu,
        "rss_before_mb": before,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "escalated": summary["violations"],
    }


def main(sizes: list[int], per_day: int) -> int:
    from certsoar.lab import ensure_lab

    results = []
    with tempfile.TemporaryDirectory(prefix="certsoar-bench-sweep-") as tmp:
        pristine = Path(tmp) / "pristine"
        ensure_lab(pristine)
        for count in sizes:
            done = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    str(count),
                    str(per_day),
                    str(pristine),
                    str(Path(tmp) / f"run-{count}"),
                ],
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "CERTSOAR_CACHE": str(Path(tmp) / f"cache-{count}")},
            )
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return 1
            result = json.loads(done.stdout.strip().splitlines()[-1])
            results.append(result)
            print(
                f"certificate sweep, dry run, {count:>6} certificates ({per_day}/day): {result['seconds']:8.1f} s "
                f"{result['per_second']:8.1f} certificates/s ({result['per_cpu_second']:.1f} per CPU second)   peak RSS {result['peak_rss_mb']:6.1f} MB "
                f"(before the sweep {result['rss_before_mb']:.1f} MB)",
                flush=True,
            )
    if len(results) > 1:
        small, large = results[0], results[-1]
        print(
            f"peak RSS at {large['certificates']} certificates / at {small['certificates']}: "
            f"{large['peak_rss_mb'] / small['peak_rss_mb']:.2f}x for {large['certificates'] / small['certificates']:.0f}x "
            f"the log (the sweep's own growth: {large['peak_rss_mb'] - large['rss_before_mb']:.1f} MB against "
            f"{small['peak_rss_mb'] - small['rss_before_mb']:.1f} MB)"
        )
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "sweep.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]), Path(sys.argv[5]))))
        sys.exit(0)
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("sizes", nargs="*", type=int, default=list(SIZES), help="certificates in the log")
    options.add_argument("--per-day", type=int, default=PER_DAY, help="new certificates a day (default %(default)s)")
    args = options.parse_args()
    sys.exit(main(args.sizes, args.per_day))
