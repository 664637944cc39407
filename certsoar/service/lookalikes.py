"""Look-alike characters (certsoar.certs.lookalikes) marked on the approval page.

``DigiCert`` with a Cyrillic ``о`` (U+043E) renders like the real name; on the page that ``о`` is wrapped in
``<mark>`` with its Unicode name and the ASCII it imitates, so the analyst sees what the rule saw.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from certsoar.certs.lookalikes import Lookalike, lookalike, lookalikes
from certsoar.escaping import visible


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


__all__ = ["Lookalike", "lookalike", "lookalikes", "marked"]
