"""A live `certsoar serve` on a copy of the lab (the service tests' driver), importable under a name no other
test folder uses."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from realcomponents import require_tool

from certsoar.lab import LabPaths, ensure_lab, lab_paths
from certsoar.service.identity import token_digest

TOKENS: dict[str, tuple[str | None, list[str]]] = {
    "xsoar": (None, ["alerts", "read"]),
    "alice-cli": ("alice", ["read", "decide"]),
    "bob-cli": ("bob", ["read", "decide"]),
    "carol-cli": ("carol", ["read", "decide"]),  # carol is soc-l1: no role for the approval gate
    "alice-soar": ("alice", ["alerts", "read", "decide"]),  # alice submitting: she is the requester
    "reader": (None, ["read"]),
    "firewall-pull": (None, ["feeds"]),  # a firewall pulling the block lists (certsoar.service.feeds)
}


def token_of(name: str) -> str:
    return f"test-token-{name}-0123456789abcdef"


def service_section(**settings: object) -> str:
    lines = ["service:"]
    lines += [f"  {key}: {value}" for key, value in settings.items()]
    lines.append("  tokens:")
    for name, (analyst, scopes) in TOKENS.items():
        entry = f"name: {name}, sha256: {token_digest(token_of(name))}, scopes: [{', '.join(scopes)}]"
        if analyst:
            entry += f", analyst: {analyst}"
        lines.append(f"    - {{{entry}}}")
    return "\n".join(lines) + "\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    lab: LabPaths
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "certsoar", "serve", "--config", str(self.lab.config), "--port", str(self.port)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"certsoar serve exited {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"certsoar serve did not start:\n{self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown of any kind."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token_of(token)}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def wait_status(self, run_id: str, *statuses: str, timeout: float = 60) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        with self.client("reader") as c:
            while True:
                answer = c.get(f"/v1/runs/{run_id}")
                assert answer.status_code == 200, (answer.status_code, answer.text)
                run = answer.json()
                if run["status"] in statuses:
                    return dict(run)
                assert time.monotonic() < deadline, f"run {run_id} stayed {run['status']}"
                time.sleep(0.1)


@pytest.fixture(scope="session")
def service_lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("openssl")
    state = tmp_path_factory.mktemp("service-pristine")
    ensure_lab(state)
    return state


def make_service(service_lab: Path, tmp_path: Path, **settings: object) -> Service:
    state = tmp_path / "state"
    shutil.copytree(service_lab, state)
    lab = lab_paths(state / "lab")
    with lab.config.open("a", encoding="utf-8") as config:
        config.write(service_section(**settings))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTSOAR_")}
    return Service(lab=lab, env=env, log=tmp_path / "service.log")


@pytest.fixture
def service(service_lab: Path, tmp_path: Path) -> Iterator[Service]:
    svc = make_service(service_lab, tmp_path)
    svc.start()
    yield svc
    svc.stop()
