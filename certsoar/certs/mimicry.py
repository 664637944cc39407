"""Issuer mimicry: UTS #39 skeletons (Unicode confusables), exact brands on untrusted chains, fuzzy matches.

An exact brand name fires only with proof that the certificate is not that brand's (the caller passes
``trusted=False`` only then: it signed itself, or a known certificate bearing the issuer's name did not
sign it). A leaf whose intermediate is merely absent is not forged (cert-domain §4 E1). Script alone
never fires: a legitimate Hungarian, Cyrillic or Chinese CA name only counts when its skeleton or
spelling meets a reference brand.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from certsoar.certs.brands import identifying_words
from certsoar.certs.confusables import skeleton

MimicryKind = Literal["homoglyph", "exact_brand_untrusted", "fuzzy"]

MIN_VALUE_CHARS = 4
MIN_FUZZY_CORE = 5
FUZZY_THRESHOLD = 0.85


def levenshtein(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


class MimicryFacts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    matched: bool = False
    brand: str | None = Field(default=None, description="The reference brand the issuer resembles.")
    kind: MimicryKind | None = None
    attribute: str | None = Field(default=None, description="Issuer attribute that matched: O, CN or OU.")
    value: str | None = Field(default=None, description="The issuer attribute value as written in the certificate.")
    score: float | None = Field(default=None, description="1.0 for homoglyph/exact; similarity for fuzzy.")


@dataclass(frozen=True)
class _Reference:
    name: str
    core: str
    core_skeleton: str
    full_skeleton: str


_RANK = {"homoglyph": 3, "exact_brand_untrusted": 2, "fuzzy": 1}


@cache
def _references(brands: tuple[str, ...]) -> list[_Reference]:
    refs = []
    for name in brands:
        words = identifying_words(name)
        if len(words) < MIN_VALUE_CHARS:
            continue
        refs.append(_Reference(name, words.casefold(), skeleton(words), skeleton(name)))
    return refs


@dataclass(frozen=True)
class _Value:
    folded: str
    core: str
    core_skeleton: str
    full_skeleton: str
    token_skeletons: tuple[str, ...]

    @classmethod
    def of(cls, value: str) -> "_Value":
        words = identifying_words(value)
        return cls(
            folded=" ".join(unicodedata.normalize("NFKC", value).casefold().split()),
            core=words.casefold(),
            core_skeleton=skeleton(words),
            full_skeleton=skeleton(value),
            token_skeletons=tuple(skeleton(t) for t in words.split() if len(t) >= MIN_FUZZY_CORE),
        )


def _compare(value: _Value, ref: _Reference, trusted: bool, *, fuzzy: bool = True) -> tuple[MimicryKind, float] | None:
    if not value.core:
        return None
    if value.folded == ref.name.casefold() or value.core == ref.core:
        return None if trusted else ("exact_brand_untrusted", 1.0)
    if value.full_skeleton == ref.full_skeleton or value.core_skeleton == ref.core_skeleton:
        return ("homoglyph", 1.0)
    # a look-alike brand word inside a longer name ("Micr0soft Update Services")
    if " " not in ref.core and ref.core not in value.core.split() and ref.core_skeleton in value.token_skeletons:
        return ("homoglyph", 1.0)
    a, b = value.core_skeleton, ref.core_skeleton
    if (
        not fuzzy
        or min(len(a), len(b)) < MIN_FUZZY_CORE
        or abs(len(a) - len(b)) > max(len(a), len(b)) * (1 - FUZZY_THRESHOLD) + 2
    ):
        return None
    distance = levenshtein(a, b)
    score = 1.0 - distance / max(len(a), len(b))
    shorter = min(len(a), len(b))
    if score >= FUZZY_THRESHOLD or (distance == 1 and shorter >= 6) or (distance == 2 and shorter >= 9):
        return ("fuzzy", round(score, 3))
    return None


def match_issuer(attributes: list[tuple[str, str]], brands: Iterable[str], *, trusted: bool) -> MimicryFacts:
    """Compare issuer ``(attribute, value)`` pairs with the reference brands; return the strongest hit.

    ``trusted``: an exact brand name is expected and does not count (the certificate chains to a
    trust store, was issued by a managed CA, or nothing shows it was forged). Script alone never
    fires: only a match with a reference brand does.
    """
    refs = _references(tuple(brands))
    best: MimicryFacts | None = None
    best_key: tuple[int, float] = (0, 0.0)
    for attribute, value in attributes:
        if len(value.strip()) < MIN_VALUE_CHARS:
            continue
        prepared = _Value.of(value)
        # a name that is itself a reference brand (GeoTrust) is not a misspelling of another (Entrust)
        is_a_brand = any(prepared.core == ref.core for ref in refs)
        for ref in refs:
            hit = _compare(prepared, ref, trusted, fuzzy=not is_a_brand)
            if hit is None:
                continue
            kind, score = hit
            key = (_RANK[kind], score)
            if key > best_key:
                best_key = key
                best = MimicryFacts(
                    matched=True, brand=ref.name, kind=kind, attribute=attribute, value=value, score=score
                )
    return best or MimicryFacts()
