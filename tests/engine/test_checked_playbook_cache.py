"""The cache of checked playbooks (certsoar.checkcache): a CLI process that runs one alert does not check the
shipped playbook again, and no cache, whoever wrote it, lets a playbook skip the approval check."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from certsoar import api, checkcache, validate
from certsoar.errors import PlaybookError
from certsoar.playbook import find_playbook

GATED = """
id: gated
trigger: {alert: certificate}
steps:
  - id: gate
    approval: {roles: [soc-tier2], required: 1, expires: 1h}
  - {id: block, action: firewall.block, when: "{{ steps.gate.approved }}", with: {addresses: ["{{ alert.dst_ip }}"]}}
"""
UNGATED = GATED.replace('when: "{{ steps.gate.approved }}", ', "")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "cache"
    monkeypatch.setenv(checkcache.CACHE_ENV, str(folder))
    api._passing.cache_clear()
    yield folder
    api._passing.cache_clear()


def full_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = validate.check_playbook

    def counting(*args: object, **kwargs: object) -> list[PlaybookError]:
        seen.append(str(args[2]))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(api, "check_playbook", counting)
    return seen


def test_a_playbook_checked_once_is_not_checked_again(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checks = full_checks(monkeypatch)
    text = find_playbook("certificate-alert").read_text()
    api._checked(text, "certificate-alert.yaml")
    assert len(checks) == 1 and checkcache.passed(text)
    assert oct(cache.stat().st_mode & 0o777) == "0o700" and oct((cache / "key").stat().st_mode & 0o777) == "0o600"
    api._passing.cache_clear()  # as a new process
    assert api._checked(text, "certificate-alert.yaml").id == "certificate-alert"
    assert len(checks) == 1
    assert not checkcache.passed(text + "\n# changed\n")  # another text is another entry


def test_a_forged_or_copied_entry_is_a_miss(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checks = full_checks(monkeypatch)
    checkcache.remember(GATED)
    [entry] = cache.glob("playbook-*")
    entry.write_text("0" * 64 + "\n")  # forged without the key
    assert not checkcache.passed(GATED)
    checkcache.remember(GATED)
    (cache / "key").write_text("another-installation-" + "k" * 40 + "\n")  # an entry made under another key
    assert not checkcache.passed(GATED)
    api._checked(GATED, "gated.yaml")
    assert len(checks) == 1  # a miss: the full check ran


def test_a_cache_others_can_write_is_not_used(cache: Path) -> None:
    checkcache.remember(GATED)
    assert checkcache.passed(GATED)
    os.chmod(cache, 0o777)
    assert not checkcache.passed(GATED)
    os.chmod(cache, 0o700)
    assert checkcache.passed(GATED)


def test_even_a_valid_entry_never_skips_the_approval_check(cache: Path) -> None:
    """Whoever holds the cache's key can vouch for any text: the gate check runs on every hit all the same."""
    with pytest.raises(PlaybookError, match="firewall.block needs an approval"):
        api._checked(UNGATED, "ungated.yaml")
    assert not checkcache.passed(UNGATED)
    checkcache.remember(UNGATED)
    assert checkcache.passed(UNGATED)
    api._passing.cache_clear()
    with pytest.raises(PlaybookError, match="firewall.block needs an approval"):
        api._checked(UNGATED, "ungated.yaml")


def test_a_passing_text_is_checked_once_per_process_whatever_name_it_is_read_under(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parses: list[str] = []
    real = api.parse_playbook

    def counting(text: str, file: str) -> object:
        parses.append(file)
        return real(text, file)

    monkeypatch.setattr(api, "parse_playbook", counting)
    for run in range(5):  # a run's stored definition is named after its run
        assert api._checked(GATED, f"<gated as of run {run}>").id == api._checked(GATED, "gated.yaml").id
    assert len(parses) == 1


def test_a_broken_text_names_the_file_it_was_read_under(cache: Path) -> None:
    for broken in (GATED.replace("steps:", "steps: ["), UNGATED):  # unparsable; parsed but without its gate
        for name in ("one.yaml", "<run 7>"):
            with pytest.raises(PlaybookError) as raised:
                api._checked(broken, name)
            assert name in str(raised.value)


def test_a_hit_reads_the_text_without_the_line_numbering_loader_unless_it_reports_an_error(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parses: list[str] = []
    real = api.parse_playbook

    def counting(text: str, file: str) -> object:
        parses.append(file)
        return real(text, file)

    monkeypatch.setattr(api, "parse_playbook", counting)
    checkcache.remember(GATED)
    assert api._checked(GATED, "gated.yaml").steps[1].id == "block"
    assert parses == []
    checkcache.remember(UNGATED)  # a vouched-for text that fails the gate check: the error still names its line
    with pytest.raises(PlaybookError, match="firewall.block needs an approval") as raised:
        api._checked(UNGATED, "ungated.yaml")
    assert parses[-1] == "ungated.yaml" and raised.value.line == 7
