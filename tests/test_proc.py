"""certsoar.proc: one way to run an external tool, bounded in time, without a shell."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from certsoar.errors import ConnectorRejected, ConnectorUnavailable
from certsoar.proc import ToolResult, require_success, run_tool


def _script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "tool"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


async def test_output_and_status_are_returned_not_judged(tmp_path: Path) -> None:
    tool = _script(tmp_path, 'echo "out $1"; echo "err" >&2; exit 3')
    result = await run_tool([tool, "a;b"], timeout=5, connector="t")
    assert result == ToolResult(returncode=3, stdout="out a;b\n", stderr="err\n")


async def test_merge_stderr_env_cwd_and_closed_stdin(tmp_path: Path) -> None:
    tool = _script(tmp_path, 'echo "$GREETING"; pwd; cat; echo "to stderr" >&2')
    result = await run_tool(
        [tool],
        timeout=5,
        connector="t",
        env={"GREETING": "hi", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        merge_stderr=True,
    )
    assert result.returncode == 0
    assert result.stdout == f"hi\n{tmp_path}\nto stderr\n" and result.stderr == ""


async def test_missing_and_unrunnable_tools_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConnectorRejected, match="command not found") as caught:
        await run_tool([str(tmp_path / "nope"), "x"], timeout=5, connector="fw1")
    assert caught.value.connector == "fw1"
    plain = tmp_path / "plain"
    plain.write_text("not executable")
    with pytest.raises(ConnectorRejected, match="cannot run"):
        await run_tool([str(plain)], timeout=5, connector="t")
    with pytest.raises(ConnectorRejected, match="no such file"):
        await run_tool(["true"], timeout=5, connector="t", cwd=tmp_path / "missing-dir")


async def test_a_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    # The grandchild keeps the pipes open: killing the child alone would not end the run.
    tool = _script(tmp_path, f"sleep 30 &\necho $! > {pid_file}\nwait")
    started = time.monotonic()
    with pytest.raises(ConnectorUnavailable, match="my tool timed out after 0.5s"):
        await run_tool([tool], timeout=0.5, connector="t", label="my tool")
    assert time.monotonic() - started < 5
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _running(grandchild):
        if time.monotonic() > deadline:
            pytest.fail(f"process {grandchild} outlived the timeout")
        time.sleep(0.05)


def _running(pid: int) -> bool:
    """A killed orphan stays a zombie until init reaps it, and some container inits never do: dead all the same."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def test_require_success() -> None:
    assert require_success(ToolResult(0, "fine\n", "warning\n"), label="nft -f", connector="t") == "fine\n"
    with pytest.raises(ConnectorRejected, match=r"nft -f: Error: boom$"):
        require_success(ToolResult(1, "", "Error: boom\n"), label="nft -f", connector="t")
    with pytest.raises(ConnectorRejected, match="exit status 2"):
        require_success(ToolResult(2, "", ""), label="nft -f", connector="t")


async def test_withheld_secret_variables_reach_no_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from certsoar.proc import withhold_from_tools

    monkeypatch.setenv("CS_TEST_WITHHELD_SECRET", "s3cret")
    monkeypatch.setenv("CS_TEST_PLAIN", "plain")
    before = await run_tool(["env"], timeout=5, connector="t")
    assert "CS_TEST_WITHHELD_SECRET=s3cret" in before.stdout  # inherited until withheld: the check can fail
    withhold_from_tools("CS_TEST_WITHHELD_SECRET")
    inherited = await run_tool(["env"], timeout=5, connector="t")
    given = await run_tool(["/usr/bin/env"], timeout=5, connector="t", env=dict(os.environ))
    for result in (inherited, given):
        assert "s3cret" not in result.stdout and "CS_TEST_PLAIN=plain" in result.stdout


async def test_every_env_secret_of_the_configured_connectors_is_withheld(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from certsoar.config import Config
    from certsoar.connections import Connections

    monkeypatch.setenv("CS_TEST_CA_PASS", "ca-pass")
    monkeypatch.setenv("CS_TEST_NOTIFY_TOKEN", "hook-token")
    monkeypatch.setenv("CS_TEST_AUDIT_KEY", "audit-key-" + "k" * 32)
    monkeypatch.setenv("CS_TEST_SLACK_SECRET", "slack-signing-secret")
    config = Config.model_validate(
        {
            "state_dir": str(tmp_path / "state"),
            "config_dir": tmp_path,
            "audit": {"key": "env:CS_TEST_AUDIT_KEY"},
            "service": {"slack": {"signing_secret": "env:CS_TEST_SLACK_SECRET"}},
            "connectors": {
                "ca": {"type": "openssl-ca", "openssl_config": "ca.cnf", "passphrase": "env:CS_TEST_CA_PASS"},
                "notify": [{"type": "webhook", "auth": {"token": "env:CS_TEST_NOTIFY_TOKEN"}}],
            },
        }
    )
    Connections(config)  # a firewall or proxy tool started later must not see the CA's passphrase either
    result = await run_tool(["env"], timeout=5, connector="nftables")
    assert "ca-pass" not in result.stdout and "hook-token" not in result.stdout
    assert "audit-key-" not in result.stdout and "slack-signing-secret" not in result.stdout
