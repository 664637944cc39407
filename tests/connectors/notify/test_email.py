"""The email notifier against a real SMTP server: aiosmtpd on loopback with STARTTLS (a certificate this test
makes), AUTH required, every received message parsed back. Transient answers (4xx, silence) are tried again,
permanent ones (5xx) fail at once, and nothing from the data reaches a header but the one-line Subject."""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from markdown_it import MarkdownIt
from pydantic import ValidationError

from certsoar.config import format_validation_error
from certsoar.connectors import ConnectorEnv
from certsoar.connectors.notify import Message
from certsoar.connectors.notify.email import EmailNotifier, EmailNotifierSettings
from certsoar.errors import ConnectorRejected, ConnectorUnavailable
from certsoar.templating import Templates, subject_of

PASSWORD = "SMTPSECRETPASSWORDXXXX"
USER = "certsoar"
HOSTILE = 'evil.example\r\nBcc: attacker@evil.example\r\n\r\n"CEO" <ceo@corp.example> <script>alert(1)</script>'
TEMPLATE = "# Contained {{ name }}\n\nDone: a_b *c* {{ name | literal }}\n"


def rendered(folder: Path, key: str = "run1:notify") -> Message:
    """A notification about hostile data, rendered as notify.send renders it."""
    (folder / "t").mkdir(exist_ok=True)
    (folder / "t" / "x.md.j2").write_text(TEMPLATE)
    templates, context = Templates([folder / "t"]), {"name": HOSTILE}
    body = templates.render("x.md.j2", context)
    return Message(
        key=key,
        subject=subject_of(body),
        body=body,
        text=templates.render("x.md.j2", context, escaped_for="txt"),
        html=templates.render("x.md.j2", context, escaped_for="html"),
    )


@dataclass
class Mailbox:
    """What the server saw and how it answers."""

    received: list[EmailMessage] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    """Who logged in, from which client port: one port is one connection."""
    data_answers: list[str] = field(default_factory=list)
    """Answers to DATA, one per attempt, before the messages are accepted."""
    rcpt_answer: str = "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.rcpt_answer.startswith("250"):
            envelope.rcpt_tos.append(address)
        return self.rcpt_answer

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        mail = message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(mail, EmailMessage)
        self.received.append(mail)
        assert server.transport is not None
        self.sessions.append(
            {
                "tls": server.transport.get_extra_info("ssl_object") is not None,
                "authenticated": session.authenticated,
                "rcpt": list(envelope.rcpt_tos),
            }
        )
        return self.data_answers.pop(0) if self.data_answers else "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.logins.append(f"{auth_data.login.decode()} from {session.peer!r}")
        granted = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
        return AuthResult(success=granted, handled=False)  # handled=False: the server answers 535 itself


@dataclass
class Server:
    port: int
    ca: Path
    mailbox: Mailbox


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve(certificate: tuple[Path, Path], *, tls: str = "starttls") -> Iterator[Server]:
    """An aiosmtpd server on loopback: STARTTLS and AUTH required, or implicit TLS, or neither (``none``)."""
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    mailbox = Mailbox()
    port = free_port()
    options: dict[str, Any] = {}
    if tls == "starttls":
        options.update(
            tls_context=context, require_starttls=True, authenticator=mailbox.authenticate, auth_required=True
        )
    elif tls == "implicit":  # aiosmtpd counts only STARTTLS as TLS for AUTH: on SMTPS it is offered, not required
        options.update(ssl_context=context, authenticator=mailbox.authenticate, auth_require_tls=False)
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield Server(port, cert, mailbox)
    finally:
        controller.stop()


@pytest.fixture
def server(loopback_certificate: tuple[Path, Path]) -> Iterator[Server]:
    yield from serve(loopback_certificate)


