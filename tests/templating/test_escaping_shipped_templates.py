"""Every shipped template, with the context a real dry run gives it, stays safe whatever text the
certificate, the logs or the alert carry; benign values read as they are."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from escaping_payloads import NOW, PAYLOADS, certificate, dn_value, hostile_text
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_oracle import heading_lines, problems, tokens

from certsoar.alert import CertificateAlert
from certsoar.certs import AnalysisContext, analyze_alert
from certsoar.templating import Templates

Captured = list[tuple[str, dict[str, Any]]]  # what the captured fixture of conftest.py holds
DATA_KEYS = ("alert", "steps", "run", "approval", "vars")  # config and playbook are ours, not data


def _strings_replaced(value: Any, texts: Iterator[str]) -> Any:
    if isinstance(value, str):
        return next(texts)
    if isinstance(value, dict):
        return {k: _strings_replaced(v, texts) for k, v in value.items()}
    if isinstance(value, list):
        return [_strings_replaced(v, texts) for v in value]
    return value


def hostile(context: dict[str, Any], texts: list[str]) -> dict[str, Any]:
    """The context with every string that came from data replaced by hostile text (cycling through ``texts``)."""
    cycle = (texts[i % len(texts)] for i in range(10**9))
    return {k: _strings_replaced(v, cycle) if k in DATA_KEYS else v for k, v in context.items()}


def variants(captured: Captured) -> list[tuple[str, dict[str, Any]]]:
    """The captured contexts plus the outcome's other branches: denied, and every containment step failed."""
    out = list(captured)
    for name, context in captured:
        if name in ("outcome/containment.md.j2", "ticket/update.md.j2"):
            denied = copy.deepcopy(context)
            denied["steps"]["approval"] = {
                **denied["steps"]["approval"],
                "approved": False,
                "status": "denied",
                "decisions": [{"analyst": "bob", "decision": "denied", "comment": "no"}],
            }
            out.append((name, denied))
            failed = copy.deepcopy(context)
            for step in ("revoke", "block_servers", "block_cert"):
                failed["steps"][step] = {"failed": True, "error": "connector said no"}
            out.append((name, failed))
    return out


def template_headings(name: str, context: dict[str, Any]) -> int:
    return len(heading_lines(Templates().render(name, context)))


def test_every_shipped_template_is_exercised(captured: Captured) -> None:
    shipped = {n for n in Templates().names()}
    assert shipped == {name for name, _ in captured}


def test_hostile_data_opens_no_markup_in_any_shipped_template(captured: Captured) -> None:
    cases = [(name, context, template_headings(name, context)) for name, context in variants(captured)]

    @settings(max_examples=60, deadline=None)
    @given(texts=st.lists(hostile_text, min_size=1, max_size=4))
    def check(texts: list[str]) -> None:
        for name, context, headings in cases:
            rendered = Templates().render(name, hostile(context, texts))
            assert problems(rendered, headings=headings) == [], name

    check()


@pytest.mark.parametrize("payload", PAYLOADS)
def test_each_payload_everywhere(captured: Captured, payload: str) -> None:
    for name, context in variants(captured):
        rendered = Templates().render(name, hostile(context, [payload]))
        assert problems(rendered, headings=template_headings(name, context)) == [], name


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append(tag)


def html_tags(text: str) -> list[str]:
    parser = _Tags()
    parser.feed(text)
    parser.close()
    return parser.seen


def test_each_payload_as_plain_text_and_html(captured: Captured) -> None:
    """The renderings Teams and email show: in plain text every value stays on its line, no control character is
    sent; in HTML data opens no element (the only ones are the template's own: ``| literal``'s <code>)."""
    for name, context in variants(captured):
        for payload in ["", *PAYLOADS]:
            data = hostile(context, [payload]) if payload else context
            text = Templates().render(name, data, escaped_for="txt")
            assert all(c == "\n" or c.isprintable() for c in text), (name, payload)
            broken_off = payload.splitlines()[1:]  # what would start a line of its own if a break were sent
            assert not any(line.startswith(tail) for tail in broken_off if tail for line in text.splitlines())
            assert set(html_tags(Templates().render(name, data, escaped_for="html"))) <= {"code"}, (name, payload)


# --- certificates whose names carry the payloads, through the real analysis --------------------------


def facts_of(pem: str) -> dict[str, Any]:
    alert = CertificateAlert(id="a", time=NOW, certificate_pem=pem)
    return analyze_alert(alert, AnalysisContext(at=NOW)).model_dump(mode="json")


def with_cert(context: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(context)
    changed["steps"]["cert"] = {**changed["steps"]["cert"], **facts}
    return changed


def test_hostile_distinguished_names_through_the_analysis(captured: Captured) -> None:
    # the templates of an alert's run (a sweep's have no one certificate: hostile data reaches them above)
    cases = [
        (name, context, template_headings(name, context)) for name, context in captured if "cert" in context["steps"]
    ]

    @settings(max_examples=40, deadline=None)
    @given(cn=dn_value, org=dn_value, issuer_cn=dn_value, san=st.sampled_from(["cdn-update.net", "a.example"]))
    def check(cn: str, org: str, issuer_cn: str, san: str) -> None:
        facts = facts_of(certificate({"CN": cn, "O": org}, {"CN": issuer_cn, "O": org}, [san]))
        for name, context, headings in cases:
            rendered = Templates().render(name, with_cert(context, facts))
            assert problems(rendered, headings=headings) == [], name

    check()


def test_a_benign_distinguished_name_reads_as_it_is(captured: Captured) -> None:
    facts = facts_of(
        certificate(
            {"CN": "login.example.com", "O": "AT&T Services, Inc.", "OU": "Web_Ops"},
            {"CN": "Example Issuing CA 2", "O": "Example Corp"},
            ["login.example.com"],
        )
    )
    summary = next(Templates().render(n, with_cert(c, facts)) for n, c in captured if n == "l1/summary.md.j2")
    assert (
        "Subject `OU=Web_Ops,O=AT&T Services\\, Inc.,CN=login.example.com`; "
        "issuer `O=Example Corp,CN=Example Issuing CA 2`"
    ) in summary
    _, inlines = tokens(summary)
    code = [t.content for t in inlines if t.type == "code_inline"]
    assert facts["subject"] in code and facts["issuer"] in code  # a Markdown reader sees the DN exactly


def test_benign_shipped_renderings_keep_their_words(captured: Captured) -> None:
    """What the lab's stories say, escaped for Markdown only where Markdown would misread it."""
    mimicry = {n: Templates().render(n, c) for n, c in captured[:5]}
    summary = mimicry["l1/summary.md.j2"]
    cert = captured[0][1]["steps"]["cert"]
    assert f"issuer `{cert['issuer']}`" in summary
    assert "- **issuer_mimicry** (" in summary  # rule ids and template bold untouched
    assert "10.20.0.37 -> 203.0.113.45:443 beacons" in summary  # a mid-line > is not a quote: left as it is
    assert "by CORP\\jsmith" in summary  # a backslash before a letter escapes nothing: left as it is
    for rendered in mimicry.values():
        assert problems(rendered, headings=len(heading_lines(rendered))) == []
