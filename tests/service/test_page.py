"""The approval page's refusals and identity, against a real lab run waiting for approval: CSRF, session
cookie flags, passwords, the login rate limit, the trusted proxy, hostile certificate fields."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI
from pagelab import PASSWORDS, PageLab, page_lab, pristine_page_lab  # noqa: F401 (fixtures)

from certsoar import api
from certsoar.config import load_config
from certsoar.service.loginlimit import FAILURES_ALLOWED
from certsoar.service.lookalikes import marked
from certsoar.service.page import router

pytestmark = pytest.mark.real  # the lab needs openssl

PROXY = "10.9.0.2"
ELSEWHERE = "198.51.100.7"


def page_app(lab: PageLab) -> FastAPI:
    app = FastAPI()
    app.state.config = load_config(lab.config)
    app.include_router(router)
    return app


def client(app: FastAPI, *, address: str = "127.0.0.1", scheme: str = "http") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url=f"{scheme}://page.test")


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def logged_in(http: httpx.AsyncClient, name: str, password: str | None = None) -> str:
    """Log ``name`` in; returns the session's CSRF token."""
    form = await http.get("/approvals")
    done = await http.post(
        "/approvals/login",
        data={"analyst": name, "password": password or PASSWORDS[name], "csrf": csrf_of(form.text)},
    )
    assert done.status_code == 303, done.text
    return csrf_of((await http.get("/approvals")).text)


def gate_of(lab: PageLab, run_id: str) -> dict[str, Any]:
    return api.show_run(load_config(lab.config), run_id)["approval"]


@pytest.fixture
async def alice(page_lab: PageLab) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F811
    async with client(page_app(page_lab)) as http:
        yield http


async def test_decision_without_or_with_a_wrong_csrf_token_is_refused_and_nothing_is_decided(
    page_lab: PageLab,  # noqa: F811
    alice: httpx.AsyncClient,
) -> None:
    run_id = page_lab.waiting_run()
    token = await logged_in(alice, "alice")
    for form in ({}, {"csrf": ""}, {"csrf": token[:-1] + ("A" if token[-1] != "A" else "B")}, {"csrf": token + "x"}):
        refused = await alice.post(f"/approvals/runs/{run_id}/decide", data={"decision": "approved", **form})
        assert refused.status_code == 403
        assert "CSRF" in refused.text and "nothing was decided" in refused.text
    gate = gate_of(page_lab, run_id)
    assert gate["status"] == "pending" and gate["decisions"] == []
    # A token of another session is no token of this one.
    async with client(page_app(page_lab)) as other:
        other_token = csrf_of((await other.get("/approvals")).text)
    refused = await alice.post(f"/approvals/runs/{run_id}/decide", data={"decision": "approved", "csrf": other_token})
    assert refused.status_code == 403
    assert gate_of(page_lab, run_id)["decisions"] == []
    records = api.audit_trail(load_config(page_lab.config)).records
    assert sum(r["event"] == "decision.refused" and run_id in r["data"] for r in records) == 5


async def test_login_and_logout_need_the_csrf_token(alice: httpx.AsyncClient) -> None:
    await alice.get("/approvals")
    refused = await alice.post("/approvals/login", data={"analyst": "alice", "password": PASSWORDS["alice"]})
    assert refused.status_code == 403
    assert "Log in" in (await alice.get("/approvals")).text  # still not logged in
    token = await logged_in(alice, "alice")
    assert (await alice.post("/approvals/logout", data={})).status_code == 403
    assert "signed in as" in (await alice.get("/approvals")).text
    assert (await alice.post("/approvals/logout", data={"csrf": token})).status_code == 303
    assert "Log in" in (await alice.get("/approvals")).text


async def test_session_cookie_is_httponly_strict_and_secure_over_https(page_lab: PageLab) -> None:  # noqa: F811
    async with client(page_app(page_lab)) as http:
        shown = await http.get("/approvals")
    cookie = shown.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower() and "secure" not in cookie.lower()
    assert "default-src 'none'" in shown.headers["content-security-policy"]  # no script runs, nothing loads
    assert shown.headers["cache-control"] == "no-store"
    async with client(page_app(page_lab), scheme="https") as http:
        cookie = (await http.get("/approvals")).headers["set-cookie"]
    assert "; secure" in cookie.lower() and "httponly" in cookie.lower()
    page_lab.write_config(public_url="https://certsoar.corp.example")
    async with client(page_app(page_lab)) as http:  # TLS ends at a proxy in front: the public URL says https
        cookie = (await http.get("/approvals")).headers["set-cookie"]
    assert "; secure" in cookie.lower()


