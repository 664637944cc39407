"""Issuer mimicry: homoglyph skeletons (UTS #39 style), exact brands on untrusted chains, fuzzy matches."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from certsoar.certs.brands import brand_core

MimicryKind = Literal["homoglyph", "exact_brand_untrusted", "fuzzy"]

MIN_VALUE_CHARS = 4
MIN_FUZZY_CORE = 5
FUZZY_THRESHOLD = 0.85

# A compact prototype map in the spirit of Unicode confusables.txt, limited to look-alikes of
# Latin letters. Keys are single code points or short sequences; values are the prototype. The
# map is applied before casefolding so upper-case I and lower-case l can meet.
_SEQUENCES: tuple[tuple[str, str], ...] = (("rn", "m"), ("vv", "w"), ("cl", "d"))
_CHARS: dict[str, str] = {
    # digits and ASCII punctuation that pass for letters
    "0": "o", "1": "l", "|": "l", "!": "l", "I": "l", "3": "e", "5": "s", "$": "s", "@": "a",
    # Cyrillic
    "А": "a", "а": "a", "В": "b", "в": "b", "Е": "e", "е": "e", "Ё": "e", "ё": "e", "К": "k", "к": "k",
    "М": "m", "м": "m", "Н": "h", "н": "h", "О": "o", "о": "o", "Р": "p", "р": "p", "С": "c", "с": "c",
    "Т": "t", "т": "t", "У": "y", "у": "y", "Х": "x", "х": "x", "Ѕ": "s", "ѕ": "s", "І": "l", "і": "i",
    "Ї": "l", "ї": "i", "Ј": "j", "ј": "j", "Ԛ": "q", "ԛ": "q", "Ԝ": "w", "ԝ": "w", "Ү": "y", "ү": "y",
    "Һ": "h", "һ": "h", "Ԁ": "d", "ԁ": "d", "ɡ": "g", "Ӏ": "l", "ӏ": "l", "Ь": "b",
    # Greek
    "Α": "a", "α": "a", "Β": "b", "β": "b", "Ε": "e", "ε": "e", "Ζ": "z", "Η": "h", "Ι": "l", "ι": "i",
    "Κ": "k", "κ": "k", "Μ": "m", "Ν": "n", "ν": "v", "Ο": "o", "ο": "o", "Ρ": "p", "ρ": "p",
    "Τ": "t", "τ": "t", "Υ": "y", "υ": "u", "Χ": "x", "χ": "x", "ϲ": "c", "Ϲ": "c", "ω": "w",
    # Latin look-alikes outside ASCII
    "ı": "i", "ȷ": "j", "ℓ": "l", "ǀ": "l", "ƅ": "b", "ɑ": "a", "ο": "o", "ѵ": "v",
}


def skeleton(text: str) -> str:
    """Prototype form of ``text``: equal skeletons mean the strings look alike.

    NFKD folds compatibility forms (full-width letters, ligatures) and splits accents, which are
    dropped; look-alike characters map to their Latin prototype; the result is casefolded. Applied
    until it stops changing, as UTS #39 does.
    """
    current = text
    for _ in range(4):
        decomposed = unicodedata.normalize("NFKD", current)
        stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
        mapped = "".join(_CHARS.get(ch, ch) for ch in stripped).casefold()
        for seq, proto in _SEQUENCES:
            mapped = mapped.replace(seq, proto)
        mapped = " ".join(mapped.split())
        if mapped == current:
            break
        current = mapped
    return current


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


def similarity(a: str, b: str) -> float:
    longest = max(len(a), len(b))
    return 1.0 if longest == 0 else 1.0 - levenshtein(a, b) / longest


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
        core = brand_core(name)
        if len(core) < MIN_VALUE_CHARS:
            continue
        refs.append(_Reference(name, core, skeleton(core), skeleton(name)))
    return refs


def _compare(value: str, ref: _Reference, trusted: bool) -> tuple[MimicryKind, float] | None:
    folded = " ".join(unicodedata.normalize("NFKC", value).casefold().split())
    core = brand_core(value)
    if not core:
        return None
    same_text = folded == ref.name.casefold() or core == ref.core
    if same_text:
        return None if trusted else ("exact_brand_untrusted", 1.0)
    core_skel = skeleton(core)
    if skeleton(value) == ref.full_skeleton or core_skel == ref.core_skeleton:
        return ("homoglyph", 1.0)
    # a look-alike brand word inside a longer name ("Micr0soft Update Services")
    if " " not in ref.core:
        for token in core.split():
            if len(token) >= MIN_FUZZY_CORE and token != ref.core and skeleton(token) == ref.core_skeleton:
                return ("homoglyph", 1.0)
    if min(len(core_skel), len(ref.core_skeleton)) < MIN_FUZZY_CORE:
        return None
    score = similarity(core_skel, ref.core_skeleton)
    distance = levenshtein(core_skel, ref.core_skeleton)
    if score >= FUZZY_THRESHOLD or (distance == 1 and min(len(core_skel), len(ref.core_skeleton)) >= 6):
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
        for ref in refs:
            hit = _compare(value, ref, trusted)
            if hit is None:
                continue
            kind, score = hit
            key = (_RANK[kind], score)
            if key > best_key:
                best_key = key
                best = MimicryFacts(matched=True, brand=ref.name, kind=kind, attribute=attribute, value=value, score=score)
    return best or MimicryFacts()
