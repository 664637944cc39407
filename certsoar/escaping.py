"""Untrusted text made safe for the channel it goes to: Markdown, Slack mrkdwn, HTML, a terminal.

Every function here takes text that may come from a certificate, a log or an alert and returns it
on one line (newlines included, control characters are shown, never sent), unable to open
structure in its channel: no heading, list, link, HTML or mention comes out of data.
``certsoar.templating`` applies them to every ``{{ }}`` output; the terminal writers use
``for_terminal``.
"""

from __future__ import annotations

import re
import unicodedata
from html import escape as _html_escape

# Cc: C0, DEL and C1 controls (ESC, CSI, OSC…); Cf: bidi overrides and isolates, zero-width and tag
# characters; Zl/Zp: line and paragraph separators; Cs: lone surrogates, which cannot even be encoded.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def _shown(char: str) -> str:
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode control pictures: ␛ ␊ ␍ ␀
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _is_hidden(char: str) -> bool:
    return unicodedata.category(char) in _HIDDEN_CATEGORIES


def visible(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control, format and separator character shown as a visible mark:
    ``\\x1b`` → ``␛``, ``\\n`` → ``␊`` (kept as a line break with ``keep_newlines``), U+202E → ``\\u202e``."""
    if text.isprintable() and (keep_newlines or "\n" not in text):
        return text  # the common case; isprintable() is False for every hidden category
    return "".join(char if (char == "\n" and keep_newlines) or not _is_hidden(char) else _shown(char) for char in text)


def for_terminal(text: str) -> str:
    """A document for a terminal: its own line breaks kept, every other control character shown."""
    return visible(text, keep_newlines=True)


def one_line(text: str, limit: int | None = None) -> str:
    """Visible, with runs of white space made one space, cut at ``limit`` characters with an ellipsis."""
    flat = " ".join(visible(text).split())
    if limit is not None and len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return flat


# Markdown (CommonMark and its common extensions) --------------------------------------------------

_MD_BACKSLASHED = frozenset("`*[]|~")  # emphasis, code, links, tables, strikethrough
_ASCII_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{0,31});")
# What opens a block when it starts a line (after up to three spaces): a heading, a list item, a
# quote, a setext underline, a numbered item. HTML needs ``<``, which never passes raw.
_MD_BLOCK_START = re.compile(r"^([ \t]*)(?:[#+=>-]|\d{1,9}(?=[.)](?:[ \t]|$)))")


def markdown(text: str) -> str:
    """Inline Markdown that reads as the text itself and can open no heading, list, link, code,
    emphasis or HTML, on one line."""
    text = visible(text)  # first, so the backslash of a shown \u202e is judged like any other
    out: list[str] = []
    for i, char in enumerate(text):
        if char in _MD_BACKSLASHED:
            out.append("\\" + char)
        elif char == "\\" and (i == len(text) - 1 or text[i + 1] in _ASCII_PUNCTUATION):
            out.append("\\\\")  # CORP\jsmith stays as it is: only a backslash before punctuation escapes
        elif char == "_" and not (0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()):
            out.append("\\_")  # snake_case stays readable: an underscore inside a word opens no emphasis
        elif char == "<":
            out.append("&lt;")
        elif char == "&" and _ENTITY.match(text, i):
            out.append("&amp;")  # AT&T stays as it is; &lt; in data is shown, not decoded
        else:
            out.append(char)
    escaped = "".join(out)
    start = _MD_BLOCK_START.match(escaped)
    if start:
        marker = start.end() if escaped[start.end() - 1].isdigit() else start.end() - 1
        escaped = escaped[:marker] + "\\" + escaped[marker:]
    return escaped


def markdown_code(text: str, limit: int = 300) -> str:
    """A Markdown code span: shown exactly as written (one line, bounded), so nothing in it is markup."""
    flat = one_line(text, limit).replace("`", "'")  # a backtick would close the span
    return f"`{flat or ' '}`"


# Slack mrkdwn --------------------------------------------------------------------------------------

_MENTION = re.compile(r"@(?=(?:channel|here|everyone)\b)", re.IGNORECASE)


def mrkdwn(text: str) -> str:
    """Slack mrkdwn: ``&``, ``<``, ``>`` escaped (so no ``<!here>``, ``<@U…>`` or ``<url|label>``) and
    ``@channel``/``@here``/``@everyone`` written with a full-width at sign that notifies nobody."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return visible(_MENTION.sub("\uff20", escaped))


def mrkdwn_code(text: str, limit: int = 300) -> str:
    return f"`{mrkdwn(one_line(text, limit)).replace('`', chr(39)) or ' '}`"


# HTML ------------------------------------------------------------------------------------------------


def html(text: str) -> str:
    return _html_escape(visible(text), quote=True)


def html_text(text: str) -> str:
    """Text a template wrote, for HTML: ``&``, ``<`` and ``>`` escaped, its line breaks and quotes kept."""
    return _html_escape(text, quote=False)
