"""An independent judge of rendered Markdown: a real CommonMark parser (markdown-it-py)."""

from __future__ import annotations

import unicodedata

from markdown_it import MarkdownIt
from markdown_it.token import Token

HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
PARSER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
PARSER.validateLink = lambda url: True  # markdown-it drops javascript: links itself; other renderers may not
# What the shipped templates write themselves; anything else in a parse came from data.
TEMPLATE_BLOCKS = frozenset(
    {
        "paragraph_open",
        "paragraph_close",
        "heading_open",
        "heading_close",
        "bullet_list_open",
        "bullet_list_close",
        "list_item_open",
        "list_item_close",
        "code_block",
        "inline",
    }
)
TEMPLATE_INLINES = frozenset({"text", "code_inline", "strong_open", "strong_close", "softbreak", "hardbreak"})


def raw_controls(text: str) -> list[str]:
    """Control, format and separator characters other than the template's own line breaks."""
    return [c for c in text if c != "\n" and unicodedata.category(c) in HIDDEN]


def tokens(text: str) -> tuple[list[Token], list[Token]]:
    """The block tokens and the inline tokens of a parse."""
    blocks = PARSER.parse(text)
    return blocks, [child for block in blocks for child in (block.children or [])]


def heading_lines(text: str) -> list[str]:
    """Lines a reader sees as headings, by the parser and by eye (a leading #)."""
    return [line for line in text.splitlines() if line.lstrip(" ").startswith("#")]


def problems(text: str, *, headings: int) -> list[str]:
    """Why this rendering is unsafe: empty when data opened no structure of its own."""
    found = [f"raw control character {c!r}" for c in raw_controls(text)[:3]]
    blocks, inlines = tokens(text)
    found += [f"block {b} from data" for b in {t.type for t in blocks} - TEMPLATE_BLOCKS]
    found += [f"inline {i} from data" for i in {t.type for t in inlines} - TEMPLATE_INLINES]
    seen = sum(t.type == "heading_open" for t in blocks)
    if seen != headings or len(heading_lines(text)) != headings:
        found.append(f"{seen} parsed / {len(heading_lines(text))} visible headings, the template has {headings}")
    html = PARSER.render(text).lower()
    found += [f"{needle} in the HTML" for needle in ("<script", "<a ", "<img", "<iframe") if needle in html]
    return found
