"""Each channel's escaping, judged by what a reader of that channel gets, and templates that cannot
forget it: a template added in an extra folder is escaped for its format without asking."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from markdown_oracle import HIDDEN, raw_controls, tokens

from certsoar.errors import ActionError
from certsoar.escaping import for_terminal, html, markdown, markdown_code, mrkdwn, visible
from certsoar.templating import Templates

HOSTILE_SNI = (
    "evil.example\n# APPROVED by CISO [x](javascript:alert(1)) <script>x</script> \x1b]8;;http://e\x07 @channel"
)


# --- visible: the one function every terminal writer uses -----------------------------------------


@given(st.text())
def test_visible_leaves_no_control_character(text: str) -> None:
    assert [c for c in visible(text) if unicodedata.category(c) in HIDDEN] == []
    assert [c for c in for_terminal(text) if c != "\n" and unicodedata.category(c) in HIDDEN] == []
    assert for_terminal(text).count("\n") == text.count("\n")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[2J", "␛[2J"),
        ("a\nb", "a␊b"),
        ("\r", "␍"),
        ("\x00\x7f", "␀␡"),
        ("\x9b", "\\u009b"),
        ("\u202egnp.exe", "\\u202egnp.exe"),
        ("\U000e0041", "\\U000e0041"),
        ("\ud800", "\\ud800"),
        ("CN=Ünïcødé, O=Корп", "CN=Ünïcødé, O=Корп"),
    ],
)
def test_visible_marks(text: str, shown: str) -> None:
    assert visible(text) == shown


# --- Markdown: a CommonMark reader sees exactly the text, wherever the template puts it ----------


@given(st.text())
def test_markdown_value_reads_as_its_text_mid_line(text: str) -> None:
    blocks, inlines = tokens("Value: " + markdown(text) + " end")
    assert [b.type for b in blocks] == ["paragraph_open", "inline", "paragraph_close"]
    assert {t.type for t in inlines} == {"text"}
    assert "".join(t.content for t in inlines) == "Value: " + visible(text) + " end"


@pytest.mark.parametrize("before", ["", "Foo\n", "- ", "1. x\n   "])
@given(text=st.text(min_size=1))
def test_markdown_value_reads_as_its_text_at_the_start_of_a_line(before: str, text: str) -> None:
    shown = visible(text)
    assume(shown == shown.strip())
    blocks, inlines = tokens(before + markdown(text))
    assert {b.type for b in blocks} <= {
        "paragraph_open",
        "paragraph_close",
        "inline",
        "bullet_list_open",
        "bullet_list_close",
        "ordered_list_open",
        "ordered_list_close",
        "list_item_open",
        "list_item_close",
    }
    assert sum(b.type == "list_item_open" for b in blocks) == (1 if before.startswith(("- ", "1.")) else 0)
    assert {t.type for t in inlines} <= {"text", "softbreak"}
    assert [t.content for t in inlines if t.type == "text"][-1].endswith(shown)


@given(st.text())
def test_markdown_code_is_one_code_span(text: str) -> None:
    _, inlines = tokens("Value " + markdown_code(text) + " end")
    assert [t.type for t in inlines] == ["text", "code_inline", "text"]
    assert raw_controls(markdown_code(text)) == []


def test_markdown_leaves_benign_text_readable() -> None:
    for text in (
        "CN=login.microsoftonline.com, O=Corp Example, C=US",
        "issuer_mimicry",
        "CORP\\jsmith",
        "10.20.0.37 -> 203.0.113.45:443",
        "AT&T Services, Inc.",
        "2026-11-27T08:00:00+00:00",
        "1.2.3.4",
    ):
        assert markdown(text) == text


# --- Slack mrkdwn and HTML -------------------------------------------------------------------------


@given(st.text())
def test_mrkdwn_opens_no_link_mention_or_entity(text: str) -> None:
    out = mrkdwn(text)
    assert "<" not in out and ">" not in out
    assert re.search(r"&(?!amp;|lt;|gt;)", out) is None
    assert re.search(r"@(channel|here|everyone)", out, re.IGNORECASE) is None
    assert raw_controls(out) == []


@given(st.text())
def test_html_has_no_tag_or_attribute_break(text: str) -> None:
    out = html(text)
    assert not set("<>\"'") & set(out) and raw_controls(out) == []


# --- the template layer: every {{ }} escaped for the format in the template's name ---------------


@pytest.fixture
def custom(tmp_path: Path) -> Templates:
    folder = tmp_path / "tpl"
    (folder / "custom").mkdir(parents=True)
    for fmt in ("md", "txt", "html", "mrkdwn"):
        (folder / "custom" / f"sni.{fmt}.j2").write_text(
            "# Alert\nSNI {{ alert.sni }}\ncode {{ alert.sni | literal }}\nmine {{ '<b>ok</b>' | trusted }}\n"
        )
    (folder / "custom" / "table.csv.j2").write_text("{{ alert.sni }}\n")
    (folder / "custom" / "jinja.md.j2").write_text(
        "{{ alert.sni | e }} {{ alert.sni | safe }} {{ alert.sni | tojson }}\n"
    )
    (folder / "custom" / "mixed.md.j2").write_text("{% include 'custom/sni.txt.j2' %}\n")
    return Templates([folder])


def test_a_new_markdown_template_cannot_forget_escaping(custom: Templates) -> None:
    out = custom.render("custom/sni.md.j2", {"alert": {"sni": HOSTILE_SNI}})
    line = "evil.example␊# APPROVED by CISO \\[x\\](javascript:alert(1)) &lt;script>x&lt;/script> ␛\\]8;;http://e␇ @channel"
    assert out.splitlines()[:2] == ["# Alert", f"SNI {line}"]
    assert out.splitlines()[3] == "mine <b>ok</b>"  # a deliberate | trusted passes as written
    blocks, inlines = tokens(out)
    assert sum(b.type == "heading_open" for b in blocks) == 1
    assert {t.type for t in inlines} == {"text", "softbreak", "code_inline", "html_inline"}  # html only from | trusted


def test_jinja_html_markers_do_not_unescape_markdown(custom: Templates) -> None:
    out = custom.render("custom/jinja.md.j2", {"alert": {"sni": "[x](javascript:alert(1)) *b*"}})
    blocks, inlines = tokens(out)
    assert [b.type for b in blocks] == ["paragraph_open", "inline", "paragraph_close"] and {
        t.type for t in inlines
    } == {"text"}


@pytest.mark.parametrize(
    ("fmt", "sni_line", "code_line"),
    [
        (
            "txt",
            "SNI evil.example␊# APPROVED by CISO [x](javascript:alert(1)) <script>x</script> ␛]8;;http://e␇ @channel",
            "code evil.example␊# APPROVED by CISO [x](javascript:alert(1)) <script>x</script> ␛]8;;http://e␇ @channel",
        ),
        (
            "html",
            "SNI evil.example␊# APPROVED by CISO [x](javascript:alert(1)) &lt;script&gt;x&lt;/script&gt; ␛]8;;http://e␇ @channel",
            "code <code>evil.example␊# APPROVED by CISO [x](javascript:alert(1)) &lt;script&gt;x&lt;/script&gt; ␛]8;;http://e␇ @channel</code>",
        ),
        (
            "mrkdwn",
            "SNI evil.example␊# APPROVED by CISO [x](javascript:alert(1)) &lt;script&gt;x&lt;/script&gt; ␛]8;;http://e␇ ＠channel",
            "code `evil.example␊# APPROVED by CISO [x](javascript:alert(1)) &lt;script&gt;x&lt;/script&gt; ␛]8;;http://e␇ ＠channel`",
        ),
    ],
)
def test_every_format_escapes_for_its_channel(custom: Templates, fmt: str, sni_line: str, code_line: str) -> None:
    out = custom.render(f"custom/sni.{fmt}.j2", {"alert": {"sni": HOSTILE_SNI}})
    assert out.splitlines() == ["# Alert", sni_line, code_line, "mine <b>ok</b>"]


def test_a_format_without_escaping_or_a_mixed_include_is_refused(custom: Templates) -> None:
    with pytest.raises(ActionError, match="no escaping is known for format 'csv'"):
        custom.render("custom/table.csv.j2", {"alert": {"sni": "x"}})
    with pytest.raises(ActionError, match="custom/sni.txt.j2 is a txt template; this one renders md"):
        custom.render("custom/mixed.md.j2", {"alert": {"sni": "x"}})


def test_an_override_that_does_not_compile_is_said_so_not_missing(tmp_path: Path) -> None:
    (tmp_path / "l1").mkdir()
    (tmp_path / "l1" / "summary.md.j2").write_text("# Summary\n{{ run.id \n")
    templates = Templates([tmp_path])
    problem = templates.problem("l1/summary.md.j2")
    assert problem is not None and problem.startswith("does not compile (")
    assert f"{tmp_path / 'l1' / 'summary.md.j2'}, line 2" in problem
    assert templates.problem("l1/nothing.md.j2") == "does not exist"
    assert templates.problem("approval/request.md.j2") is None


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ("{% for i in range(100000000) %}x{% endfor %}", "Range too big"),
        ("{{ 1 // 0 }}", "by zero"),
        ("{{ 'a' < 1 }}", "not supported between"),
        ("{% include 'custom/gone.md.j2' %}", "includes 'custom/gone.md.j2', which does not exist"),
    ],
)
def test_a_template_failing_at_render_time_is_an_action_error(tmp_path: Path, body: str, said: str) -> None:
    (tmp_path / "custom").mkdir()
    (tmp_path / "custom" / "t.md.j2").write_text(body)
    with pytest.raises(ActionError, match="template custom/t.md.j2: ") as failed:
        Templates([tmp_path]).render("custom/t.md.j2", {})
    assert said in str(failed.value)
