"""The Markdown tables of the three SOAR exports (soar.markdown_table): a description that holds pipes, line
breaks, backticks, backslashes and HTML stays one cell of one row and shows as its own text, in every export."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from certsoar.export import EXPORTERS, export
from certsoar.export.soar import markdown_cell, markdown_table
from certsoar.manifest import build_manifest

HOSTILE = (
    "HOSTILE one | two\nthree\r\n\t`code` <script>alert(1)</script> <b>bold</b> a\\|b c\\ d || `unclosed | x\u202e"
)
SHOWN = "HOSTILE one | two three code <script>alert(1)</script> <b>bold</b> a\\|b c\\ d || `unclosed | x\\u202e"
"""What a reader sees in the cell: the text itself (a code span's backticks are markup), a hidden character shown."""


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return build_manifest()


def tables(markdown: str) -> list[list[list[Token]]]:
    """Each table as rows of cells, each cell its inline token."""
    found: list[list[list[Token]]] = []
    row: list[Token] = []
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    for i, token in enumerate(tokens):
        if token.type == "table_open":
            found.append([])
        elif token.type == "tr_open":
            row = []
        elif token.type in ("th_open", "td_open"):
            row.append(tokens[i + 1])
        elif token.type == "tr_close":
            found[-1].append(row)
    return found


def shown(cell: Token) -> str:
    return "".join(child.content for child in cell.children or [] if child.type in ("text", "code_inline"))


@pytest.mark.parametrize("platform", sorted(EXPORTERS))
def test_a_hostile_description_stays_one_cell_in_every_export(
    platform: str, manifest: dict[str, Any], tmp_path: Path
) -> None:
    hostile = copy.deepcopy(manifest)
    hostile["playbooks"][0]["description"] = HOSTILE
    hostile["actions"][0]["description"] = HOSTILE
    written = export(platform, hostile, tmp_path / platform)
    readmes = [p for p in written if p.suffix == ".md" and "HOSTILE" in p.read_text(encoding="utf-8")]
    assert readmes, f"{platform}: no README shows certsoar's playbooks and actions"
    for readme in readmes:
        text = readme.read_text(encoding="utf-8")
        assert "<script>" not in MarkdownIt("commonmark").enable("table").render(text)
        hits = 0
        for table in tables(text):
            header, *rows = table
            for row in rows:
                assert len(row) == len(header), f"{readme.name}: a row of {len(row)} cells under {len(header)}"
                for cell in row:
                    if "HOSTILE" in cell.content:
                        assert shown(cell) == SHOWN
                        assert not any(child.type == "html_inline" for child in cell.children or [])
                        hits += 1
        assert hits == 2, f"{readme.name}: the playbook's and the action's row"


def test_the_table_writer_refuses_a_row_of_another_width() -> None:
    with pytest.raises(ValueError, match="a table row of 1 cells under a header of 2"):
        markdown_table(["a", "b"], [["only one"]])


def test_a_plain_cell_is_written_as_it_is() -> None:
    plain = "Block the server at every firewall (`firewall.block`); AT&T's snake_case stays."
    assert markdown_cell(plain) == plain
    assert markdown_table(["a", "b"], [["1", "2"]]) == ["| a | b |", "| --- | --- |", "| 1 | 2 |"]
    assert markdown_table(["a"], [["1"]], spaced_rule=False) == ["| a |", "|---|", "| 1 |"]
