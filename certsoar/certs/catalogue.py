"""The catalogue of attack-tool and malware-family certificates (data/tool-catalogue.yaml).

Each entry names a family, what identifies its certificates (attribute values, anchored patterns, a
serial, fingerprints), its public source, and whether a match alone is ``proof`` (an always-escalate
indicator) or only a ``shape`` (shown to the analyst, never escalates alone). The built-in matchers of
``tools.py`` (cert-domain §1.5) keep the frameworks whose defaults need logic (Metasploit's Faker names,
Sliver's word lists, key and validity checks); the catalogue holds the families fixed values describe.
"""

from __future__ import annotations

import re
from datetime import date
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from certsoar import yamlsafe
from certsoar.certs.dn import Attribute, same_name
from certsoar.certs.fingerprints import SHA1_DIGITS, SHA256_DIGITS, normalize_digest, serial_number
from certsoar.certs.tools import CertView, ToolMatch
from certsoar.errors import ConfigError
from certsoar.reloading import ReloadingFile

CATALOGUE_FILE = "tool-catalogue.yaml"
MAX_CATALOGUE_BYTES = 4 * 1024 * 1024
MAX_PATTERN_CHARS = 400
MD5_DIGITS = 32
_LABELS = frozenset({"C", "ST", "L", "O", "OU", "CN", "emailAddress", "postalCode", "street", "serialNumber"})


