"""Compiled templates are kept in the cache folder (certsoar.templating): a process started for one alert does
not compile the notification templates again; a folder others can write is never used (what it keeps is code)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from jinja2 import Environment

from certsoar import checkcache, templating
from certsoar.templating import Templates


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "cache"
    monkeypatch.setenv(checkcache.CACHE_ENV, str(folder))
    templating._environment.cache_clear()
    yield folder
    templating._environment.cache_clear()


def compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = Environment.compile

    def counting(self: Environment, source: object, name: str | None = None, *args: object, **kw: object) -> object:
        seen.append(str(name))
        return real(self, source, name, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(Environment, "compile", counting)
    return seen


def page(folder: Path, body: str) -> Templates:
    (folder / "l1").mkdir(parents=True, exist_ok=True)
    (folder / "l1" / "note.md.j2").write_text(body)
    return Templates([folder])


def test_a_template_is_compiled_once_across_processes(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = compiles(monkeypatch)
    templates = page(tmp_path / "mine", "# {{ subject }}\n")
    assert templates.render("l1/note.md.j2", {"subject": "a*b"}) == "# a\\*b"
    assert seen == ["l1/note.md.j2"] and list((cache / "templates").iterdir())
    templating._environment.cache_clear()  # as a new process
    assert templates.render("l1/note.md.j2", {"subject": "a*b"}) == "# a\\*b"
    assert seen == ["l1/note.md.j2"]
    page(tmp_path / "mine", "changed {{ subject }}\n")  # a changed source is compiled again
    templating._environment.cache_clear()
    assert templates.render("l1/note.md.j2", {"subject": "x"}) == "changed x"
    assert len(seen) == 2


def test_a_cache_folder_others_can_write_keeps_no_code(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache.mkdir(mode=0o700)
    os.chmod(cache, 0o777)
    seen = compiles(monkeypatch)
    templates = page(tmp_path / "mine", "{{ subject }}\n")
    for _ in range(2):
        templating._environment.cache_clear()
        assert templates.render("l1/note.md.j2", {"subject": "s"}) == "s"
    assert len(seen) == 2 and not (cache / "templates").exists()


def test_a_markdown_template_rendered_as_html_is_escaped_for_html_from_the_cache_too(
    cache: Path, tmp_path: Path
) -> None:
    """The HTML of a notification comes from its Markdown template; code compiled for Markdown escapes nothing for
    HTML, so the two are cached apart (one cache entry for both would let <script> through in a new process)."""
    templates = page(tmp_path / "mine", "# {{ subject }}\n")
    assert templates.render("l1/note.md.j2", {"subject": "<b>"}) == "# &lt;b>"
    templating._environment.cache_clear()  # as a new process
    assert templates.render("l1/note.md.j2", {"subject": "<b>*"}, escaped_for="html") == "# &lt;b&gt;*"
    assert templates.render("l1/note.md.j2", {"subject": "<b>*"}, escaped_for="txt") == "# <b>*"


def test_a_damaged_entry_is_compiled_again_not_an_error_in_the_notification(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    templates = page(tmp_path / "mine", "# {{ subject }}\n")
    assert templates.render("l1/note.md.j2", {"subject": "s"}) == "# s"
    (entry,) = (cache / "templates").iterdir()
    entry.write_bytes(entry.read_bytes()[:40])  # cut short: a full disk, a crash while another process wrote it
    templating._environment.cache_clear()
    seen = compiles(monkeypatch)
    assert templates.render("l1/note.md.j2", {"subject": "s"}) == "# s"
    assert seen == ["l1/note.md.j2"]
