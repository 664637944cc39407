"""Configuration: one YAML file, validated by pydantic; secrets come from the environment or files.

Connector sections are kept as plain mappings here and validated against the settings model of
the connector type they name when the connector is built (certsoar.connections), so a third-party
connector brings its own settings without touching this module.
"""

from __future__ import annotations

import ipaddress
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from certsoar import yamlsafe
from certsoar.addresses import network_text, parse_network
from certsoar.errors import ConfigError
from certsoar.timeparse import Duration, parse_duration

CONFIG_ENV = "CERTSOAR_CONFIG"
HOME_ENV = "CERTSOAR_HOME"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


PolicyRule = Literal[
    "outside_domains",
    "max_validity_days",
    "min_rsa_bits",
    "allowed_curves",
    "ca_true",
    "any_eku",
    "wildcard",
    "ip_outside",
    "upn_san_mismatch",
    "requesters",
    "templates",
]
POLICY_RULES: tuple[str, ...] = get_args(PolicyRule)


class Forbid(_Strict):
    """What an issuing CA must never have issued."""

    ca_true: bool = Field(default=False, description="A CA certificate (basicConstraints cA) from the issuing CA.")
    any_eku: bool = Field(default=False, description="The anyExtendedKeyUsage EKU (2.5.29.37.0).")
    wildcard: bool = Field(default=False, description="A wildcard DNS name.")
    ip_outside: list[str] | None = Field(
        default=None, description="IP SANs must lie inside these networks (CIDR); any other is a violation."
    )
    upn_san_mismatch: bool = Field(
        default=False,
        description="A SAN UPN for another principal than the requester (when the CA reports it) or else than the "
        "subject's CN: the AD CS ESC1 pattern.",
    )

    @field_validator("ip_outside")
    @classmethod
    def _networks(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else networks_of(v)


class PolicyException(_Strict):
    """A certificate the issuance policy lets pass, vouched for by an owner until it expires."""

    serial: str | None = Field(default=None, description="Serial in hex (any case, colons allowed).")
    sha256: str | None = Field(default=None, description="SHA-256 of the certificate's DER.")
    subject: str | None = Field(default=None, description="Regular expression over the subject DN (RFC 4514).")
    rules: list[PolicyRule] = Field(default_factory=list, description="The rules it excuses; empty: every rule.")
    owner: str = Field(min_length=1, description="Who vouches for it.")
    reason: str = Field(min_length=1)
    expires: datetime = Field(description="After this the exception no longer applies.")

    @field_validator("serial")
    @classmethod
    def _serial(cls, v: str | None) -> str | None:
        if v is None:
            return None
        from certsoar.certs.fingerprints import normalize_serial  # certsoar.certs imports this module

        serial = normalize_serial(v)
        if serial is None or serial.startswith("-"):
            raise ValueError(f"{v!r} is not a hexadecimal serial number")
        return serial

    @field_validator("sha256")
    @classmethod
    def _sha256_hex(cls, value: str | None) -> str | None:
        return AllowlistEntry._sha256_hex(value)

    @field_validator("subject")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return AllowlistEntry._compiles(value)

    @model_validator(mode="after")
    def _names_a_certificate(self) -> PolicyException:
        if not (self.serial or self.sha256 or self.subject):
            raise ValueError("names no certificate: give serial, sha256 or subject")
        return self


class IssuancePolicy(_Strict):
    """What the managed CA may issue; the revocation sweep revokes what breaks it."""

    allowed_domains: list[str] | None = Field(
        default=None, description="DNS names must lie at or below these; default organization.domains."
    )
    max_validity_days: int | None = Field(default=None, ge=1, le=36500, description="Longest validity allowed.")
    min_rsa_bits: int | None = Field(default=None, ge=512, le=65536, description="Smallest RSA modulus allowed.")
    allowed_curves: list[str] | None = Field(
        default=None, description="EC curves allowed (cryptography's names: secp256r1, secp384r1, ...)."
    )
    forbid: Forbid = Field(default_factory=Forbid)
    requesters: list[str] | None = Field(
        default=None, description="Accounts allowed to request certificates, where the CA reports the requester."
    )
    templates: list[str] | None = Field(
        default=None, description="Templates allowed, where the CA reports the template."
    )
    auto_revoke: list[PolicyRule] = Field(
        default_factory=list,
        description="Rules whose violations are revoked without an analyst's approval (within the sweep's budget).",
    )
    exceptions: list[PolicyException] = Field(default_factory=list)

    @field_validator("allowed_domains")
    @classmethod
    def _lower(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else [d.strip().lower().rstrip(".") for d in v if d.strip()]

    @field_validator("allowed_curves")
    @classmethod
    def _curves(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return None
        from cryptography.hazmat.primitives.asymmetric import ec

        known = set(ec._CURVE_TYPES)
        unknown = [c for c in v if c not in known]
        if unknown:
            raise ValueError(f"unknown curve(s) {unknown}: use cryptography's names ({', '.join(sorted(known))})")
        return v


_INSTANCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


class ConnectorSection(BaseModel):
    """``{type: <name>, name: <instance>, ...settings of that type}``."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str = Field(description="Connector type, as registered in the entry-point group of its kind.")
    name: str | None = Field(
        default=None,
        description="Instance name used in effect keys and results; defaults to the type. Required in a list of "
        "sections, and unique in it.",
    )
    policy: IssuancePolicy | None = Field(
        default=None, description="Issuance policy of this CA (connectors.ca only); replaces the global policy."
    )
    search_timeout: Duration | None = Field(
        default=None,
        description="connectors.siem only: longest one search of this SIEM may take (default 5m); past it the search "
        "goes on without this SIEM and the run says so.",
    )

    @field_validator("name")
    @classmethod
    def _instance_name(cls, v: str | None) -> str | None:
        # the name is a field of effect keys (``firewall:<name>:block:<address>``), which ':' separates
        if v is not None and not _INSTANCE_NAME.fullmatch(v):
            raise ValueError(f"{v!r} is not an instance name (letters, digits, '_', '.', '-'; at most 63)")
        return v

    @property
    def instance(self) -> str:
        return self.name or self.type

    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


INSTANCE_KINDS = ("siem", "ca", "firewall", "proxy", "ticket")
"""Kinds configured as one section or a list of named sections (notify is always a list)."""

_ONE, _LIST = "one section", "list of sections"


def _shape(value: Any) -> str:
    return _LIST if isinstance(value, list) else _ONE


OneOrMore = Annotated[
    Annotated[ConnectorSection, Tag(_ONE)] | Annotated[list[ConnectorSection], Tag(_LIST)], Discriminator(_shape)
]
"""One section, or a list of sections each with its own ``name``."""


class Connectors(_Strict):
    siem: OneOrMore | None = Field(default=None, description="SIEMs: searches fan out over every one.")
    ca: OneOrMore | None = Field(default=None, description="CAs: a revocation goes to the CA that issued it.")
    firewall: OneOrMore | None = Field(default=None, description="Firewalls: containment blocks at every one.")
    proxy: OneOrMore | None = Field(default=None, description="Proxies: containment blocks at every one.")
    ticket: OneOrMore | None = Field(default=None, description="The ticket system (one: a case has one ticket).")
    notify: list[ConnectorSection] = Field(default_factory=list)

    @model_validator(mode="after")
    def _named_instances(self) -> Connectors:
        for kind in INSTANCE_KINDS:
            value = getattr(self, kind)
            if not isinstance(value, list):
                continue
            if not value:
                raise ValueError(f"{kind}: an empty list; leave the kind out when there is no {kind}")
            seen: dict[str, int] = {}
            for i, section in enumerate(value):
                if section.name is None:
                    raise ValueError(f"{kind}[{i}].name: every section of a list needs a name (used in effect keys)")
                if section.name in seen:
                    raise ValueError(
                        f"{kind}[{i}].name: {section.name!r} is also the name of {kind}[{seen[section.name]}]"
                    )
                seen[section.name] = i
        tickets = self.ticket
        if isinstance(tickets, list) and len(tickets) > 1:
            raise ValueError("ticket: one ticket system (each case has one ticket); give one section")
        return self

    @model_validator(mode="after")
    def _policy_only_for_the_ca(self) -> Connectors:
        for kind in ("siem", "firewall", "proxy", "ticket"):
            if any(section.policy is not None for section in self.sections(kind)):
                raise ValueError(f"{kind}.policy: an issuance policy belongs to connectors.ca (or the top level)")
        if any(n.policy is not None for n in self.notify):
            raise ValueError("notify.policy: an issuance policy belongs to connectors.ca (or the top level)")
        for kind in ("ca", "firewall", "proxy", "ticket", "notify"):
            if any(section.search_timeout is not None for section in self.sections(kind)):
                raise ValueError(f"{kind}.search_timeout: a search timeout belongs to connectors.siem")
        return self

    def sections(self, kind: str) -> list[ConnectorSection]:
        """The configured sections of ``kind``, in config order (one section is a list of one)."""
        if kind == "notify":
            return list(self.notify)
        value = getattr(self, kind)
        if value is None:
            return []
        return list(value) if isinstance(value, list) else [value]

    def section(self, kind: str, instance: str) -> ConnectorSection:
        """The section of ``kind`` named ``instance``; ConfigError when none is."""
        for section in self.sections(kind):
            if section.instance == instance:
                return section
        known = ", ".join(s.instance for s in self.sections(kind)) or "none configured"
        raise ConfigError(f"connectors.{kind}: no instance named {instance!r} (configured: {known})")


class Analyst(_Strict):
    roles: list[str] = Field(default_factory=list)
    password_hash: str | None = Field(
        default=None,
        description="argon2id hash of the approval page password (`certsoar passwd ANALYST` prints one); "
        "without it the analyst cannot log in to the page.",
    )
    slack_user: str | None = Field(
        default=None, description="Slack user id (U…) whose Approve/Deny clicks are this analyst's decisions."
    )

    @field_validator("password_hash")
    @classmethod
    def _argon2id(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("$argon2id$"):
            raise ValueError("write an argon2id hash ($argon2id$…, from `certsoar passwd`), never a password")
        return v

    @field_validator("slack_user")
    @classmethod
    def _slack_id(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[UW][A-Z0-9]{2,}", v):
            raise ValueError(f"{v!r} is not a Slack user id (U or W followed by capitals and digits)")
        return v


class Trust(_Strict):
    internal_roots: list[Path] = Field(
        default_factory=list, description="PEM files of the organization's own root CAs."
    )
    crls: list[Path] = Field(
        default_factory=list, description="CRL files (PEM or DER) checked for the certificates their issuer signed."
    )


class Organization(_Strict):
    domains: list[str] = Field(
        default_factory=list, description="DNS domains the organization owns; names below them are inside."
    )

    @field_validator("domains")
    @classmethod
    def _lower(cls, v: list[str]) -> list[str]:
        domains = [d.strip().lower().rstrip(".") for d in v if d.strip()]
        for domain in domains:
            if not _DOMAIN.fullmatch(domain):
                raise ValueError(
                    f"{domain!r} is not a DNS domain (labels of letters, digits and '-' joined by '.'; internationalized names in their xn-- form)"
                )
        return domains


_DOMAIN = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)(\.(?!-)[a-z0-9_-]{1,63}(?<!-))*")


class Intel(_Strict):
    sslbl: Path | None = Field(
        default=None,
        description="abuse.ch SSLBL blacklist CSV (SHA-1 of listed certificates); re-read when it changes. "
        "Unset: the copy `certsoar intel update` keeps in <state_dir>/intel/, else the snapshot shipped with certsoar.",
    )
    catalogue: Path | None = Field(
        default=None,
        description="Tool catalogue YAML (attack-tool and malware-family certificates). Unset: the copy in "
        "<state_dir>/intel/, else the catalogue shipped with certsoar.",
    )
    sslbl_url: str | None = Field(
        default="https://sslbl.abuse.ch/blacklist/sslblacklist.csv",
        description="Where `certsoar intel update` fetches the SSLBL CSV; null: never.",
    )
    catalogue_url: str | None = Field(
        default=None, description="Where `certsoar intel update` fetches the tool catalogue; null: never."
    )

    @field_validator("sslbl_url", "catalogue_url")
    @classmethod
    def _https(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("https://"):
            raise ValueError("intel is fetched over https:// only")
        return v


def networks_of(values: list[str]) -> list[str]:
    """Addresses or CIDR networks from a config, host bits cleared, rendered again from their value
    (``certsoar.addresses``: a zone id or other text never travels on); ValueError naming the bad one."""
    out = []
    for text in values:
        try:
            out.append(network_text(parse_network(str(text).strip(), strict=False)))
        except ValueError as exc:
            raise ValueError(f"{text!r} is not an IP network ({exc})") from exc
    return out


def _covers_every_address(networks: list[str]) -> bool:
    """The networks together hold every IPv4 or every IPv6 address (``0.0.0.0/0``, or ``0.0.0.0/1`` and
    ``128.0.0.0/1``)."""
    parsed = [parse_network(n, strict=False) for n in networks]
    for version in (4, 6):
        same = [n for n in parsed if n.version == version]
        if any(n.prefixlen == 0 for n in ipaddress.collapse_addresses(same)):  # type: ignore[type-var]  # one version per call
            return True
    return False


# Names no allowlist entry is written for: a pattern that matches one of them matches any name (the
# empty name: a pattern such as ``.*`` or ``x*`` that matches nothing at all; a made-up DN: ``.+``, ``CN=``).
_NAMES_NOBODY_ALLOWLISTS = ("", "CN=certsoar-canary-7f3e.invalid,OU=nobody,O=No Such Organization,L=Nowhere,C=ZZ")


def name_pattern_matches(pattern: str, name: str) -> bool:
    """How an allowlist entry's subject/issuer pattern is matched against a DN (RFC 4514): a regex search."""
    return re.search(pattern, name) is not None


class AllowlistEntry(_Strict):
    """A known legitimate certificate: suppresses escalation while it has not expired.

    Checked when the config loads: at least one certificate criterion (an entry of networks alone would
    allowlist every certificate), hashes of the right length, patterns that compile, networks that parse,
    and networks beside any subject/issuer pattern (anyone can copy a subject, not a server).
    """

    sha256: str | None = Field(
        default=None, description="SHA-256 of the certificate's DER (64 hex digits; ':' and spaces allowed)."
    )
    spki_sha256: str | None = Field(
        default=None, description="SHA-256 of the SubjectPublicKeyInfo (survives re-issue)."
    )
    subject: str | None = Field(default=None, description="Regular expression over the subject DN (RFC 4514).")
    issuer: str | None = Field(default=None, description="Regular expression over the issuer DN (RFC 4514).")
    assets: list[str] = Field(
        default_factory=list,
        description=(
            "IP networks of the servers (the responder of the TLS session) where the entry applies; required with "
            "subject/issuer. A client's address never matches, and an alert without a server (AD CS) never does."
        ),
    )
    owner: str = Field(min_length=1, description="Who vouches for it.")
    reason: str = Field(min_length=1)
    expires: datetime = Field(description="After this the entry no longer suppresses anything.")

    @field_validator("sha256", "spki_sha256")
    @classmethod
    def _sha256_hex(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from certsoar.certs.fingerprints import SHA256_DIGITS, normalize_digest  # certsoar.certs imports this module

        digits = normalize_digest(value, SHA256_DIGITS)
        if digits is None:
            raise ValueError(f"{value!r} is not a SHA-256 (64 hex digits)")
        return digits

    @field_validator("subject", "issuer")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            if not value:
                raise ValueError("an empty pattern matches every name")
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{value!r} is not a valid regular expression ({exc})") from exc
            for name in _NAMES_NOBODY_ALLOWLISTS:
                if name_pattern_matches(value, name):
                    raise ValueError(
                        f"{value!r} matches any name (it matches {name!r}, which no entry is written for): "
                        "name the certificate, e.g. CN=host\\.corp\\.example"
                    )
        return value

    @field_validator("assets")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        return networks_of(value)

    @model_validator(mode="after")
    def _names_a_certificate(self) -> AllowlistEntry:
        if not (self.sha256 or self.spki_sha256 or self.subject or self.issuer):
            raise ValueError(
                "names no certificate: give sha256, spki_sha256, subject or issuer "
                "(assets alone would allowlist every certificate those servers present)"
            )
        if (self.subject or self.issuer) and not self.assets:
            raise ValueError("a subject/issuer pattern needs assets: the networks of the servers it applies to")
        if (self.subject or self.issuer) and _covers_every_address(self.assets):
            raise ValueError(
                f"assets {self.assets} cover every address: with a subject/issuer pattern (which anyone can copy) "
                "name the networks of the servers it applies to"
            )
        return self


class CreationBurst(_Strict):
    window: Duration = "24h"
    count: int = Field(default=3, ge=1, description="Unrelated creation incidents within window that escalate.")
    short_window: Duration = "1h"
    short_count: int = Field(default=2, ge=1)
    renewal_window: Duration = Field(default="30d", description="Same subject and key within this is one incident.")
    automation: list[str] = Field(
        default_factory=list,
        description="Requester accounts or templates of allowlisted automation (ACME, autoenrollment).",
    )

    @model_validator(mode="after")
    def _short_inside_long(self) -> CreationBurst:
        if parse_duration(self.short_window) > parse_duration(self.window):
            raise ValueError(f"short_window {self.short_window} is longer than window {self.window}")
        return self


class TrafficChange(_Strict):
    after: Duration = Field(default="24h", description="How long after first-seen to measure.")
    baseline: Duration = Field(default="7d", description="Trailing baseline before first-seen.")
    z: float = Field(default=3.5, gt=0, description="Robust z-score above which traffic is a spike.")
    ratio: float = Field(default=3.0, gt=0, description="Observed / baseline median above which traffic is a spike.")
    bytes_floor: int = Field(
        default=10 * 1024 * 1024, ge=0, description="Bytes out per hour below which no spike counts."
    )
    connections_floor: int = Field(default=50, ge=0, description="Connections per hour below which no spike counts.")
    beacon_min_connections: int = Field(
        default=20,
        ge=3,
        description="Connections of one client to one server after first-seen a beacon needs at least.",
    )
    beacon_max_cv: float = Field(
        default=0.3,
        gt=0,
        description="Robust coefficient of variation (1.4826 · MAD / median) of the gaps between check-ins below "
        "which the series beacons: 0.3 tolerates sleep jitter up to about 60 %.",
    )


class Thresholds(_Strict):
    creation_burst: CreationBurst = Field(default_factory=CreationBurst)
    traffic_change: TrafficChange = Field(default_factory=TrafficChange)


class Blocking(_Strict):
    widest_prefix_v4: int = Field(
        default=24,
        ge=0,
        le=32,
        description="Widest IPv4 network a block may cover, as a prefix length (24: at most a /24; smaller allows wider).",
    )
    widest_prefix_v6: int = Field(
        default=48,
        ge=0,
        le=128,
        description="Widest IPv6 network a block may cover, as a prefix length (48: at most a /48).",
    )


class Audit(_Strict):
    key: str | None = Field(
        default=None,
        description="Secret of the audit log's HMAC chain, env:NAME or file:PATH, at least 32 characters. Without it "
        "a random key is generated into <state_dir>/audit.key (mode 0600); keep it off the state dir in "
        "production, or whoever can write the store can also rewrite its audit log.",
    )

    @field_validator("key")
    @classmethod
    def _reference(cls, v: str | None) -> str | None:
        return secret_reference(v, "the key")


class ContainmentSweep(_Strict):
    repair: bool = Field(
        default=False,
        description="Restore, through the effect ledger, every effect the containment sweep finds gone (a block removed "
        "by hand, a CRL that no longer lists a revoked serial or is past its nextUpdate). Off: drift is only reported.",
    )
    crl_warn_before: Duration = Field(
        default="2d", description="Warn (and, with repair, publish a new CRL) when the CRL's nextUpdate is this close."
    )


class CertificateSweep(_Strict):
    concurrency: int = Field(default=8, ge=1, le=64, description="Certificates the certificate sweep triages at once.")


Scope = Literal["alerts", "read", "decide", "feeds"]


class ServiceToken(_Strict):
    """An API credential: only the SHA-256 of the token is kept (`certsoar token new` prints both)."""

    name: str = Field(min_length=1, description="Who holds it (a SOAR, an analyst's CLI); recorded in the audit.")
    sha256: str = Field(description="SHA-256 (hex) of the bearer token.")
    scopes: list[Scope] = Field(
        min_length=1, description="alerts (submit), read, decide (needs analyst), feeds (pull the block lists)."
    )
    analyst: str | None = Field(default=None, description="The analyst this token decides as (needed for decide).")

    @field_validator("sha256")
    @classmethod
    def _hex(cls, v: str) -> str:
        if not re.fullmatch(r"[0-9a-fA-F]{64}", v):
            raise ValueError("the SHA-256 of a token is 64 hex digits (never the token itself)")
        return v.lower()

    @model_validator(mode="after")
    def _decide_needs_analyst(self) -> ServiceToken:
        if "decide" in self.scopes and self.analyst is None:
            raise ValueError("scope decide needs analyst: a decision is always some analyst's")
        return self


class TrustedProxy(_Strict):
    """SSO in front of the page (oauth2-proxy and the like): the header names the analyst, and is believed
    only from these addresses."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    header: str = Field(default="X-Forwarded-User", description="Header carrying the analyst's name.")
    from_: list[str] = Field(alias="from", min_length=1, description="Proxy addresses or networks (CIDR).")

    @field_validator("from_")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        networks = networks_of(v)
        if _covers_every_address(networks):
            raise ValueError(
                f"{networks} cover every address: any client could name an analyst in the header; "
                "give the proxy's own addresses"
            )
        return networks


class SlackService(_Strict):
    signing_secret: str | None = Field(
        default=None, description="Slack app signing secret, env:NAME or file:PATH: verifies interaction requests."
    )

    @field_validator("signing_secret")
    @classmethod
    def _reference(cls, v: str | None) -> str | None:
        return secret_reference(v, "the signing secret")


class Service(_Strict):
    """`certsoar serve`: where a SOAR posts alerts and analysts decide."""

    public_url: str | None = Field(
        default=None, description="The service's address as analysts and Slack reach it (links, buttons)."
    )

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s]*)?", v):
            raise ValueError(f"{v!r} is not an http(s) URL (e.g. https://certsoar.corp.example)")
        return v

    max_alert_bytes: int = Field(default=1024 * 1024, ge=1, le=64 * 1024 * 1024, description="Largest alert body.")
    workers: int = Field(default=4, ge=1, le=64, description="Runs executed at once.")
    queue_size: int = Field(default=1000, ge=1, description="Accepted runs waiting for a worker; beyond it, 429.")
    tokens: list[ServiceToken] = Field(default_factory=list)
    trusted_proxy: TrustedProxy | None = None
    slack: SlackService = Field(default_factory=SlackService)
    feeds_public: bool = Field(
        default=False,
        description="Serve /v1/feeds/*.txt to anyone who reaches the service; off: a token with scope feeds "
        "(as Bearer, or as the password of HTTP Basic for firewalls that can send only that).",
    )

    @model_validator(mode="after")
    def _unique(self) -> Service:
        names = [t.name for t in self.tokens]
        hashes = [t.sha256 for t in self.tokens]
        if len(set(names)) != len(names) or len(set(hashes)) != len(hashes):
            raise ValueError("tokens: every token needs its own name and its own hash")
        return self


class RevocationSweep(_Strict):
    max_per_run: int = Field(default=5, ge=0, description="Revocations without an analyst's approval per sweep.")
    max_per_day: int | None = Field(
        default=None, ge=0, description="Revocations without an analyst's approval per UTC day, all sweeps together."
    )
    max_errors: int = Field(default=3, ge=1, description="Connector errors after which a sweep stops revoking.")
    reason: Literal["unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation"] = Field(
        default="unspecified", description="CRL reason of a policy revocation."
    )


class Sweeps(_Strict):
    revocation: RevocationSweep = Field(default_factory=RevocationSweep)
    certificates: CertificateSweep = Field(default_factory=CertificateSweep)
    containment: ContainmentSweep = Field(default_factory=ContainmentSweep)


SweepName = Literal["revocation", "certificates", "containment", "all"]


class Schedule(_Strict):
    sweep: SweepName
    cron: str = Field(description="Five-field cron expression, UTC (e.g. '*/30 * * * *').")

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        from croniter import croniter  # type: ignore[import-untyped]

        if len(v.split()) != 5 or not croniter.is_valid(v):
            raise ValueError(f"{v!r} is not a five-field cron expression (minute hour day month weekday)")
        return v


class Config(_Strict):
    state_dir: Path = Field(
        default=Path(".certsoar"), description="The run store (runs, approvals, audit, tickets) lives here."
    )
    connectors: Connectors = Field(default_factory=Connectors)
    analysts: dict[str, Analyst] = Field(default_factory=dict)
    trust: Trust = Field(default_factory=Trust)
    organization: Organization = Field(default_factory=Organization)
    intel: Intel = Field(default_factory=Intel)
    allowlist: list[AllowlistEntry] = Field(default_factory=list)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    protected_networks: list[str] = Field(
        default_factory=list,
        description="Networks never blocked, nor any network overlapping them (DNS servers, domain controllers, "
        "the SIEM, the firewall itself); CIDR or address.",
    )
    protected_names: list[str] = Field(
        default_factory=list,
        description="DNS domains never blocked by name at a proxy, nor any name below them (with organization.domains).",
    )
    blocking: Blocking = Field(default_factory=Blocking, description="Limits on what the firewall may block.")
    audit: Audit = Field(default_factory=Audit)
    service: Service = Field(default_factory=Service)
    templates: list[Path] = Field(
        default_factory=list,
        description="Folders of notification and ticket templates searched before the shipped ones, in order "
        "(templates/<channel>/<event>.<fmt>.j2: a file of the same name overrides the shipped one).",
    )
    policy: IssuancePolicy | None = Field(default=None, description="Issuance policy of every managed CA.")
    sweeps: Sweeps = Field(default_factory=Sweeps)
    schedules: list[Schedule] = Field(default_factory=list, description="Sweeps `certsoar serve` runs on a schedule.")
    config_dir: Path = Field(
        default_factory=Path.cwd, exclude=True, description="Folder of the config file; relative paths resolve here."
    )

    @field_validator("protected_names")
    @classmethod
    def _protected_names(cls, v: list[str]) -> list[str]:
        return Organization._lower(v)

    @model_validator(mode="after")
    def _token_analysts_exist(self) -> Config:
        for i, token in enumerate(self.service.tokens):
            if token.analyst is not None and token.analyst not in self.analysts:
                raise ValueError(f"service.tokens[{i}].analyst: {token.analyst!r} is not in analysts")
        return self

    def issuance_policy(self, instance: str | None = None) -> IssuancePolicy | None:
        """The policy the certificates of CA ``instance`` (default: the first configured) are judged by: its own,
        else the global one."""
        cas = self.connectors.sections("ca")
        if instance is not None:
            cas = [self.connectors.section("ca", instance)]
        own = cas[0].policy if cas else None
        return own or self.policy

    def resolve(self, path: Path | str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.config_dir / p

    @field_validator("protected_networks")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        return networks_of(v)


def default_state_dir() -> Path:
    """Where ``certsoar demo`` builds its lab."""
    return Path(os.environ.get(HOME_ENV) or ".certsoar")


def load_config(path: Path | str | None = None, *, with_files: bool = True) -> Config:
    """Load ``path``, else ``$CERTSOAR_CONFIG``. Never the bundled lab: a scheduler that lost its
    environment must fail, not report containment against lab files (only ``certsoar demo`` uses the lab).

    Every value is checked, each connector section against the settings model of its type
    (``connections.check_sections``), and (unless ``with_files`` is false: a config written for another
    machine) the files it names are read (``check_files``)."""
    chosen = path or os.environ.get(CONFIG_ENV)
    if not chosen:
        raise ConfigError(
            f"no configuration: give --config FILE or set ${CONFIG_ENV} "
            "(`certsoar init DIR` writes a starter config; `certsoar demo` runs on the bundled lab)"
        )
    file = Path(chosen)
    try:
        raw = yamlsafe.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the config: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark else str(file)
        raise ConfigError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: the config must be a mapping")
    base = file.resolve().parent
    try:
        config = Config.model_validate({**raw, "config_dir": base})
    except ValidationError as exc:
        raise ConfigError(f"{file}: {format_validation_error(exc)}") from exc
    state = config.state_dir if config.state_dir.is_absolute() else base / config.state_dir
    if state.exists() and not state.is_dir():
        raise ConfigError(f"{file}: state_dir: {state} is not a folder")
    templates = [config.resolve(folder) for folder in config.templates]
    for i, folder in enumerate(templates):
        if not folder.is_dir():
            raise ConfigError(f"{file}: templates[{i}]: {folder} is not a folder")
    config = config.model_copy(update={"state_dir": state, "templates": templates})
    from certsoar.connections import check_sections  # connections imports this module

    try:
        check_sections(config)
        if with_files:
            check_files(config)
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from exc
    return config


def check_files(config: Config) -> None:
    """The files the config names are there and hold what they should (a root CA bundle, a CRL, an SSLBL
    list): a missing trust root is configuration, found when the config loads rather than in the middle of a
    run. ConfigError naming the field; runs read the files again (they may change)."""
    from certsoar.certs.intel import load_sslbl
    from certsoar.certs.trustfiles import read_crl, read_roots

    for i, path in enumerate(config.trust.internal_roots):
        field = f"trust.internal_roots[{i}]"
        if not read_roots(config.resolve(path), field):
            raise ConfigError(f"{field}: {config.resolve(path)}: holds no certificate")
    for i, path in enumerate(config.trust.crls):
        read_crl(config.resolve(path), f"trust.crls[{i}]")
    if config.intel.sslbl is not None:
        try:
            load_sslbl(config.resolve(config.intel.sslbl))
        except ConfigError as exc:
            raise ConfigError(f"intel.sslbl: {exc}") from exc


def format_validation_error(exc: ValidationError) -> str:
    """``allowlist[2].subject: Value error, ...``: each error at the path of the key it is about."""
    parts = []
    for err in exc.errors():
        loc = ""
        for part in err["loc"]:
            if part in (_ONE, _LIST):  # the branch of a one-or-list field, not a key the user wrote
                continue
            loc += f"[{part}]" if isinstance(part, int) else f".{part}" if loc else str(part)
        parts.append(f"{loc or '(top)'}: {err['msg']}")
    return "; ".join(parts)


def secret_reference(value: str | None, what: str) -> str | None:
    """A secret as a config names it, checked when the config loads: ``env:NAME`` or ``file:PATH`` with the
    name or path given (``secret_from`` reads it when it is used); ValueError that never repeats the value."""
    if value is None:
        return None
    kind, _, ref = value.partition(":")
    if kind not in ("env", "file") or not ref.strip():
        raise ValueError(f"write {what} as env:NAME or file:PATH, never inline")
    return value


def required_secrets(*fields: str, what: str) -> Any:
    """A settings validator for ``fields``, secrets the settings cannot do without (secret_reference)."""

    def check(cls: type, value: str) -> str:
        checked = secret_reference(value, what)
        assert checked is not None
        return checked

    return field_validator(*fields)(classmethod(check))  # type: ignore[arg-type]


def secret_from(value: str) -> str:
    """Resolve ``env:NAME`` or ``file:PATH`` to the secret; anything else is refused."""
    kind, _, ref = value.partition(":")
    if kind == "env":
        if ref not in os.environ:
            raise ConfigError(f"secret: environment variable {ref} is not set")
        return os.environ[ref]
    if kind == "file":
        try:
            return Path(ref).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"secret: cannot read {ref}: {exc.strerror or exc}") from exc
    raise ConfigError("secret: write secrets as env:NAME or file:PATH, never inline")
