"""Fixtures of the escaping tests: the contexts the shipped templates really get, captured from
dry runs of the shipped playbook on the bundled lab."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from realcomponents import require_tool

from certsoar.templating import Templates

Captured = list[tuple[str, dict[str, Any]]]


@pytest.fixture(scope="session")
def lab_config(tmp_path_factory: pytest.TempPathFactory) -> Any:
    require_tool("openssl")
    from certsoar.config import load_config
    from certsoar.lab import ensure_lab, lab_paths

    state = tmp_path_factory.mktemp("escaping-lab")
    ensure_lab(state)
    lab = lab_paths(state / "lab")
    return lab, load_config(str(lab.config))


@contextmanager
def recorded_renders() -> Iterator[Captured]:
    """Every template rendered inside the block, with a copy of the context it was given."""
    seen: Captured = []
    original = Templates.render

    def recording(self: Templates, name: str, context: dict[str, Any], *, escaped_for: str | None = None) -> str:
        if escaped_for is None:  # the plain-text and HTML renderings of a notification get the same context
            seen.append((name, copy.deepcopy(context)))
        return original(self, name, context, escaped_for=escaped_for)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Templates, "render", recording)
        yield seen


def capture_dry_run(config: Any, alert_bytes: bytes) -> Captured:
    """(template, context) of every render in a dry run of certificate-alert for this alert."""
    from certsoar.api import run_playbook
    from certsoar.intake import load_alert

    with recorded_renders() as seen:
        asyncio.run(run_playbook(config, "certificate-alert", load_alert(alert_bytes), dry_run=True))
    return seen


def capture_sweep_dry_run(root: Path) -> Captured:
    """(template, context) of every render in a dry run of the revocation sweep over a CA with bad issuances,
    over budget so that the batch approval is asked for too."""
    from sweeplab import build_sweep_lab, write_config

    from certsoar.api import run_sweep
    from certsoar.config import load_config

    build_sweep_lab(root)
    config = load_config(write_config(root, sweep={"max_per_run": 2}))
    with recorded_renders() as seen:
        asyncio.run(run_sweep(config, "revocation", dry_run=True))
    return seen


def capture_release(root: Path) -> Captured:
    """(template, context) of every render while a contained run of the lab is released (asked, then approved)."""
    from certsoar.api import decide, release, run_playbook
    from certsoar.config import load_config
    from certsoar.intake import load_alert
    from certsoar.lab import ensure_lab, lab_paths

    ensure_lab(root)
    lab = lab_paths(root / "lab")
    config = load_config(str(lab.config))
    alert = load_alert(Path(lab.alerts["internal"]).read_bytes())
    run = asyncio.run(run_playbook(config, "certificate-alert", alert))
    asyncio.run(decide(config, run["id"], analyst="alice", decision="approved"))
    with recorded_renders() as seen:
        asked = asyncio.run(release(config, run["id"], analyst="alice", comment="a false positive"))
        asyncio.run(decide(config, asked["id"], analyst="bob", decision="approved"))
    return seen


def capture_failed_containment(root: Path) -> Captured:
    """(template, context) of every render while an approved containment of the lab fails (the proxy's list
    cannot be read): the playbook's on_failure steps."""
    from certsoar.api import decide, run_playbook
    from certsoar.config import load_config
    from certsoar.intake import load_alert
    from certsoar.lab import ensure_lab, lab_paths

    ensure_lab(root)
    lab = lab_paths(root / "lab")
    squid_list = lab.root / "proxy" / "rogue-certs.txt"
    squid_list.unlink(missing_ok=True)
    squid_list.mkdir(parents=True)
    config = load_config(str(lab.config))
    run = asyncio.run(run_playbook(config, "certificate-alert", load_alert(Path(lab.alerts["internal"]).read_bytes())))
    with recorded_renders() as seen:
        failed = asyncio.run(decide(config, run["id"], analyst="alice", decision="approved"))
    assert failed["status"] == "failed"
    return seen


@pytest.fixture(scope="session")
def captured(lab_config: Any, tmp_path_factory: pytest.TempPathFactory) -> Captured:
    lab, config = lab_config
    return (
        [
            pair
            for story in ("mimicry", "internal")
            for pair in capture_dry_run(config, Path(lab.alerts[story]).read_bytes())
        ]
        + capture_sweep_dry_run(tmp_path_factory.mktemp("escaping-sweep"))
        + capture_release(tmp_path_factory.mktemp("escaping-release"))
        + capture_failed_containment(tmp_path_factory.mktemp("escaping-failed-containment"))
    )
