"""Throw-away network namespaces for the tests that run the real nft (imported by conftest.py for the
fixture, and by the tests for the type)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from realcomponents import require_network_namespaces


class Namespaces:
    """Creates network namespaces and deletes every one of them at teardown."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.processes: list[subprocess.Popen[bytes]] = []

    def add(self) -> str:
        name = f"cs-{uuid.uuid4().hex[:10]}"
        subprocess.run(["ip", "netns", "add", name], check=True)
        self.names.append(name)
        self.run(name, "ip", "link", "set", "lo", "up")
        return name

    def run(self, ns: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, check=check, timeout=30
        )

    def nft_wrapper(self, ns: str, folder: Path) -> str:
        """An executable that runs nft inside ``ns`` (the connector takes one binary path)."""
        wrapper = folder / f"nft-in-{ns}"
        wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {ns} nft "$@"\n')
        wrapper.chmod(0o755)
        return str(wrapper)

    def close(self) -> None:
        for process in self.processes:
            process.kill()
            process.wait()
            if process.stdout is not None:
                process.stdout.close()
        for name in self.names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.fixture
def netns() -> Iterator[Namespaces]:
    require_network_namespaces()
    spaces = Namespaces()
    try:
        yield spaces
    finally:
        spaces.close()