@pytest.fixture(autouse=True)
def password(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    caplog.set_level(logging.DEBUG)


def notifier(tmp_path: Path, port: int, ca: Path | None, **settings: Any) -> EmailNotifier:
    chosen = {
        "host": "127.0.0.1",
        "port": port,
        "ca_bundle": str(ca) if ca else None,
        "username": USER,
        "password": "env:SMTP_PASSWORD",
        "from_address": "soar@corp.example",
        "from_name": "certsoar SOC",
        "to": ["soc@corp.example"],
        "cc": ["ciso@corp.example"],
        "timeout": 5,
        **settings,
    }
    env = ConnectorEnv(name="mail", state_dir=tmp_path, config_dir=tmp_path)
    return EmailNotifier(EmailNotifierSettings.model_validate(chosen), env)


def assert_no_secret(caplog: pytest.LogCaptureFixture, *captured: object) -> None:
    seen = caplog.text + "".join(str(c) + repr(c) for c in captured)
    assert PASSWORD not in seen


async def test_delivered_over_starttls_with_auth_as_plain_text_and_html(
    server: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    where = await notifier(tmp_path, server.port, server.ca).send(rendered(tmp_path))
    [mail] = server.mailbox.received
    assert server.mailbox.sessions == [
        {"tls": True, "authenticated": True, "rcpt": ["soc@corp.example", "ciso@corp.example"]}
    ]
    assert where == f"email mail {mail['Message-ID']}"
    assert mail.get_content_type() == "multipart/alternative"
    plain, rich = mail.iter_parts()
    assert plain.get_content_type() == "text/plain" and rich.get_content_type() == "text/html"
    shown = 'evil.example␍␊Bcc: attacker@evil.example␍␊␍␊"CEO" <ceo@corp.example> <script>alert(1)</script>'
    assert plain.get_content().replace("\r\n", "\n") == f"# Contained {shown}\n\nDone: a_b *c* {shown}\n"
    escaped = shown.replace("<", "&lt;").replace(">", "&gt;")
    html = rich.get_content().replace("\r\n", "\n")
    in_code = escaped.replace('"', "&quot;")
    assert f"# Contained {escaped.replace(chr(34), '&#34;')}\n\nDone: a_b *c* <code>{in_code}</code></div>" in html
    assert "<script>" not in html
    assert_no_secret(caplog, where)


async def test_data_reaches_no_header_but_a_one_line_subject(server: Server, tmp_path: Path) -> None:
    await notifier(tmp_path, server.port, server.ca).send(rendered(tmp_path))
    [mail] = server.mailbox.received
    assert sorted(mail.keys()) == sorted(
        ["Subject", "From", "To", "Cc", "Date", "Message-ID", "Auto-Submitted", "MIME-Version", "Content-Type"]
    )
    assert (
        mail["Subject"]
        == 'Contained evil.example␍␊Bcc: attacker@evil.example␍␊␍␊"CEO" <ceo@corp.example> <script>alert(1)</script>'
    )
    assert mail["From"] == "certsoar SOC <soar@corp.example>"
    assert mail["To"] == "soc@corp.example" and mail["Cc"] == "ciso@corp.example"
    assert [a.addr_spec for a in mail["To"].addresses] == ["soc@corp.example"]


async def test_cr_lf_handed_straight_to_the_notifier_adds_no_header_or_recipient(
    server: Server, tmp_path: Path
) -> None:
    """The notifier does not rely on the template layer: a raw subject with CR/LF stays one Subject line."""
    raw = Message(
        key="k", subject="x\r\nBcc: attacker@evil.example\r\nX-Evil: 1", body="b\r\nTo: attacker@evil.example"
    )
    await notifier(tmp_path, server.port, server.ca).send(raw)
    [mail] = server.mailbox.received
    assert mail["Subject"] == "x␍␊Bcc: attacker@evil.example␍␊X-Evil: 1"
    assert "Bcc" not in mail and "X-Evil" not in mail and mail["To"] == "soc@corp.example"
    assert server.mailbox.sessions[0]["rcpt"] == ["soc@corp.example", "ciso@corp.example"]


async def test_a_retry_carries_the_same_message_id(server: Server, tmp_path: Path) -> None:
    """451 (transient) to the first DATA: tried again, accepted; both attempts name one Message-ID."""
    server.mailbox.data_answers = ["451 4.3.0 Try again later"]
    await notifier(tmp_path, server.port, server.ca, attempts=3).send(rendered(tmp_path))
    first, second = server.mailbox.received
    assert first["Message-ID"] == second["Message-ID"]
    assert first["Message-ID"].endswith("@corp.example>")
    await notifier(tmp_path, server.port, server.ca).send(rendered(tmp_path, key="run2:notify"))
    assert server.mailbox.received[2]["Message-ID"] != first["Message-ID"]


async def test_a_permanent_refusal_fails_at_once(
    server: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server.mailbox.rcpt_answer = "550 5.1.1 No such user"
    with pytest.raises(ConnectorRejected) as caught:
        await notifier(tmp_path, server.port, server.ca, attempts=4).send(rendered(tmp_path))
    assert not isinstance(caught.value, ConnectorUnavailable)
    assert "550 5.1.1 No such user" in str(caught.value)
    assert len(server.mailbox.logins) == 1 and server.mailbox.received == []  # one attempt only
    assert_no_secret(caplog, caught.value)


async def test_transient_answers_forever_are_unavailable_after_the_attempts(server: Server, tmp_path: Path) -> None:
    server.mailbox.data_answers = ["452 4.3.1 Insufficient system storage"] * 5
    with pytest.raises(ConnectorUnavailable, match=r"452 4\.3\.1 .*\(gave up after 2 attempts\)"):
        await notifier(tmp_path, server.port, server.ca, attempts=2).send(rendered(tmp_path))
    assert len(server.mailbox.received) == 2


async def test_a_refused_password_is_rejected_at_once_and_never_shown(
    server: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD + "WRONG")
    with pytest.raises(ConnectorRejected, match="authentication failed") as caught:
        await notifier(tmp_path, server.port, server.ca).send(rendered(tmp_path))
    assert not isinstance(caught.value, ConnectorUnavailable) and "535" in str(caught.value)
    assert len(set(server.mailbox.logins)) == 1 and server.mailbox.received == []  # smtplib tries PLAIN, LOGIN
    assert_no_secret(caplog, caught.value)


async def test_a_certificate_nobody_trusts_is_refused(server: Server, tmp_path: Path) -> None:
    with pytest.raises(ConnectorRejected, match="certificate does not verify") as caught:
        await notifier(tmp_path, server.port, None).send(rendered(tmp_path))
    assert not isinstance(caught.value, ConnectorUnavailable)
    assert server.mailbox.logins == [] and server.mailbox.received == []


async def test_a_server_without_starttls_gets_nothing_in_clear(
    tmp_path: Path, loopback_certificate: tuple[Path, Path]
) -> None:
    for plain in serve(loopback_certificate, tls="none"):
        with pytest.raises(ConnectorRejected, match="does not offer STARTTLS"):
            await notifier(tmp_path, plain.port, plain.ca).send(rendered(tmp_path))
        assert plain.mailbox.logins == [] and plain.mailbox.received == []


async def test_implicit_tls(tmp_path: Path, loopback_certificate: tuple[Path, Path]) -> None:
    for tls in serve(loopback_certificate, tls="implicit"):
        await notifier(tmp_path, tls.port, tls.ca, tls="implicit").send(rendered(tmp_path))
        assert tls.mailbox.sessions[0]["tls"] and tls.mailbox.sessions[0]["authenticated"]


async def test_no_tls_only_to_loopback_and_said_loudly(
    tmp_path: Path, loopback_certificate: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    for plain in serve(loopback_certificate, tls="none"):
        relay = notifier(tmp_path, plain.port, None, tls="none", username=None, password=None)
        await relay.send(rendered(tmp_path))
        assert plain.mailbox.sessions[0]["tls"] is False and len(plain.mailbox.received) == 1
    assert any(r.levelno == logging.WARNING and "unencrypted" in r.getMessage() for r in caplog.records)
    with pytest.raises(ValidationError, match="only to a relay on this machine"):
        notifier(tmp_path, 25, None, tls="none", host="smtp.corp.example")


async def test_a_server_that_never_answers_times_out(
    silent_server: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = int(silent_server.rsplit(":", 1)[1])
    started = time.monotonic()
    with pytest.raises(ConnectorUnavailable, match=r"did not answer within 0\.3s \(gave up after 2 attempts\)") as c:
        await notifier(tmp_path, port, None, timeout=0.3, attempts=2).send(rendered(tmp_path))
    assert time.monotonic() - started < 5
    assert_no_secret(caplog, c.value)


@pytest.mark.parametrize(
    "setting",
    [
        {"to": ["soc@corp.example\r\nBcc: attacker@evil.example"]},
        {"to": ['"CEO" <ceo@corp.example>']},
        {"to": ["soc@corp.example, attacker@evil.example"]},
        {"cc": ["not an address"]},
        {"to": []},
        {"from_address": "soar@corp.example>\nX-Evil: 1"},
        {"from_name": "SOC\r\nBcc: attacker@evil.example"},
        {"host": "smtp://mail.corp.example:25"},
        {"password": PASSWORD},
        {"password": None},
    ],
)
def test_a_bad_setting_is_refused_at_load_without_repeating_a_secret(tmp_path: Path, setting: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        notifier(tmp_path, 587, None, **setting)
    assert PASSWORD not in format_validation_error(caught.value)  # what a config load reports


def test_the_readme_example_is_valid_settings() -> None:
    readme = Path(__file__).parents[3] / "README.md"
    fences = [t.content for t in MarkdownIt().parse(readme.read_text(encoding="utf-8")) if t.type == "fence"]
    [example] = [f for f in fences if "type: email\n" in f]
    section = yaml.safe_load(example)["connectors"]["notify"]
    settings = EmailNotifierSettings.model_validate({k: v for k, v in section.items() if k != "type"})
    assert settings.model_dump(exclude_unset=True).keys() == set(section) - {"type"}
    assert settings.tls == "starttls" and settings.server_port == 587
