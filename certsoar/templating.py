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

from collections.abc import Callable, Iterator
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
    TemplateNotFound,
    TemplateSyntaxError,
)
from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream
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
    """Loads only templates of one format, so an included template is escaped like the one including it."""

    def __init__(self, inner: BaseLoader, fmt: str) -> None:
        self.inner, self.fmt = inner, fmt

    def get_source(self, environment: Environment, template: str) -> tuple[str, str | None, Callable[[], bool] | None]:
        if format_of(template) != self.fmt:
            raise TemplateError(f"{template} is a {format_of(template)} template; this one renders {self.fmt}")
        return self.inner.get_source(environment, template)

    def list_templates(self) -> list[str]:
        return self.inner.list_templates()


def _compiled_cache(escaped_for: str) -> BytecodeCache | None:
    """Compiled templates kept in the cache folder (checkcache.compiled_jinja), so that a process started for one
    alert does not compile every notification template again (a good part of a one-alert CLI run). Code compiled
    to escape for HTML differs from the rest, so each output format has its own entries."""
    return compiled_jinja("templates", variant=escaped_for)


class _TextAsHtml(Extension):
    """The text written in a Markdown (or plain-text) template is not HTML: in its HTML rendering a ``<why>`` in
    it must show, not open an element, so the template's own text is escaped too (values are, by autoescape)."""

    def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
        for token in stream:
            yield Token(token.lineno, "data", escaping.html_text(token.value)) if token.type == "data" else token


@lru_cache(maxsize=32)
def _environment(search: tuple[str, ...], fmt: str, escaped_for: str) -> ImmutableSandboxedEnvironment:
    """One environment per search path, format of the templates and format of the output, so compiled templates
    are reused across runs."""
    channel = CHANNELS[escaped_for]
    env = ImmutableSandboxedEnvironment(
        bytecode_cache=_compiled_cache(escaped_for),
        loader=_OneFormatLoader(ChoiceLoader([FileSystemLoader(list(search))]), fmt),
        undefined=StrictUndefined,
        autoescape=channel.markup,
        finalize=channel.finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[_TextAsHtml] if channel.markup and not CHANNELS[fmt].markup else [],
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

    def environment(self, name: str, escaped_for: str | None = None) -> ImmutableSandboxedEnvironment:
        fmt = format_of(name)
        for wanted in (fmt, escaped_for or fmt):
            if wanted not in CHANNELS:
                raise ActionError(
                    f"template {name}: no escaping is known for format {wanted!r} (known: {', '.join(sorted(CHANNELS))})"
                )
        return _environment(self.search, fmt, escaped_for or fmt)

    def problem(self, name: str) -> str | None:
        """None when ``name`` loads and compiles, else what is wrong with it (``does not exist``, the syntax
        error and its line, a format without escaping), for the operator who wrote it."""
        try:
            self.environment(name).get_template(name)
        except TemplateNotFound:
            return "does not exist"
        except TemplateSyntaxError as exc:
            where = f"{exc.filename or exc.name or name}, line {exc.lineno}"
            return f"does not compile ({where}): {exc.message}"
        except (TemplateError, ActionError) as exc:
            return f"cannot be used: {exc}"
        return None

    def exists(self, name: str) -> bool:
        return self.problem(name) is None

    def names(self) -> list[str]:
        return sorted(n for n in _environment(self.search, "txt", "txt").list_templates() if n.endswith(".j2"))

    def render(self, name: str, context: dict[str, Any], *, escaped_for: str | None = None) -> str:
        """``name`` rendered with every value escaped for its format, or for ``escaped_for``: the plain text
        (``txt``) or the HTML of a Markdown notification, for channels that show no Markdown."""
        try:
            text = self.environment(name, escaped_for).get_template(name).render(**context)
        except TemplateNotFound as exc:
            missing = "does not exist" if exc.name == name else f"includes {exc.name!r}, which does not exist"
            raise ActionError(f"template {name}: {missing}") from exc
        # A template (an operator's override too) can also fail as Python does: the sandbox's range limit
        # (OverflowError), a division by zero, a bad comparison. Each is this template's failure, said so.
        except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
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
