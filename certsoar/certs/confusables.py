"""UTS #39 skeletons over the Unicode confusables table (data/confusables-prototypes.txt).

``uts39_skeleton`` is the standard's function: NFD, map every character to its prototype, NFD.
``skeleton`` is the comparison key used for issuer names: compatibility forms folded (NFKD: full-width
letters, ligatures), the UTS #39 skeleton, then combining marks dropped and casefolded, repeated until
stable. Folding case after mapping lets ``0`` (→ ``O``)
meet ``o`` and ``I`` (→ ``l``) meet ``l``; dropping marks lets ``Sectígo`` meet ``Sectigo``.
"""

from __future__ import annotations

import unicodedata
from functools import cache, lru_cache
from importlib import resources

TABLE = "confusables-prototypes.txt"
MAX_ROUNDS = 4


@cache
def prototypes() -> dict[str, str]:
    """Source character → prototype string, from the vendored table."""
    table: dict[str, str] = {}
    text = resources.files("certsoar.certs").joinpath("data", TABLE).read_text(encoding="utf-8")
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        source, *target = line.split()
        table[chr(int(source, 16))] = "".join(chr(int(cp, 16)) for cp in target)
    return table


def uts39_skeleton(text: str) -> str:
    table = prototypes()
    mapped = "".join(table.get(ch, ch) for ch in unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFD", mapped)


@lru_cache(maxsize=4096)
def skeleton(text: str) -> str:
    """Comparison key: equal keys mean the two strings look alike."""
    current = " ".join(text.split())
    for _ in range(MAX_ROUNDS):
        folded = "".join(
            ch for ch in uts39_skeleton(unicodedata.normalize("NFKD", current)) if not unicodedata.combining(ch)
        ).casefold()
        folded = " ".join(folded.split())
        if folded == current:
            break
        current = folded
    return current
