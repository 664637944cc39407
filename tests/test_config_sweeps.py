"""``sweeps:`` in the config is validated when the config loads: a misspelt key or a value of the wrong kind is
a ConfigError naming it, never a sweep that silently repairs nothing (or everything)."""

from __future__ import annotations

from pathlib import Path

import pytest

from certsoar.config import load_config
from certsoar.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_repair_is_off_unless_configured(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "state_dir: s\n")).sweeps.containment.repair is False
    config = load_config(write(tmp_path, "sweeps: {containment: {repair: true}, certificates: {concurrency: 3}}\n"))
    assert config.sweeps.containment.repair is True and config.sweeps.certificates.concurrency == 3


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("sweeps: {containment: {repiar: true}}", "repiar"),
        ("sweeps: {containment: {repair: maybe}}", "repair"),
        ("sweeps: {containment: {crl_warn_before: soon}}", "crl_warn_before"),
        ("sweeps: {certificates: {concurrency: 0}}", "concurrency"),
        ("sweeps: {contaiment: {repair: true}}", "contaiment"),
    ],
)
def test_a_bad_sweeps_section_is_refused_at_load(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_config(write(tmp_path, text + "\n"))
