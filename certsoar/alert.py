"""CertificateAlert: the one shape every alert is normalized into."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from certsoar.addresses import canonical_ip
from certsoar.parsedamage import damage_in_words
from certsoar.timeparse import as_utc

MAX_ALERT_BYTES = 4 * 1024 * 1024


class LoggedCertificate(BaseModel):
    """Certificate attributes as a log source recorded them (Zeek x509.log, Suricata tls, ECS, AD CS)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: str | None = Field(default=None, max_length=4096, description="Subject DN as the source wrote it.")
    issuer: str | None = Field(default=None, max_length=4096, description="Issuer DN as the source wrote it.")
    serial: str | None = Field(
        default=None, max_length=200, description="Upper-case hex without separators ('-' first when negative)."
    )
    not_before: datetime | None = None
    not_after: datetime | None = None
    key_type: str | None = Field(default=None, max_length=64, description="rsa, ec, dsa, ... as the source names it.")
    key_length: int | None = Field(default=None, ge=0, le=1_000_000)
    signature_algorithm: str | None = Field(default=None, max_length=128)
    san_dns: list[str] = Field(default_factory=list, max_length=10_000)
    san_ip: list[str] = Field(default_factory=list, max_length=10_000)
    san_upn: list[str] = Field(
        default_factory=list,
        max_length=10_000,
        description="User principal names (SAN otherName UPN), as an AD CS event shows them.",
    )
    basic_constraints_ca: bool | None = None
    version: int | None = Field(default=None, ge=0, le=100)
    validation_status: str | None = Field(
        default=None, max_length=512, description="The sensor's own verdict (Zeek ssl.log validation_status)."
    )
    template: str | None = Field(default=None, max_length=512, description="AD CS certificate template.")
    request_id: str | None = Field(default=None, max_length=64, description="AD CS request id.")
    subject_key_identifier: str | None = Field(
        default=None,
        max_length=256,
        description="Subject key identifier as the source logged it (AD CS SKI), lower-case hex.",
    )

    @field_validator("serial")
    @classmethod
    def _serial(cls, v: str | None) -> str | None:
        """Every source's serial in one form, and a malformed one refused here, before anyone is asked to revoke it."""
        from certsoar.certs.fingerprints import checked_serial  # here: the certs package imports this module

        return checked_serial(v)


class CertificateAlert(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(
        min_length=1, max_length=256, description="The alert's own id; a second run for the same id returns the first."
    )
    time: datetime = Field(
        description="When the certificate was observed (timezone-aware; naive times are taken as UTC)."
    )
    source_format: str = Field(default="generic", description="Input format the alert came in.")
    host: str | None = Field(default=None, max_length=1024, description="Host that saw or created the certificate.")
    src_ip: str | None = None
    dst_ip: str | None = Field(default=None, description="Server that presented the certificate.")
    dst_port: int | None = Field(default=None, ge=0, le=65535)
    sni: str | None = Field(default=None, max_length=1024)
    certificate_pem: str | None = Field(default=None, max_length=1024 * 1024, description="The certificate, PEM.")
    sha256: str | None = Field(default=None, description="SHA-256 of the DER, lower-case hex.")
    sha1: str | None = Field(default=None, description="SHA-1 of the DER, lower-case hex.")
    logged_certificate: LoggedCertificate | None = Field(
        default=None, description="What the log said about the certificate, when its DER is not in the alert."
    )
    requester: str | None = Field(
        default=None, max_length=512, description="Account that requested or created the certificate (AD CS)."
    )
    ja3: str | None = Field(default=None, max_length=64)
    ja3s: str | None = Field(default=None, max_length=64)
    event: str | None = Field(default=None, max_length=64, description="What the source saw: tls, x509, adcs-4887, ...")
    raw: dict[str, Any] = Field(default_factory=dict, description="The event as received.")

    @field_validator("time")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return as_utc(v)

    @field_validator("src_ip", "dst_ip")
    @classmethod
    def _ip(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        try:
            return canonical_ip(v)
        except ValueError as exc:
            raise ValueError(f"{v!r} is not an IP address") from exc

    @field_validator("sha256", "sha1")
    @classmethod
    def _hash(cls, v: str | None, info: Any) -> str | None:
        if v is None or v == "":
            return None
        # imported here: the certs package imports this module
        from certsoar.certs.fingerprints import SHA1_DIGITS, SHA256_DIGITS, normalize_digest

        want = SHA256_DIGITS if info.field_name == "sha256" else SHA1_DIGITS
        h = normalize_digest(v, want)
        if h is None:
            raise ValueError(f"must be {want} hex digits")
        return h

    @model_validator(mode="after")
    def _identifies_a_certificate(self) -> "CertificateAlert":
        logged = self.logged_certificate
        logged_serial = logged.serial if logged else None
        # AD CS 4886/4888 (and 4887 v0) name the certificate only by the CA's request id
        request_id = logged.request_id if logged else None
        if not (self.certificate_pem or self.sha256 or self.sha1 or logged_serial or request_id):
            raise ValueError(
                "the alert names no certificate: give certificate_pem, sha256, sha1 or a logged serial"
                " (or, for AD CS, logged_certificate.request_id)"
            )
        if self.certificate_pem:
            if "-----BEGIN CERTIFICATE-----" not in self.certificate_pem:
                raise ValueError("certificate_pem holds no PEM certificate block")
            _check_parses(self.certificate_pem)
        return self


def _check_parses(pem: str) -> None:
    """Refuse at intake a certificate that analysis could not read, with a message an operator reads (the
    parser's own text is a Rust debug representation)."""
    import warnings

    from cryptography import x509

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # oddities inside a certificate are analysis's findings, not errors
        try:
            x509.load_pem_x509_certificates(pem.encode("utf-8", errors="replace"))
        except (ValueError, x509.InvalidVersion) as exc:
            raise ValueError(
                f"certificate_pem is not a readable X.509 certificate: {damage_in_words(str(exc))}"
            ) from None
