"""Run an external tool (openssl, nft, squid) without a shell, bounded in time.

The exit status is the caller's to judge: some tools report through it (``nft``), others exit
non-zero on success (``openssl ca -status``). ``require_success`` covers the common case.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from certsoar.errors import ConnectorRejected, ConnectorUnavailable

_REAP_SECONDS = 5
# Names of environment variables that hold secrets (``env:NAME`` in the config): no tool inherits them.
_WITHHELD: set[str] = set()


def withhold_from_tools(*names: str) -> None:
    """Keep these environment variables out of every tool ``run_tool`` starts from now on.

    A tool that needs a secret gets it under its own name in the ``env`` it is given (as the CA's
    signing calls get ``-passin env:…``), never the variable the configuration names.
    """
    _WITHHELD.update(names)


@dataclass(frozen=True)
class ToolResult:
    returncode: int
    stdout: str
    stderr: str
    """Empty when the run merged stderr into stdout."""


async def run_tool(
    argv: list[str],
    *,
    timeout: float,
    connector: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    merge_stderr: bool = False,
    label: str | None = None,
) -> ToolResult:
    """Run ``argv`` with stdin closed, in its own session, and collect its output as text.

    ``label`` names the command in error messages (default: the first two words of ``argv``).
    No answer within ``timeout`` → the whole process group is killed, ConnectorUnavailable.
    The tool cannot be started (missing, not executable) → ConnectorRejected.
    """
    name = label or " ".join(argv[:2])
    child_env = {k: v for k, v in (os.environ if env is None else env).items() if k not in _WITHHELD}
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=child_env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE,
            # No controlling terminal (nothing can prompt and hang), and one group to kill on timeout.
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        missing = exc.filename if exc.filename not in (None, argv[0]) else None
        detail = f"{missing}: no such file or directory" if missing else f"{argv[0]}: command not found"
        raise ConnectorRejected(f"{name}: {detail}", connector=connector) from None
    except (PermissionError, NotADirectoryError) as exc:
        raise ConnectorRejected(f"{name}: cannot run {argv[0]}: {exc.strerror or exc}", connector=connector) from None
    except OSError as exc:  # out of processes or memory: may pass
        raise ConnectorUnavailable(
            f"{name}: cannot start {argv[0]}: {exc.strerror or exc}", connector=connector
        ) from None
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        await _kill_group(process)
        raise ConnectorUnavailable(f"{name} timed out after {timeout:g}s", connector=connector) from None
    except BaseException:  # cancelled: leave nothing running behind
        await _kill_group(process)
        raise
    return ToolResult(
        returncode=process.returncode if process.returncode is not None else -1,
        stdout=stdout.decode("utf-8", "replace"),
        stderr=(stderr or b"").decode("utf-8", "replace"),
    )


def require_success(result: ToolResult, *, label: str, connector: str) -> str:
    """stdout of a run that exited 0; otherwise ConnectorRejected carrying the tool's stderr."""
    if result.returncode != 0:
        message = result.stderr.strip() or f"exit status {result.returncode}"
        raise ConnectorRejected(f"{label}: {message}", connector=connector)
    return result.stdout


async def _kill_group(process: asyncio.subprocess.Process) -> None:
    # The group, not just the child: a wrapper script's children hold the pipes open too.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        await asyncio.wait_for(process.wait(), _REAP_SECONDS)
    except TimeoutError:
        pass