class CatalogueError(ConfigError):
    """The catalogue file is missing, not YAML, or fails validation."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NameMatch(_Strict):
    """What one DN (subject or issuer) must hold: every ``equals`` pair, every ``patterns`` label with a
    value the pattern matches whole; with ``only``, no attribute beyond those named."""

    equals: dict[str, str] = Field(default_factory=dict, description="Attribute label -> exact value.")
    patterns: dict[str, str] = Field(default_factory=dict, description="Attribute label -> regex on the whole value.")
    only: bool = Field(default=False, description="The DN has no attribute other than those named.")

    @field_validator("equals", "patterns")
    @classmethod
    def _known_labels(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - _LABELS)
        if unknown:
            raise ValueError(f"unknown attribute label(s) {unknown}; use {sorted(_LABELS)}")
        return v

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, v: dict[str, str]) -> dict[str, str]:
        for label, pattern in v.items():
            if len(pattern) > MAX_PATTERN_CHARS:
                raise ValueError(f"pattern for {label} is longer than {MAX_PATTERN_CHARS} characters")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern for {label} does not compile: {exc}") from exc
        return v

    @model_validator(mode="after")
    def _not_empty(self) -> NameMatch:
        if not self.equals and not self.patterns:
            raise ValueError("a name match needs at least one of equals, patterns")
        return self

    def holds(self, attrs: list[Attribute]) -> bool:
        if not attrs:
            return False
        if any((label, value) not in attrs for label, value in self.equals.items()):
            return False
        for label, pattern in self.patterns.items():
            if not any(k == label and re.fullmatch(pattern, v) for k, v in attrs):
                return False
        return not self.only or {label for label, _ in attrs} <= set(self.equals) | set(self.patterns)

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in self.equals.items()] + [f"{k}~/{p}/" for k, p in self.patterns.items()]
        return ", ".join(parts) + (" (nothing else)" if self.only else "")


class Source(_Strict):
    url: str = Field(description="Public write-up, rule page, SSLBL page or vendor documentation.")
    states: str = Field(description="What the source states, in a sentence (the SID of a rule, the author).")

    @field_validator("url")
    @classmethod
    def _https(cls, v: str) -> str:
        if not v.startswith("https://"):
            raise ValueError("a source URL starts with https://")
        return v


class Entry(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,63}$", description="Unique, stable identifier.")
    family: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,40}$", description="Family or tool, lower-case slug.")
    category: Literal["c2-framework", "rat", "banker", "loader", "stealer", "pos", "ransomware", "backdoor"]
    verdict: Literal["proof", "shape"] = Field(
        description="proof: the match alone is an indicator of compromise; shape: suspicion, never escalates alone."
    )
    subject: NameMatch | None = None
    issuer: NameMatch | None = None
    self_issued: bool | None = Field(default=None, description="Issuer DN equals subject DN.")
    serial: str | None = Field(default=None, description="Serial number, hex (any usual spelling).")
    sha1: list[str] = Field(default_factory=list)
    sha256: list[str] = Field(default_factory=list)
    md5: list[str] = Field(default_factory=list)
    source: Source
    note: str = ""

    @field_validator("serial")
    @classmethod
    def _serial(cls, v: str | None) -> str | None:
        if v is not None and serial_number(v) is None:
            raise ValueError(f"serial {v!r} is not hexadecimal")
        return v

    @field_validator("sha1", "sha256", "md5")
    @classmethod
    def _digests(cls, v: list[str], info: ValidationInfo) -> list[str]:
        length = {"sha1": SHA1_DIGITS, "sha256": SHA256_DIGITS, "md5": MD5_DIGITS}[str(info.field_name)]
        out = []
        for digest in v:
            normal = normalize_digest(digest, length)
            if normal is None:
                raise ValueError(f"{digest!r} is not a {length}-digit hex digest")
            out.append(normal)
        return out

    @model_validator(mode="after")
    def _one_kind_of_match(self) -> Entry:
        fingerprints = bool(self.sha1 or self.sha256 or self.md5)
        attributes = self.subject is not None or self.issuer is not None or self.serial is not None
        if fingerprints == attributes:
            raise ValueError("an entry matches either on fingerprints or on subject/issuer/serial, not both or neither")
        if self.self_issued is not None and self.subject is None:
            raise ValueError("self_issued needs a subject match")
        return self

    @cached_property
    def serial_int(self) -> int | None:
        return None if self.serial is None else serial_number(self.serial)

    def match(self, view: CertView) -> ToolMatch | None:
        matched = self._fingerprint(view) if self.sha1 or self.sha256 or self.md5 else self._attributes(view)
        if matched is None:
            return None
        return ToolMatch(tool=self.family, exact=self.verdict == "proof", matched_on=matched, source=self.source.url)

    def _fingerprint(self, view: CertView) -> list[str] | None:
        for algorithm in ("sha1", "sha256", "md5"):
            digest = getattr(view, algorithm)
            if digest and digest.lower() in getattr(self, algorithm):
                return [f"{algorithm.upper()} of a catalogued {self.family} certificate ({self.id})"]
        return None

    def _attributes(self, view: CertView) -> list[str] | None:
        matched: list[str] = []
        if self.serial_int is not None:
            if view.serial != self.serial_int:
                return None
            matched.append(f"serial {self.serial_int:X}")
        for where, rule, attrs in (("subject", self.subject, view.subject), ("issuer", self.issuer, view.issuer)):
            if rule is not None:
                if not rule.holds(attrs):
                    return None
                matched.append(f"{where} {rule.describe()}")
        if self.self_issued is not None:
            if not view.issuer or same_name(view.subject, view.issuer) != self.self_issued:
                return None
            matched.append("issuer = subject" if self.self_issued else "issuer != subject")
        return [f"{'; '.join(matched)} ({self.id})"]


class Catalogue(_Strict):
    version: Literal[1] = Field(description="Schema version of the file.")
    updated: date
    entries: list[Entry]

    @model_validator(mode="after")
    def _unique_ids(self) -> Catalogue:
        ids = [e.id for e in self.entries]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate entry ids: {duplicates}")
        return self

    @property
    def families(self) -> set[str]:
        return {e.family for e in self.entries}

    def match(self, view: CertView) -> list[ToolMatch]:
        """One match per family (the strongest: proof before shape), proof first."""
        best: dict[str, ToolMatch] = {}
        for entry in self.entries:
            found = entry.match(view)
            if found is not None and (found.tool not in best or (found.exact and not best[found.tool].exact)):
                best[found.tool] = found
        return sorted(best.values(), key=lambda m: not m.exact)


def parse_catalogue(text: str, where: str = "<memory>") -> Catalogue:
    try:
        raw = yamlsafe.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    try:
        return Catalogue.model_validate(raw)
    except ValidationError as exc:
        from certsoar.config import format_validation_error

        raise CatalogueError(f"{where}: {format_validation_error(exc)}") from exc


_files = ReloadingFile(
    lambda text, path: parse_catalogue(text, str(path)),
    what="catalogue",
    max_bytes=MAX_CATALOGUE_BYTES,
    error=CatalogueError,
)


def load_catalogue(path: Path | None = None) -> Catalogue:
    """The catalogue at ``path`` (default: the one shipped with the package); read again only when its
    modification time or size changed."""
    return _files.load(path or Path(str(resources.files("certsoar.certs") / "data" / CATALOGUE_FILE)))
