"""Characters that look like ASCII but are not (UTS #39 confusables), named for an analyst's eyes.

``GlobalSign`` with a Cyrillic ``о`` (U+043E) reads like the real name; every channel that shows a
certificate's names to a person (the terminal report, the L1 summary, the approval request, the page)
lists each such character with its code point, its Unicode name and the ASCII it passes for.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from certsoar.certs.confusables import prototypes


@dataclass(frozen=True)
class Lookalike:
    char: str
    name: str
    imitates: str

    @property
    def code(self) -> str:
        return f"U+{ord(self.char):04X}"

    def __str__(self) -> str:
        return f'"{self.char}" {self.code} {self.name}, looks like "{self.imitates}"'


def lookalike(char: str) -> Lookalike | None:
    """``char`` when it is not ASCII and its UTS #39 prototype is ASCII text (it passes for that text)."""
    if char.isascii():
        return None
    prototype = prototypes().get(char)
    if prototype is None or not prototype.isascii() or not prototype.strip():
        return None
    return Lookalike(char, unicodedata.name(char, f"U+{ord(char):04X}"), prototype)


def lookalikes(*texts: object) -> list[Lookalike]:
    """Every look-alike character in ``texts`` (None and empty values ignored), each once, in order."""
    seen: dict[str, Lookalike] = {}
    for text in texts:
        for char in str(text) if text else "":
            found = lookalike(char)
            if found is not None:
                seen.setdefault(char, found)
    return list(seen.values())
