"""Revocation sweep over a generated ``openssl ca`` of N issued certificates (default 100 000).

The CA directory (index.txt, newcerts/<SERIAL>.pem, ca.pem, openssl.cnf) is written with ``cryptography``
(openssl per certificate would take hours). Then, each in a fresh process so that peak RSS is the phase's
own, alternated for ``--rounds`` rounds (the best of each by CPU time counts: the machine is shared):
- a bare loop that reads each kept PEM, parses it and computes its SHA-256 (the floor the goal names);
- the facts the bench's policy needs, read from ``cryptography`` and nothing else (the floor of any sweep
  under that policy: the SAN, basicConstraints, the subject's CN, the validity);
- ``certsoar sweep revocation --dry-run`` through certsoar.api (streams index.txt, judges every valid
  certificate against the issuance policy), timed to the examine step's last progress report.
Prints each with elapsed and CPU time and peak RSS, the ratios, and why the ratio misses 1.5x when it does.

Goals (issue 7): examined in <= 10 s, peak RSS <= 150 MB, <= 1.5x the bare loop.

    .venv/bin/python bench/revocation_sweep.py [--count N] [--rounds R] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

BAD_EVERY = 10_000
"""One certificate in this many is issued for a name outside the organization (the sweep's findings)."""


def generate(root: Path, count: int) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca_dir = root / "ca"
    (ca_dir / "newcerts").mkdir(parents=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(timezone.utc)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench Issuing CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=30))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    (ca_dir / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (ca_dir / "openssl.cnf").write_text(
        "[ca]\ndefault_ca = CA_default\n[CA_default]\ndir = .\ndatabase = $dir/index.txt\n"
        "new_certs_dir = $dir/newcerts\ncertificate = $dir/ca.pem\ncrl = $dir/crl.pem\n",
        encoding="utf-8",
    )
    leaf_keys = [ec.generate_private_key(ec.SECP256R1()).public_key() for _ in range(64)]
    server_auth = x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH])
    lines = []
    for i in range(count):
        serial = 0x100000 + i
        host = f"host{i}.evil.example" if i % BAD_EVERY == BAD_EVERY - 1 else f"host{i}.corp.example"
        not_before = now - timedelta(days=1, seconds=i)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(ca_name)
            .public_key(leaf_keys[i % len(leaf_keys)])
            .serial_number(serial)
            .not_valid_before(not_before)
            .not_valid_after(not_before + timedelta(days=397))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(server_auth, critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        (ca_dir / "newcerts" / f"{serial:X}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        expiry = (not_before + timedelta(days=397)).strftime("%y%m%d%H%M%SZ")
        lines.append(f"V\t{expiry}\t\t{serial:X}\tunknown\t/CN={host}\n")
    (ca_dir / "index.txt").write_text("".join(lines), encoding="utf-8")
    (root / "config.yaml").write_text(
        "state_dir: state\n"
        "connectors: {ca: {type: openssl-ca, openssl_config: ca/openssl.cnf}}\n"
        "organization: {domains: [corp.example]}\n"
        "policy: {max_validity_days: 398, min_rsa_bits: 2048, forbid: {ca_true: true, wildcard: true}}\n",
        encoding="utf-8",
    )


def bare(root: Path) -> dict[str, float]:
    """The floor: every kept PEM read, parsed and fingerprinted, in index order."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    start, cpu = time.perf_counter(), time.process_time()
    n = 0
    with (root / "ca" / "index.txt").open(encoding="utf-8") as index:
        for line in index:
            serial = line.split("\t")[3]
            cert = x509.load_pem_x509_certificate((root / "ca" / "newcerts" / f"{serial}.pem").read_bytes())
            hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
            n += 1
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "examined": n, "violations": 0}


def facts(root: Path) -> dict[str, float]:
    """The least any sweep under the bench's policy does: read and parse each kept PEM (no SHA-256: the sweep
    computes it only for a violator), then read the facts its rules need from cryptography: the SAN's DNS
    names (outside_domains, wildcard), basicConstraints (ca_true), the subject's CN (a host-like CN is one of
    the certificate's names), the validity. No index parsing, no judging, no engine."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    start, cpu = time.perf_counter(), time.process_time()
    n = wildcards = 0
    with (root / "ca" / "index.txt").open(encoding="utf-8") as index:
        for line in index:
            serial = line.split("\t")[3]
            cert = x509.load_pem_x509_certificate((root / "ca" / "newcerts" / f"{serial}.pem").read_bytes())
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names = [*san.get_values_for_type(x509.DNSName), *cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
            days = (cert.not_valid_after_utc - cert.not_valid_before_utc).days
            wildcards += bool(is_ca) + (days > 398) + len(names) * 0
            n += 1
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "examined": n, "violations": 0}


def sweep(root: Path) -> dict[str, float]:
    from certsoar.api import run_sweep
    from certsoar.config import load_config

    config = load_config(root / "config.yaml")
    reported: list[tuple[float, float]] = []

    def progress(examined: int, findings: int) -> None:
        # the last call comes when the examine step has read everything
        reported.append((time.perf_counter(), time.process_time()))

    start, cpu = time.perf_counter(), time.process_time()
    result = asyncio.run(run_sweep(config, "revocation", dry_run=True, progress=progress))
    return {
        "seconds": reported[-1][0] - start,
        "cpu": reported[-1][1] - cpu,
        "whole_sweep_seconds": time.perf_counter() - start,
        "examined": result["examined"],
        "violations": result["violations"],
    }


def phase(name: str, root: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--phase", name, str(root)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="Rounds of (bare loop, sweep); the best of each counts.")
    parser.add_argument("--keep", type=Path, default=None, help="Generate into (or reuse) this folder.")
    parser.add_argument("--phase", nargs=2, metavar=("NAME", "ROOT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        name, root = args.phase
        measured = {"bare": bare, "facts": facts, "sweep": sweep}[name](Path(root))
        measured["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(measured))
        return
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="certsoar-bench-ca-") as scratch:
        root = args.keep or Path(scratch)
        if not (root / "ca" / "index.txt").is_file():
            start = time.perf_counter()
            generate(root, args.count)
            print(f"generated {args.count} certificates in {time.perf_counter() - start:.1f} s", flush=True)
        floors, needs, sweeps = [], [], []
        for _ in range(args.rounds):  # alternated, so a burst of load on the shared machine hits all alike
            floors.append(phase("bare", root))
            needs.append(phase("facts", root))
            sweeps.append(phase("sweep", root))
            loads.append(os.getloadavg()[0])
    floor = min(floors, key=lambda m: m["cpu"])
    need = min(needs, key=lambda m: m["cpu"])
    swept = min(sweeps, key=lambda m: m["cpu"])
    for name, m in (
        ("bare loop (read, parse, SHA-256)", floor),
        ("facts the policy needs, nothing else", need),
        ("sweep --dry-run, examined", swept),
    ):
        print(
            f"{name:<34} {m['examined']:>7.0f} certs  {m['seconds']:6.2f} s ({m['cpu']:6.2f} s CPU)  "
            f"{m['examined'] / m['seconds']:7.0f}/s  peak RSS {m['peak_rss_mb']:6.1f} MB  violations {m['violations']:.0f}"
        )
    print(
        f"ratio examined / bare loop: {swept['cpu'] / floor['cpu']:.2f}x in CPU time, "
        f"{swept['seconds'] / floor['seconds']:.2f}x in elapsed time  (goals: <= 10 s, <= 150 MB, <= 1.5x)"
    )
    per_cert = {k: 1e6 * m["cpu"] / m["examined"] for k, m in (("bare", floor), ("facts", need), ("sweep", swept))}
    print(
        f"CPU per certificate: bare loop {per_cert['bare']:.1f} us, the policy's facts alone {per_cert['facts']:.1f} us "
        f"({need['cpu'] / floor['cpu']:.2f}x the bare loop), the sweep {per_cert['sweep']:.1f} us "
        f"({swept['cpu'] / need['cpu']:.2f}x the facts alone)"
    )
    if swept["cpu"] / floor["cpu"] > 1.5:
        print(
            "why not <= 1.5x: the rules set (outside_domains, wildcard, ca_true) need the SAN, basicConstraints and "
            "the subject CN, which cryptography turns into Python objects (every extension at once, then each name "
            "attribute); reading only those facts already costs the 'facts' line above. The rest is index.txt "
            "(status and expiry before any PEM is read), judging and the engine's step."
        )
    print(
        f"best of {args.rounds} rounds (least CPU time); CPU-time ratios of each round: "
        + ", ".join(f"{s['cpu'] / f['cpu']:.2f}x" for f, s in zip(floors, sweeps, strict=True))
        + f"; load average (1 min) {', '.join(f'{x:.1f}' for x in loads)} on {os.cpu_count()} CPUs"
    )
    print(
        f"whole sweep (dry run: examine, then plan the revocation of {swept['violations']:.0f} violators): "
        f"{swept['whole_sweep_seconds']:.2f} s"
    )


if __name__ == "__main__":
    main()
