"""Notification and ticket templates: ``templates/<channel>/<event>.<fmt>.j2``, sandboxed Jinja.

Data is never re-evaluated: a ``{{ 7*7 }}`` inside an alert field renders as those characters.
HTML templates are autoescaped; every template fails loudly on an undefined name.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, TemplateError, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment

from certsoar.errors import ActionError

MAX_RENDERED_CHARS = 256 * 1024


def shipped_templates_dir() -> Path:
    return Path(str(files("certsoar.templates")))


@lru_cache(maxsize=16)
def _environment(search: tuple[str, ...]) -> ImmutableSandboxedEnvironment:
    """One environment per search path, so compiled templates are reused across runs."""
    env = ImmutableSandboxedEnvironment(
        loader=ChoiceLoader([FileSystemLoader(list(search))]),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html.j2", "xml.j2"), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["literal"] = literal
    return env


class Templates:
    def __init__(self, extra_dirs: list[Path] | None = None) -> None:
        self.env = _environment(tuple(str(p) for p in (extra_dirs or [])) + (str(shipped_templates_dir()),))

    def exists(self, name: str) -> bool:
        try:
            self.env.get_template(name)
        except TemplateError:
            return False
        return True

    def names(self) -> list[str]:
        return sorted(n for n in self.env.list_templates() if n.endswith(".j2"))

    def render(self, name: str, context: dict[str, Any]) -> str:
        try:
            text = self.env.get_template(name).render(**context)
        except TemplateError as exc:
            raise ActionError(f"template {name}: {exc}") from exc
        if len(text) > MAX_RENDERED_CHARS:
            text = text[:MAX_RENDERED_CHARS] + "\n[truncated]\n"
        return text


def literal(value: object, limit: int = 300) -> str:
    """Untrusted text as a Markdown code span: on one line, bounded, unable to open links or HTML."""
    text = " ".join(str(value).split()).replace("`", "'")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"`{text}`"


def subject_of(text: str) -> str:
    """The first non-empty line, without Markdown heading marks, as a one-line subject."""
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:200]
    return "(no subject)"


def format_of(template: str) -> str:
    parts = Path(template).name.split(".")
    return parts[-2] if len(parts) >= 3 else "txt"
