"""Read an OpenSSL configuration file (``openssl.cnf``) the way ``openssl`` does, enough for a CA.

Supported: ``[section]`` headers, ``name = value`` lines, ``#`` comments, single and double
quotes, backslash escapes and line continuations, ``$var``/``${var}``, ``$section::var``,
``$ENV::NAME`` expansion and ``.include``. Names not found in the current section are looked up
in the ``default`` section (the lines before the first header), as OpenSSL does.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from certsoar.errors import ConfigError

DEFAULT_SECTION = "default"
_SECTION_HEADER = re.compile(r"^\[\s*([^\]]*?)\s*\]\s*(?:#.*)?$")
_DIRECTIVE = re.compile(r"^\.(include|pragma)\b\s*=?\s*(.*)$")
_VAR_NAME = re.compile(r"[A-Za-z0-9_]+")
_ESCAPES = {"n": "\n", "r": "\r", "b": "\b", "t": "\t"}
_MAX_INCLUDE_DEPTH = 8


@dataclass(frozen=True)
class OpenSslConfig:
    """Expanded values by section; ``path`` is the file that was read."""

    path: Path
    sections: dict[str, dict[str, str]]

    def get(self, section: str, name: str) -> str | None:
        value = self.sections.get(section, {}).get(name)
        if value is None and section != DEFAULT_SECTION:
            value = self.sections.get(DEFAULT_SECTION, {}).get(name)
        return value


def parse_openssl_config(path: Path) -> OpenSslConfig:
    """Parse ``path``; a syntax error or an undefined ``$variable`` is a ConfigError naming the line."""
    sections: dict[str, dict[str, str]] = {DEFAULT_SECTION: {}}
    _parse_into(Path(path), sections, depth=0)
    return OpenSslConfig(path=Path(path), sections=sections)


def _parse_into(path: Path, sections: dict[str, dict[str, str]], depth: int) -> None:
    if depth > _MAX_INCLUDE_DEPTH:
        raise ConfigError(f"{path}: .include nested too deeply")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the OpenSSL config: {getattr(exc, 'strerror', None) or exc}") from exc
    section = DEFAULT_SECTION
    for lineno, line in _logical_lines(text):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        header = _SECTION_HEADER.match(stripped)
        if header:
            section = header.group(1)
            sections.setdefault(section, {})
            continue
        directive = _DIRECTIVE.match(stripped)
        if directive:
            if directive.group(1) == "include":
                target = _strip_value(directive.group(2), path, lineno).replace("\x00", "")
                _include(path, Path(target), sections, depth)
            continue
        name, sep, raw_value = stripped.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ConfigError(f"{path}:{lineno}: expected 'name = value' or a [section] header")
        value_section, _, value_name = name.rpartition("::")
        target_section = value_section or section
        value = _expand(_strip_value(raw_value, path, lineno), target_section, sections, path, lineno)
        sections.setdefault(target_section, {})[value_name] = value


def _include(origin: Path, target: Path, sections: dict[str, dict[str, str]], depth: int) -> None:
    # OpenSSL resolves relative includes against its working directory, which certsoar sets
    # to the folder of the main config file.
    full = target if target.is_absolute() else origin.parent / target
    if full.is_dir():
        for child in sorted(full.iterdir()):
            if child.suffix in (".cnf", ".conf") and child.is_file():
                _parse_into(child, sections, depth + 1)
    else:
        _parse_into(full, sections, depth + 1)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Join lines that end in an unescaped backslash; keep the number of the first physical line."""
    out: list[tuple[int, str]] = []
    pending = ""
    start = 0
    for number, physical in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        trailing = len(physical) - len(physical.rstrip("\\"))
        if trailing % 2 == 1:
            pending += physical[:-1]
            continue
        out.append((start, pending + physical))
        pending = ""
    if pending:
        out.append((start, pending))
    return out


def _strip_value(raw: str, path: Path, lineno: int) -> str:
    """Remove comments and quotes, apply escapes; a literal ``$`` is marked with NUL before it."""
    out: list[str] = []
    quote: str | None = None
    i = 0
    raw = raw.strip()
    while i < len(raw):
        ch = raw[i]
        if quote:
            # Quoted text is literal (no expansion); a backslash keeps the next character.
            if ch == quote:
                quote = None
            else:
                if ch == "\\" and i + 1 < len(raw):
                    i += 1
                out.append("\x00$" if raw[i] == "$" else raw[i])
        elif ch in ('"', "'"):
            quote = ch
        elif ch == "#":
            break
        elif ch == "\\" and i + 1 < len(raw):
            i += 1
            # An escaped dollar stays literal: mark it so expansion skips it.
            out.append("\x00$" if raw[i] == "$" else _ESCAPES.get(raw[i], raw[i]))
        else:
            out.append(ch)
        i += 1
    if quote:
        raise ConfigError(f"{path}:{lineno}: unterminated quote")
    return "".join(out).rstrip()


def _expand(value: str, section: str, sections: dict[str, dict[str, str]], path: Path, lineno: int) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\x00":
            out.append(value[i + 1])
            i += 2
            continue
        if ch != "$":
            out.append(ch)
            i += 1
            continue
        braced = value.startswith("{", i + 1)
        pos = i + 2 if braced else i + 1
        first = _VAR_NAME.match(value, pos)
        if not first:
            raise ConfigError(f"{path}:{lineno}: '$' is not followed by a variable name")
        ref_section, ref_name, pos = section, first.group(0), first.end()
        if value.startswith("::", pos):
            second = _VAR_NAME.match(value, pos + 2)
            if not second:
                raise ConfigError(f"{path}:{lineno}: '${ref_name}::' is not followed by a name")
            ref_section, ref_name, pos = first.group(0), second.group(0), second.end()
        if braced:
            if not value.startswith("}", pos):
                raise ConfigError(f"{path}:{lineno}: missing '}}' after ${{{ref_name}")
            pos += 1
        out.append(_lookup(ref_section, ref_name, sections, path, lineno))
        i = pos
    return "".join(out)


def _lookup(section: str, name: str, sections: dict[str, dict[str, str]], path: Path, lineno: int) -> str:
    if section == "ENV":
        found = os.environ.get(name)
    else:
        found = sections.get(section, {}).get(name)
        if found is None:
            found = sections.get(DEFAULT_SECTION, {}).get(name)
    if found is None:
        raise ConfigError(f"{path}:{lineno}: variable ${name} has no value")
    return found
