"""Default certificates of offensive and admin tools (cert-domain §1.5), matched on parsed attributes.

Every matcher compares attribute sets, serials, hashes and validity shape; none looks for a
substring. ``exact`` is set only when every documented default that the input can show matches;
anything weaker is a shape match (``exact=False``). OpenSSL's and New-SelfSignedCertificate's
defaults are general-purpose admin defaults: New-SelfSignedCertificate is never ``exact`` (its
defaults are a shape every Windows admin's test certificate has), OpenSSL may be exact but callers
do not treat it as an indicator of compromise.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from certsoar.certs.dn import Attribute, first, same_name
from certsoar.certs.names import is_ip

TOOLS = (
    "openssl",
    "cobalt-strike",
    "metasploit",
    "metasploit-legacy",
    "sliver",
    "covenant",
    "empire",
    "mythic",
    "poshc2",
    "new-selfsignedcertificate",
)


class ToolMatch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tool: str = Field(description="One of: " + ", ".join(TOOLS) + ", or a family of the tool catalogue.")
    exact: bool = Field(description="Every documented default the input shows matches; False for a shape match.")
    matched_on: list[str] = Field(default_factory=list, description="The attributes that matched, in words.")
    source: str | None = Field(default=None, description="Public source of a catalogue entry (URL).")


@dataclass(frozen=True)
class CertView:
    """What the matchers may look at; None means the input did not say (logs carry less than DER)."""

    subject: list[Attribute]
    issuer: list[Attribute]
    serial: int | None = None
    sha1: str | None = None
    sha256: str | None = None
    md5: str | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    key_type: str | None = None
    key_size: int | None = None
    is_ca: bool | None = None
    san_dns: list[str] | None = None
    san_ip: list[str] | None = None
    self_signed: bool | None = None
    key_usage: frozenset[str] | None = None
    server_auth: bool | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def span(self) -> timedelta | None:
        if self.not_before is None or self.not_after is None:
            return None
        return self.not_after - self.not_before

    @property
    def has_san(self) -> bool | None:
        if self.san_dns is None and self.san_ip is None:
            return None
        return bool(self.san_dns) or bool(self.san_ip)


def _bag(attrs: list[Attribute]) -> Counter[tuple[str, str]]:
    return Counter(attrs)


def _labels(attrs: list[Attribute]) -> list[str]:
    return [label for label, _ in attrs]


def _days(view: CertView) -> float | None:
    span = view.span
    return None if span is None else span.total_seconds() / 86400


def _within(value: float | None, low: float, high: float) -> bool | None:
    return None if value is None else low <= value <= high


class _Evidence:
    """Collects what matched and whether any known default was contradicted."""

    def __init__(self) -> None:
        self.matched: list[str] = []
        self.contradicted = False

    def check(self, ok: bool | None, what: str) -> None:
        if ok is None:
            return
        if ok:
            self.matched.append(what)
        else:
            self.contradicted = True


# --- OpenSSL -------------------------------------------------------------------------------------

_OPENSSL_DEFAULTS = (
    # Debian/upstream openssl.cnf: defaults for C, ST, O; L, OU, CN, emailAddress have none
    (
        "Debian/upstream openssl.cnf",
        (("C", "AU"), ("ST", "Some-State"), ("O", "Internet Widgits Pty Ltd")),
        {"L", "OU", "CN", "emailAddress"},
    ),
    # RHEL/CentOS openssl.cnf: defaults for C (XX), L, O
    (
        "RHEL openssl.cnf",
        (("C", "XX"), ("L", "Default City"), ("O", "Default Company Ltd")),
        {"ST", "OU", "CN", "emailAddress"},
    ),
)


def _openssl_on(attrs: list[Attribute], where: str) -> ToolMatch | None:
    for flavour, defaults, free in _OPENSSL_DEFAULTS:
        present = [pair for pair in defaults if pair in attrs]
        org_default = defaults[2]
        if org_default not in attrs:
            continue
        others = [label for label, value in attrs if (label, value) not in defaults]
        exact = len(present) == len(defaults) and all(label in free for label in others)
        matched = [f"{where} {label}={value} ({flavour} default)" for label, value in present]
        return ToolMatch(tool="openssl", exact=exact, matched_on=matched)
    return None


def match_openssl(view: CertView) -> ToolMatch | None:
    return _openssl_on(view.subject, "subject") or _openssl_on(view.issuer, "issuer")


# --- Cobalt Strike -------------------------------------------------------------------------------

_CS_KEYSTORE_DN = (
    ("C", "Earth"),
    ("ST", "Cyberspace"),
    ("L", "Somewhere"),
    ("O", "cobaltstrike"),
    ("OU", "AdvancedPenTesting"),
    ("CN", "Major Cobalt Strike"),
)
CS_HTTPS_SERIAL = 0x08BB00EE
CS_HTTPS_HASHES = {
    "sha1": "6ece5ece4192683d2d84e25b0ba7e04f9cb7eb7c",
    "md5": "950098276a495286eb2a2556fbab6d83",
    "sha256": "87f2085c32b6a2cc709b365f55873e207a9caa10bffecf2fd16d3cf9d94d390c",
}


def match_cobalt_strike(view: CertView) -> ToolMatch | None:
    for algorithm, digest in CS_HTTPS_HASHES.items():
        if getattr(view, algorithm) == digest:
            return ToolMatch(
                tool="cobalt-strike",
                exact=True,
                matched_on=[f"{algorithm.upper()} of the default HTTPS listener certificate"],
            )
    if view.serial == CS_HTTPS_SERIAL:
        return ToolMatch(
            tool="cobalt-strike",
            exact=False,
            matched_on=["serial 8BB00EE of the default HTTPS listener certificate (hash not confirmed)"],
        )
    keystore = _bag(list(_CS_KEYSTORE_DN))
    for where, attrs in (("subject", view.subject), ("issuer", view.issuer)):
        if _bag(attrs) == keystore:
            ev = _Evidence()
            ev.matched.append(
                f"{where} is the team server keystore DN (CN=Major Cobalt Strike, OU=AdvancedPenTesting, O=cobaltstrike, L=Somewhere, ST=Cyberspace, C=Earth)"
            )
            ev.check(None if view.key_type is None else view.key_type == "RSA", "RSA key")
            return ToolMatch(tool="cobalt-strike", exact=not ev.contradicted, matched_on=ev.matched)
        shared = [pair for pair in _CS_KEYSTORE_DN if pair in attrs]
        if ("CN", "Major Cobalt Strike") in shared or ("O", "cobaltstrike") in shared or len(shared) >= 3:
            return ToolMatch(tool="cobalt-strike", exact=False, matched_on=[f"{where} {k}={v}" for k, v in shared])
    return None


# --- Metasploit ----------------------------------------------------------------------------------

_US_STATES = frozenset(
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK "
    "OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC AS GU MP PR UM VI".split()
)
_MSF_LABELS = ["C", "ST", "O", "OU", "CN", "emailAddress"]
_DOMAIN_SUFFIX = re.compile(r"^[a-z]{2,12}$")


def _faker_cn(org: str) -> str:
    """Msf::Ssl::CertProvider: the organization lower-cased, 'and' removed, non-word runs → '.'."""
    return re.sub(r"\W+", ".", org.lower().replace("and", "")).strip(".")


def _faker_shape(attrs: list[Attribute]) -> list[str] | None:
    """The current Metasploit subject: /C=US/ST=<abbr>/O=<company>/OU=<word>/CN=<org-derived host>/emailAddress=<ou>@<cn>."""
    if sorted(_labels(attrs)) != sorted(_MSF_LABELS):
        return None
    c, st, org, ou, cn, email = (first(attrs, label) or "" for label in _MSF_LABELS)
    derived = _faker_cn(org)
    stem, _, suffix = cn.rpartition(".")
    if c != "US" or st not in _US_STATES or not derived or stem != derived or not _DOMAIN_SUFFIX.match(suffix):
        return None
    if email != f"{ou}@{cn}":
        return None
    return [
        f"subject C=US, ST={st} (state abbreviation)",
        f"CN {cn} derived from O={org} as Metasploit's CertProvider does",
        "emailAddress = OU@CN",
    ]


def _packed(attrs: list[Attribute]) -> dict[str, str] | None:
    """Old Rex::Socket::Ssl packs the whole DN into one countryName: C="US/ST=../CN=.." (or "/C=US/...")."""
    if len(attrs) != 1 or attrs[0][0] != "C" or len(attrs[0][1]) <= 2:
        return None
    value = attrs[0][1]
    parts = re.split(r"/(?=[A-Za-z]+=)", value.lstrip("/"))
    fields: dict[str, str] = {}
    for index, part in enumerate(parts):
        label, sep, text = part.partition("=")
        if not sep and index == 0:
            fields["C"] = part
        elif sep:
            fields[label] = text
    return fields if len(fields) >= 2 and ("CN" in fields or "ST" in fields or "O" in fields) else None


def match_metasploit(view: CertView) -> ToolMatch | None:
    shape = _faker_shape(view.subject)
    if shape is None:
        return None
    ev = _Evidence()
    ev.matched.extend(shape)
    ev.check(same_name(view.subject, view.issuer), "issuer = subject")
    ev.check(view.is_ca, "basicConstraints CA:TRUE (default :ca type)")
    ev.check(None if view.has_san is None else not view.has_san, "no subjectAltName")
    ev.check(None if view.key_type is None else (view.key_type == "RSA" and view.key_size in (None, 2048)), "RSA-2048")
    ev.check(_within(_days(view), 4 * 365 - 1, 9 * 366 + 1), "validity 4-9 years")
    return ToolMatch(tool="metasploit", exact=not ev.contradicted, matched_on=ev.matched)


def match_metasploit_legacy(view: CertView) -> ToolMatch | None:
    fields = _packed(view.subject)
    if fields is None:
        return None
    ev = _Evidence()
    ev.matched.append(f"whole subject packed into one countryName ({', '.join(sorted(fields))})")
    rex_subject = list(fields) == ["C", "ST", "L", "O", "CN"] and fields["C"] == "US"
    faker_packed = _faker_shape([(k, v) for k, v in fields.items()]) is not None
    ev.check(
        rex_subject or faker_packed,
        "packed fields in Rex order US/ST/L/O/CN" if rex_subject else "packed Faker DN (in-between version)",
    )
    issuer_fields = _packed(view.issuer)
    if rex_subject:
        ev.check(issuer_fields is not None and list(issuer_fields) == ["C", "O", "CN"], "issuer packed as US/O/CN")
        ev.check(
            None if view.self_signed is None else view.self_signed, "signed with its own key although issuer != subject"
        )
    else:
        ev.check(same_name(view.subject, view.issuer), "issuer = subject")
    ev.check(None if view.key_type is None else (view.key_type == "RSA" and view.key_size in (None, 2048)), "RSA-2048")
    ev.check(_within(_days(view), 364, 9 * 366 + 1), "validity 1-9 years")
    return ToolMatch(tool="metasploit-legacy", exact=not ev.contradicted, matched_on=ev.matched)


# --- Sliver --------------------------------------------------------------------------------------

_SLIVER_PROVINCES = frozenset(
    {"Arizona", "California", "Colorado", "Connecticut", "Washington", "Florida", "Illinois", ""}
)
_SLIVER_ORG_WORDS = ("", "acme", "partners", "tech", "cloud", "synergy", "test", "debug")
_SLIVER_SUFFIXES = ("", "co", "llc", "inc", "corp", "ltd")


def _sliver_org(value: str) -> bool:
    if value not in (value.lower(), value.upper(), value.title()):
        return False
    lowered = value.lower()
    return any(
        lowered == f"{w} {s}".strip() or lowered == f"{w}{s}" for w in _SLIVER_ORG_WORDS for s in _SLIVER_SUFFIXES
    )


def match_sliver(view: CertView) -> ToolMatch | None:
    subject = view.subject
    labels = set(_labels(subject))
    if not subject or not labels <= {"C", "ST", "L", "O", "postalCode", "street", "CN", "OU"}:
        return None
    if labels == {"O"} and first(subject, "O") == "":
        ev = _Evidence()
        ev.matched.append('subject is only O="" (older Sliver builds)')
    elif "postalCode" in labels and first(subject, "C") == "US":
        postal = first(subject, "postalCode") or ""
        org = first(subject, "O")
        if not (
            re.fullmatch(r"\d{4}", postal)
            and (first(subject, "ST") or "") in _SLIVER_PROVINCES
            and (org is None or _sliver_org(org))
        ):
            return None
        ev = _Evidence()
        ev.matched.append(
            f"subject C=US, ST from Sliver's list, O={org!r} from Sliver's word list, 4-digit postalCode {postal}"
        )
    else:
        return None
    ev.check(None if not view.issuer else not same_name(view.subject, view.issuer), "signed by a separate (Sliver) CA")
    ev.check(None if view.serial is None else 64 < view.serial.bit_length() <= 128, "128-bit random serial")
    days = _days(view)
    ev.check(
        None if days is None else any(abs(days - d) <= 1.5 for d in (730, 731, 1095, 1096)), "validity 2 or 3 years"
    )
    return ToolMatch(tool="sliver", exact=not ev.contradicted, matched_on=ev.matched)


# --- Covenant, Empire, Mythic, PoshC2, New-SelfSignedCertificate ---------------------------------


def match_covenant(view: CertView) -> ToolMatch | None:
    if len(view.subject) != 1 or view.subject[0][0] != "CN" or not is_ip(view.subject[0][1]):
        return None
    address = view.subject[0][1]
    ev = _Evidence()
    ev.matched.append(f"subject is only CN={address} (an IP address)")
    ev.check(same_name(view.subject, view.issuer), "issuer = subject")
    ev.check(_within(_days(view), 3650, 3651.5), "validity 3651 days (now-1 d .. now+3650 d)")
    ev.check(None if view.key_type is None else (view.key_type == "RSA" and view.key_size in (None, 2048)), "RSA-2048")
    ev.check(None if view.san_ip is None else address in view.san_ip, "SAN IP = CN")
    ev.check(view.server_auth, "EKU serverAuth")
    if view.span is None and view.key_type is None:
        ev.contradicted = True  # the IP-only CN alone is too common to call exact
    return ToolMatch(tool="covenant", exact=not ev.contradicted, matched_on=ev.matched)


def match_empire(view: CertView) -> ToolMatch | None:
    subject = _bag(view.subject)
    variant = first(view.subject, "CN")
    if subject == _bag([("C", "US")]):
        shape = "subject is only C=US (openssl -subj /C=US)"
    elif variant and subject == _bag([("C", "US"), ("O", "Empire"), ("CN", variant)]):
        shape = "subject C=US, O=Empire, CN=<domain>"
    else:
        return None
    ev = _Evidence()
    ev.matched.append(shape)
    ev.check(same_name(view.subject, view.issuer), "issuer = subject")
    ev.check(_within(_days(view), 364.5, 366), "validity 365 days")
    return ToolMatch(tool="empire", exact=not ev.contradicted, matched_on=ev.matched)


def match_mythic(view: CertView) -> ToolMatch | None:
    organization = first(view.subject, "O")
    if organization not in ("Mythic", "Mythic C2"):
        return None
    ev = _Evidence()
    ev.matched.append(f"subject O={organization}")
    ev.check(len(view.subject) == 1, "no other subject attribute (no CN)")
    ev.check(same_name(view.subject, view.issuer), "issuer = subject")
    ev.check(_within(_days(view), 364.5, 366), "validity 1 year")
    ev.check(None if view.has_san is None else not view.has_san, "no subjectAltName")
    return ToolMatch(tool="mythic", exact=not ev.contradicted, matched_on=ev.matched)


_POSHC2_DN = (
    ("C", "US"),
    ("ST", "Minnesota"),
    ("L", "Minnetonka"),
    ("O", "Pajfds"),
    ("OU", "Jethpro"),
    ("CN", "P18055077"),
)


def match_poshc2(view: CertView) -> ToolMatch | None:
    shared = [pair for pair in _POSHC2_DN if pair in view.subject]
    if len(shared) < 3:
        return None
    ev = _Evidence()
    full = _bag(view.subject) == _bag(list(_POSHC2_DN))
    ev.check(
        full, "subject is PoshC2's default DN (C=US, ST=Minnesota, L=Minnetonka, O=Pajfds, OU=Jethpro, CN=P18055077)"
    )
    if not full:
        ev.matched.extend(f"subject {k}={v}" for k, v in shared)
    ev.check(None if view.serial is None else view.serial == 1000, "serial 1000")
    ev.check(_within(_days(view), 3650, 3654), "validity 10 years")
    return ToolMatch(tool="poshc2", exact=not ev.contradicted, matched_on=ev.matched)


def match_new_selfsignedcertificate(view: CertView) -> ToolMatch | None:
    if len(view.subject) != 1 or view.subject[0][0] != "CN" or not same_name(view.subject, view.issuer):
        return None
    span = view.span
    # NotBefore = now - 10 min, NotAfter = now + 1 year
    if span is None or not any(abs(span - timedelta(days=d, minutes=10)) <= timedelta(minutes=1) for d in (365, 366)):
        return None
    matched = ["subject = issuer = CN only", "validity 1 year + 10 minutes (NotBefore back-dated 10 minutes)"]
    if view.serial is not None and 112 < view.serial.bit_length() <= 128:
        matched.append("16-byte random serial")
    return ToolMatch(tool="new-selfsignedcertificate", exact=False, matched_on=matched)


MATCHERS: tuple[Callable[[CertView], ToolMatch | None], ...] = (
    match_cobalt_strike,
    match_metasploit,
    match_metasploit_legacy,
    match_sliver,
    match_covenant,
    match_empire,
    match_mythic,
    match_poshc2,
    match_new_selfsignedcertificate,
    match_openssl,
)


def match_tools(view: CertView) -> list[ToolMatch]:
    """Every tool whose defaults the certificate shows, exact matches first."""
    found = [m for m in (matcher(view) for matcher in MATCHERS) if m is not None]
    return sorted(found, key=lambda m: not m.exact)