async def test_login_replaces_the_session_id(alice: httpx.AsyncClient) -> None:
    await alice.get("/approvals")
    before = alice.cookies.get("certsoar_page")
    await logged_in(alice, "alice")
    assert alice.cookies.get("certsoar_page") not in (None, before)


@pytest.mark.parametrize(
    ("name", "password"),
    [("alice", "wrong"), ("alice", ""), ("nobody", "x"), ("carol", "anything"), ("alice", PASSWORDS["bob"])],
)
async def test_a_wrong_password_or_unknown_name_does_not_log_in_and_is_audited(
    page_lab: PageLab,  # noqa: F811
    alice: httpx.AsyncClient,
    name: str,
    password: str,
) -> None:
    form = await alice.get("/approvals")
    done = await alice.post(
        "/approvals/login", data={"analyst": name, "password": password, "csrf": csrf_of(form.text)}
    )
    assert done.status_code == 401
    assert "Wrong name or password." in done.text
    assert "signed in as" not in (await alice.get("/approvals")).text
    records = api.audit_trail(load_config(page_lab.config)).records
    failed = [r for r in records if r["event"] == "page.login_failed"]
    assert len(failed) == 1
    assert json.loads(failed[0]["data"]) == {"analyst": name, "address": "127.0.0.1"}  # never the password


async def test_failed_logins_are_rate_limited_per_address(page_lab: PageLab) -> None:  # noqa: F811
    app = page_app(page_lab)
    async with client(app, address="203.0.113.9") as attacker, client(app, address="10.1.1.1") as colleague:
        for _ in range(FAILURES_ALLOWED):
            form = await attacker.get("/approvals")
            done = await attacker.post(
                "/approvals/login", data={"analyst": "alice", "password": "guess", "csrf": csrf_of(form.text)}
            )
            assert done.status_code == 401
        form = await attacker.get("/approvals")
        # Even the right password is refused now, before it is checked.
        limited = await attacker.post(
            "/approvals/login", data={"analyst": "alice", "password": PASSWORDS["alice"], "csrf": csrf_of(form.text)}
        )
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
        assert "signed in as" not in (await attacker.get("/approvals")).text
        await logged_in(colleague, "alice")  # another address is not held up
    records = api.audit_trail(load_config(page_lab.config)).records
    assert any(r["event"] == "page.login_refused" and "too many failed logins" in r["data"] for r in records)


async def test_trusted_proxy_header_is_believed_only_from_the_proxy(page_lab: PageLab) -> None:  # noqa: F811
    page_lab.write_config(trusted_proxy={"header": "X-Forwarded-User", "from": [f"{PROXY}/32"]})
    app = page_app(page_lab)
    async with client(app, address=ELSEWHERE) as forger:
        shown = await forger.get("/approvals", headers={"X-Forwarded-User": "alice"})
        assert "signed in as" not in shown.text and 'name="password"' in shown.text
    async with client(app, address=PROXY) as proxied:
        shown = await proxied.get("/approvals", headers={"X-Forwarded-User": "alice"})
        assert '<strong id="signed-in">alice</strong>' in shown.text
        # The session the proxy vouched for is worth nothing without the proxy's word.
        shown = await proxied.get("/approvals")
        assert "signed in as" not in shown.text
        shown = await proxied.get("/approvals", headers={"X-Forwarded-User": "mallory"})  # not an analyst
        assert "signed in as" not in shown.text


async def test_bob_without_the_role_sees_no_buttons_and_his_post_is_refused(
    page_lab: PageLab,  # noqa: F811
    alice: httpx.AsyncClient,
) -> None:
    run_id = page_lab.waiting_run()
    token = await logged_in(alice, "bob")
    shown = await alice.get(f"/approvals/runs/{run_id}")
    assert shown.status_code == 200
    assert 'id="approve"' not in shown.text and "none of the roles this gate accepts (soc-tier2)" in shown.text
    refused = await alice.post(f"/approvals/runs/{run_id}/decide", data={"decision": "approved", "csrf": token})
    assert refused.status_code == 403 and "bob has none of the roles" in refused.text
    assert gate_of(page_lab, run_id)["decisions"] == []


