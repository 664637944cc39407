"""What is wrong with a certificate or CRL that does not parse, in words an operator reads.

cryptography's parser reports damage as a Rust debug representation (``ParseError { kind: UnexpectedTag {
actual: Tag { value: 13, … } }, location: ["Certificate::tbs_cert"] }``); every place that shows such an
error to a person (an alert's ``certificate_pem``, the config's trust roots and CRLs) says it this way.
"""

from __future__ import annotations

import re


def damage_in_words(parser_text: str) -> str:
    """The parser's text as ``the PEM block is damaged``, ``its DER encoding is cut short in X.y`` or
    ``its DER encoding is malformed in X.y`` (the innermost structure the parser named)."""
    if "Unable to load PEM" in parser_text:
        return "the PEM block is damaged (a character outside base64, or broken BEGIN/END lines)"
    where = re.findall(r'"(\w+)::(\w+)"', parser_text)
    inside = f" in {where[-1][0]}.{where[-1][1]}" if where else ""
    if "ShortData" in parser_text:
        return f"its DER encoding is cut short{inside}"
    return f"its DER encoding is malformed{inside}"
