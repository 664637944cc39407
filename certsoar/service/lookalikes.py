"""Characters that look like ASCII but are not, marked for an analyst's eyes (UTS #39 confusables).

``DigiCert`` with a Cyrillic ``о`` (U+043E) renders like the real name; on the page that ``о`` is wrapped in
``<mark>`` with its Unicode name and the ASCII it imitates, so the analyst sees what the rule saw.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from markupsafe import Markup, escape

from certsoar.certs.confusables import prototypes
from certsoar.escaping import visible


@dataclass(frozen=True)
class Lookalike:
    char: str
    name: str
    imitates: str

    @property
    def code(self) -> str:
        return f"U+{ord(self.char):04X}"


def lookalike(char: str) -> Lookalike | None:
    """``char`` when it is not ASCII and its UTS #39 prototype is ASCII text (it passes for that text)."""
    if char.isascii():
        return None
    prototype = prototypes().get(char)
    if prototype is None or not prototype.isascii() or not prototype.strip():
        return None
    return Lookalike(char, unicodedata.name(char, f"U+{ord(char):04X}"), prototype)


def lookalikes(text: str) -> list[Lookalike]:
    seen: dict[str, Lookalike] = {}
    for char in text:
        found = lookalike(char)
        if found is not None:
            seen.setdefault(char, found)
    return list(seen.values())


def marked(text: str) -> Markup:
    """HTML of ``text`` (escaped, control characters shown) with every look-alike character in a ``<mark>``
    naming it."""
    out = []
    for char in visible(text):
        found = lookalike(char)
        if found is None:
            out.append(escape(char))
        else:
            title = f"{found.code} {found.name}, looks like '{found.imitates}'"
            out.append(Markup('<mark class="lookalike" title="{}">{}</mark>').format(title, char))
    return Markup("").join(out)