async def test_alice_approves_and_the_page_shows_the_verified_outcome(
    page_lab: PageLab,  # noqa: F811
    alice: httpx.AsyncClient,
) -> None:
    run_id = page_lab.waiting_run("internal")
    token = await logged_in(alice, "alice")
    listed = await alice.get("/approvals")
    assert f"/approvals/runs/{run_id}" in listed.text
    shown = await alice.get(f"/approvals/runs/{run_id}")
    assert "unauthorized_internal" in shown.text and 'id="approve"' in shown.text
    assert "ca.revoke" in shown.text and "revoke serial 1002" in shown.text  # the plan, from a dry run
    done = await alice.post(
        f"/approvals/runs/{run_id}/decide", data={"decision": "approved", "comment": "rogue", "csrf": token}
    )
    assert done.status_code == 303
    shown = await alice.get(done.headers["location"])
    assert 'id="status">completed' in shown.text and "NOT verified" not in shown.text
    assert shown.text.count('class="yes verified"') == 3  # revoke, block, fingerprint
    assert 'id="approve"' not in shown.text
    again = await alice.post(f"/approvals/runs/{run_id}/decide", data={"decision": "denied", "csrf": token})
    assert again.status_code == 403 and "is completed: it is not waiting for a decision" in again.text
    forged = await alice.post("/approvals/runs/0000000000000000/decide", data={"decision": "denied", "csrf": token})
    assert forged.status_code == 404
    records = api.audit_trail(load_config(page_lab.config), run_id).records
    via = [r for r in records if r["event"] == "approval.approved" and '"analyst":"alice"' in r["data"]]
    assert len(via) == 1 and '"via":"page"' in via[0]["data"] and '"credential":"page:alice"' in via[0]["data"]
    assert PASSWORDS["alice"] not in str(records)


def hostile_alert(lab: PageLab) -> Path:
    """The lab's mimicry alert with another self-signed certificate: its issuer imitates DigiCert with a
    Cyrillic о, its subject and name carry markup, a quote, a bidi override and an escape sequence."""
    key = ec.generate_private_key(ec.SECP256R1())
    hostile_cn = '<script>alert(1)</script>"><img src=x> \u202egnp.exe \x1b[31m'
    issuer = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "DigiCert Inc"),
            x509.NameAttribute(NameOID.COMMON_NAME, "DigiCert Gl\u043ebal G2 TLS RSA SHA256 2020 CA1"),
        ]
    )
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostile_cn)])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=2))
        .not_valid_after(now + timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("<b>cdn-update.net</b>")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    alert = json.loads((lab.root / "alerts" / "mimicry.json").read_text(encoding="utf-8"))
    alert["id"] = "hostile-" + alert["id"]
    alert["certificate_pem"] = cert.public_bytes(serialization.Encoding.PEM).decode()
    path = lab.root / "alerts" / "hostile.json"
    path.write_text(json.dumps(alert), encoding="utf-8")
    return path


async def test_hostile_certificate_fields_render_escaped_with_look_alikes_marked(
    page_lab: PageLab,  # noqa: F811
    alice: httpx.AsyncClient,
) -> None:
    hostile_alert(page_lab)
    run_id = page_lab.waiting_run("hostile")
    await logged_in(alice, "alice")
    listed = (await alice.get("/approvals")).text
    shown = (await alice.get(f"/approvals/runs/{run_id}")).text
    for html in (listed, shown):
        assert "<script>" not in html and "<img" not in html and "<b>" not in html
        assert "\u202e" not in html and "\x1b" not in html
    assert "\\&lt;script\\&gt;alert(1)\\&lt;/script\\&gt;\\&#34;\\&gt;\\&lt;img" in shown  # RFC 4514, then HTML
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&gt;&lt;img src=x&gt;" in listed  # the CN as written
    assert "\\u202egnp.exe \u241b[31m" in shown  # the override and the escape are shown, not obeyed
    assert "&lt;b&gt;cdn-update.net&lt;/b&gt;" in shown
    assert 'title="U+043E CYRILLIC SMALL LETTER O, looks like &#39;o&#39;">\u043e</mark>' in shown
    assert "U+043E CYRILLIC SMALL LETTER O (looks like" in shown  # the banner above the facts
    assert "issuer_mimicry" in shown


def test_hostile_text_is_escaped_by_the_marker() -> None:
    hostile = 'CN=<script>alert(1)</script>,O=Dig\u0456Cert "x" \u202e\x1b[31m'
    html = str(marked(hostile))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert '"x"' not in html and "&#34;x&#34;" in html
    assert "\u202e" not in html and "\\u202e" in html and "\x1b" not in html and "\u241b" in html
    assert '<mark class="lookalike" title="U+0456 CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I, looks like' in html


def test_a_cyrillic_o_in_an_issuer_is_marked_with_its_name() -> None:
    html = str(marked("O=DigiCert Inc, CN=D\u043eg"))
    assert "CYRILLIC SMALL LETTER O, looks like &#39;o&#39;" in html
    assert html.count("<mark") == 1
