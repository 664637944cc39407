"""What a proxy may block by name (certsoar.blocking.canonical_name / name_refusal), and the config behind it."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certsoar.blocking import BlockingPolicy, canonical_name, name_refusal
from certsoar.config import Config

POLICY = BlockingPolicy(protected_names=("corp.example", "login.microsoftonline.com"))
_CANONICAL = re.compile(r"(\*\.)?(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*")


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("C2.Evil.Example.", "c2.evil.example"),
        ("*.Evil-CDN.example", "*.evil-cdn.example"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ],
)
def test_a_name_has_one_canonical_form(name: str, canonical: str) -> None:
    assert canonical_name(name) == canonical and canonical_name(canonical) == canonical


@pytest.mark.parametrize(
    "text",
    [
        "",
        " evil.example",
        "evil.example\nx.example",
        "a*.evil.example",
        "*.*.evil.example",
        "evil..example",
        "-evil.example",
        "evil.example/path",
        "http://evil.example",
        "x" * 64 + ".example",
        "*",
    ],
)
def test_what_is_no_dns_name_has_no_canonical_form(text: str) -> None:
    with pytest.raises(ValueError):
        canonical_name(text)
    assert name_refusal(text, POLICY) is not None


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("com", "single label"),
        ("localhost", "single label"),
        ("*.com", "public suffix"),
        ("co.uk", "public suffix"),
        ("*.co.uk", "wildcard over a public suffix"),
        ("github.io", "public suffix"),
        ("203.0.113.7", "IP address"),
        ("2001:db8::1", "not a DNS name"),
        ("corp.example", "protected domain corp.example"),
        ("vpn.CORP.example.", "protected domain corp.example"),
        ("*.corp.example", "protected domain corp.example"),
        ("*.microsoftonline.com", "covers protected domain login.microsoftonline.com"),
    ],
)
def test_refused_names_say_why(name: str, why: str) -> None:
    reason = name_refusal(name, POLICY)
    assert reason is not None and why in reason


@pytest.mark.parametrize(
    "name", ["c2.evil.example", "*.evil-cdn.example", "rogue.github.io", "evil.co.uk", "corp.example.net"]
)
def test_a_server_name_outside_the_protected_domains_may_be_blocked(name: str) -> None:
    assert name_refusal(name, POLICY) is None


def test_the_config_protects_its_own_domains_and_protected_names() -> None:
    config = Config.model_validate({"protected_names": ["Okta.com."], "organization": {"domains": ["corp.example"]}})
    policy = BlockingPolicy.from_config(config)
    assert policy.protected_names == ("okta.com", "corp.example")
    assert name_refusal("acme.okta.com", policy) and name_refusal("www.corp.example", policy)
    with pytest.raises(ValueError, match="not a DNS domain"):
        Config.model_validate({"protected_names": ["okta com"]})


@given(st.text(max_size=80))
def test_any_text_is_refused_or_canonical(text: str) -> None:
    try:
        canonical = canonical_name(text)
    except ValueError:
        return
    assert _CANONICAL.fullmatch(canonical) and canonical_name(canonical) == canonical
