"""`certsoar doctor`: the install checked end to end, each finding with what to do about it.

It reads and never changes anything a run relies on: the config is loaded as every command loads it, the state
dir is tried with a file that is removed again, the tools are asked for their version, and the connectors get
the one read of `connectors check`.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from certsoar.errors import CertsoarError

MIN_OPENSSL = (1, 1, 1)


class Finding(BaseModel):
    check: str = Field(description="What was checked: config, openssl, nft, squid, state_dir, playbooks, a connector.")
    ok: bool
    detail: str = Field(description="What was found.")
    fix: str | None = Field(default=None, description="What to do about it, when it is not ok.")


async def diagnose(config_path: str | None) -> list[Finding]:
    """Every check, in the order an operator fixes things: the config first (most others need it)."""
    from certsoar.config import load_config

    findings: list[Finding] = []
    try:
        config: Any = load_config(config_path)
        findings.append(Finding(check="config", ok=True, detail="loads; every value and the files it names check"))
    except CertsoarError as exc:
        config = None
        findings.append(
            Finding(
                check="config",
                ok=False,
                detail=str(exc),
                fix="correct what the message names (`certsoar init DIR` writes a commented starter config)",
            )
        )
    findings.append(await _openssl(config))
    if config is not None:
        findings.extend(await _tools(config))
        findings.append(_state_dir(config.state_dir))
        findings.append(_audit_key(config))
    findings.append(_playbooks(config.templates if config is not None else []))
    if config is not None and all(f.ok for f in findings if f.check == "state_dir"):
        findings.extend(await _connectors(config))
    return findings


async def _version(binary: str, *args: str) -> tuple[str | None, str]:
    """(first line of the tool's version output, or None) and why not."""
    from certsoar.proc import run_tool

    try:
        result = await run_tool([binary, *args], timeout=15, connector="doctor", merge_stderr=True)
    except CertsoarError as exc:
        return None, str(exc).removeprefix("doctor: ")
    text = result.stdout.strip().splitlines()
    if result.returncode != 0 or not text:
        return None, f"{binary} {' '.join(args)} exited {result.returncode}: {' '.join(text)[:200]}"
    return text[0], ""


async def _openssl(config: Any) -> Finding:
    cas = config.connectors.sections("ca") if config is not None else []
    binary = next((str(s.settings().get("openssl", "openssl")) for s in cas if s.type == "openssl-ca"), "openssl")
    line, why = await _version(binary, "version")
    fix = "install OpenSSL 1.1.1 or newer (Debian/Ubuntu: apt-get install openssl) or set connectors.ca.openssl"
    if line is None:
        return Finding(check="openssl", ok=False, detail=why, fix=fix)
    found = re.search(r"OpenSSL (\d+)\.(\d+)\.(\d+)", line)
    if found is None:
        return Finding(check="openssl", ok=False, detail=f"{binary} is not OpenSSL: {line}", fix=fix)
    if tuple(int(n) for n in found.groups()) < MIN_OPENSSL:
        return Finding(check="openssl", ok=False, detail=f"{line}: older than 1.1.1", fix=fix)
    return Finding(check="openssl", ok=True, detail=line)


async def _tools(config: Any) -> list[Finding]:
    """nft and squid, when a configured connector runs them (``apply``/``reconfigure``)."""
    wanted = []
    for firewall in config.connectors.sections("firewall"):
        if firewall.type == "nftables" and firewall.settings().get("apply"):
            binary = str(firewall.settings().get("nft", "nft"))
            wanted.append(("nft", binary, ("--version",), "connectors.firewall.nft", "nftables v"))
    for proxy in config.connectors.sections("proxy"):
        if proxy.type == "squid" and proxy.settings().get("reconfigure"):
            squid = str(proxy.settings().get("squid", "squid"))
            wanted.append(("squid", squid, ("-v",), "connectors.proxy.squid", "Squid Cache"))
    wanted = list(dict.fromkeys(wanted))  # two firewalls running one nft are one check
    findings = []
    for check, binary, args, setting, banner in wanted:
        line, why = await _version(binary, *args)
        if line is not None and banner not in line:
            why = f"{binary} is not {check}: {' '.join(args)} printed {line[:200]!r}"
            line = None
        if line is None:
            fix = (
                f"install {check} (Debian/Ubuntu: apt-get install {'nftables' if check == 'nft' else 'squid-openssl'})"
            )
            findings.append(Finding(check=check, ok=False, detail=why, fix=f"{fix} or set {setting} to its path"))
        else:
            findings.append(Finding(check=check, ok=True, detail=f"{shutil.which(binary) or binary}: {line}"))
    return findings


def _state_dir(state: Path) -> Finding:
    """The state dir can be written (or created): a file is made there and removed again."""
    state = Path(os.path.normpath(state))
    existing = state
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    fix = f"make {state} a folder the user running certsoar ({_user()}) can write, or change state_dir"
    if not existing.is_dir():
        return Finding(check="state_dir", ok=False, detail=f"{existing} is not a folder", fix=fix)
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".certsoar-doctor-"):
            pass
    except OSError as exc:
        return Finding(check="state_dir", ok=False, detail=f"cannot write in {existing}: {exc.strerror}", fix=fix)
    where = "writable" if existing == state else f"can be created (in {existing})"
    return Finding(check="state_dir", ok=True, detail=f"{state}: {where}")


