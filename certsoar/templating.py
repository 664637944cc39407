"""Notification and ticket templates: ``templates/<channel>/<event>.<fmt>.j2``, sandboxed Jinja.

Data is never re-evaluated: a ``{{ 7*7 }}`` inside an alert field renders as those characters.
Every ``{{ }}`` output is escaped for the template's format (md, mrkdwn, html, txt, from its name)
by the environment itself, so a template cannot forget it: the value comes out on one line,
its control characters shown, unable to open markup. Text written in the template is trusted and
passes as it is. ``| literal`` shows a value as code; ``| trusted`` is the deliberate way to emit
markup a template built itself. Every template fails loudly on an undefined name.
``lookalikes(text, ...)`` lists the look-alike characters in its arguments (certsoar.certs.lookalikes), for
templates that show a certificate's names to a person.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
    BytecodeCache,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
)
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from certsoar import escaping
from certsoar.certs.lookalikes import lookalikes
from certsoar.checkcache import compiled_jinja
from certsoar.errors import ActionError

MAX_RENDERED_CHARS = 256 * 1024


class Trusted(str):
    """Text a template produced itself (``| literal``, ``| trusted``): written out without escaping."""


@dataclass(frozen=True)
class Channel:
    """How one format escapes every ``{{ }}`` value, and how ``| literal`` shows one as code."""

    escape: Callable[[str], str]
    code: Callable[[str, int], str]
    markup: bool = False
    """HTML and XML: Jinja's autoescape does the escaping after ``escape`` (which shows controls), and
    Markup is the trusted type. Elsewhere Markup (from Jinja's own ``| e``, ``| safe``) means nothing
    and is escaped like any value."""

    def finalize(self, value: object) -> object:
        return value if isinstance(value, Markup if self.markup else Trusted) else self.escape(str(value))

    def trust(self, text: str) -> str:
        return Markup(text) if self.markup else Trusted(text)


def _html_code(text: str, limit: int) -> str:
    return f"<code>{escaping.html(escaping.one_line(text, limit))}</code>"


CHANNELS: dict[str, Channel] = {
    "md": Channel(escape=escaping.markdown, code=escaping.markdown_code),
    "mrkdwn": Channel(escape=escaping.mrkdwn, code=escaping.mrkdwn_code),
    "html": Channel(escape=escaping.visible, code=_html_code, markup=True),
    "xml": Channel(
        escape=escaping.visible, code=lambda text, limit: escaping.html(escaping.one_line(text, limit)), markup=True
    ),
    "txt": Channel(escape=escaping.visible, code=escaping.one_line),
}


def shipped_templates_dir() -> Path:
    return Path(str(files("certsoar.templates")))


def format_of(template: str) -> str:
    parts = Path(template).name.split(".")
    return parts[-2] if len(parts) >= 3 else "txt"


class _OneFormatLoader(BaseLoader):
    """Loads only templates of one format, so an included template is escaped for what it was written for."""

    def __init__(self, inner: BaseLoader, fmt: str) -> None:
        self.inner, self.fmt = inner, fmt

    def get_source(self, environment: Environment, template: str) -> tuple[str, str | None, Callable[[], bool] | None]:
        if format_of(template) != self.fmt:
            raise TemplateError(f"{template} is a {format_of(template)} template; this one renders {self.fmt}")
        return self.inner.get_source(environment, template)

    def list_templates(self) -> list[str]:
        return self.inner.list_templates()


def _compiled_cache() -> BytecodeCache | None:
    """Compiled templates kept in the cache folder (checkcache.compiled_jinja), so that a process started for one
    alert does not compile every notification template again (a good part of a one-alert CLI run)."""
    return compiled_jinja("templates")


@lru_cache(maxsize=32)
def _environment(search: tuple[str, ...], fmt: str) -> ImmutableSandboxedEnvironment:
    """One environment per search path and format, so compiled templates are reused across runs."""
    channel = CHANNELS[fmt]
    env = ImmutableSandboxedEnvironment(
        bytecode_cache=_compiled_cache(),
        loader=_OneFormatLoader(ChoiceLoader([FileSystemLoader(list(search))]), fmt),
        undefined=StrictUndefined,
        autoescape=channel.markup,
        finalize=channel.finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def literal(value: object, limit: int = 300) -> str:
        """Untrusted text as code: on one line, bounded, unable to open links or HTML."""
        return channel.trust(channel.code(str(value), limit))

    def trusted(value: object) -> str:
        return channel.trust(str(value))

    env.filters["literal"] = literal
    env.filters["trusted"] = trusted
    env.globals["lookalikes"] = lookalikes
    return env


class Templates:
    def __init__(self, extra_dirs: list[Path] | None = None) -> None:
        self.search = tuple(str(p) for p in (extra_dirs or [])) + (str(shipped_templates_dir()),)

    def environment(self, name: str) -> ImmutableSandboxedEnvironment:
        fmt = format_of(name)
        if fmt not in CHANNELS:
            raise ActionError(
                f"template {name}: no escaping is known for format {fmt!r} (known: {', '.join(sorted(CHANNELS))})"
            )
        return _environment(self.search, fmt)

    def exists(self, name: str) -> bool:
        try:
            self.environment(name).get_template(name)
        except (TemplateError, ActionError):
            return False
        return True

    def names(self) -> list[str]:
        return sorted(n for n in _environment(self.search, "txt").list_templates() if n.endswith(".j2"))

    def render(self, name: str, context: dict[str, Any]) -> str:
        try:
            text = self.environment(name).get_template(name).render(**context)
        except TemplateError as exc:
            raise ActionError(f"template {name}: {exc}") from exc
        if len(text) > MAX_RENDERED_CHARS:
            text = text[:MAX_RENDERED_CHARS] + "\n[truncated]\n"
        return text


def subject_of(text: str) -> str:
    """The first non-empty line, without Markdown heading marks, as a one-line subject."""
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:200]
    return "(no subject)"
