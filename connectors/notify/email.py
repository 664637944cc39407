"""Email over SMTP: one multipart/alternative message, a plain-text part and an HTML part, both rendered from the
notification's template (``Message.text``, and ``Message.html`` with every value escaped for HTML).

TLS: STARTTLS by default (a server that does not offer it is refused, never written to in clear), ``implicit``
(SMTPS, port 465), or ``none``, allowed only to a relay on this machine and warned about. The server's
certificate is verified (``ca_bundle`` for a private CA). AUTH with ``username`` and a ``password`` secret.

Headers: From, To and Cc come from the config and are checked when it loads. The one header made from data is
Subject, put on one line with its control characters shown, so CR/LF in data can add no header. Message-ID is
derived from the notification key: a retry carries the same one, so a receiver can tell a duplicate.

A 4xx reply, a timeout or a lost connection is tried again (``delivery.retried``); a 5xx reply fails at once.
smtplib blocks, so each attempt runs in a thread; ``timeout`` bounds each read and write on the socket.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import ipaddress
import logging
import re
import smtplib
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate
from pathlib import Path
from typing import ClassVar, Literal

import certifi
from pydantic import Field, field_validator, model_validator

from certsoar.config import secret_from, secret_reference
from certsoar.connectors import ConnectorEnv, ConnectorSettings
from certsoar.connectors.http import RetryLater
from certsoar.connectors.notify import Message, delivery
from certsoar.errors import ConfigError, ConnectorRejected
from certsoar.escaping import one_line

log = logging.getLogger("certsoar.connectors.notify.email")

DEFAULT_PORTS = {"starttls": 587, "implicit": 465, "none": 25}
SUBJECT_CHARS = 200
ANSWER_CHARS = 200
MAX_RECIPIENTS = 50
# An addr-spec of ASCII letters, digits and the dot-atom punctuation; no quoting, comments or IDN (no SMTPUTF8).
_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_HOST = re.compile(r"[A-Za-z0-9.:-]+")


def _address(value: str) -> str:
    if not _ADDRESS.fullmatch(value) or ".." in value or value.startswith("."):
        raise ValueError(f"not an email address: {one_line(value, 100)!r} (write local@domain, ASCII, nothing else)")
    Address(addr_spec=value)  # the standard library's parser agrees it is one addr-spec
    return value


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EmailNotifierSettings(delivery.DeliverySettings):
    host: str = Field(description="The SMTP server (submission relay), a host name or address.")
    port: int | None = Field(
        default=None, ge=1, le=65535, description="Default 587 for starttls, 465 for implicit, 25 for none."
    )
    tls: Literal["starttls", "implicit", "none"] = Field(
        default="starttls",
        description="starttls (required, never falls back to clear text), implicit (SMTPS) or none (only to "
        "a relay on loopback: the message and the password would cross the network in clear).",
    )
    ca_bundle: Path | None = Field(
        default=None, description="PEM file of the CAs that issue the server's certificate (default: certifi's)."
    )
    username: str | None = Field(default=None, description="AUTH user name; with password.")
    password: str | None = Field(
        default=None,
        description="AUTH password, as env:NAME or file:PATH (secret).",
        json_schema_extra={"secret": True},
    )
    from_address: str = Field(description="The sender, local@domain.")
    from_name: str | None = Field(default=None, max_length=100, description="Display name of the sender.")
    to: list[str] = Field(min_length=1, max_length=MAX_RECIPIENTS, description="Recipients, local@domain each.")
    cc: list[str] = Field(default_factory=list, max_length=MAX_RECIPIENTS, description="Copied recipients.")

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        if not _HOST.fullmatch(v):
            raise ValueError("write the host name or address alone (no scheme, port or path)")
        return v

    @field_validator("password")
    @classmethod
    def _secret_reference(cls, v: str | None) -> str | None:
        return secret_reference(v, "the password")

    @field_validator("from_address")
    @classmethod
    def _from(cls, v: str) -> str:
        return _address(v)

    @field_validator("to", "cc")
    @classmethod
    def _recipients(cls, v: list[str]) -> list[str]:
        return [_address(a) for a in v]

    @field_validator("from_name")
    @classmethod
    def _display_name(cls, v: str | None) -> str | None:
        if v is not None and not v.isprintable():
            raise ValueError("the display name must be printable text on one line")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> EmailNotifierSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("give username and password together (or neither, for a relay that needs no AUTH)")
        if self.tls == "none" and not _is_loopback(self.host):
            raise ValueError(
                "tls: none sends the message (and the password) in clear: only to a relay on this machine "
                "(localhost, 127.0.0.1, ::1); use starttls or implicit"
            )
        return self

    @property
    def server_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.tls]


def message_id(instance: str, key: str, domain: str) -> str:
    """The same on every attempt at one notification through one notifier, different for any other."""
    digest = hashlib.sha256(f"{instance}\0{key}".encode()).hexdigest()[:40]
    return f"<certsoar.{digest}@{domain}>"


def html_document(message: Message) -> str:
    """The HTML part: the template's HTML rendering (values escaped for HTML), its line breaks kept as written."""
    inner = message.html if message.html is not None else html.escape(message.plain_body)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body>\n'
        f'<div style="white-space: pre-wrap; font-family: sans-serif">{inner.strip()}</div>\n</body></html>\n'
    )