def _audit_key(config: Any) -> Finding:
    """The audit log's key can be read (a generated one is made at the first run when there is none yet)."""
    from certsoar.audit import KEY_FILE, key_for

    if config.audit.key is None and not (config.state_dir / KEY_FILE).exists():
        return Finding(
            check="audit_key", ok=True, detail=f"none yet: the first run generates {config.state_dir / KEY_FILE}"
        )
    try:
        key = key_for(config)
        key.material(create=False)
    except CertsoarError as exc:
        return Finding(
            check="audit_key",
            ok=False,
            detail=str(exc),
            fix="give audit.key as env:NAME or file:PATH of a secret of 32+ characters (`openssl rand -hex 32`, "
            "mode 0600)",
        )
    return Finding(check="audit_key", ok=True, detail=f"readable: {key.source}")


def _user() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def _playbooks(template_dirs: list[Path]) -> Finding:
    """The shipped playbooks check with the templates they would render: the config's `templates:` folders
    (an override that does not compile would fail every run), then the shipped ones (package data)."""
    from certsoar.playbook import shipped_playbooks, shipped_playbooks_dir
    from certsoar.validate import validate_paths

    fix = "reinstall certsoar (pip install --force-reinstall certsoar): the package data is damaged"
    try:
        names = [p.stem for p in shipped_playbooks()]
        problems = validate_paths([shipped_playbooks_dir()], template_dirs)
    except CertsoarError as exc:
        return Finding(check="playbooks", ok=False, detail=str(exc), fix=fix)
    if not names or problems:
        detail = "; ".join(str(p) for p in problems[:3]) or f"no playbook in {shipped_playbooks_dir()}"
        if template_dirs and problems:
            fix = f"correct the templates in {', '.join(map(str, template_dirs))} that the message names, or {fix}"
        return Finding(check="playbooks", ok=False, detail=detail, fix=fix)
    return Finding(check="playbooks", ok=True, detail=f"{', '.join(names)} installed and check")


async def _connectors(config: Any) -> list[Finding]:
    from certsoar.health import check_connectors

    try:
        results = await check_connectors(config)
    except CertsoarError as exc:
        return [Finding(check="connectors", ok=False, detail=str(exc), fix="correct the connector section named")]
    return [
        Finding(
            check=f"{r.kind} {r.instance} ({r.type})",
            ok=r.ok,
            detail=r.detail,
            fix=None if r.ok else f"connectors.{r.kind}: make what it names reachable, or correct its settings",
        )
        for r in results
    ]