def _server_answer(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    return f"{exc.smtp_code} {one_line(text, ANSWER_CHARS)}".rstrip()


def _judged(exc: Exception, server: str, timeout: float, connector: str) -> Exception:
    """An SMTP failure as what it means: RetryLater (4xx, timeout, connection) or ConnectorRejected (5xx)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        answers = {
            a: f"{code} {one_line(text.decode('utf-8', 'replace'), 80)}" for a, (code, text) in exc.recipients.items()
        }
        listed = "; ".join(f"{a}: {answer}" for a, answer in answers.items())
        if all(400 <= code < 500 for code, _ in exc.recipients.values()):
            return RetryLater(f"{server} deferred every recipient ({listed})", connector=connector)
        return ConnectorRejected(f"{server} refused the recipients ({listed})", connector=connector)
    if isinstance(exc, smtplib.SMTPResponseException):
        answer = _server_answer(exc)
        if 400 <= exc.smtp_code < 500:
            return RetryLater(f"{server} answered {answer} (transient)", connector=connector)
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return ConnectorRejected(
                f"{server}: authentication failed, the credentials were refused ({answer})", connector=connector
            )
        return ConnectorRejected(f"{server} refused the message ({answer})", connector=connector)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return ConnectorRejected(f"{server}: {exc}", connector=connector)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ConnectorRejected(
            f"{server}: TLS: the server's certificate does not verify ({exc.verify_message}; set ca_bundle to the "
            "CA that issued it)",
            connector=connector,
        )
    if isinstance(exc, ssl.SSLError):
        return ConnectorRejected(f"{server}: TLS failed ({exc.reason or type(exc).__name__})", connector=connector)
    if isinstance(exc, TimeoutError) or "timed out" in str(exc):
        return RetryLater(f"{server} did not answer within {timeout:g}s", connector=connector)
    return RetryLater(f"cannot reach {server} ({type(exc).__name__})", connector=connector)


class EmailNotifier:
    settings_model: ClassVar[type[ConnectorSettings]] = EmailNotifierSettings

    def __init__(self, settings: EmailNotifierSettings, env: ConnectorEnv) -> None:
        self.settings = settings
        self.instance = env.name
        self.server = f"the mail server {settings.host}:{settings.server_port}"
        bundle = env.resolve(settings.ca_bundle) if settings.ca_bundle else Path(certifi.where())
        try:
            self.tls_context = ssl.create_default_context(cafile=str(bundle))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"{env.name}: ca_bundle {bundle}: cannot load it ({exc})") from None
        if settings.tls == "none":
            log.warning(
                "notify %s: tls: none: mail to %s:%d travels unencrypted (allowed on loopback only)",
                self.instance,
                settings.host,
                settings.server_port,
            )

    def email(self, message: Message) -> EmailMessage:
        s = self.settings
        mail = EmailMessage(policy=SMTP_POLICY)
        mail["Subject"] = one_line(message.plain_subject, SUBJECT_CHARS) or "(no subject)"
        mail["From"] = Address(display_name=s.from_name or "", addr_spec=s.from_address)
        mail["To"] = [Address(addr_spec=a) for a in s.to]
        if s.cc:
            mail["Cc"] = [Address(addr_spec=a) for a in s.cc]
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = message_id(self.instance, message.key, s.from_address.rpartition("@")[2])
        mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to an alerting robot
        mail.set_content(message.plain_body.strip() + "\n")
        mail.add_alternative(html_document(message), subtype="html")
        return mail

    def _send_once(self, mail: EmailMessage, password: str | None) -> dict[str, tuple[int, bytes]]:
        s = self.settings
        smtp: smtplib.SMTP
        if s.tls == "implicit":
            smtp = smtplib.SMTP_SSL(s.host, s.server_port, timeout=s.timeout, context=self.tls_context)
        else:
            smtp = smtplib.SMTP(s.host, s.server_port, timeout=s.timeout)
        with smtp:
            if s.tls == "starttls":
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    raise smtplib.SMTPNotSupportedError("the server does not offer STARTTLS; nothing was sent in clear")
                smtp.starttls(context=self.tls_context)
            if s.username is not None and password is not None:
                smtp.login(s.username, password)
            return smtp.send_message(mail, from_addr=s.from_address, to_addrs=[*s.to, *s.cc])

    async def send(self, message: Message) -> str:
        connector = f"notify {self.instance}"
        password = secret_from(self.settings.password) if self.settings.password is not None else None
        mail = self.email(message)

        async def attempt() -> dict[str, tuple[int, bytes]]:
            try:
                return await asyncio.to_thread(self._send_once, mail, password)
            except (OSError, smtplib.SMTPException) as exc:
                raise _judged(exc, self.server, self.settings.timeout, connector) from None

        refused = await delivery.retried(attempt, attempts=self.settings.attempts, connector=connector)
        where = f"email {self.instance} {mail['Message-ID']}"
        if refused:
            listed = ", ".join(f"{a} ({code})" for a, (code, _) in refused.items())
            log.warning("notify %s: %s took the message but refused %s", self.instance, self.server, listed)
            where += f" (refused: {listed})"
        return where
